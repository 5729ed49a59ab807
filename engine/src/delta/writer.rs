//! The delta writer: creates a delta, appends one transaction at a time (its page and
//! freed frames, then its commit frame, then a sync), and marks the delta ending.
//!
//! Contract (what the scan in [`super::scan`] relies on; see the [module doc](super)):
//! - [`DeltaWriter::create`] writes and syncs the header, then syncs the directory,
//!   before anything else is written: a delta longer than its header always has a
//!   durable header and a durable name.
//! - [`DeltaWriter::append_transaction`] writes the transaction's frames after the last
//!   commit and syncs; the commit is durable when it returns `Ok`. So every frame of
//!   transaction `n + 1` is written after all of transaction `n` was synced — the
//!   watermark each frame's `txn_index` records.
//! - Opening continues exactly after the scan's last commit frame. It **truncates**
//!   the file there and syncs before anything new is written. Past the last commit a
//!   crash may have left fragments of the transaction being written (say its first
//!   frame lost, its second frame and commit kept). Sequence numbers and transaction
//!   indexes alone would not make them harmless: a new transaction of the same shape
//!   puts its frames exactly where the old ones are, and if a second crash loses some
//!   of the new writes, the old frames show through in their place with the right
//!   numbers, indexes and checksums — a later scan would commit a mixture of two
//!   transactions, neither acknowledged. After the truncation no byte of the old tail
//!   exists. Opening also makes what it continues after durable: it *writes* the
//!   scanned part again before it truncates and syncs, since after a failed sync Linux
//!   serves pages it never wrote and a later sync succeeds without writing them (a
//!   sync alone covers only a process crash); and it syncs the directory, so that a
//!   delta whose creation only reached the OS cache (a process crash during `startbu`)
//!   is durable before transactions are committed to it.
//! - Any failed write or sync leaves the writer *failed*: the state on disk is unknown
//!   (after a failed sync nothing unsynced may be assumed to have reached the disk), so
//!   every later call returns status 2 until the caller reopens it from a fresh
//!   [`super::scan_delta`]. A transaction whose append failed may or may not be found
//!   by that scan.

use super::frame::{encode_change, encode_commit, frame_len, validate_state, FRAME_HEADER_LEN};
use super::header::{DeltaHeader, DeltaState, DELTA, DELTA_HEADER_LEN};
use super::scan::{read_image, DeltaScan, ImageRef, PageImage};
use crate::appendfile::file;
use crate::page::fcr::FileState;
use crate::page::spec::PAGE_SIZES;
use crate::status::{Error, Result, Status};
use crate::vfs::{read_exact_at, OpenMode, Vfs, VfsFile};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

/// Appends transactions to one delta file.
pub struct DeltaWriter {
    path: PathBuf,
    file: Box<dyn VfsFile>,
    header: DeltaHeader,
    /// Where the next frame goes: just after the last commit frame.
    write_pos: u64,
    /// Sequence number of the next frame.
    next_seq: u64,
    /// The latest committed version of every logical page in the delta.
    pages: BTreeMap<u32, PageImage>,
    /// The state of the last commit (`None`: none yet).
    state: Option<FileState>,
    commits: u64,
    /// Why the writer failed, once it has.
    failed: Option<String>,
    /// Known-bad engine only (`delta-append-without-sync`): commits are not synced.
    skip_sync: bool,
}

impl fmt::Debug for DeltaWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeltaWriter")
            .field("path", &self.path)
            .field("header", &self.header)
            .field("write_pos", &self.write_pos)
            .field("next_seq", &self.next_seq)
            .field("commits", &self.commits)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

fn io_error(e: &std::io::Error, what: &str, path: &Path) -> Error {
    DELTA.io_error(e, what, path)
}

/// Sync the directory of the delta at `path`.
fn sync_dir(vfs: &dyn Vfs, path: &Path) -> Result<()> {
    file::sync_dir_of(vfs, &DELTA, path)
}

