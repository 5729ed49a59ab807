//! Archival logging in the engine: which open files are archived, the changes each
//! system transaction of such a file carries, the append before its FCR, and what a
//! writable open does with the file's log (DESIGN.md "Archival logging"; the log
//! itself is [`crate::archival`]).
//!
//! What it guarantees:
//! - `blog.cfg` is read through the `Vfs` each time a file is loaded for writing, so
//!   an edited configuration counts from the file's next open; a malformed one fails
//!   that open with its status and the line and column. Read-only opens never read it
//!   and never touch a log.
//! - Every change applied to an archived file is recorded in its [`Archive`] the
//!   moment it is applied (a user transaction's, until End or Abort, apart: Abort
//!   forgets them), so the changes a system transaction commits are exactly those
//!   recorded since the file's last one.
//! - Every system transaction of an archived file appends one frame — its changes, the
//!   FCR sequence and applied LSN it brings the file to — and syncs it *before* its
//!   FCR is written ([`crate::pager::Pager::commit_with`]): a durable FCR is always
//!   covered by the log. A failed append fails the system transaction before its FCR;
//!   the next one reopens the log (which cuts what the failure left) and tries again.
//! - A writable open reconciles the file's FCR sequence `F` with what its log covers,
//!   `L` (the last frame's FCR sequence, or the log's base if it has none), before
//!   anything else changes the file:
//!   - no log: one is created, beginning at `F`;
//!   - `L == F`: the log continues;
//!   - `L == F + 1` with a frame for `F + 1`: either a crash came between that frame
//!     and its FCR, or the file is a restored backup one transaction behind its log.
//!     Nothing on disk tells the two apart, and one answer is right for both: the open
//!     applies that frame (the last one for `F + 1`) as roll-forward would — its changes
//!     replayed, the file's applied LSN set to the frame's, committed to `F + 1` without
//!     a new frame. In the crash case the frame is a durable redo record of a system
//!     transaction the crash interrupted, and completing it leaves the file at a
//!     system-transaction boundary; in the restore case it is what `-rollfwd` would do.
//!     (Superseding the frame with the next transaction instead would silently drop a
//!     committed transaction from the log of a restored backup.);
//!   - `L > F` otherwise: the file is behind its log — a restored backup. Refused
//!     (status 41) until `butil -rollfwd` brings it up;
//!   - `L < F`: the log lacks the frames of `L + 1 ..= F` (the file changed while not
//!     archived, or frames were lost). Refused (status 2), naming `L + 1`.
//!
//!   A data file with a delta beside it (continuous operations) is refused too (88):
//!   its transactions go to the delta as pages, which no archival log can describe.
//! - The engine never deletes a log (an interrupted creation, which holds nothing, is
//!   removed and created again).

use super::{Engine, OpenFile};
use crate::archival::format::{payload_len, MAX_PAYLOAD};
use crate::archival::{
    probe_log, scan_log, visit_log, ArchivalHeader, ArchivalScan, ArchivalWriter, BlogConfig,
    Entry, LogProbe, ARCHIVAL,
};
use crate::file::change::Change;
use crate::file::datafile::DataFile;
use crate::mutant::Mutant;
use crate::status::{fail, Error, Result, Status};
use crate::vfs::Vfs;
use std::path::{Path, PathBuf};

/// Bytes of recorded changes that start a system transaction of an archived file (see
/// `bundle_due`): well below [`MAX_PAYLOAD`], so one frame always holds a system
/// transaction's changes unless a single user transaction alone outgrows it.
pub const ARCHIVE_BUNDLE_BYTES: usize = MAX_PAYLOAD / 4;

