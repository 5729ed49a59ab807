//! What the engine writes into the transaction log: one record per changed record of
//! a file (insert, update, delete — logical redo), then a commit record. The records
//! of one transaction are appended together at End Transaction (a single operation
//! outside a transaction is a transaction of one), so an incomplete transaction can
//! only be the log's tail: operation records with no commit after them.
//!
//! A change names its file by path and its record by insertion serial plus the key-0
//! value of its old image: roll-forward replays the changes in log order on a file
//! whose state is exactly "every change up to its applied LSN", so the serials it
//! assigns are the ones logged, and a mismatch means the log and file disagree.
//!
//! Payload layouts (little-endian) are in `engine/FORMAT.md` ("Transaction log
//! entries"). Decoding never panics: malformed payloads are status 2.

use super::frame::RecordKind;
use crate::file::change::BodyError;
pub use crate::file::change::Change;
use crate::status::{Error, Result, Status};
use std::path::PathBuf;

/// Record kinds (the frame layer's opaque `kind`). A change's kind is its
/// [`Change::code`]; its payload after the path is the body `file::change` encodes, so
/// the archival log stores changes byte for byte as this log does.
pub const KIND_INSERT: u8 = crate::file::change::INSERT;
pub const KIND_UPDATE: u8 = crate::file::change::UPDATE;
pub const KIND_DELETE: u8 = crate::file::change::DELETE;
pub const KIND_COMMIT: u8 = 4;

/// Longest file path a log entry may carry, in bytes.
pub const MAX_PATH_LEN: usize = 4096;

/// A decoded log entry; `P` is how it holds its file's path (see
/// [`Entry::decode_with`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry<P = PathBuf> {
    /// A change to `path`, part of transaction `txn`.
    Change { txn: u64, path: P, change: Change },
    /// Transaction `txn` committed with `changes` changes before this record.
    Commit { txn: u64, changes: u32 },
}

fn kind(code: u8) -> RecordKind {
    // The KIND_* constants are all nonzero.
    RecordKind::new(code).unwrap_or_else(|| unreachable!("record kinds are nonzero"))
}

impl Entry {
    /// The frame kind and payload for this entry.
    pub fn encode(&self) -> (RecordKind, Vec<u8>) {
        match self {
            Entry::Change { txn, path, change } => {
                let p = path.to_string_lossy();
                // Sized exactly up front: growing it image by image reallocated and
                // copied the payload of every change logged.
                let mut out = Vec::with_capacity(8 + 2 + p.len() + change.body_len());
                out.extend_from_slice(&txn.to_le_bytes());
                out.extend_from_slice(&(p.len() as u16).to_le_bytes());
                out.extend_from_slice(p.as_bytes());
                change.encode_body(&mut out);
                (kind(change.code()), out)
            }
            Entry::Commit { txn, changes } => {
                let mut out = Vec::with_capacity(8 + 4);
                out.extend_from_slice(&txn.to_le_bytes());
                out.extend_from_slice(&changes.to_le_bytes());
                (kind(KIND_COMMIT), out)
            }
        }
    }

    /// Decode a record of the log (`lsn` only for messages).
    pub fn decode(lsn: u64, kind: RecordKind, payload: &[u8]) -> Result<Entry> {
        Entry::decode_with(lsn, kind, payload, |raw| {
            std::str::from_utf8(raw).ok().map(PathBuf::from)
        })
    }
}

impl<P> Entry<P> {
    /// [`Entry::decode`], the path made by `path` from its bytes: `None` if they are
    /// not UTF-8 (which it must check). Lets a reader of many records share one copy of
    /// each path its changes name instead of allocating one per change; the checks,
    /// and the error each damage gives, are the same.
    pub fn decode_with(
        lsn: u64,
        kind: RecordKind,
        payload: &[u8],
        path: impl FnOnce(&[u8]) -> Option<P>,
    ) -> Result<Entry<P>> {
        let mut r = Reader {
            buf: payload,
            at: 0,
            lsn,
        };
        let txn = r.u64()?;
        let entry = match kind.get() {
            KIND_COMMIT => Entry::Commit {
                txn,
                changes: r.u32()?,
            },
            k @ (KIND_INSERT | KIND_UPDATE | KIND_DELETE) => {
                let plen = usize::from(r.u16()?);
                if plen == 0 || plen > MAX_PATH_LEN {
                    return Err(r.bad("file path length out of range"));
                }
                let Some(path) = path(r.take(plen)?) else {
                    return Err(r.bad("file path is not UTF-8"));
                };
                let change = Change::decode_body(k, r.buf, &mut r.at).map_err(|e| match e {
                    BodyError::Truncated => r.bad("entry is truncated"),
                    BodyError::UnknownKind(k) => r.bad(&format!("unknown record kind {k}")),
                })?;
                Entry::Change { txn, path, change }
            }
            other => return Err(r.bad(&format!("unknown record kind {other}"))),
        };
        if r.at != payload.len() {
            return Err(r.bad("trailing bytes after the entry"));
        }
        Ok(entry)
    }
}

/// A bounds-checked little-endian reader over a payload.
struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
    lsn: u64,
}

impl Reader<'_> {
    fn bad(&self, what: &str) -> Error {
        Error::new(
            Status::IoError,
            format!(
                "transaction log record LSN {}: {what} (offset {} of a {}-byte payload); \
                 the log is damaged: restore the data files from a backup",
                self.lsn,
                self.at,
                self.buf.len()
            ),
        )
    }

    fn take(&mut self, n: usize) -> Result<&[u8]> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| self.bad("entry is truncated"))?;
        let s = &self.buf[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn u16(&mut self) -> Result<u16> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn change() -> impl Strategy<Value = Change> {
        let rec = proptest::collection::vec(any::<u8>(), 0..64);
        prop_oneof![
            (any::<u64>(), rec.clone())
                .prop_map(|(serial, record)| Change::Insert { serial, record }),
            (any::<u64>(), rec.clone(), rec.clone())
                .prop_map(|(serial, old, new)| Change::Update { serial, old, new }),
            (any::<u64>(), rec).prop_map(|(serial, old)| Change::Delete { serial, old }),
        ]
    }

    fn entry() -> impl Strategy<Value = Entry> {
        prop_oneof![
            (any::<u64>(), "[a-z/._]{1,40}", change()).prop_map(|(txn, p, change)| {
                Entry::Change {
                    txn,
                    path: PathBuf::from(p),
                    change,
                }
            }),
            (any::<u64>(), any::<u32>()).prop_map(|(txn, changes)| Entry::Commit { txn, changes }),
        ]
    }

    proptest! {
        #[test]
        fn round_trip(e in entry()) {
            let (k, payload) = e.encode();
            prop_assert_eq!(Entry::decode(7, k, &payload)?, e);
        }

        #[test]
        fn any_payload_decodes_or_errors(code in 1u8..8, payload in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Some(k) = RecordKind::new(code) {
                if let Err(e) = Entry::decode(3, k, &payload) {
                    prop_assert_eq!(e.status, Status::IoError);
                }
            }
        }

        #[test]
        fn every_truncation_is_an_error(e in entry()) {
            let (k, payload) = e.encode();
            for n in 0..payload.len() {
                prop_assert!(Entry::decode(1, k, &payload[..n]).is_err());
            }
        }
    }
}
