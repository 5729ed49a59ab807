//! Reading an archival log: its entries in order, where its valid part ends and why
//! (rules in the [module doc](super)).
//!
//! The log is streamed through a bounded window ([`crate::appendfile::Window`]) and
//! each entry is handed to the caller as it is decoded ([`visit_log`]): a log is never
//! deleted by the engine and grows with every system transaction, so nothing here
//! holds more than one frame at a time unless the caller keeps the entries
//! ([`read_log`]).

use super::format::{
    decode_raw, frame_len, header_error, ArchivalHeader, ArchivalLayout, Entry, ARCHIVAL,
    ARCHIVAL_HEADER_LEN, FRAME_HEADER_LEN, MAX_PAYLOAD,
};
use crate::appendfile::{search_for_proof, HeaderError, Layout, Search, Source, Window};
pub use crate::appendfile::{End, Stop};
use crate::status::{Error, Result, Status};
use crate::vfs::{read_exact_at, OpenMode, Vfs, VfsFile};
use std::path::Path;

/// What a scan of an archival log found (its entries went to the caller).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchivalScan {
    pub header: ArchivalHeader,
    /// Valid frames (entries).
    pub entries: u64,
    /// The FCR sequence of the first and the last entry (`None` if there is none).
    pub first_fcr_seq: Option<u64>,
    pub last_fcr_seq: Option<u64>,
    /// File offset of the last valid frame (the header's end if none).
    pub last_frame_at: u64,
    /// File offset just after the last valid frame: where the writer continues.
    pub valid_len: u64,
    /// The sequence number of the next frame (`entries + 1`).
    pub next_seq: u64,
    /// The file's length when scanned.
    pub file_len: u64,
    /// `Torn` if any bytes follow the last valid frame (a write a crash cut short, or
    /// space it left): they are ignored, and the writer cuts them. `Clean` otherwise.
    pub end: End,
    /// Why the frames stopped, and at which offset (= `valid_len`).
    pub stop: Stop,
    pub stop_offset: u64,
}

impl ArchivalScan {
    /// The FCR sequence the log brings its data file to: the last entry's, or the
    /// header's base if the log holds none.
    pub fn covered_fcr_seq(&self) -> u64 {
        self.last_fcr_seq.unwrap_or(self.header.base_fcr_seq)
    }
}

/// What lies at an archival log's path, before anything is scanned (`Interrupted`: it
/// may be removed and created again).
pub type LogProbe = crate::appendfile::Probe;

fn io_error(e: &std::io::Error, what: &str, path: &Path) -> Error {
    ARCHIVAL.io_error(e, what, path)
}

/// Read and decode the header sector; also returns the file's length.
fn read_header(
    file: &dyn VfsFile,
    path: &Path,
) -> Result<(std::result::Result<ArchivalHeader, HeaderError>, u64)> {
    let file_len = file.len().map_err(|e| io_error(&e, "reading", path))?;
    let mut head = vec![0u8; file_len.min(ARCHIVAL_HEADER_LEN as u64) as usize];
    read_exact_at(file, &mut head, 0).map_err(|e| io_error(&e, "reading", path))?;
    Ok((ArchivalHeader::decode(&head), file_len))
}

/// Whether `path` holds an archival log, one whose creation was interrupted, or nothing.
pub fn probe_log(vfs: &dyn Vfs, path: &Path) -> Result<LogProbe> {
    let file = match vfs.open(path, OpenMode::ReadOnly) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(LogProbe::Absent),
        Err(e) => return Err(io_error(&e, "opening", path)),
    };
    let (header, file_len) = read_header(file.as_ref(), path)?;
    Ok(LogProbe::of(&header, file_len))
}

