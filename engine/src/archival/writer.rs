//! The archival log writer: creates a log, continues one after a crash, and appends
//! one frame per system transaction, synced before it returns.
//!
//! Contract (what the reader relies on; see the [module doc](super)):
//! - [`ArchivalWriter::create`] writes and syncs the header, then syncs the directory,
//!   before anything else is written.
//! - [`ArchivalWriter::append`] writes one frame after the last and syncs it; the frame
//!   is durable when it returns `Ok`. Every frame's watermark is its own sequence
//!   number (sync gap 0): each append syncs before the next one is written.
//! - [`ArchivalWriter::open`] leaves nothing after the last valid frame before anything
//!   is appended (appendfile rule 4): a log with a torn tail is replaced by a synced
//!   copy of its valid part. Nothing is ever rewritten in place.
//! - After a failed write or sync the writer refuses everything until reopened: what
//!   it had not synced can no longer be trusted, and a frame appended after it would
//!   vouch for it.

use super::format::{
    encode_frame, frame_len, payload_len, ArchivalHeader, ArchivalLayout, FrameFields, ARCHIVAL,
    ARCHIVAL_HEADER_LEN, MAX_PAYLOAD,
};
use super::reader::{scan_log, ArchivalScan};
use crate::appendfile::file;
use crate::file::change::Change;
use crate::status::{Error, Result, Status};
use crate::vfs::{OpenMode, Vfs, VfsFile};
use std::path::{Path, PathBuf};

fn io_error(e: &std::io::Error, what: &str, path: &Path) -> Error {
    ARCHIVAL.io_error(e, what, path)
}

/// An archival log open for appending. It holds an exclusive lock on the log file, so
/// a second writer (another engine, or `butil` rolling forward) is refused with
/// status 85 rather than interleaving frames.
pub struct ArchivalWriter {
    path: PathBuf,
    file: Box<dyn VfsFile>,
    header: ArchivalHeader,
    layout: ArchivalLayout,
    /// Where the next frame goes.
    write_pos: u64,
    /// The next frame's sequence number.
    next_seq: u64,
    /// The FCR sequence of the last frame (`None`: no frame yet).
    last_fcr_seq: Option<u64>,
    /// Why the writer failed, if it did.
    failed: Option<String>,
    /// Known-bad engines only (`archive-without-sync`): appends are not synced.
    skip_sync: bool,
    /// Whether every frame is known to be durable, so the next append may vouch for
    /// them all (its sync gap is 0). False after [`ArchivalWriter::open`] until the
    /// caller secures or vouches for the last frame.
    last_durable: bool,
}

impl std::fmt::Debug for ArchivalWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchivalWriter")
            .field("path", &self.path)
            .field("header", &self.header)
            .field("write_pos", &self.write_pos)
            .field("next_seq", &self.next_seq)
            .field("last_fcr_seq", &self.last_fcr_seq)
            .field("failed", &self.failed)
            .finish()
    }
}

/// Where [`ArchivalWriter::secure_last_frame`] makes its copy: the log's name with `~`
/// after it. Nothing reads it; a leftover is truncated by the next copy.
fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push("~");
    path.with_file_name(name)
}

/// Take the writer's lock on the log `file` at `path`.
fn lock(file: &dyn VfsFile, path: &Path) -> Result<()> {
    file.try_lock_exclusive().map_err(|e| {
        Error::io(
            &e,
            format!(
                "archival log {} is being written by someone else (another engine, or a \
                 roll-forward); wait for it to finish",
                path.display()
            ),
        )
    })
}

