//! The archival log's bytes: its one-sector header and its frames, one frame per
//! system transaction of the data file (the rules the writer keeps and the reader
//! relies on are in the [module doc](super)). Byte layouts: `engine/FORMAT.md`
//! ("Archival logs"). The header envelope, the frame envelope and the proof search
//! are [`crate::appendfile`]'s; this file is what an archival log puts in them.
//!
//! Header fields (after the envelope's checksum, magic and version):
//!
//! ```text
//! 16 base_fcr_seq u64 | 24 log_id u64 | 32 name_len u16 | 34 0 (6 bytes) | 40 data file name | 0 …
//! ```
//!
//! A frame is a 40-byte header, the payload, and zero padding to an 8-byte boundary:
//!
//! ```text
//! [crc32c u32][kind u8 = 1][0 0 0][log_seq u64][fcr_seq u64][payload_len u32][sync_gap u32]
//! [applied_lsn u64][payload][0-pad]
//! payload: [count u32] then count × ([change kind u8][change body])
//! ```
//!
//! `applied_lsn` is the data file's applied transaction-log LSN after the transaction
//! (the FCR's): roll-forward leaves a restored file at the last applied frame's, so a
//! later open replays from the transaction log only what the archive did not hold.
//!
//! The change body is `file::change`'s (`serial u64`, then each image as `len u32` and
//! its bytes): the transaction log stores changes the same way.
//!
//! Nothing here panics or allocates on the strength of a length read from disk: a
//! payload length is checked against [`MAX_PAYLOAD`] and the bytes present before
//! anything is hashed, and every length inside a payload against what is left of it.

use crate::appendfile::HEADER_LEN;
use crate::appendfile::{decode_envelope, seal_frame, FileKind, HeaderError, Layout, Stop};
use crate::file::change::{BodyError, Change};
use crate::page::bytes::{get_u16, get_u32, get_u64, put_u16, put_u32, put_u64};
use crate::status::{Error, Result, Status};
use std::path::Path;

/// An archival log as an append file: magic `KEELALOG`, format version 2 (version 1
/// had no `applied_lsn` in its frames; no engine wrote it outside tests).
pub const ARCHIVAL: FileKind = FileKind {
    noun: "archival log",
    magic: *b"KEELALOG",
    version: 2,
};
/// Bytes of the header; frames start at this offset.
pub const ARCHIVAL_HEADER_LEN: usize = HEADER_LEN;
/// Bytes of a frame header.
pub const FRAME_HEADER_LEN: usize = 40;
/// The largest payload of one frame — one system transaction's changes to one file.
/// It bounds what a frame header read from disk can make the reader look at; a
/// system transaction whose changes do not fit cannot be logged (the writer refuses
/// it, and the engine must not commit it).
pub const MAX_PAYLOAD: usize = 64 << 20;
/// The longest data file name the header records (a common file-system limit).
pub const MAX_NAME_LEN: usize = 255;
/// The only frame kind: one system transaction. Never 0: zeroed space is no frame.
pub const KIND_TRANSACTION: u8 = 1;

/// Where the data file's name starts in the header.
const NAME_AT: usize = 40;
/// Bytes of a change's smallest encoding: a kind byte, a serial, one image length.
const MIN_CHANGE_LEN: usize = 1 + 8 + 4;
/// What to do about an archival log whose header is damaged.
const HEADER_ADVICE: &str = "the log cannot be read; keep the file for inspection, take a \
     new backup of the data file and start a new archival log for it";

/// The decoded header: what ties the log to its data file.
///
/// A data file's FCR carries no identity of its own (its sequence number, definition
/// and state, nothing unique), so the log records the data file's *name* — the last
/// component of its path, which survives a restore under another directory — and the
/// FCR sequence the file was at when the log was created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchivalHeader {
    /// The data file's name (its path's last component), 1 to [`MAX_NAME_LEN`] bytes
    /// of UTF-8 without `/` or NUL.
    pub data_name: String,
    /// The data file's durable FCR sequence when the log was created: its first frame
    /// describes a later one. Roll-forward needs a backup taken at or after it.
    pub base_fcr_seq: u64,
    /// Chosen by whoever creates the log, to tell this log from an earlier one at the
    /// same path: its frames are checksummed with it ([`ArchivalHeader::frame_seed`]).
    pub log_id: u64,
}

/// The error for a damaged archival log header (status 2), naming the log at `path`.
pub fn header_error(e: &HeaderError, path: &Path) -> Error {
    e.to_error(&ARCHIVAL, path, HEADER_ADVICE)
}

