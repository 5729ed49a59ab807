//! The log writer: appends records after the last valid one, rolls to new segments,
//! syncs, and removes segments no longer needed.
//!
//! Contract (what the scan in [`super::reader`] relies on; see the [module doc](super)):
//! - [`LogWriter::append`] only buffers; [`LogWriter::write_out`] hands the buffered
//!   frames to the `Vfs` (not synced); [`LogWriter::sync`] writes out and syncs, and
//!   returns the durable LSN — every record below it is durable.
//! - A record never straddles segments. Before a record is written to a new segment,
//!   the previous segment is synced, the new file is created with its header, synced,
//!   and the directory is synced: a segment exists only once all before it is durable,
//!   and its name is durable before any record in it is.
//! - Every frame carries the durable LSN at the time of its `append`, so a later scan
//!   can tell a record lost by a crash (never synced) from one damaged after its sync.
//! - Opening continues exactly where the scan's valid log ends. It **truncates** the
//!   last segment to its valid length and syncs before anything new is written.
//!   Consecutive-LSN checking alone would not make a torn tail harmless: if a crash
//!   lost record `n` but kept the unsynced records `n + 1, n + 2` after it, and the
//!   reopened writer wrote a new record `n` of the same length, the old `n + 1` would
//!   then sit exactly where the new `n + 1` belongs, with the right LSN and a good
//!   checksum, and a later scan would accept a record of an abandoned history. After
//!   the truncation no byte of the old tail exists. Opening also removes a segment
//!   whose creation was interrupted, and makes the records it builds on durable even
//!   if they were only in the OS cache, which the frames' durable-LSN watermark
//!   depends on: it *writes the last segment again* as scanned (valid part as read,
//!   zeros after it), then syncs it and the directory. A sync alone covers a process
//!   crash but not a failed sync: Linux marks the pages a failed fsync could not write
//!   clean, keeps serving them, and a later fsync succeeds without writing them
//!   (earlier segments are safe: each was synced, successfully, before the next
//!   existed).
//! - Recycling **removes** segment files (no renaming for reuse: a reused file would
//!   hold stale frames, which the scan tolerates but which buy nothing), oldest first,
//!   syncing the directory after each removal so that whatever a crash keeps is still
//!   a contiguous run of segments.
//! - Any failed write, sync, create or remove leaves the writer *failed*: the state on
//!   disk is unknown (after a failed sync nothing unsynced may be assumed to have
//!   reached the disk), so every later call returns status 2 until the caller reopens
//!   it from a fresh [`super::read_log`]. Records appended but not synced when the
//!   writer fails may or may not be found by that scan.

use super::frame::{encode_frame, frame_len, RecordKind, MAX_RECORD_PAYLOAD};
use super::reader::LogScan;
use super::segment::{
    segment_name, validate_segment_size, SegmentHeader, SEGMENT, SEGMENT_HEADER_LEN,
};
use crate::appendfile::file::{replace_with_prefix, write_synced};
use crate::status::{Error, Result, Status};
use crate::vfs::{OpenMode, Vfs, VfsFile};
use std::collections::VecDeque;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A segment the writer knows of.
#[derive(Clone, Debug)]
pub(super) struct Live {
    pub(super) number: u32,
    pub(super) first_lsn: u64,
    pub(super) path: PathBuf,
}

