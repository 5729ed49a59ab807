//! One change to one record of a data file, as the redo interface sees it: the unit the
//! transaction log and the archival log record and roll-forward replays through
//! [`super::datafile::DataFile::redo`].
//!
//! It lives with the file, not with the logs, because it is the file's vocabulary: a
//! change names its record by insertion serial (and, for update and delete, the old
//! image whose key-0 value must still be there). The logs above store and order
//! changes, each in its own frames (`txlog::entry`, `archival::format`); the encoding
//! of a change's *body* is here, once, so both store a change the same way.

/// One record change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    Insert {
        serial: u64,
        record: Vec<u8>,
    },
    Update {
        serial: u64,
        old: Vec<u8>,
        new: Vec<u8>,
    },
    Delete {
        serial: u64,
        old: Vec<u8>,
    },
}

/// The kind code of an insert, in every log that stores changes (the transaction log's
/// record kinds, the archival log's change tags). Never 0, so zeroed bytes are no change.
pub const INSERT: u8 = 1;
/// The kind code of an update.
pub const UPDATE: u8 = 2;
/// The kind code of a delete.
pub const DELETE: u8 = 3;

/// Why a change body failed to decode. The caller adds where (which log, which frame).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyError {
    /// A field or image runs past the end of the bytes.
    Truncated,
    /// A kind code that is not [`INSERT`], [`UPDATE`] or [`DELETE`].
    UnknownKind(u8),
}

impl Change {
    /// The change's kind code ([`INSERT`], [`UPDATE`], [`DELETE`]).
    pub fn code(&self) -> u8 {
        match self {
            Change::Insert { .. } => INSERT,
            Change::Update { .. } => UPDATE,
            Change::Delete { .. } => DELETE,
        }
    }

    /// The record's insertion serial.
    pub fn serial(&self) -> u64 {
        match self {
            Change::Insert { serial, .. }
            | Change::Update { serial, .. }
            | Change::Delete { serial, .. } => *serial,
        }
    }

    /// The images the change carries, in body order: the record (insert), old and new
    /// (update), the old image (delete).
    pub fn images(&self) -> impl Iterator<Item = &[u8]> {
        let (a, b): (&[u8], Option<&[u8]>) = match self {
            Change::Insert { record, .. } => (record, None),
            Change::Update { old, new, .. } => (old, Some(new)),
            Change::Delete { old, .. } => (old, None),
        };
        std::iter::once(a).chain(b)
    }

    /// Bytes of the body [`Change::encode_body`] writes.
    pub fn body_len(&self) -> usize {
        8 + self.images().map(|i| 4 + i.len()).sum::<usize>()
    }

    /// Append the change's body — `serial u64`, then each image as `len u32` and its
    /// bytes (little-endian) — to `out`. The kind is not part of it: each log stores
    /// the kind its own way (the transaction log as the frame's kind, the archival log
    /// as a tag byte), but both store the body this way, so one decoder serves both.
    /// An image is a record, so its length fits a `u32` (records fit in a page).
    pub fn encode_body(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.serial().to_le_bytes());
        for image in self.images() {
            debug_assert!(u32::try_from(image.len()).is_ok());
            out.extend_from_slice(&(image.len() as u32).to_le_bytes());
            out.extend_from_slice(image);
        }
    }

    /// Decode the body of a change of kind `code` from `buf` at `*at`, advancing `*at`
    /// past it. On error `*at` is where the read that failed starts (for an image
    /// longer than the bytes left: just after its length field). Every length is
    /// checked against the bytes left before anything is allocated, so a damaged
    /// length cannot cause a large allocation.
    pub fn decode_body(code: u8, buf: &[u8], at: &mut usize) -> Result<Change, BodyError> {
        if !matches!(code, INSERT | UPDATE | DELETE) {
            return Err(BodyError::UnknownKind(code));
        }
        let mut take = |n: usize| -> Result<&[u8], BodyError> {
            let end = at
                .checked_add(n)
                .filter(|&e| e <= buf.len())
                .ok_or(BodyError::Truncated)?;
            let s = &buf[*at..end];
            *at = end;
            Ok(s)
        };
        let mut u64_bytes = [0u8; 8];
        u64_bytes.copy_from_slice(take(8)?);
        let serial = u64::from_le_bytes(u64_bytes);
        let mut image = || -> Result<Vec<u8>, BodyError> {
            let mut n = [0u8; 4];
            n.copy_from_slice(take(4)?);
            Ok(take(u32::from_le_bytes(n) as usize)?.to_vec())
        };
        Ok(match code {
            INSERT => Change::Insert {
                serial,
                record: image()?,
            },
            UPDATE => Change::Update {
                serial,
                old: image()?,
                new: image()?,
            },
            _ => Change::Delete {
                serial,
                old: image()?,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<Change> {
        vec![
            Change::Insert {
                serial: 7,
                record: vec![1, 2, 3],
            },
            Change::Update {
                serial: u64::MAX,
                old: vec![],
                new: vec![9; 40],
            },
            Change::Delete {
                serial: 0,
                old: vec![5; 4],
            },
        ]
    }

    #[test]
    fn bodies_round_trip_back_to_back_and_every_cut_is_truncated() {
        let mut buf = Vec::new();
        for c in samples() {
            let before = buf.len();
            c.encode_body(&mut buf);
            assert_eq!(buf.len() - before, c.body_len());
        }
        let mut at = 0;
        for c in samples() {
            assert_eq!(Change::decode_body(c.code(), &buf, &mut at), Ok(c));
        }
        assert_eq!(at, buf.len());
        let one = &samples()[1];
        let mut b = Vec::new();
        one.encode_body(&mut b);
        for n in 0..b.len() {
            let mut at = 0;
            assert_eq!(
                Change::decode_body(UPDATE, &b[..n], &mut at),
                Err(BodyError::Truncated),
                "cut at {n}"
            );
        }
        assert_eq!(
            Change::decode_body(0, &b, &mut 0),
            Err(BodyError::UnknownKind(0))
        );
        assert_eq!(
            Change::decode_body(4, &b, &mut 0),
            Err(BodyError::UnknownKind(4))
        );
    }

    #[test]
    fn a_huge_length_is_refused_without_allocating() {
        let mut b = 1u64.to_le_bytes().to_vec();
        b.extend_from_slice(&u32::MAX.to_le_bytes());
        let mut at = 0;
        assert_eq!(
            Change::decode_body(INSERT, &b, &mut at),
            Err(BodyError::Truncated)
        );
        assert_eq!(at, 12, "at is just after the image's length field");
    }
}