/// Why `name` cannot be recorded as a data file's name, if it cannot.
fn name_problem(name: &str) -> Option<String> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Some(format!(
            "a data file name of {} bytes (1 to {MAX_NAME_LEN})",
            name.len()
        ));
    }
    if name.contains(['/', '\0']) {
        return Some(format!(
            "data file name `{}` holds `/` or NUL",
            name.escape_debug()
        ));
    }
    None
}

impl ArchivalHeader {
    /// The header of a new log for the data file at `data_path`, whose durable FCR has
    /// sequence `base_fcr_seq`. A path without a UTF-8 file name of at most
    /// [`MAX_NAME_LEN`] bytes is refused (status 11).
    pub fn for_data_file(data_path: &Path, base_fcr_seq: u64, log_id: u64) -> Result<Self> {
        let name = data_path.file_name().and_then(|n| n.to_str());
        match name.map(|n| (n, name_problem(n))) {
            Some((n, None)) => Ok(ArchivalHeader {
                data_name: n.to_string(),
                base_fcr_seq,
                log_id,
            }),
            Some((_, Some(why))) => Err(Error::new(
                Status::InvalidFileName,
                format!(
                    "cannot start an archival log for {}: {why}",
                    data_path.display()
                ),
            )),
            None => Err(Error::new(
                Status::InvalidFileName,
                format!(
                    "cannot start an archival log for {}: the path has no UTF-8 file name",
                    data_path.display()
                ),
            )),
        }
    }

    /// The 512-byte header sector. The name must be valid (as every constructor and
    /// [`ArchivalHeader::decode`] ensure).
    pub fn encode(&self) -> [u8; ARCHIVAL_HEADER_LEN] {
        debug_assert!(name_problem(&self.data_name).is_none());
        let name = self.data_name.as_bytes();
        let n = name.len().min(MAX_NAME_LEN);
        let mut b = [0u8; ARCHIVAL_HEADER_LEN];
        put_u64(&mut b, 16, self.base_fcr_seq);
        put_u64(&mut b, 24, self.log_id);
        put_u16(&mut b, 32, n as u16);
        b[NAME_AT..NAME_AT + n].copy_from_slice(&name[..n]);
        ARCHIVAL.seal(&mut b);
        b
    }

    /// Decode and validate the header at the start of `buf` (the first bytes of an
    /// archival log). Checks, in order: length, checksum, magic, version, the name's
    /// length and text, reserved bytes zero.
    pub fn decode(buf: &[u8]) -> std::result::Result<ArchivalHeader, HeaderError> {
        let b = ARCHIVAL.open(buf)?;
        let n = usize::from(get_u16(b, 32));
        if n == 0 || n > MAX_NAME_LEN {
            return Err(HeaderError::Invalid(format!(
                "the header's data file name is {n} bytes (1 to {MAX_NAME_LEN})"
            )));
        }
        let data_name = match std::str::from_utf8(&b[NAME_AT..NAME_AT + n]) {
            Ok(s) => s.to_string(),
            Err(_) => {
                return Err(HeaderError::Invalid(
                    "the header's data file name is not UTF-8".into(),
                ))
            }
        };
        if let Some(why) = name_problem(&data_name) {
            return Err(HeaderError::Invalid(format!("the header names {why}")));
        }
        // A checksummed header with bytes this version never writes was made by
        // something else; reading on would guess at fields we do not know.
        if b[34..NAME_AT]
            .iter()
            .chain(&b[NAME_AT + n..])
            .any(|&x| x != 0)
        {
            return Err(HeaderError::Invalid(
                "the header's reserved bytes are not zero (written by a newer engine?)".into(),
            ));
        }
        Ok(ArchivalHeader {
            data_name,
            base_fcr_seq: get_u64(b, 16),
            log_id: get_u64(b, 24),
        })
    }

    /// The CRC-32C seed of every frame of this log: the checksum of the header's
    /// fields. Frame sequence numbers restart at 1 in every log, so without a seed a
    /// frame of an earlier log at the same path (its blocks reused, shown after a crash
    /// by a filesystem that does not zero them) could sit at the right offset with the
    /// right sequence number and pass.
    pub fn frame_seed(&self) -> u32 {
        let b = self.encode();
        crc32c::crc32c(&b[16..])
    }

    /// Check that this log belongs to the data file at `data_path` (by name: see the
    /// type's doc). Status 2 if not, naming both.
    pub fn check_data_file(&self, data_path: &Path) -> Result<()> {
        let name = data_path.file_name().and_then(|n| n.to_str());
        if name == Some(self.data_name.as_str()) {
            return Ok(());
        }
        Err(Error::new(
            Status::IoError,
            format!(
                "the archival log of {} was written for a data file named `{}`; the \
                 configuration (blog.cfg) or the files were mixed up — give the file its \
                 own log",
                data_path.display(),
                self.data_name.escape_debug()
            ),
        ))
    }
}