/// Appends records to the transaction log in one directory.
pub struct LogWriter {
    pub(super) vfs: Arc<dyn Vfs>,
    pub(super) dir: PathBuf,
    pub(super) engine_id: u64,
    /// Size of segments this writer creates.
    pub(super) segment_size: u64,
    /// Segments on disk, oldest first; the last is the one being written.
    pub(super) segments: VecDeque<Live>,
    /// The segment being written (shared with a [`PendingSync`] in flight).
    pub(super) file: Arc<dyn VfsFile>,
    /// The current segment's own size (from its header; may differ from
    /// `segment_size` if the configuration changed since it was created).
    pub(super) current_size: u64,
    /// Where the next frame goes in the current segment.
    pub(super) write_pos: u64,
    /// Encoded frames not yet written, and their lengths.
    pub(super) pending: Vec<u8>,
    pub(super) pending_lens: Vec<usize>,
    /// LSN the next `append` gets.
    pub(super) next_lsn: u64,
    /// Every record below this has been handed to the `Vfs`.
    pub(super) written_lsn: u64,
    /// Every record below this is durable.
    pub(super) durable_lsn: u64,
    /// Writes to the current segment since its last sync.
    pub(super) unsynced: bool,
    /// Why the writer failed, once it has.
    pub(super) failed: Option<String>,
}

impl fmt::Debug for LogWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogWriter")
            .field("dir", &self.dir)
            .field("segments", &self.segments)
            .field("write_pos", &self.write_pos)
            .field("next_lsn", &self.next_lsn)
            .field("written_lsn", &self.written_lsn)
            .field("durable_lsn", &self.durable_lsn)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

pub(super) fn io_error(e: &std::io::Error, what: &str, path: &Path) -> Error {
    SEGMENT.io_error(e, what, path)
}

/// Sync the log directory, so segment creations and removals in it are durable.
fn sync_log_dir(vfs: &dyn Vfs, dir: &Path) -> Result<()> {
    vfs.sync_dir(dir).map_err(|e| {
        Error::io(
            &e,
            format!("syncing transaction log directory {}", dir.display()),
        )
    })
}

/// Create segment `number` beginning at `first_lsn`: header and zeros up to the
/// segment size written and synced under a name the reader ignores (`NNNNNNNN.NEW`),
/// then renamed to the segment's name and the directory synced, before the caller
/// writes any record to it.
///
/// Why the rename: a power loss during the first sync of a new file may leave its
/// sectors torn, and a torn sector of a new extent may hold stale bytes (ext4
/// `data=writeback`) — a damaged header with garbage after it, which no reader can
/// tell from a real segment whose header rotted. Under the temporary name such a file
/// is nothing; the segment name only ever names a whole, synced segment. (A reader
/// still takes a torn header with only zeros after it, in the last segment, for an
/// interrupted creation, as engines before the rename left.) A temporary file a crash
/// left is truncated when that segment number is created again.
fn create_segment(
    vfs: &dyn Vfs,
    dir: &Path,
    header: &SegmentHeader,
) -> Result<(Arc<dyn VfsFile>, PathBuf)> {
    let path = dir.join(segment_name(header.number));
    let temp = dir.join(format!("{:08X}.NEW", header.number));
    if vfs
        .exists(&path)
        .map_err(|e| io_error(&e, "looking for", &path))?
    {
        return Err(Error::new(
            Status::IoError,
            format!(
                "creating transaction log segment {}: it already exists, but the log \
                 ends before it; remove it if it is not part of this log",
                path.display()
            ),
        ));
    }
    let file = vfs
        .open(&temp, OpenMode::Truncate)
        .map_err(|e| io_error(&e, "creating", &temp))?;
    let made = write_synced(
        &SEGMENT,
        file.as_ref(),
        &temp,
        &header.encode(),
        header.segment_size,
    )
    .and_then(|()| {
        vfs.rename(&temp, &path)
            .map_err(|e| io_error(&e, "naming the new", &path))
    })
    .and_then(|()| sync_log_dir(vfs, dir));
    if let Err(e) = made {
        drop(file);
        // Best effort: a leftover temporary file is ignored by readers and truncated
        // when this segment is created again.
        let _ = vfs.remove(&temp);
        return Err(e);
    }
    Ok((Arc::from(file), path))
}