impl ArchivalWriter {
    /// Create the archival log at `path` with `header` (see
    /// [`ArchivalHeader::for_data_file`]). The file must not exist (status 59). The
    /// header is written and synced and the directory synced before this returns; if
    /// that fails, the new file is removed again if possible.
    pub fn create(vfs: &dyn Vfs, path: &Path, header: ArchivalHeader) -> Result<ArchivalWriter> {
        let file = match vfs.open(path, OpenMode::CreateNew) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(Error::new(
                    Status::FileAlreadyExists,
                    format!(
                        "archival log {} already exists; open it to continue it, or move it \
                         away to start a new one",
                        path.display()
                    ),
                ))
            }
            Err(e) => return Err(io_error(&e, "creating", path)),
        };
        lock(file.as_ref(), path)?;
        let written = file::initialize(
            vfs,
            &ARCHIVAL,
            file.as_ref(),
            path,
            &header.encode(),
            ARCHIVAL_HEADER_LEN as u64,
        );
        if let Err(e) = written {
            drop(file);
            // Best effort: a leftover is refused by the next create (status 59) or
            // found as an interrupted creation by `probe_log`; either is safe.
            let _ = file::remove_durably(vfs, &ARCHIVAL, path);
            return Err(e);
        }
        let w = ArchivalWriter {
            path: path.to_path_buf(),
            file,
            layout: ArchivalLayout::of(&header),
            header,
            write_pos: ARCHIVAL_HEADER_LEN as u64,
            next_seq: 1,
            last_fcr_seq: None,
            failed: None,
            skip_sync: false,
            last_durable: true,
        };
        w.debug_check();
        Ok(w)
    }

    /// Open the archival log at `path` to continue it: scan it (errors as
    /// [`super::visit_log`]'s), and if anything follows its last valid frame (a torn
    /// append), replace the log by a synced copy of its valid part
    /// ([`ArchivalWriter::secure_last_frame`]) before returning — so no stale byte can
    /// line up with frames appended from here on.
    ///
    /// Nothing is rewritten in place: a power loss during a rewrite of unchanged bytes
    /// can leave a sector torn, holding garbage, and destroy a synced frame (or the
    /// header, and with it the whole log). Every frame but the last is durable (each
    /// append syncs before the next, and a failed one stops the writer); the last may
    /// sit only in the OS cache if its sync failed — then its FCR was never written.
    /// So before appending, the caller either secures it
    /// ([`ArchivalWriter::secure_last_frame`]: a copy of the log) or, knowing its data
    /// file's FCR reached it, vouches for it
    /// ([`ArchivalWriter::vouch_last_frame_durable`]); `append` refuses until then.
    pub fn open(vfs: &dyn Vfs, path: &Path) -> Result<ArchivalWriter> {
        let file = vfs
            .open(path, OpenMode::Existing)
            .map_err(|e| io_error(&e, "opening", path))?;
        // Locked before the scan, so no other writer appends between scan and cut.
        lock(file.as_ref(), path)?;
        let scan = scan_log(vfs, path)?;
        let len = file.len().map_err(|e| io_error(&e, "reading", path))?;
        if len != scan.file_len {
            return Err(Error::new(
                Status::IoError,
                format!(
                    "archival log {} changed while it was scanned ({} bytes, now {len}); \
                     open it again",
                    path.display(),
                    scan.file_len
                ),
            ));
        }
        // The header as this process reads it may not be on the disk: a creation
        // whose header sync failed (Linux marks the write clean, unwritten, and reads
        // keep serving it) and whose removal a crash cut short leaves a log that
        // reads whole until the next power loss — then the header is gone, and the
        // frames appended since with it. A read past the OS cache tells; a copy
        // (never a rewrite in place) makes it durable.
        let mut cached = [0u8; ARCHIVAL_HEADER_LEN];
        let header_on_disk = crate::vfs::read_exact_at(file.as_ref(), &mut cached, 0)
            .map(|()| crate::vfs::on_disk(file.as_ref(), &cached, 0))
            .map_err(|e| io_error(&e, "reading", path))?;
        let mut w = ArchivalWriter::continuing(path, file, &scan);
        if len > scan.valid_len || !header_on_disk {
            w.secure_last_frame(vfs)?;
            if header_on_disk {
                tracing::info!(target: "keel::archival", path = %path.display(), from = len, to = scan.valid_len, "cut the archival log's torn tail");
            } else {
                tracing::info!(target: "keel::archival", path = %path.display(), "made the archival log's header durable: the disk did not hold it");
            }
        }
        w.debug_check();
        Ok(w)
    }

    /// Make every frame of the log durable, whatever the OS cache holds: replace the
    /// log by a copy of its valid part made under a temporary name, synced, renamed
    /// over it, the directory synced ([`file::replace_with_prefix`]) — a copy, not a
    /// rewrite in place (see [`ArchivalWriter::open`]). Whatever followed the last
    /// valid frame is gone with it. The writer's lock moves to the new file.
    pub fn secure_last_frame(&mut self, vfs: &dyn Vfs) -> Result<()> {
        if let Some(why) = &self.failed {
            return Err(Error::new(
                Status::IoError,
                format!(
                    "the writer of archival log {} failed earlier ({why}); open the log again",
                    self.path.display()
                ),
            ));
        }
        let temp = temp_path(&self.path);
        let copy = file::replace_with_prefix(
            vfs,
            &ARCHIVAL,
            &self.path,
            self.file.as_ref(),
            &temp,
            self.write_pos,
            self.write_pos,
            Vec::new(),
        )?;
        // The old file's lock is released when it is dropped; the copy takes it.
        self.file = copy;
        lock(self.file.as_ref(), &self.path)?;
        self.last_durable = true;
        Ok(())
    }

    /// The caller knows the last frame is durable, so appends may vouch for it: the
    /// data file's FCR has reached the frame's FCR sequence, and the engine writes an
    /// FCR only once the frame's append returned (synced). Without this (or
    /// [`ArchivalWriter::secure_last_frame`]) a reopened writer refuses to append.
    pub fn vouch_last_frame_durable(&mut self) {
        self.last_durable = true;
    }

    fn continuing(path: &Path, file: Box<dyn VfsFile>, scan: &ArchivalScan) -> ArchivalWriter {
        ArchivalWriter {
            path: path.to_path_buf(),
            file,
            layout: ArchivalLayout::of(&scan.header),
            header: scan.header.clone(),
            write_pos: scan.valid_len,
            next_seq: scan.next_seq,
            last_fcr_seq: scan.last_fcr_seq,
            failed: None,
            skip_sync: false,
            last_durable: false,
        }
    }

    /// What the writer's bookkeeping guarantees between calls (debug builds).
    fn debug_check(&self) {
        if !cfg!(debug_assertions) {
            return;
        }
        assert!(self.write_pos >= ARCHIVAL_HEADER_LEN as u64);
        assert!(self
            .write_pos
            .is_multiple_of(crate::appendfile::FRAME_ALIGN as u64));
        assert!(self.next_seq >= 1);
        assert_eq!(self.last_fcr_seq.is_some(), self.next_seq > 1);
        assert!(self
            .last_fcr_seq
            .is_none_or(|s| s > self.header.base_fcr_seq));
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn header(&self) -> &ArchivalHeader {
        &self.header
    }

    /// Frames in the log.
    pub fn entries(&self) -> u64 {
        self.next_seq - 1
    }

    /// The sequence number the next frame will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The FCR sequence of the last frame, or `None` if the log holds none.
    pub fn last_fcr_seq(&self) -> Option<u64> {
        self.last_fcr_seq
    }

    /// The FCR sequence the log brings its data file to: the last frame's, or the
    /// header's base if there is none. A writable open compares it with the file's.
    pub fn covered_fcr_seq(&self) -> u64 {
        self.last_fcr_seq.unwrap_or(self.header.base_fcr_seq)
    }

    /// The known-bad `archive-without-sync`: from now on `append` returns without
    /// syncing its frame, so a durable FCR may outlive the frame that describes it.
    /// Never called by a correct engine.
    pub fn skip_syncs_known_bad(&mut self) {
        self.skip_sync = true;
    }

    /// Whether an I/O failure has left the writer unusable until reopened.
    pub fn is_failed(&self) -> bool {
        self.failed.is_some()
    }

    /// Log one system transaction of the data file: `changes`, the records it
    /// committed, after which the file's FCR has sequence `fcr_seq` and applied LSN
    /// `applied_lsn`. Writes one frame
    /// and syncs it; returns the frame's sequence number once it is durable. The
    /// engine calls this before it writes that FCR, so a durable FCR is always covered
    /// by the log.
    ///
    /// Refused without harming the writer: `fcr_seq` at or below the header's base, or
    /// below the last frame's (status 1: the data file is behind its log — a restored
    /// backup that needs rolling forward first); changes that do not fit one frame
    /// (status 28: the system transaction cannot be logged). An equal `fcr_seq` is
    /// accepted: it is the same transaction tried again after a crash that came between
    /// this append and the FCR write (the later frame is the one the file has, if it
    /// has either). A failed write or sync fails the writer (status 2 or the I/O
    /// error's) until it is reopened.
    pub fn append(&mut self, fcr_seq: u64, applied_lsn: u64, changes: &[Change]) -> Result<u64> {
        if let Some(why) = &self.failed {
            return Err(Error::new(
                Status::IoError,
                format!(
                    "the writer of archival log {} failed earlier ({why}); nothing it had \
                     not synced can be trusted — open the log again",
                    self.path.display()
                ),
            ));
        }
        if !self.last_durable {
            return Err(Error::new(
                Status::InvalidOperation,
                format!(
                    "archival log {} was reopened and its last frame may sit only in the OS \
                     cache; secure it (or vouch for it) before appending, or the new frame \
                     would vouch for it",
                    self.path.display()
                ),
            ));
        }
        let in_order = fcr_seq > self.header.base_fcr_seq
            && self.last_fcr_seq.is_none_or(|last| fcr_seq >= last);
        if !in_order {
            return Err(Error::new(
                Status::InvalidOperation,
                format!(
                    "archival log {} already covers the data file up to FCR sequence {}; a \
                     system transaction to sequence {fcr_seq} means the data file is behind \
                     its log — roll it forward (butil -rollfwd) before changing it",
                    self.path.display(),
                    self.covered_fcr_seq()
                ),
            ));
        }
        let Some(plen) = payload_len(changes) else {
            return Err(Error::new(
                Status::InvalidRecordLength,
                format!(
                    "a system transaction of {} changes does not fit one frame of archival \
                     log {} ({MAX_PAYLOAD} bytes); commit it in smaller transactions",
                    changes.len(),
                    self.path.display()
                ),
            ));
        };
        let log_seq = self.next_seq;
        let mut buf = Vec::with_capacity(frame_len(plen));
        let fields = FrameFields {
            log_seq,
            fcr_seq,
            applied_lsn,
            sync_gap: 0,
        };
        encode_frame(&self.layout, fields, changes, &mut buf);
        debug_assert_eq!(buf.len(), frame_len(plen));
        if let Err(e) = self.file.write_at(&buf, self.write_pos) {
            return Err(self.fail(io_error(&e, "writing", &self.path)));
        }
        if !self.skip_sync {
            if let Err(e) = self.file.sync() {
                return Err(self.fail(io_error(&e, "syncing", &self.path)));
            }
        }
        self.write_pos += buf.len() as u64;
        self.next_seq += 1;
        self.last_fcr_seq = Some(fcr_seq);
        self.debug_check();
        Ok(log_seq)
    }

    /// Mark the writer failed with `err`, and return it.
    fn fail(&mut self, err: Error) -> Error {
        tracing::warn!(target: "keel::archival", path = %self.path.display(), error = %err, "archival log writer failed");
        self.failed = Some(err.to_string());
        err
    }
}