/// One frame's content: one system transaction of the data file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The frame's sequence number in the log: 1, 2, … with no gap.
    pub log_seq: u64,
    /// The data file's FCR sequence *after* the system transaction (the FCR whose
    /// durability the frame came before).
    pub fcr_seq: u64,
    /// The data file's applied transaction-log LSN after the system transaction (the
    /// FCR's; 0 for a file never logged). Roll-forward leaves the file at it.
    pub applied_lsn: u64,
    /// The record changes it committed, in order (possibly none: a system transaction
    /// that advanced the FCR without changing records is logged too, so roll-forward
    /// sees no gap).
    pub changes: Vec<Change>,
}

/// The frame layout of one log (its checksum seed), for the append-file envelope and
/// the proof search.
#[derive(Clone, Copy, Debug)]
pub struct ArchivalLayout {
    pub seed: u32,
}

impl ArchivalLayout {
    pub fn of(header: &ArchivalHeader) -> ArchivalLayout {
        ArchivalLayout {
            seed: header.frame_seed(),
        }
    }
}

/// The cheap frame header fields, no checksum.
struct Peek {
    kind: u8,
    reserved_zero: bool,
    log_seq: u64,
    fcr_seq: u64,
    payload_len: u32,
    sync_gap: u32,
}

fn peek(h: &[u8]) -> Peek {
    debug_assert!(h.len() >= FRAME_HEADER_LEN);
    Peek {
        kind: h[4],
        reserved_zero: h[5..8] == [0, 0, 0],
        log_seq: get_u64(h, 8),
        fcr_seq: get_u64(h, 16),
        payload_len: get_u32(h, 24),
        sync_gap: get_u32(h, 28),
    }
}

impl Layout for ArchivalLayout {
    const HEADER_LEN: usize = FRAME_HEADER_LEN;
    const TOO_LONG: &'static str = "payload longer than an archival frame may be";

    fn max_payload(&self) -> usize {
        MAX_PAYLOAD
    }

    fn payload_len(&self, h: &[u8]) -> u32 {
        get_u32(h, 24)
    }

    fn seed(&self) -> u32 {
        self.seed
    }

    /// A frame's watermark is `log_seq − sync_gap`: every frame below it had been
    /// synced when this one was written. Kind, reserved bytes and a gap that reaches
    /// below frame 1 are never written.
    fn watermark(&self, h: &[u8]) -> Option<(u64, u64)> {
        let p = peek(h);
        if p.kind != KIND_TRANSACTION || !p.reserved_zero || p.log_seq == 0 {
            return None;
        }
        let below = p.log_seq.checked_sub(u64::from(p.sync_gap))?;
        (below >= 1).then_some((p.log_seq, below))
    }
}

/// Bytes a frame with a `payload_len`-byte payload occupies, padding included.
pub const fn frame_len(payload_len: usize) -> usize {
    crate::appendfile::frame_len(FRAME_HEADER_LEN, payload_len)
}

/// Bytes of the payload that carries `changes`, or `None` if it would exceed
/// [`MAX_PAYLOAD`].
pub fn payload_len(changes: &[Change]) -> Option<usize> {
    let mut n = 4usize;
    for c in changes {
        n = n.checked_add(1 + c.body_len())?;
    }
    (n <= MAX_PAYLOAD && u32::try_from(changes.len()).is_ok()).then_some(n)
}

/// The numbers of one frame besides its changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameFields {
    /// The frame's sequence number in the log.
    pub log_seq: u64,
    /// The data file's FCR sequence after the transaction.
    pub fcr_seq: u64,
    /// The data file's applied LSN after the transaction.
    pub applied_lsn: u64,
    /// How far `log_seq` is past the frames synced when it is written (the writer
    /// writes 0).
    pub sync_gap: u32,
}

/// Append a frame to `out`: `changes` and `fields` (the FCR sequence and applied LSN
/// they bring the data file to, the frame's sequence number and sync gap), sealed under
/// `layout`. The payload must fit ([`payload_len`]) and the numbers be ones
/// [`RawFrame::check`] accepts; the writer checks both first.
pub fn encode_frame(
    layout: &ArchivalLayout,
    fields: FrameFields,
    changes: &[Change],
    out: &mut Vec<u8>,
) {
    let FrameFields {
        log_seq,
        fcr_seq,
        applied_lsn,
        sync_gap,
    } = fields;
    let plen = payload_len(changes);
    debug_assert!(plen.is_some(), "the writer checks the payload fits");
    debug_assert!(log_seq > u64::from(sync_gap) && fcr_seq != 0);
    let start = out.len();
    out.resize(start + FRAME_HEADER_LEN, 0);
    out.extend_from_slice(&(changes.len() as u32).to_le_bytes());
    for c in changes {
        out.push(c.code());
        c.encode_body(out);
    }
    let payload = out.len() - start - FRAME_HEADER_LEN;
    debug_assert_eq!(Some(payload), plen);
    out.resize(start + frame_len(payload), 0);
    let f = &mut out[start..];
    f[4] = KIND_TRANSACTION;
    put_u64(f, 8, log_seq);
    put_u64(f, 16, fcr_seq);
    put_u32(f, 24, payload as u32);
    put_u32(f, 28, sync_gap);
    put_u64(f, 32, applied_lsn);
    seal_frame(layout.seed, f);
}