/// An archived file's log and the changes its next system transaction carries.
pub(super) struct Archive {
    /// The archival log's path.
    log: PathBuf,
    /// The writer; `None` after a failed append until the next system transaction
    /// reopens it.
    writer: Option<ArchivalWriter>,
    /// Changes applied since the file's last system transaction, in order.
    pending: Vec<Change>,
    /// Their payload bytes in a frame (`payload_len` of `pending`).
    pending_bytes: usize,
    /// Where the open user transaction's changes start in `pending`.
    txn_mark: Option<usize>,
    /// Known-bad `archive-without-sync`.
    skip_sync: bool,
}

impl std::fmt::Debug for Archive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Archive")
            .field("log", &self.log)
            .field("writer", &self.writer)
            .field("pending", &self.pending.len())
            .field("pending_bytes", &self.pending_bytes)
            .field("txn_mark", &self.txn_mark)
            .finish()
    }
}

impl Archive {
    fn new(log: PathBuf, mut writer: ArchivalWriter, skip_sync: bool) -> Archive {
        if skip_sync {
            writer.skip_syncs_known_bad();
        }
        Archive {
            log,
            writer: Some(writer),
            pending: Vec::new(),
            pending_bytes: payload_len(&[]).unwrap_or(4),
            txn_mark: None,
            skip_sync,
        }
    }

    /// The archival log's path.
    pub(super) fn log(&self) -> &Path {
        &self.log
    }

    /// Whether a user transaction holds the file.
    pub(super) fn in_txn(&self) -> bool {
        self.txn_mark.is_some()
    }

    /// Bytes the pending changes take in a frame.
    pub(super) fn pending_bytes(&self) -> usize {
        self.pending_bytes
    }

    /// Whether one more change of `extra` body bytes still fits the next frame.
    pub(super) fn fits(&self, extra: usize) -> bool {
        self.pending_bytes.saturating_add(1 + extra) <= MAX_PAYLOAD
    }

    /// A change was applied to the file.
    pub(super) fn record(&mut self, change: &Change) {
        self.pending_bytes = self.pending_bytes.saturating_add(1 + change.body_len());
        self.pending.push(change.clone());
    }

    /// A user transaction took the file: its changes start here.
    pub(super) fn begin_txn(&mut self) {
        debug_assert!(self.txn_mark.is_none(), "nested transaction on one file");
        self.txn_mark = Some(self.pending.len());
    }

    /// The file's user transaction ended: keep its changes (End) or forget them
    /// (Abort). While it was open nobody else changed the file, so its changes are
    /// exactly those recorded since it began.
    pub(super) fn end_txn(&mut self, keep: bool) {
        if let Some(mark) = self.txn_mark.take() {
            if !keep {
                self.pending.truncate(mark);
                self.pending_bytes = payload_len_saturating(&self.pending);
            }
        }
    }

    /// Append the pending changes as the frame of the system transaction that brings
    /// the file to `fcr_seq` / `applied_lsn`, synced: the pager's before-FCR hook. A
    /// writer that failed earlier is reopened first (which cuts what the failure left
    /// and makes the frames before it durable).
    fn append(&mut self, vfs: &dyn Vfs, fcr_seq: u64, applied_lsn: u64) -> Result<()> {
        let failed = self.writer.as_ref().is_none_or(|w| w.is_failed());
        if failed {
            // Drop the failed writer first: it holds the log's lock.
            self.writer = None;
            let mut w = ArchivalWriter::open(vfs, &self.log)
                .map_err(|e| e.during("reopening the archival log after a failed append"))?;
            // The failed frame may sit only in the cache, and the new one vouches for
            // every frame before it: make them durable first (a copy of the log).
            w.secure_last_frame(vfs)
                .map_err(|e| e.during("securing the archival log after a failed append"))?;
            if self.skip_sync {
                w.skip_syncs_known_bad();
            }
            self.writer = Some(w);
        }
        let Some(w) = self.writer.as_mut() else {
            return fail(Status::IoError, "the archival log writer is not open");
        };
        w.append(fcr_seq, applied_lsn, &self.pending).map(|_| ())
    }

