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
//!   whose creation was interrupted, and syncs the last segment and the directory, so
//!   the records it builds on are durable even if they were only in the OS cache (a
//!   process crash), which the frames' durable-LSN watermark depends on.
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
use crate::appendfile::file::{initialize, zero_fill};
use crate::status::{Error, Result, Status};
use crate::vfs::{OpenMode, Vfs, VfsFile};
use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A segment the writer knows of.
#[derive(Clone, Debug)]
struct Live {
    number: u32,
    first_lsn: u64,
    path: PathBuf,
}

/// A log sync begun by [`LogWriter::begin_sync`], to be run — possibly on another
/// thread, without the writer — and then handed to [`LogWriter::finish_sync`].
pub struct PendingSync {
    file: Arc<dyn VfsFile>,
    path: PathBuf,
    /// Every record below this LSN was written before the sync began.
    upto: u64,
}

impl PendingSync {
    /// Sync the segment: the only slow part, and the part that needs no lock.
    pub fn run(&self) -> io::Result<()> {
        self.file.sync()
    }

    /// The LSN below which this sync makes every record durable.
    pub fn upto(&self) -> u64 {
        self.upto
    }
}

impl fmt::Debug for PendingSync {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingSync")
            .field("path", &self.path)
            .field("upto", &self.upto)
            .finish_non_exhaustive()
    }
}