/// A frame whose length and checksum are good; its fields are not yet checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawFrame<'a> {
    pub kind: u8,
    pub log_seq: u64,
    pub fcr_seq: u64,
    pub sync_gap: u32,
    pub applied_lsn: u64,
    reserved_zero: bool,
    pub payload: &'a [u8],
}

/// Decode the frame at the start of `bytes` as far as its length and checksum (the
/// parts a crash can damage). Field checks come after, in [`RawFrame::check`], because
/// the reader treats a bad field in the frame it expected as damage, not a torn end.
pub fn decode_raw<'a>(
    layout: &ArchivalLayout,
    bytes: &'a [u8],
) -> std::result::Result<RawFrame<'a>, Stop> {
    let len = decode_envelope(layout, bytes)?;
    let p = peek(&bytes[..FRAME_HEADER_LEN]);
    // The envelope checked that header, payload and padding lie within `len`.
    let payload = &bytes[FRAME_HEADER_LEN..FRAME_HEADER_LEN + p.payload_len as usize];
    debug_assert_eq!(frame_len(payload.len()), len);
    Ok(RawFrame {
        kind: p.kind,
        log_seq: p.log_seq,
        fcr_seq: p.fcr_seq,
        sync_gap: p.sync_gap,
        applied_lsn: get_u64(bytes, 32),
        reserved_zero: p.reserved_zero,
        payload,
    })
}

impl RawFrame<'_> {
    /// Bytes the frame occupies, padding included.
    pub fn encoded_len(&self) -> usize {
        frame_len(self.payload.len())
    }

    /// Check every field against what the writer produces, and decode the changes.
    pub fn check(&self) -> std::result::Result<Entry, String> {
        if self.kind != KIND_TRANSACTION {
            return Err(format!("unknown frame kind {}", self.kind));
        }
        if !self.reserved_zero {
            return Err("reserved frame header bytes are not zero".into());
        }
        if self.log_seq == 0 {
            return Err("frame sequence number 0".into());
        }
        if u64::from(self.sync_gap) >= self.log_seq {
            return Err(format!(
                "a sync gap of {} in frame {} reaches below frame 1",
                self.sync_gap, self.log_seq
            ));
        }
        if self.fcr_seq == 0 {
            return Err("FCR sequence number 0".into());
        }
        Ok(Entry {
            log_seq: self.log_seq,
            fcr_seq: self.fcr_seq,
            applied_lsn: self.applied_lsn,
            changes: decode_changes(self.payload)?,
        })
    }
}

/// The changes of a payload: a count, then each change's kind and body, and nothing
/// after. The count is not trusted for an allocation: changes are pushed one by one.
pub fn decode_changes(p: &[u8]) -> std::result::Result<Vec<Change>, String> {
    let Some(count) = p.get(..4).map(|b| get_u32(b, 0)) else {
        return Err(format!(
            "a payload of {} bytes has no change count",
            p.len()
        ));
    };
    // Each change takes at least MIN_CHANGE_LEN bytes: a count the payload cannot hold
    // is refused before anything is decoded.
    if count as usize > (p.len() - 4) / MIN_CHANGE_LEN {
        return Err(format!(
            "the payload counts {count} changes but its {} bytes cannot hold them",
            p.len()
        ));
    }
    let mut at = 4usize;
    let mut changes = Vec::new();
    for i in 0..count {
        let Some(&code) = p.get(at) else {
            return Err(format!("change {i} is missing (payload ends at {at})"));
        };
        at += 1;
        let c = Change::decode_body(code, p, &mut at).map_err(|e| match e {
            BodyError::Truncated => format!("change {i} is truncated at payload offset {at}"),
            BodyError::UnknownKind(k) => format!("change {i} has unknown kind {k}"),
        })?;
        changes.push(c);
    }
    if at != p.len() {
        return Err(format!(
            "{} bytes follow the last change of the payload",
            p.len() - at
        ));
    }
    Ok(changes)
}

#[cfg(test)]
#[path = "format_tests.rs"]
mod tests;