impl LogWriter {
    /// Open the log in `dir` for appending, continuing after the last valid record of
    /// `scan` (which must be a fresh [`super::read_log`] of `dir`), or create
    /// `00000001.LOG` if it has no segment. `engine_id` must match the existing
    /// segments'; `segment_size` applies to segments created from now on.
    pub fn open(
        vfs: Arc<dyn Vfs>,
        dir: &Path,
        engine_id: u64,
        segment_size: u64,
        scan: &LogScan,
    ) -> Result<LogWriter> {
        LogWriter::open_as(vfs, dir, engine_id, segment_size, scan, false, Vec::new())
    }

    /// [`LogWriter::open`]; `in_place` is the `rewrite-in-place` known-bad engine (the
    /// last segment is rewritten in place instead of replaced by a synced copy, so a
    /// torn sector of that rewrite can destroy synced records). `false` on a correct
    /// engine.
    pub fn open_as(
        vfs: Arc<dyn Vfs>,
        dir: &Path,
        engine_id: u64,
        segment_size: u64,
        scan: &LogScan,
        in_place: bool,
        scratch: Vec<u8>,
    ) -> Result<LogWriter> {
        validate_segment_size(segment_size)?;
        if let Some(id) = scan.engine_id.filter(|&id| id != engine_id) {
            return Err(Error::new(
                Status::IoError,
                format!(
                    "the transaction log in {} belongs to engine {id:#x}, not {engine_id:#x}; \
                     point the engine at its own log directory",
                    dir.display()
                ),
            ));
        }
        if let Some(path) = &scan.incomplete {
            match vfs.remove(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_error(&e, "removing the incomplete", path)),
            }
            tracing::info!(target: "keel::txlog", path = %path.display(), "removed a segment whose creation was interrupted");
        }
        let (file, segments, current_size, write_pos) = match scan.segments.last() {
            Some(last) => {
                let path = &last.path;
                let file = vfs
                    .open(path, OpenMode::Existing)
                    .map_err(|e| io_error(&e, "opening", path))?;
                let len = file.len().map_err(|e| io_error(&e, "reading", path))?;
                if len < last.valid_len {
                    return Err(Error::new(
                        Status::IoError,
                        format!(
                            "transaction log segment {} is {len} bytes but the scan found \
                             valid records up to offset {}: the scan is stale or the file \
                             changed; scan the log again",
                            path.display(),
                            last.valid_len
                        ),
                    ));
                }
                // Replace the segment by a synced copy of it as the scan saw it — its
                // valid part as read, zeros after it. What was read may not be on the
                // disk: after a failed sync (a writer that failed, then a restart)
                // Linux serves records it never wrote and reports a later sync of them
                // as done, and the records written from here on would vouch for them
                // (their durable-below LSN). And the zeros: a torn or stale tail left
                // there could otherwise line up with a later record's LSN once new
                // records are written over the start of it — also a tail an earlier
                // open zeroed only in the OS cache, which reads show as zeros. A copy,
                // not a rewrite in place: see `appendfile::file::replace_with_prefix`.
                let temp = dir.join(format!("{:08X}.NEW", last.number));
                let file = if in_place {
                    // Wrong (known-bad engine): rewrite in place, then sync.
                    crate::vfs::rewrite(file.as_ref(), 0, last.valid_len)
                        .and_then(|()| {
                            crate::appendfile::file::zero_fill(file.as_ref(), last.valid_len, len)
                        })
                        .and_then(|()| file.sync())
                        .map_err(|e| io_error(&e, "rewriting", path))?;
                    file
                } else {
                    replace_with_prefix(
                        vfs.as_ref(),
                        &SEGMENT,
                        path,
                        file.as_ref(),
                        &temp,
                        last.valid_len,
                        len,
                        scratch,
                    )?
                };
                let segments = scan
                    .segments
                    .iter()
                    .map(|s| Live {
                        number: s.number,
                        first_lsn: s.first_lsn,
                        path: s.path.clone(),
                    })
                    .collect();
                (Arc::from(file), segments, last.segment_size, last.valid_len)
            }
            None => {
                let header = SegmentHeader {
                    number: 1,
                    engine_id,
                    first_lsn: scan.next_lsn,
                    segment_size,
                };
                let (file, path) = create_segment(vfs.as_ref(), dir, &header)?;
                let live = Live {
                    number: 1,
                    first_lsn: scan.next_lsn,
                    path,
                };
                (
                    file,
                    VecDeque::from([live]),
                    segment_size,
                    SEGMENT_HEADER_LEN as u64,
                )
            }
        };
        Ok(LogWriter {
            vfs,
            dir: dir.to_path_buf(),
            engine_id,
            segment_size,
            segments,
            file,
            current_size,
            write_pos,
            pending: Vec::new(),
            pending_lens: Vec::new(),
            next_lsn: scan.next_lsn,
            written_lsn: scan.next_lsn,
            durable_lsn: scan.next_lsn,
            unsynced: false,
            failed: None,
        })
    }

    /// The LSN the next appended record gets.
    pub fn next_lsn(&self) -> u64 {
        self.next_lsn
    }

    /// Every record with a smaller LSN is durable.
    pub fn durable_lsn(&self) -> u64 {
        self.durable_lsn
    }

    /// Whether an I/O failure has left the writer unusable until reopened.
    pub fn is_failed(&self) -> bool {
        self.failed.is_some()
    }

    /// The segment numbers on disk, oldest first (the last is being written).
    pub fn segment_numbers(&self) -> Vec<u32> {
        self.segments.iter().map(|s| s.number).collect()
    }

    /// Largest payload a segment of this writer's size can hold.
    pub fn max_payload(&self) -> usize {
        let room = (self.segment_size as usize).saturating_sub(SEGMENT_HEADER_LEN);
        // frame_len(p) = 24 + p rounded up to 8 ≤ room  ⇔  p ≤ (room rounded down) − 24.
        (room / 8 * 8)
            .saturating_sub(super::frame::FRAME_HEADER_LEN)
            .min(MAX_RECORD_PAYLOAD)
    }

    pub(super) fn check_usable(&self) -> Result<()> {
        match &self.failed {
            None => Ok(()),
            Some(why) => Err(Error::new(
                Status::IoError,
                format!(
                    "the transaction log writer for {} failed earlier ({why}); nothing it had \
                     not synced can be trusted — scan the log again and reopen the writer",
                    self.dir.display()
                ),
            )),
        }
    }

    /// Mark the writer failed with `err`, and return it.
    pub(super) fn fail(&mut self, err: Error) -> Error {
        tracing::warn!(target: "keel::txlog", dir = %self.dir.display(), error = %err, "transaction log writer failed");
        self.failed = Some(err.to_string());
        self.pending.clear();
        self.pending_lens.clear();
        err
    }

    /// Buffer a record; returns its LSN. Nothing is written until
    /// [`write_out`](Self::write_out) or [`sync`](Self::sync). A payload too large for
    /// one segment is refused (status 28) without harming the writer.
    pub fn append(&mut self, kind: RecordKind, payload: &[u8]) -> Result<u64> {
        self.check_usable()?;
        if payload.len() > self.max_payload() {
            return Err(Error::new(
                Status::InvalidRecordLength,
                format!(
                    "a {}-byte log record does not fit a {}-byte transaction log segment \
                     (at most {} bytes); use a larger segment size",
                    payload.len(),
                    self.segment_size,
                    self.max_payload()
                ),
            ));
        }
        let lsn = self.next_lsn;
        encode_frame(lsn, self.durable_lsn, kind, payload, &mut self.pending)?;
        self.pending_lens.push(frame_len(payload.len()));
        self.next_lsn += 1;
        Ok(lsn)
    }

    /// Write the buffered records to the segment files (not synced), rolling to new
    /// segments as they fill.
    pub fn write_out(&mut self) -> Result<()> {
        self.check_usable()?;
        if self.pending_lens.is_empty() {
            return Ok(());
        }
        self.write_pending().map_err(|e| self.fail(e))
    }

    fn write_pending(&mut self) -> Result<()> {
        let pending = std::mem::take(&mut self.pending);
        let lens = std::mem::take(&mut self.pending_lens);
        let (mut chunk_start, mut at) = (0usize, 0usize);
        let mut pos = self.write_pos;
        let mut lsn = self.written_lsn;
        for &len in &lens {
            if pos + len as u64 > self.current_size {
                self.write_chunk(&pending[chunk_start..at])?;
                self.roll(lsn)?;
                chunk_start = at;
                pos = self.write_pos;
            }
            debug_assert!(
                pos + len as u64 <= self.current_size,
                "a frame straddles segments"
            );
            pos += len as u64;
            at += len;
            lsn += 1;
        }
        self.write_chunk(&pending[chunk_start..at])?;
        debug_assert_eq!(
            (at, lsn, pos),
            (pending.len(), self.next_lsn, self.write_pos)
        );
        self.written_lsn = lsn;
        // Keep the buffers' capacity for the next batch.
        self.pending = pending;
        self.pending.clear();
        self.pending_lens = lens;
        self.pending_lens.clear();
        Ok(())
    }

    fn write_chunk(&mut self, bytes: &[u8]) -> Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        let path = &self.segments.back().expect("the current segment").path;
        self.file
            .write_at(bytes, self.write_pos)
            .map_err(|e| io_error(&e, "writing", path))?;
        self.write_pos += bytes.len() as u64;
        self.unsynced = true;
        Ok(())
    }

    /// Start the next segment with record `first_lsn`: sync the current one first (so
    /// the next one's existence proves this one complete), then create the next.
    fn roll(&mut self, first_lsn: u64) -> Result<()> {
        let current = self.segments.back().expect("the current segment");
        let Some(number) = current.number.checked_add(1) else {
            return Err(Error::new(
                Status::IoError,
                format!(
                    "the transaction log in {} has used every segment number up to \
                     FFFFFFFF.LOG; recycle it or start a new log directory",
                    self.dir.display()
                ),
            ));
        };
        self.file
            .sync()
            .map_err(|e| io_error(&e, "syncing", &current.path))?;
        self.unsynced = false;
        self.durable_lsn = self.durable_lsn.max(first_lsn);
        let header = SegmentHeader {
            number,
            engine_id: self.engine_id,
            first_lsn,
            segment_size: self.segment_size,
        };
        let (file, path) = create_segment(self.vfs.as_ref(), &self.dir, &header)?;
        self.file = file;
        self.segments.push_back(Live {
            number,
            first_lsn,
            path,
        });
        self.current_size = self.segment_size;
        self.write_pos = SEGMENT_HEADER_LEN as u64;
        Ok(())
    }

    /// Remove every segment all of whose records have LSNs below `keep_from_lsn`,
    /// oldest first, never the segment being written; returns the numbers removed.
    /// The directory is synced after each removal, so a crash leaves a contiguous run.
    pub fn recycle(&mut self, keep_from_lsn: u64) -> Result<Vec<u32>> {
        self.check_usable()?;
        let mut removed = Vec::new();
        // Segment i holds LSNs first_lsn(i) .. first_lsn(i + 1).
        while self.segments.len() > 1 && self.segments[1].first_lsn <= keep_from_lsn {
            let oldest = &self.segments[0];
            let (number, path) = (oldest.number, oldest.path.clone());
            if let Err(e) = self.vfs.remove(&path) {
                return Err(self.fail(io_error(&e, "removing", &path)));
            }
            let synced = sync_log_dir(self.vfs.as_ref(), &self.dir);
            if let Err(err) = synced {
                return Err(self.fail(err));
            }
            self.segments.pop_front();
            removed.push(number);
        }
        Ok(removed)
    }
}

#[cfg(test)]
#[path = "writer_tests.rs"]
mod tests;