impl DeltaWriter {
    /// Create the delta at `path` for a data file of `page_size`-byte pages whose
    /// durable FCR has sequence `fcr_seq`, as part of `startbu` number `set_id`. The
    /// file must not exist (status 59 if it does: a delta from an earlier run remains).
    /// The header is written and synced and the directory synced before this returns.
    /// If that fails, the new file is removed again if possible.
    pub fn create(
        vfs: &dyn Vfs,
        path: &Path,
        page_size: u32,
        fcr_seq: u64,
        set_id: u64,
    ) -> Result<DeltaWriter> {
        if !PAGE_SIZES.contains(&page_size) {
            return Err(Error::new(
                Status::PageSizeError,
                format!(
                    "cannot create delta file {} for page size {page_size}: not one of \
                     {PAGE_SIZES:?}",
                    path.display()
                ),
            ));
        }
        let file = match vfs.open(path, OpenMode::CreateNew) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(Error::new(
                    Status::FileAlreadyExists,
                    format!(
                        "delta file {} already exists: a delta from an earlier run remains; \
                         finish it (open the file, or butil -endbu) or remove it before \
                         startbu",
                        path.display()
                    ),
                ))
            }
            Err(e) => return Err(io_error(&e, "creating", path)),
        };
        let header = DeltaHeader {
            state: DeltaState::Active,
            page_size,
            fcr_seq,
            set_id,
        };
        let written = file::initialize(
            vfs,
            &DELTA,
            file.as_ref(),
            path,
            &header.encode(),
            DELTA_HEADER_LEN as u64,
        );
        if let Err(e) = written {
            drop(file);
            // Best effort: a leftover would make the next startbu refuse (status 59)
            // or be found as an interrupted creation; either is safe.
            if vfs.remove(path).is_ok() {
                let _ = sync_dir(vfs, path);
            }
            return Err(e);
        }
        let w = DeltaWriter {
            path: path.to_path_buf(),
            file,
            header,
            write_pos: DELTA_HEADER_LEN as u64,
            next_seq: 1,
            pages: BTreeMap::new(),
            state: None,
            commits: 0,
            failed: None,
            skip_sync: false,
        };
        w.debug_check();
        Ok(w)
    }

    /// Open the delta at `path` to continue after the last commit of `scan` (a fresh
    /// [`super::scan_delta`] of it): truncates any torn or incomplete tail and syncs the
    /// file and its directory before returning. A scan whose file length or header no
    /// longer match the file is refused (status 2): scan again.
    pub fn open(vfs: &dyn Vfs, path: &Path, scan: &DeltaScan) -> Result<DeltaWriter> {
        let file = vfs
            .open(path, OpenMode::Existing)
            .map_err(|e| io_error(&e, "opening", path))?;
        let stale = |why: String| {
            Error::new(
                Status::IoError,
                format!(
                    "delta file {}: {why}: the scan is stale or the file changed; scan it \
                     again",
                    path.display()
                ),
            )
        };
        let len = file.len().map_err(|e| io_error(&e, "reading", path))?;
        // A scan taken before another writer committed more would make the truncation
        // below cut acknowledged transactions off: only the very file scanned will do.
        if len != scan.file_len || len < scan.valid_len {
            return Err(stale(format!(
                "the file is {len} bytes but was {} when scanned",
                scan.file_len
            )));
        }
        let mut head = [0u8; DELTA_HEADER_LEN];
        read_exact_at(file.as_ref(), &mut head, 0).map_err(|e| io_error(&e, "reading", path))?;
        if DeltaHeader::decode(&head).as_ref() != Ok(&scan.header) {
            return Err(stale("the header differs from the scanned one".into()));
        }
        // Replace the delta by a synced copy of what the scan found, nothing after it
        // even if reads show nothing there: the commits it found may sit only in the OS
        // cache — after a process crash, and after an append whose sync failed (the
        // writer failed and was reopened): Linux keeps serving pages it could not
        // write, and a sync now would find nothing dirty and succeed without writing
        // them, while the transactions appended from here on vouch for every frame
        // before them. A truncation an earlier open made may be such a page too. A
        // copy, not a rewrite in place: see `appendfile::file::replace_with_prefix`.
        let temp = super::delta_temp_path(path);
        let file = crate::appendfile::file::replace_with_prefix(
            vfs,
            &DELTA,
            path,
            file.as_ref(),
            &temp,
            scan.valid_len,
            scan.valid_len,
            Vec::new(),
        )?;
        if len > scan.valid_len {
            tracing::info!(target: "keel::delta", path = %path.display(), from = len, to = scan.valid_len, "truncated the delta's torn or incomplete tail");
        }
        let w = DeltaWriter {
            path: path.to_path_buf(),
            file,
            header: scan.header,
            write_pos: scan.valid_len,
            next_seq: scan.next_seq,
            pages: scan.pages.clone(),
            state: scan.state.clone(),
            commits: scan.commits,
            failed: None,
            skip_sync: false,
        };
        w.debug_check();
        Ok(w)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the writer's bookkeeping guarantees between calls (debug builds): the next
    /// frame goes at an aligned offset after the header; every commit took at least one
    /// frame, so sequence numbers run ahead of commits; a state exists exactly when a
    /// commit does; and every page the delta holds is inside that state's logical pages
    /// (page 0, the FCR's, never goes to a delta).
    fn debug_check(&self) {
        if !cfg!(debug_assertions) {
            return;
        }
        assert!(self.write_pos >= DELTA_HEADER_LEN as u64);
        assert!(self
            .write_pos
            .is_multiple_of(crate::appendfile::FRAME_ALIGN as u64));
        assert!(self.next_seq > self.commits, "a commit is a frame");
        assert_eq!(self.state.is_some(), self.commits > 0);
        let bound = self.state.as_ref().map_or(0, |s| s.logical_pages);
        assert!(
            self.pages.keys().all(|&l| l != 0 && l < bound),
            "{}: a delta page outside 1..{bound}",
            self.path.display()
        );
    }

    pub fn header(&self) -> &DeltaHeader {
        &self.header
    }

    /// The state of the last committed transaction (`None`: none yet; the frozen data
    /// file's own state holds).
    pub fn state(&self) -> Option<&FileState> {
        self.state.as_ref()
    }

    /// Committed transactions in the delta.
    pub fn commits(&self) -> u64 {
        self.commits
    }

    /// The latest committed version of every logical page in the delta.
    pub fn pages(&self) -> &BTreeMap<u32, PageImage> {
        &self.pages
    }

    /// Read the committed image at `at` of page `logical` into `buf` (one page long);
    /// see [`read_image`].
    pub fn read_image(&self, logical: u32, at: ImageRef, buf: &mut [u8]) -> Result<()> {
        read_image(
            self.file.as_ref(),
            &self.path,
            &self.header,
            logical,
            at,
            buf,
        )
    }

    /// Whether an I/O failure has left the writer unusable until reopened.
    /// Known-bad engines only: acknowledge commits without syncing them.
    pub fn set_skip_sync(&mut self, skip: bool) {
        self.skip_sync = skip;
    }

    pub fn is_failed(&self) -> bool {
        self.failed.is_some()
    }

    fn check_usable(&self) -> Result<()> {
        match &self.failed {
            None => Ok(()),
            Some(why) => Err(Error::new(
                Status::IoError,
                format!(
                    "the writer of delta file {} failed earlier ({why}); nothing it had not \
                     synced can be trusted — scan the delta again and reopen the writer",
                    self.path.display()
                ),
            )),
        }
    }

    /// Mark the writer failed with `err`, and return it.
    fn fail(&mut self, err: Error) -> Error {
        tracing::warn!(target: "keel::delta", path = %self.path.display(), error = %err, "delta writer failed");
        self.failed = Some(err.to_string());
        err
    }

    /// Refuse a transaction the scan would not accept back; the writer stays usable.
    fn check_transaction(&self, pages: &[(u32, Option<&[u8]>)], state: &FileState) -> Result<()> {
        let refuse = |why: String| {
            Err(Error::new(
                Status::InvalidOperation,
                format!(
                    "transaction refused by delta file {}: {why}",
                    self.path.display()
                ),
            ))
        };
        if self.header.state == DeltaState::Ending {
            return Err(Error::new(
                Status::OperationNotAllowed,
                format!(
                    "delta file {} is ending (endbu has begun): no more changes may be \
                     committed to it; finish the roll-in first",
                    self.path.display()
                ),
            ));
        }
        if let Err(why) = validate_state(state, self.header.page_size) {
            return refuse(format!("invalid file state: {why}"));
        }
        let mut seen = BTreeSet::new();
        for &(logical, image) in pages {
            if logical == 0 || logical >= state.logical_pages {
                return refuse(format!(
                    "logical page {logical} is outside 1..{} (the new state's logical pages)",
                    state.logical_pages
                ));
            }
            if !seen.insert(logical) {
                return refuse(format!("logical page {logical} appears twice"));
            }
            if let Some(img) = image {
                if img.len() != self.header.page_size as usize {
                    return refuse(format!(
                        "the image of logical page {logical} is {} bytes, not {}",
                        img.len(),
                        self.header.page_size
                    ));
                }
            }
        }
        Ok(())
    }

    /// Commit one transaction: for each `(logical page, Some(new image) | None = freed)`
    /// a frame, then a commit frame carrying `state`, then a sync. The transaction is
    /// durable when this returns `Ok`. A transaction the scan would not accept back
    /// (a page outside the new state's logical pages, a page named twice, an image of
    /// the wrong size, an invalid state) is refused with status 1, and one on an ending
    /// delta with status 41, without harming the writer; an I/O failure fails it.
    pub fn append_transaction(
        &mut self,
        pages: &[(u32, Option<&[u8]>)],
        state: &FileState,
    ) -> Result<()> {
        self.check_usable()?;
        self.check_transaction(pages, state)?;
        let ps = self.header.page_size as usize;
        let commit_len = frame_len(super::frame::commit_payload_len(state.roots.len()));
        let expected_len = pages
            .iter()
            .map(|(_, img)| {
                if img.is_some() {
                    frame_len(ps)
                } else {
                    FRAME_HEADER_LEN
                }
            })
            .sum::<usize>()
            + commit_len;
        let mut buf = Vec::with_capacity(expected_len);
        let mut images = Vec::with_capacity(pages.len());
        let mut seq = self.next_seq;
        // Distinct logical page numbers below 2³² bound the count, so it fits a u32.
        for (index, &(logical, image)) in pages.iter().enumerate() {
            let offset = self.write_pos + buf.len() as u64;
            encode_change(&self.header, seq, index as u32, logical, image, &mut buf);
            images.push((
                logical,
                match image {
                    Some(_) => PageImage::Image(ImageRef { offset, seq }),
                    None => PageImage::Freed,
                },
            ));
            seq += 1;
        }
        encode_commit(&self.header, seq, pages.len() as u32, state, &mut buf);
        if let Err(e) = self.file.write_at(&buf, self.write_pos) {
            return Err(self.fail(io_error(&e, "writing", &self.path)));
        }
        if self.skip_sync {
            // Wrong: the commit is reported durable while it may sit in the OS cache.
        } else if let Err(e) = self.file.sync() {
            return Err(self.fail(io_error(&e, "syncing", &self.path)));
        }
        debug_assert_eq!(
            buf.len(),
            expected_len,
            "the frames' size was computed ahead"
        );
        debug_assert_eq!(
            seq,
            self.next_seq + pages.len() as u64,
            "one frame per page"
        );
        self.write_pos += buf.len() as u64;
        self.next_seq = seq + 1;
        self.pages.extend(images);
        self.state = Some(state.clone());
        self.commits += 1;
        self.debug_check();
        Ok(())
    }

    /// Mark the delta *ending* (the first step of `endbu`): rewrite the header sector
    /// with state Ending and sync. Once this returns, any later open finishes the
    /// roll-in instead of continuing continuous operations. Idempotent.
    pub fn set_ending(&mut self) -> Result<()> {
        self.check_usable()?;
        if self.header.state == DeltaState::Ending {
            return Ok(());
        }
        let ending = DeltaHeader {
            state: DeltaState::Ending,
            ..self.header
        };
        // One sector, so a crash leaves the old header or the new one (header module).
        if let Err(e) = self.file.write_at(&ending.encode(), 0) {
            return Err(self.fail(io_error(&e, "writing the header of", &self.path)));
        }
        if let Err(e) = self.file.sync() {
            return Err(self.fail(io_error(&e, "syncing", &self.path)));
        }
        self.header = ending;
        Ok(())
    }
}

/// Remove the delta at `path` (the last step of `endbu`, after the roll-in is durable)
/// and sync its directory so the removal is durable. A delta already gone is not an
/// error — a crash may have come between the removal and the directory sync — so the
/// step can simply be repeated.
pub fn remove_delta(vfs: &dyn Vfs, path: &Path) -> Result<()> {
    file::remove_durably(vfs, &DELTA, path)
}