    /// The system transaction whose frame was appended is durable: its changes are
    /// the log's now.
    fn committed(&mut self) {
        debug_assert!(
            self.txn_mark.is_none(),
            "committed inside a user transaction"
        );
        self.pending.clear();
        self.pending_bytes = payload_len_saturating(&[]);
    }
}

/// `payload_len`, saturating instead of `None` past the frame's limit (the writer
/// refuses such a frame itself).
fn payload_len_saturating(changes: &[Change]) -> usize {
    payload_len(changes).unwrap_or_else(|| {
        changes
            .iter()
            .fold(4usize, |n, c| n.saturating_add(1 + c.body_len()))
    })
}

/// Commit `df`'s pending state as one system transaction, appending it to `archive`
/// (if the file is archived) before its FCR. Returns whether a transaction was
/// written.
pub(super) fn commit_df(
    vfs: &dyn Vfs,
    df: &mut DataFile,
    archive: Option<&mut Archive>,
) -> Result<bool> {
    let Some(a) = archive else {
        return df.pager.commit();
    };
    let r = df
        .pager
        .commit_with(false, &mut |seq, lsn| a.append(vfs, seq, lsn));
    if matches!(r, Ok(true)) {
        a.committed();
    }
    r
}

/// Apply to `df`, at FCR sequence `F`, the last frame of the log at `log` for `F + 1`
/// (there is one: the log's last frame is for `F + 1`), through a system transaction
/// that brings the file to `F + 1` and the frame's applied LSN, without appending.
fn apply_last_frame(vfs: &dyn Vfs, path: &Path, log: &Path, df: &mut DataFile) -> Result<()> {
    let next = df.pager.durable_seq() + 1;
    let mut found: Option<Entry> = None;
    visit_log(vfs, log, |_, e| {
        if e.fcr_seq == next {
            found = Some(e);
        }
        Ok(())
    })?;
    let Some(e) = found else {
        return fail(
            Status::IoError,
            format!("no frame for FCR sequence {next} was found on reading the log again"),
        );
    };
    for change in &e.changes {
        df.redo(change)?;
    }
    let lsn = df.pager.state().applied_lsn;
    if e.applied_lsn < lsn {
        return fail(
            Status::IoError,
            format!(
                "the frame's applied LSN {} is below the file's {lsn}: the log and {}                  disagree",
                e.applied_lsn,
                path.display()
            ),
        );
    }
    df.pager.set_applied_lsn(e.applied_lsn);
    // The frame is in the log already: nothing to append before this FCR.
    df.pager.commit_with(true, &mut |_, _| Ok(()))?;
    if df.pager.durable_seq() != next {
        return fail(
            Status::IoError,
            format!(
                "the system transaction left {} at FCR sequence {}, not {next}",
                path.display(),
                df.pager.durable_seq()
            ),
        );
    }
    Ok(())
}

/// What `-stat` says of an archived file's log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchivalStat {
    /// The log `blog.cfg` gives the file.
    pub log: PathBuf,
    /// The log as scanned; `None` if it does not exist yet (its file's next writable
    /// open creates it).
    pub scan: Option<ArchivalScan>,
}

impl Engine {
    /// `blog.cfg` as it is now, if archival logging is on ([`crate::Config::blog_root`]);
    /// a missing file is an empty configuration. A malformed one is its status and
    /// the line and column.
    pub fn blog_config(&self) -> Result<Option<BlogConfig>> {
        match &self.config.blog_root {
            None => Ok(None),
            Some(root) => BlogConfig::load(self.vfs.as_ref(), root).map(Some),
        }
    }

    /// The archival log of `path` if `blog.cfg` archives it (`None`: archival logging
    /// is off, or the file is not named).
    pub fn archival_log_of(&self, path: &Path) -> Result<Option<PathBuf>> {
        Ok(self
            .blog_config()?
            .and_then(|c| c.log_for(path).map(Path::to_path_buf)))
    }