/// Scan the archival log at `path`, handing every valid entry, with its frame's file
/// offset, to `visit` in order (an error from `visit` stops the scan and is returned).
///
/// Frames are accepted while each is complete, its seeded checksum matches and its
/// sequence number is the next one; such a frame must then be exactly what the writer
/// writes — or the scan fails (status 2, naming the offset). The first frame that is
/// not accepted ends the log: a clean or torn end (a crash's), unless a later frame
/// proves the one expected had been synced (status 2: the log is damaged before entries
/// that exist). Other errors, all status 2 unless the `Vfs` failed otherwise (a missing
/// file is 12): a header that is damaged, another kind of file's, or torn — the last
/// also said plainly when nothing follows it (an interrupted creation, [`probe_log`]).
/// Each error names the file and what to do.
pub fn visit_log(
    vfs: &dyn Vfs,
    path: &Path,
    mut visit: impl FnMut(u64, Entry) -> Result<()>,
) -> Result<ArchivalScan> {
    let file = vfs
        .open(path, OpenMode::ReadOnly)
        .map_err(|e| io_error(&e, "opening", path))?;
    let (header, file_len) = read_header(file.as_ref(), path)?;
    let header = match header {
        Ok(h) => h,
        Err(h) if h.is_torn() && file_len <= ARCHIVAL_HEADER_LEN as u64 => {
            return Err(Error::new(
                Status::IoError,
                format!(
                    "archival log {}: {h}, and nothing follows it: its creation was \
                     interrupted, so nothing was ever logged to it; remove it and let the \
                     engine create it again",
                    path.display()
                ),
            ))
        }
        Err(h) => return Err(header_error(&h, path)),
    };
    let layout = ArchivalLayout::of(&header);
    let corrupt = |at: u64, seq: u64, why: String| {
        Error::new(
            Status::IoError,
            format!(
                "archival log {}: the frame at offset {at} (sequence {seq}) is damaged: {why}; \
                 the log cannot be trusted from there — roll forward no further than frame \
                 {}, and take a new backup of the data file",
                path.display(),
                seq.saturating_sub(1)
            ),
        )
    };
    let read_error = |e: &std::io::Error| io_error(e, "reading", path);
    let mut w = Window::new(file.as_ref(), file_len, &read_error);
    let mut pos = ARCHIVAL_HEADER_LEN as u64;
    let mut last_frame_at = pos;
    let mut next_seq = 1u64;
    let mut first_fcr_seq = None;
    let mut last_fcr_seq: Option<u64> = None;
    let stop = loop {
        // The frame header first, then the frame as long as it says (never more than
        // the maximum), so a window is not refilled for a longest frame every time.
        let head = w.get(pos, FRAME_HEADER_LEN)?;
        let want = match head.get(..FRAME_HEADER_LEN) {
            Some(h) if layout.payload_len(h) as usize <= MAX_PAYLOAD => {
                frame_len(layout.payload_len(h) as usize)
            }
            _ => FRAME_HEADER_LEN,
        };
        let bytes = w.get(pos, want)?;
        let raw = match decode_raw(&layout, bytes) {
            Ok(raw) => raw,
            Err(stop) => break stop,
        };
        if raw.log_seq != next_seq {
            break Stop::Stale { seq: raw.log_seq };
        }
        // From here the frame is certainly the one this log's writer wrote at this
        // offset (sequence and seeded checksum match): anything wrong in it is damage
        // or a bug, never a crash's torn end.
        let len = raw.encoded_len() as u64;
        let entry = raw.check().map_err(|why| corrupt(pos, next_seq, why))?;
        if entry.fcr_seq <= header.base_fcr_seq {
            return Err(corrupt(
                pos,
                next_seq,
                format!(
                    "it describes FCR sequence {}, but the log began after {}",
                    entry.fcr_seq, header.base_fcr_seq
                ),
            ));
        }
        if let Some(last) = last_fcr_seq.filter(|&l| entry.fcr_seq < l) {
            return Err(corrupt(
                pos,
                next_seq,
                format!(
                    "it describes FCR sequence {}, before the previous frame's {last}",
                    entry.fcr_seq
                ),
            ));
        }
        first_fcr_seq.get_or_insert(entry.fcr_seq);
        last_fcr_seq = Some(entry.fcr_seq);
        visit(pos, entry)?;
        last_frame_at = pos;
        pos += len;
        next_seq += 1;
    };
    let valid_len = pos;
    if stop != Stop::EndOfData {
        let tail = |found: String| {
            Error::new(
                Status::IoError,
                format!(
                    "archival log {}: the frame at offset {valid_len} (sequence {next_seq}) is \
                     damaged ({stop}) but {found}; the log cannot be trusted past frame {} — \
                     roll forward no further, and take a new backup of the data file",
                    path.display(),
                    next_seq - 1
                ),
            )
        };
        match search_for_proof(&layout, &mut w, valid_len, next_seq)?.0 {
            Search::Nothing => {}
            Search::Proof {
                offset,
                seq,
                watermark,
            } => {
                return Err(tail(format!(
                    "a later frame exists (frame {seq} at offset {offset} was written after \
                     every frame below {watermark} was synced)"
                )))
            }
            Search::Exhausted { offset } => {
                return Err(tail(format!(
                    "the rest of the file could not be checked for later frames (too many \
                     frame-like fragments from offset {offset})"
                )))
            }
        }
    }
    debug_assert!(valid_len <= file_len && last_frame_at <= valid_len);
    Ok(ArchivalScan {
        header,
        entries: next_seq - 1,
        first_fcr_seq,
        last_fcr_seq,
        last_frame_at,
        valid_len,
        next_seq,
        file_len,
        end: if file_len > valid_len {
            End::Torn
        } else {
            End::Clean
        },
        stop,
        stop_offset: valid_len,
    })
}

/// Scan the archival log at `path` for where it ends ([`visit_log`], entries dropped).
pub fn scan_log(vfs: &dyn Vfs, path: &Path) -> Result<ArchivalScan> {
    visit_log(vfs, path, |_, _| Ok(()))
}

/// Every valid entry of the archival log at `path`, in order ([`visit_log`]). Memory
/// grows with the log; roll-forward should visit instead.
pub fn read_log(vfs: &dyn Vfs, path: &Path) -> Result<(ArchivalScan, Vec<Entry>)> {
    let mut entries = Vec::new();
    let scan = visit_log(vfs, path, |_, e| {
        entries.push(e);
        Ok(())
    })?;
    Ok((scan, entries))
}