/// Appends records to the transaction log in one directory.
pub struct LogWriter {
    vfs: Arc<dyn Vfs>,
    dir: PathBuf,
    engine_id: u64,
    /// Size of segments this writer creates.
    segment_size: u64,
    /// Segments on disk, oldest first; the last is the one being written.
    segments: VecDeque<Live>,
    /// The segment being written (shared with a [`PendingSync`] in flight).
    file: Arc<dyn VfsFile>,
    /// The current segment's own size (from its header; may differ from
    /// `segment_size` if the configuration changed since it was created).
    current_size: u64,
    /// Where the next frame goes in the current segment.
    write_pos: u64,
    /// Encoded frames not yet written, and their lengths.
    pending: Vec<u8>,
    pending_lens: Vec<usize>,
    /// LSN the next `append` gets.
    next_lsn: u64,
    /// Every record below this has been handed to the `Vfs`.
    written_lsn: u64,
    /// Every record below this is durable.
    durable_lsn: u64,
    /// Writes to the current segment since its last sync.
    unsynced: bool,
    /// Why the writer failed, once it has.
    failed: Option<String>,
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

fn io_error(e: &std::io::Error, what: &str, path: &Path) -> Error {
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
/// segment size written and synced, and the directory synced, before the caller
/// writes any record to it. (A crash in between leaves a damaged header with only
/// zeros after it, which the reader takes for an interrupted creation.)
fn create_segment(
    vfs: &dyn Vfs,
    dir: &Path,
    header: &SegmentHeader,
) -> Result<(Arc<dyn VfsFile>, PathBuf)> {
    let path = dir.join(segment_name(header.number));
    let file = vfs
        .open(&path, OpenMode::CreateNew)
        .map_err(|e| io_error(&e, "creating", &path))?;
    initialize(
        vfs,
        &SEGMENT,
        file.as_ref(),
        &path,
        &header.encode(),
        header.segment_size,
    )?;
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
                if last.dirty_end > last.valid_len {
                    // Zero the torn or stale tail (keeping the preallocated space): a
                    // stale frame left there could otherwise line up with a later
                    // record's LSN once new records are written over the start of it.
                    // Past `dirty_end` the scan saw only zeros.
                    let end = last.dirty_end.min(len);
                    zero_fill(file.as_ref(), last.valid_len, end)
                        .map_err(|e| io_error(&e, "zeroing the torn tail of", path))?;
                    tracing::info!(target: "keel::txlog", path = %path.display(), from = last.valid_len, to = end, "zeroed the log's torn or stale tail");
                }
                file.sync().map_err(|e| io_error(&e, "syncing", path))?;
                sync_log_dir(vfs.as_ref(), dir)?;
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

    fn check_usable(&self) -> Result<()> {
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
    fn fail(&mut self, err: Error) -> Error {
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

    /// Write out and sync; returns the durable LSN (every record below it is durable).
    pub fn sync(&mut self) -> Result<u64> {
        match self.begin_sync()? {
            None => Ok(self.durable_lsn),
            Some(pending) => {
                let r = pending.run();
                self.finish_sync(&pending, r)
            }
        }
    }

    /// The first half of [`sync`](Self::sync): write out what is buffered and return
    /// the sync still owed, if any. The caller may run it without holding the writer
    /// (appends and writes may go on meanwhile; the sync covers what was written
    /// before it was begun) and must hand the result to
    /// [`finish_sync`](Self::finish_sync). This is what lets a host group commits:
    /// every End appended while one sync runs is covered by the next.
    pub fn begin_sync(&mut self) -> Result<Option<PendingSync>> {
        self.write_out()?;
        if !self.unsynced {
            // Every written record is in a segment a roll (or a sync) made durable.
            self.durable_lsn = self.written_lsn;
            return Ok(None);
        }
        let path = self
            .segments
            .back()
            .expect("the current segment")
            .path
            .clone();
        Ok(Some(PendingSync {
            file: self.file.clone(),
            path,
            upto: self.written_lsn,
        }))
    }

    /// The second half of [`sync`](Self::sync): record what `pending` made durable
    /// (`result` is what [`PendingSync::run`] returned). A failed sync fails the
    /// writer: the records it covered may or may not be on disk.
    pub fn finish_sync(&mut self, pending: &PendingSync, result: io::Result<()>) -> Result<u64> {
        if let Err(e) = result {
            return Err(self.fail(io_error(&e, "syncing", &pending.path)));
        }
        self.check_usable()?;
        // Records of earlier segments were synced by the roll that closed them, and
        // the synced file held every record below `upto` of its own.
        self.durable_lsn = self.durable_lsn.max(pending.upto);
        if self.durable_lsn >= self.written_lsn {
            self.unsynced = false;
        }
        Ok(self.durable_lsn)
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
mod tests {
    use super::super::frame::{End, Stop};
    use super::super::reader::{read_log, LogRecord};
    use super::super::segment::MIN_SEGMENT_SIZE;
    use super::super::testvfs::{Faults, LossyVfs, Rng};
    use super::*;
    use crate::vfs::MemVfs;
    use proptest::prelude::*;

    const ENGINE: u64 = 0xE1;
    const SEG: u64 = 2048;

    fn dir() -> PathBuf {
        PathBuf::from("/db/log")
    }

    fn kind(k: u8) -> RecordKind {
        RecordKind::new(k).unwrap()
    }

    fn open(vfs: &Arc<dyn Vfs>, seg: u64) -> LogWriter {
        let scan = read_log(vfs.as_ref(), &dir()).unwrap();
        LogWriter::open(vfs.clone(), &dir(), ENGINE, seg, &scan).unwrap()
    }

    fn payload(lsn: u64, len: usize) -> Vec<u8> {
        (0..len).map(|i| (lsn as usize * 31 + i) as u8).collect()
    }

    fn rec(lsn: u64, len: usize) -> LogRecord {
        LogRecord {
            lsn,
            kind: kind(1 + (lsn % 200) as u8),
            payload: payload(lsn, len),
        }
    }

    fn append_all(w: &mut LogWriter, recs: &[LogRecord]) {
        for r in recs {
            assert_eq!(w.append(r.kind, &r.payload).unwrap(), r.lsn);
        }
    }

    fn file_of(vfs: &MemVfs, n: u32) -> Vec<u8> {
        vfs.contents(&dir().join(segment_name(n))).unwrap()
    }

    #[test]
    fn fresh_directory_gets_segment_1() {
        let mem = MemVfs::new();
        let vfs: Arc<dyn Vfs> = Arc::new(mem.clone());
        let mut w = open(&vfs, SEG);
        assert_eq!((w.next_lsn(), w.durable_lsn()), (1, 1));
        let h = SegmentHeader::decode(&file_of(&mem, 1), 1).unwrap();
        assert_eq!((h.engine_id, h.first_lsn, h.segment_size), (ENGINE, 1, SEG));
        let recs: Vec<LogRecord> = (1..=3).map(|l| rec(l, 10 * l as usize)).collect();
        append_all(&mut w, &recs);
        assert_eq!(w.durable_lsn(), 1, "append only buffers");
        let seg = file_of(&mem, 1);
        assert_eq!(seg.len() as u64, SEG, "preallocated to the segment size");
        assert!(seg[512..].iter().all(|&b| b == 0), "append writes nothing");
        w.write_out().unwrap();
        assert_eq!(w.durable_lsn(), 1, "write_out does not sync");
        assert_eq!(w.sync().unwrap(), 4);
        let scan = read_log(&mem, &dir()).unwrap();
        assert_eq!(scan.records, recs);
        assert_eq!((scan.next_lsn, scan.end), (4, End::Clean));
    }

    #[test]
    fn records_roll_over_segments_and_never_straddle() {
        let mem = MemVfs::new();
        let vfs: Arc<dyn Vfs> = Arc::new(mem.clone());
        let mut w = open(&vfs, MIN_SEGMENT_SIZE);
        let max = w.max_payload();
        assert_eq!(frame_len(max), (MIN_SEGMENT_SIZE as usize) - 512);
        let recs: Vec<LogRecord> = (1..=40)
            .map(|l| rec(l, [0, 1, 100, 200, max][l as usize % 5]))
            .collect();
        append_all(&mut w, &recs);
        w.sync().unwrap();
        let scan = read_log(&mem, &dir()).unwrap();
        assert_eq!(scan.records, recs);
        assert!(scan.segments.len() > 5);
        for s in &scan.segments {
            assert!(
                s.file_len <= MIN_SEGMENT_SIZE,
                "segment {} overfull",
                s.number
            );
            assert_eq!(s.file_len, MIN_SEGMENT_SIZE, "preallocated");
            assert!(
                matches!(s.stop, Stop::Zeros | Stop::EndOfData),
                "{:?}",
                s.stop
            );
        }
        assert_eq!(w.segment_numbers().len(), scan.segments.len());
        // Too big for a segment: refused, writer unharmed.
        let e = w.append(kind(1), &vec![0; max + 1]).unwrap_err();
        assert_eq!(e.status, Status::InvalidRecordLength);
        assert!(!w.is_failed());
        assert_eq!(w.append(kind(1), b"fine").unwrap(), 41);
    }

    #[test]
    fn reopening_continues_with_consecutive_lsns() {
        let mem = MemVfs::new();
        let vfs: Arc<dyn Vfs> = Arc::new(mem.clone());
        let mut all = Vec::new();
        for round in 0..4u64 {
            let mut w = open(&vfs, SEG);
            let first = w.next_lsn();
            let recs: Vec<LogRecord> = (first..first + 7)
                .map(|l| rec(l, 50 + 40 * round as usize))
                .collect();
            append_all(&mut w, &recs);
            w.sync().unwrap();
            all.extend(recs);
        }
        assert_eq!(read_log(&mem, &dir()).unwrap().records, all);
    }

    #[test]
    fn a_larger_configured_size_applies_to_new_segments_only() {
        let mem = MemVfs::new();
        let vfs: Arc<dyn Vfs> = Arc::new(mem.clone());
        let mut w = open(&vfs, MIN_SEGMENT_SIZE);
        append_all(&mut w, &[rec(1, 100)]);
        w.sync().unwrap();
        drop(w);
        let mut w = open(&vfs, 4096);
        let big = rec(2, 2000); // fits 4096, not 1024
        append_all(&mut w, std::slice::from_ref(&big));
        w.sync().unwrap();
        let scan = read_log(&mem, &dir()).unwrap();
        assert_eq!(scan.records, [rec(1, 100), big]);
        let sizes: Vec<u64> = scan.segments.iter().map(|s| s.segment_size).collect();
        assert_eq!(sizes, [MIN_SEGMENT_SIZE, 4096]);
    }

    #[test]
    fn torn_last_record_at_every_offset_ends_the_log_and_reopen_continues() {
        let mem = MemVfs::new();
        let vfs: Arc<dyn Vfs> = Arc::new(mem.clone());
        let mut w = open(&vfs, SEG);
        let recs: Vec<LogRecord> = (1..=12).map(|l| rec(l, 150 + l as usize)).collect();
        for r in &recs {
            append_all(&mut w, std::slice::from_ref(r));
            w.sync().unwrap();
        }
        drop(w);
        let scan = read_log(&mem, &dir()).unwrap();
        let last = scan.segments.last().unwrap().clone();
        assert!(last.number > 1, "the test wants several segments");
        let full = mem.contents(&last.path).unwrap();
        let start = last.valid_len - frame_len(recs[11].payload.len()) as u64;
        for cut in start..last.valid_len {
            let torn_vfs = MemVfs::new();
            for s in &scan.segments {
                torn_vfs.insert(s.path.clone(), mem.contents(&s.path).unwrap());
            }
            torn_vfs.insert(last.path.clone(), full[..cut as usize].to_vec());
            let torn = read_log(&torn_vfs, &dir()).unwrap();
            assert_eq!(torn.records, recs[..11], "cut at {cut}");
            assert_eq!(torn.next_lsn, 12);
            let want = if cut == start { End::Clean } else { End::Torn };
            assert_eq!(torn.end, want, "cut at {cut}");
            let v: Arc<dyn Vfs> = Arc::new(torn_vfs.clone());
            let mut w = LogWriter::open(v, &dir(), ENGINE, SEG, &torn).unwrap();
            let more = [rec(12, 7), rec(13, 300)];
            append_all(&mut w, &more);
            w.sync().unwrap();
            let after = read_log(&torn_vfs, &dir()).unwrap();
            assert_eq!(after.records[..11], recs[..11]);
            assert_eq!(after.records[11..], more, "cut at {cut}");
            assert_eq!((after.next_lsn, after.end), (14, End::Clean));
        }
    }

    #[test]
    fn an_abandoned_tail_never_comes_back() {
        // Records 1–2 synced; 3–5 written but not synced; a crash loses 3 and keeps 4
        // and 5. The reopened writer's new record 3 has the old one's length, so the
        // old 4 and 5 sit exactly where new records 4 and 5 belong, with those LSNs.
        let mem = MemVfs::new();
        let vfs: Arc<dyn Vfs> = Arc::new(mem.clone());
        let mut w = open(&vfs, SEG);
        append_all(&mut w, &[rec(1, 40), rec(2, 40)]);
        w.sync().unwrap();
        append_all(&mut w, &[rec(3, 40), rec(4, 40), rec(5, 40)]);
        w.write_out().unwrap();
        drop(w);
        let path = dir().join(segment_name(1));
        let mut bytes = mem.contents(&path).unwrap();
        let f = frame_len(40);
        let at3 = 512 + 2 * f;
        bytes[at3..at3 + f].fill(0);
        mem.insert(path.clone(), bytes);
        let scan = read_log(&mem, &dir()).unwrap();
        assert_eq!(scan.records, [rec(1, 40), rec(2, 40)]);
        assert_eq!(scan.segments[0].stop, Stop::Zeros);
        let mut w = LogWriter::open(vfs.clone(), &dir(), ENGINE, SEG, &scan).unwrap();
        let new3 = LogRecord {
            lsn: 3,
            kind: kind(9),
            payload: vec![0xAB; 40],
        };
        append_all(&mut w, std::slice::from_ref(&new3));
        w.sync().unwrap();
        let after = read_log(&mem, &dir()).unwrap();
        assert_eq!(after.records, [rec(1, 40), rec(2, 40), new3]);
        assert_eq!(after.next_lsn, 4);
    }

    #[test]
    fn damage_before_a_later_synced_record_is_an_error() {
        let mem = MemVfs::new();
        let vfs: Arc<dyn Vfs> = Arc::new(mem.clone());
        let mut w = open(&vfs, 4096);
        for l in 1..=6 {
            append_all(&mut w, &[rec(l, 64)]);
            w.sync().unwrap();
        }
        drop(w);
        let path = dir().join(segment_name(1));
        let good = mem.contents(&path).unwrap();
        let f = frame_len(64);
        // Middle record (LSN 3): its payload, its header, or zeroed outright.
        for (what, at) in [("payload", 512 + 2 * f + 40), ("header", 512 + 2 * f + 9)] {
            let mut bad = good.clone();
            bad[at] ^= 0x80;
            mem.insert(path.clone(), bad);
            let e = read_log(&mem, &dir()).unwrap_err();
            assert_eq!(e.status, Status::IoError, "{what}");
            let off = 512 + 2 * f;
            assert!(
                e.context
                    .contains(&format!("segment 1 offset {off} is damaged")),
                "{what}: {e}"
            );
            assert!(e.context.contains("cannot be trusted past LSN 2"), "{e}");
            // The writer refuses to build on it: opening needs a scan.
            assert!(read_log(&mem, &dir()).is_err());
        }
        // Last record: a torn tail, not an error.
        let mut bad = good.clone();
        bad[512 + 5 * f + 30] ^= 0x80;
        mem.insert(path.clone(), bad);
        let scan = read_log(&mem, &dir()).unwrap();
        assert_eq!((scan.next_lsn, scan.end), (6, End::Torn));
        assert_eq!(scan.segments[0].stop, Stop::BadChecksum);
    }

    #[test]
    fn damage_in_an_earlier_segment_is_an_error() {
        let mem = MemVfs::new();
        let vfs: Arc<dyn Vfs> = Arc::new(mem.clone());
        let mut w = open(&vfs, MIN_SEGMENT_SIZE);
        append_all(&mut w, &(1..=8).map(|l| rec(l, 200)).collect::<Vec<_>>());
        w.sync().unwrap();
        drop(w);
        let scan = read_log(&mem, &dir()).unwrap();
        assert!(scan.segments.len() >= 3);
        let path = dir().join(segment_name(1));
        let mut bad = mem.contents(&path).unwrap();
        let n = scan.segments[0].valid_len as usize;
        bad[n - 3] ^= 1; // last record of segment 1 (its padding)
        mem.insert(path, bad);
        let e = read_log(&mem, &dir()).unwrap_err();
        assert!(e.context.contains("at segment 1 offset"), "{e}");
        assert!(e.context.contains("cannot be trusted past LSN 1"), "{e}");
    }

    #[test]
    fn stale_frames_after_the_end_are_a_clean_end() {
        // A pre-extended or reused segment: zeros, then old frames of lower LSNs.
        let mem = MemVfs::new();
        let vfs: Arc<dyn Vfs> = Arc::new(mem.clone());
        let mut w = open(&vfs, 4096);
        append_all(&mut w, &(1..=30).map(|l| rec(l, 20)).collect::<Vec<_>>());
        w.sync().unwrap();
        append_all(&mut w, &(31..=40).map(|l| rec(l, 20)).collect::<Vec<_>>());
        w.sync().unwrap();
        w.recycle(31).unwrap();
        drop(w);
        let path = dir().join(segment_name(1));
        let mut seg = mem.contents(&path).unwrap();
        let valid = read_log(&mem, &dir()).unwrap().segments[0].valid_len as usize;
        seg.truncate(valid);
        // Stale frames right at the end, then zeros, then more stale frames.
        for (lsn, pad) in [(3u64, 0usize), (4, 0), (17, 256), (18, 0)] {
            seg.resize(seg.len() + pad, 0);
            encode_frame(lsn, lsn, kind(1), b"old old old", &mut seg).unwrap();
        }
        seg.resize(4096, 0);
        mem.insert(path.clone(), seg);
        let scan = read_log(&mem, &dir()).unwrap();
        assert_eq!(scan.records.len(), 40);
        assert_eq!(scan.end, End::Clean);
        assert_eq!(scan.segments[0].stop, Stop::Stale { seq: 3 });
        assert_eq!(scan.segments[0].valid_len, valid as u64);
        // Reopening zeroes them (keeping the preallocated length); new records follow
        // the real ones.
        let mut w = LogWriter::open(vfs.clone(), &dir(), ENGINE, 4096, &scan).unwrap();
        let reopened = mem.contents(&path).unwrap();
        assert_eq!(reopened.len(), 4096);
        assert!(reopened[valid..].iter().all(|&b| b == 0));
        append_all(&mut w, &[rec(41, 5)]);
        w.sync().unwrap();
        let scan = read_log(&mem, &dir()).unwrap();
        assert_eq!(scan.records.last(), Some(&rec(41, 5)));
        assert_eq!(scan.end, End::Clean);
    }

    #[test]
    fn recycle_removes_whole_old_segments_only() {
        let mem = MemVfs::new();
        let vfs: Arc<dyn Vfs> = Arc::new(mem.clone());
        let mut w = open(&vfs, MIN_SEGMENT_SIZE);
        let recs: Vec<LogRecord> = (1..=30).map(|l| rec(l, 150)).collect();
        append_all(&mut w, &recs);
        w.sync().unwrap();
        let before = read_log(&mem, &dir()).unwrap();
        let segs: Vec<(u32, u64)> = before
            .segments
            .iter()
            .map(|s| (s.number, s.first_lsn))
            .collect();
        assert!(segs.len() >= 6, "{segs:?}");
        assert_eq!(w.recycle(0).unwrap(), Vec::<u32>::new());
        assert_eq!(
            w.recycle(segs[1].1 - 1).unwrap(),
            Vec::<u32>::new(),
            "segment 1 still holds a record to keep"
        );
        // Keep from a record in the middle of segment 3: 1 and 2 go, 3 stays.
        let keep = segs[2].1 + 1;
        assert_eq!(w.recycle(keep).unwrap(), [segs[0].0, segs[1].0]);
        let scan = read_log(&mem, &dir()).unwrap();
        assert_eq!(scan.segments[0].number, segs[2].0);
        assert_eq!(scan.records[0].lsn, segs[2].1);
        assert_eq!(scan.records, recs[(segs[2].1 - 1) as usize..]);
        // Everything: all but the segment being written.
        let removed = w.recycle(u64::MAX).unwrap();
        assert_eq!(removed.len(), segs.len() - 3);
        assert_eq!(w.segment_numbers(), [segs.last().unwrap().0]);
        let scan = read_log(&mem, &dir()).unwrap();
        assert_eq!(scan.segments.len(), 1);
        assert_eq!(scan.records, recs[(segs.last().unwrap().1 - 1) as usize..]);
        // The writer and a reopened writer both carry on.
        append_all(&mut w, &[rec(31, 10)]);
        w.sync().unwrap();
        drop(w);
        let mut w = open(&vfs, MIN_SEGMENT_SIZE);
        append_all(&mut w, &[rec(32, 10)]);
        w.sync().unwrap();
        let scan = read_log(&mem, &dir()).unwrap();
        assert_eq!(scan.records.last().map(|r| r.lsn), Some(32));
        assert_eq!(scan.next_lsn, 33);
    }

    #[test]
    fn open_removes_an_interrupted_segment_creation() {
        let mem = MemVfs::new();
        let vfs: Arc<dyn Vfs> = Arc::new(mem.clone());
        let mut w = open(&vfs, SEG);
        append_all(&mut w, &[rec(1, 10), rec(2, 10)]);
        w.sync().unwrap();
        drop(w);
        let p2 = dir().join(segment_name(2));
        mem.insert(p2.clone(), vec![0; 512]);
        let scan = read_log(&mem, &dir()).unwrap();
        assert_eq!(scan.incomplete, Some(p2.clone()));
        let mut w = LogWriter::open(vfs.clone(), &dir(), ENGINE, SEG, &scan).unwrap();
        assert!(mem.contents(&p2).is_none());
        append_all(&mut w, &[rec(3, 10)]);
        w.sync().unwrap();
        assert_eq!(read_log(&mem, &dir()).unwrap().next_lsn, 4);

        // The interrupted segment is the first one: it is recreated.
        let mem = MemVfs::new();
        let vfs: Arc<dyn Vfs> = Arc::new(mem.clone());
        mem.insert(dir().join(segment_name(1)), vec![]);
        let mut w = open(&vfs, SEG);
        append_all(&mut w, &[rec(1, 10)]);
        w.sync().unwrap();
        assert_eq!(read_log(&mem, &dir()).unwrap().records, [rec(1, 10)]);
    }

    #[test]
    fn open_checks_its_arguments() {
        let mem = MemVfs::new();
        let vfs: Arc<dyn Vfs> = Arc::new(mem.clone());
        let mut w = open(&vfs, SEG);
        append_all(&mut w, &[rec(1, 10)]);
        w.sync().unwrap();
        drop(w);
        let scan = read_log(&mem, &dir()).unwrap();
        let e = LogWriter::open(vfs.clone(), &dir(), ENGINE + 1, SEG, &scan).unwrap_err();
        assert!(e.context.contains("belongs to engine"), "{e}");
        let e = LogWriter::open(vfs.clone(), &dir(), ENGINE, 1000, &scan).unwrap_err();
        assert_eq!(e.status, Status::InvalidOperation);
        // A scan older than the file (the file shrank since): refused.
        let path = dir().join(segment_name(1));
        mem.insert(path, vec![]);
        assert!(LogWriter::open(vfs.clone(), &dir(), ENGINE, SEG, &scan).is_err());
    }

    /// Open a writer on a `LossyVfs`.
    fn open_lossy(vfs: &LossyVfs, seg: u64) -> Result<LogWriter> {
        let scan = read_log(vfs, &dir())?;
        LogWriter::open(Arc::new(vfs.clone()), &dir(), ENGINE, seg, &scan)
    }

    #[test]
    fn a_failed_write_or_sync_fails_the_writer_until_reopened() {
        use std::io::ErrorKind::{Other, StorageFull};
        let fault = |write: Option<u32>, sync: Option<u32>, kind| Faults {
            fail_write_in: write,
            fail_sync_in: sync,
            fail_remove_in: None,
            kind,
        };
        // (what fails, the fault, payload size of records 3–5, status). With 1024-byte
        // segments, a 400-byte record does not fit after records 1–2: it rolls.
        let cases = [
            (
                "record write",
                fault(Some(0), None, Other),
                30,
                Status::IoError,
            ),
            ("sync", fault(None, Some(0), Other), 30, Status::IoError),
            (
                "disk full",
                fault(Some(0), None, StorageFull),
                30,
                Status::DiskFull,
            ),
            (
                "roll: old segment's sync",
                fault(None, Some(0), Other),
                400,
                Status::IoError,
            ),
            (
                "roll: new header's write",
                fault(Some(0), None, Other),
                400,
                Status::IoError,
            ),
            (
                "roll: new header's sync",
                fault(None, Some(1), Other),
                400,
                Status::IoError,
            ),
        ];
        for (what, f, len, status) in cases {
            let vfs = LossyVfs::new();
            let mut w = open_lossy(&vfs, MIN_SEGMENT_SIZE).unwrap();
            append_all(&mut w, &[rec(1, 100), rec(2, 100)]);
            assert_eq!(w.sync().unwrap(), 3);
            vfs.set_faults(f);
            append_all(&mut w, &(3..=5).map(|l| rec(l, len)).collect::<Vec<_>>());
            let e = w.sync().unwrap_err();
            assert_eq!(e.status, status, "{what}: {e}");
            assert!(w.is_failed(), "{what}");
            assert_eq!(w.durable_lsn(), 3, "{what}");
            for err in [
                w.append(kind(1), b"x").unwrap_err(),
                w.write_out().unwrap_err(),
                w.sync().unwrap_err(),
                w.recycle(u64::MAX).unwrap_err(),
            ] {
                assert_eq!(err.status, Status::IoError, "{what}");
                assert!(err.context.contains("failed earlier"), "{what}: {err}");
            }
            // A fresh scan and a reopened writer carry on after the durable records.
            let scan = read_log(&vfs, &dir()).unwrap();
            assert_eq!(scan.records[..2], [rec(1, 100), rec(2, 100)], "{what}");
            let mut w = open_lossy(&vfs, MIN_SEGMENT_SIZE).unwrap();
            let next = w.next_lsn();
            append_all(&mut w, &[rec(next, 8), rec(next + 1, 450)]);
            w.sync().unwrap();
            let after = read_log(&vfs, &dir()).unwrap();
            assert_eq!(
                after.records[..scan.records.len()],
                scan.records[..],
                "{what}"
            );
            assert_eq!(
                after.records[scan.records.len()..],
                [rec(next, 8), rec(next + 1, 450)]
            );
        }
    }

    #[test]
    fn a_failed_recycle_fails_the_writer() {
        let vfs = LossyVfs::new();
        let mut w = open_lossy(&vfs, MIN_SEGMENT_SIZE).unwrap();
        append_all(&mut w, &(1..=6).map(|l| rec(l, 300)).collect::<Vec<_>>());
        w.sync().unwrap();
        vfs.set_faults(Faults {
            fail_remove_in: Some(1),
            ..Faults::default()
        });
        assert_eq!(w.recycle(u64::MAX).unwrap_err().status, Status::IoError);
        assert!(w.is_failed());
        // One segment went before the failure; the rest still reads as a log.
        let scan = read_log(&vfs, &dir()).unwrap();
        assert_eq!(scan.segments[0].number, 2);
        assert_eq!(scan.next_lsn, 7);
    }

    #[test]
    fn rolling_syncs_the_old_segment_before_the_new_one_exists() {
        // If the roll did not sync the segment it leaves, a power loss could keep the
        // next segment while losing records of this one: the scan would call that
        // corruption (and a roll-forward would miss acknowledged records).
        for seed in 0..200 {
            let vfs = LossyVfs::new();
            let mut w = open_lossy(&vfs, MIN_SEGMENT_SIZE).unwrap();
            append_all(&mut w, &(1..=5).map(|l| rec(l, 200)).collect::<Vec<_>>());
            w.write_out().unwrap(); // rolls, never syncs explicitly
            vfs.power_loss(&mut Rng::new(seed));
            let scan = read_log(&vfs, &dir()).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
            // Every segment but the last is whole.
            for s in &scan.segments[..scan.segments.len() - 1] {
                assert!(
                    matches!(s.stop, Stop::Zeros | Stop::EndOfData),
                    "seed {seed}"
                );
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(40))]

        /// Random records — any kind, payloads from empty to the largest a segment
        /// holds — written in random batches, read back identical across segments.
        #[test]
        fn round_trip_random_records(
            recs in proptest::collection::vec(
                (1u8..=255, prop_oneof![Just(0usize), 1usize..100, 100usize..8000, Just(16_360usize)], any::<bool>()),
                1..60,
            ),
            seg_kb in prop_oneof![Just(16u64), Just(24), Just(64)],
        ) {
            let seg = seg_kb * 1024;
            let mem = MemVfs::new();
            let vfs: Arc<dyn Vfs> = Arc::new(mem.clone());
            let mut w = open(&vfs, seg);
            let mut want = Vec::new();
            for (i, (k, len, sync)) in recs.into_iter().enumerate() {
                let lsn = i as u64 + 1;
                let r = LogRecord { lsn, kind: kind(k), payload: payload(lsn, len.min(w.max_payload())) };
                prop_assert_eq!(w.append(r.kind, &r.payload).unwrap(), lsn);
                want.push(r);
                if sync {
                    w.sync().unwrap();
                }
            }
            prop_assert_eq!(w.sync().unwrap(), want.len() as u64 + 1);
            let scan = read_log(&mem, &dir()).unwrap();
            prop_assert_eq!(&scan.records, &want);
            prop_assert_eq!(scan.end, End::Clean);
            let mut next = 1;
            for s in &scan.segments {
                prop_assert_eq!(s.first_lsn, next);
                prop_assert!(s.file_len <= seg);
                next = s.next_lsn;
            }
            let bytes: usize = want.iter().map(|r| frame_len(r.payload.len())).sum();
            prop_assert!(scan.segments.len() as u64 >= bytes as u64 / (seg - 512));
        }
    }

    /// What the crash property does at each step.
    #[derive(Clone, Debug)]
    enum Step {
        Append {
            kind: u8,
            len: usize,
        },
        WriteOut,
        Sync,
        Recycle {
            back: u64,
        },
        /// The process restarts: a fresh scan and writer, nothing lost.
        Restart,
        PowerLoss {
            seed: u64,
        },
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            6 => (1u8..=255, prop_oneof![0usize..64, 64usize..300, Just(456usize)])
                .prop_map(|(kind, len)| Step::Append { kind, len }),
            2 => Just(Step::WriteOut),
            2 => Just(Step::Sync),
            1 => (0u64..30).prop_map(|back| Step::Recycle { back }),
            1 => Just(Step::Restart),
            1 => any::<u64>().prop_map(|seed| Step::PowerLoss { seed }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Round trip under power loss: after any sequence of appends, write-outs,
        /// syncs, recycles and power losses (each dropping a random subset of unsynced
        /// sectors), the log always reads without error, holds every record that was
        /// durable and not recycled, holds nothing that was not appended, and the
        /// reopened writer continues it.
        #[test]
        fn crashes_lose_only_unsynced_records(steps in proptest::collection::vec(step(), 1..80)) {
            let vfs = LossyVfs::new();
            let mut w = open_lossy(&vfs, MIN_SEGMENT_SIZE).unwrap();
            // model[lsn - 1] = the record appended with that LSN.
            let mut model: Vec<LogRecord> = Vec::new();
            // Every record below this has been handed to the filesystem.
            let mut written = 1u64;
            let mut steps = steps;
            steps.push(Step::Sync);
            steps.push(Step::PowerLoss { seed: 0 });
            for s in steps {
                match s {
                    Step::Append { kind: k, len } => {
                        let lsn = model.len() as u64 + 1;
                        let r = LogRecord { lsn, kind: kind(k), payload: payload(lsn, len) };
                        prop_assert_eq!(w.append(r.kind, &r.payload).unwrap(), lsn);
                        model.push(r);
                    }
                    Step::WriteOut => {
                        w.write_out().unwrap();
                        written = model.len() as u64 + 1;
                    }
                    Step::Sync => {
                        prop_assert_eq!(w.sync().unwrap(), model.len() as u64 + 1);
                        written = model.len() as u64 + 1;
                    }
                    Step::Recycle { back } => {
                        let keep = w.durable_lsn().saturating_sub(back);
                        w.recycle(keep).unwrap();
                    }
                    Step::Restart => {
                        drop(w);
                        let scan = read_log(&vfs, &dir())
                            .map_err(|e| TestCaseError::fail(format!("after restart: {e}")))?;
                        // A restart loses what was only buffered, nothing written.
                        prop_assert_eq!(scan.next_lsn, written);
                        let first = scan.segments[0].first_lsn;
                        prop_assert_eq!(&scan.records[..], &model[(first - 1) as usize..(written - 1) as usize]);
                        model.truncate((written - 1) as usize);
                        w = LogWriter::open(Arc::new(vfs.clone()), &dir(), ENGINE, MIN_SEGMENT_SIZE, &scan).unwrap();
                    }
                    Step::PowerLoss { seed } => {
                        let durable = w.durable_lsn();
                        drop(w);
                        vfs.power_loss(&mut Rng::new(seed));
                        let scan = read_log(&vfs, &dir())
                            .map_err(|e| TestCaseError::fail(format!("after power loss: {e}")))?;
                        let first = scan.segments[0].first_lsn;
                        prop_assert!(scan.next_lsn >= durable, "lost durable records");
                        prop_assert!(scan.next_lsn <= model.len() as u64 + 1);
                        prop_assert_eq!(&scan.records[..], &model[(first - 1) as usize..(scan.next_lsn - 1) as usize]);
                        model.truncate((scan.next_lsn - 1) as usize);
                        written = scan.next_lsn;
                        w = LogWriter::open(Arc::new(vfs.clone()), &dir(), ENGINE, MIN_SEGMENT_SIZE, &scan).unwrap();
                    }
                }
            }
        }
    }
}