    /// The archival log this engine appends `path`'s system transactions to, if the
    /// file is open here for writing and archived.
    pub fn open_archival_log(&self, path: &Path) -> Option<&Path> {
        self.files
            .values()
            .find(|f| f.path == path)
            .and_then(|f| f.archive.as_ref())
            .map(Archive::log)
    }

    /// The archival log of `path` and the FCR sequences it covers (`-stat`), if the
    /// file is archived.
    pub fn archival_stat(&self, path: &Path) -> Result<Option<ArchivalStat>> {
        let Some(log) = self.archival_log_of(path)? else {
            return Ok(None);
        };
        let scan = match probe_log(self.vfs.as_ref(), &log)? {
            LogProbe::Absent | LogProbe::Interrupted => None,
            LogProbe::Present => Some(scan_log(self.vfs.as_ref(), &log)?),
        };
        Ok(Some(ArchivalStat { log, scan }))
    }

    /// Refuse a file with a delta beside it (continuous operations) that `blog.cfg`
    /// archives (status 88), naming both.
    pub(super) fn refuse_archived_in_contops(&self, path: &Path, log: &Path) -> Result<()> {
        let delta = crate::delta::delta_path(path)?;
        let exists = self
            .vfs
            .exists(&delta)
            .map_err(|e| Error::io(&e, format_args!("checking for {}", delta.display())))?;
        if exists {
            return fail(
                Status::IncompatibleMode,
                format!(
                    "{} is archived (blog.cfg: log {}) but has the delta {}: archival logging \
                     and continuous operations exclude each other. Take the file out of \
                     blog.cfg, end the backup (`butil -endbu`) or remove the delta (`butil \
                     -killbu`), then move its archival log away (a new one starts at the \
                     file's sequence) and take a new backup",
                    path.display(),
                    log.display(),
                    delta.display()
                ),
            );
        }
        Ok(())
    }

    /// A writable open of the archived file `path` (`df`, just opened, its delta not yet
    /// attached): open or create its log at `log` and reconcile the two (module doc).
    pub(super) fn open_archive(
        &mut self,
        path: &Path,
        log: &Path,
        df: &mut DataFile,
    ) -> Result<Archive> {
        self.refuse_archived_in_contops(path, log)?;
        let vfs = self.vfs.clone();
        let vfs = vfs.as_ref();
        let f = df.pager.durable_seq();
        let skip_sync = self.mutant(Mutant::ArchiveWithoutSync);
        let during = |e: Error| e.during(format_args!("archival log of {}", path.display()));
        let mut writer = match probe_log(vfs, log).map_err(during)? {
            LogProbe::Present => ArchivalWriter::open(vfs, log).map_err(during)?,
            probe => {
                if probe == LogProbe::Interrupted {
                    // Nothing was ever logged to it: its header was never synced.
                    crate::appendfile::file::remove_durably(vfs, &ARCHIVAL, log).map_err(during)?;
                }
                let dir = crate::vfs::parent_dir(log);
                crate::vfs::create_dir_durable(vfs, &dir).map_err(|e| {
                    Error::io(
                        &e,
                        format_args!("creating archival log directory {}", dir.display()),
                    )
                })?;
                let header = ArchivalHeader::for_data_file(path, f, self.new_log_id(path, f))?;
                let w = ArchivalWriter::create(vfs, log, header).map_err(during)?;
                tracing::info!(target: "keel::archival", file = %path.display(), log = %log.display(), base = f, "archival log created");
                w
            }
        };
        writer.header().check_data_file(path)?;
        let covered = writer.covered_fcr_seq();
        let base = writer.header().base_fcr_seq;
        let last = writer.last_fcr_seq();
        if covered == f {
            // The file's FCR reached the last frame, and an FCR is written only once
            // its frame's append returned synced: the frame is durable.
            writer.vouch_last_frame_durable();
            return Ok(Archive::new(log.to_path_buf(), writer, skip_sync));
        }
        if last == Some(f + 1) {
            // A crash between the frame for F + 1 and its FCR, or a backup one behind:
            // apply the frame (module doc). It may sit only in the OS cache (its sync
            // failed, so its FCR was never written): make it durable before the FCR
            // that will depend on it.
            writer.secure_last_frame(vfs).map_err(during)?;
            let archive = Archive::new(log.to_path_buf(), writer, skip_sync);
            let c = self.counters.entry(path.to_path_buf()).or_default();
            c.attempts += 1;
            apply_last_frame(vfs, path, log, df).map_err(|e| {
                e.during(format_args!(
                    "{} is at FCR sequence {f} and its archival log {} holds a frame for                      sequence {}, which could not be applied",
                    path.display(),
                    log.display(),
                    f + 1
                ))
            })?;
            c.durable += 1;
            self.stats.system_transactions += 1;
            tracing::info!(target: "keel::archival", file = %path.display(), seq = f + 1, "applied the archival log's frame the file's FCR had not reached");
            return Ok(archive);
        }
        if base > f {
            return fail(
                Status::OperationNotAllowed,
                format!(
                    "{} is at FCR sequence {f}, but its archival log {} begins after \
                     sequence {base}: the file is an older copy than its log covers (a \
                     restored backup), and the log cannot bring it up. Restore a backup \
                     taken at or after sequence {base} and roll it forward (butil -rollfwd \
                     {}), or move the log away to start a new one",
                    path.display(),
                    log.display(),
                    path.display()
                ),
            );
        }
        if covered > f {
            return fail(
                Status::OperationNotAllowed,
                format!(
                    "{} is at FCR sequence {f}, but its archival log {} covers it up to \
                     sequence {covered}: the file is behind its log (a restored backup); \
                     roll it forward first: butil -rollfwd {} (if the file was created anew \
                     instead, the log is an earlier file's: move it away)",
                    path.display(),
                    log.display(),
                    path.display()
                ),
            );
        }
        fail(
            Status::IoError,
            format!(
                "{} is at FCR sequence {f}, but its archival log {} ends at sequence \
                 {covered}: the log is missing sequence {} (the file changed while it was \
                 not archived, or frames were lost), so it cannot restore the file. Move \
                 the log away (a new one starts at the file's sequence) and take a new \
                 backup of the file",
                path.display(),
                log.display(),
                covered + 1
            ),
        )
    }

    /// An id for a new log of `path` at FCR sequence `seq`: it tells this log from an
    /// earlier one at the same path (their frames are checksummed with it). From the
    /// path, the sequence and the clock — deterministic under a simulated clock.
    fn new_log_id(&self, path: &Path, seq: u64) -> u64 {
        let name = crc32c::crc32c(path.to_string_lossy().as_bytes());
        let now = self.clock.now().as_nanos() as u64;
        (u64::from(name) << 32) ^ now ^ seq.rotate_left(17)
    }

    /// Before a change of `extra` body bytes to the file `f` opened through a handle:
    /// refuse it if the archived file's next system transaction could no longer be
    /// logged in one frame — inside a user transaction, the transaction has grown too
    /// large (36); outside one, the file's system transactions have been failing (2).
    pub(super) fn archive_room(f: &OpenFile, extra: usize) -> Result<()> {
        let Some(a) = f.archive.as_ref() else {
            return Ok(());
        };
        if a.fits(extra) {
            return Ok(());
        }
        let (status, why) = if f.txn_owner.is_some() {
            (
                Status::TransactionError,
                "the open transaction's changes to it would no longer fit one archival log \
                 frame; end it and go on in another transaction",
            )
        } else {
            (
                Status::IoError,
                "its system transactions have been failing and its pending changes would no \
                 longer fit one archival log frame; see the earlier errors, or close and \
                 reopen the file",
            )
        };
        fail(
            status,
            format!(
                "{} is archived ({} bytes pending, at most {MAX_PAYLOAD} a frame): {why}",
                f.path.display(),
                a.pending_bytes()
            ),
        )
    }
}
