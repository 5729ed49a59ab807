//! The engine's use of the transaction log (log modes only): opening it, logging each
//! change, syncing, recycling segments, and rolling a file forward on open.
//!
//! What it guarantees:
//! - A change is applied only once the log is open and healthy (`log_ready`),
//!   so no change is ever applied that could not be logged.
//! - A change outside a user transaction is appended at once as a transaction of its
//!   own; one inside is held in the transaction and appended at its End.
//! - Write-ahead: `sync_log` makes every appended record durable, and is
//!   called before any data page is written (flush, last close).
//! - A failed log write or sync is sticky: from then on the engine refuses changes
//!   until it is restarted, and recovery decides what survived.
//! - Recycling removes only segments no file needs: it hands the log the durable
//!   applied LSN of every file open now or closed since the engine started (a file it
//!   has not seen counts as needing everything it logged).
//! - A file opened for writing first replays what the log holds for it beyond its
//!   applied LSN and commits that as one system transaction.
//!
//! In `LogMode::Off` nothing is logged and the log is never opened by an operation
//! (only [`Engine::log_paths`], for `butil -recoverlog`, opens it whatever the mode).

use super::archive::{commit_df, Archive, ARCHIVE_BUNDLE_BYTES};
use super::{Engine, Handle, LogMode};
use crate::file::change::Change;
use crate::file::datafile::DataFile;
use crate::mutant::Mutant;
use crate::status::{fail, Error, Result, Status};
use crate::txlog::log::{KnownBad, TxLog};
use std::path::{Path, PathBuf};

impl Engine {
    /// Is a log mode on (changes logged)?
    pub(super) fn logging(&self) -> bool {
        self.config.log_mode != LogMode::Off
    }

    /// The log, opened on first use; refused once it has failed.
    pub(super) fn log(&mut self) -> Result<&mut TxLog> {
        if let Some(why) = &self.log_failed {
            return fail(
                Status::IoError,
                format!(
                    "the transaction log failed earlier ({why}); restart the engine to \
                     recover what it holds"
                ),
            );
        }
        if self.txlog.is_none() {
            let log = TxLog::open_as(
                self.vfs.clone(),
                &self.config.log_dir,
                self.config.engine_id,
                self.config.log_segment_size,
                KnownBad {
                    eio_is_end: self.mutant(Mutant::EioReadsAsEndOfLog),
                    damage_is_end: self.mutant(Mutant::LogDamageAsTornTail),
                    rewrite_in_place: self.mutant(Mutant::RewriteInPlace),
                    dir_parent_unsynced: self.mutant(Mutant::LogDirNotSynced),
                },
            )
            .map_err(|e| e.during("opening the transaction log"))?;
            self.txlog = Some(log);
        }
        match self.txlog.as_mut() {
            Some(log) => Ok(log),
            None => fail(Status::IoError, "the transaction log is not open"),
        }
    }

    /// Before a change: in a log mode, the log must be open and healthy, so a change
    /// is never applied that could not be logged.
    pub(super) fn log_ready(&mut self) -> Result<()> {
        if self.logging() {
            self.log()?;
        }
        Ok(())
    }

    /// A log write or sync failed: what was appended may or may not be on disk, so the
    /// engine stops taking changes until it is restarted (and recovery decides).
    pub(super) fn log_failure(&mut self, e: Error) -> Error {
        tracing::warn!(target: "keel::engine", error = %e, "transaction log failed");
        self.log_failed = Some(e.to_string());
        e.during("the transaction log failed; restart the engine to recover")
    }

    /// Make every appended log record durable (the write-ahead rule before data pages,
    /// and the Logging-mode log writer step).
    pub(super) fn sync_log(&mut self) -> Result<()> {
        if !self.logging() {
            return Ok(());
        }
        if self.mutant(Mutant::DataBeforeLog) && self.config.log_mode == LogMode::Logging {
            // Wrong: data pages may now reach disk before the log records they carry.
            // (The log writer step still syncs on its own schedule.)
            return Ok(());
        }
        if self.log_failed.is_some() {
            // Data pages could depend on records that never became durable.
            self.log()?;
        }
        let Some(log) = self.txlog.as_mut() else {
            return Ok(());
        };
        if !log.has_unsynced() {
            return Ok(());
        }
        self.stats.log_syncs += 1;
        match log.sync() {
            Ok(_) => Ok(()),
            Err(e) => Err(self.log_failure(e)),
        }
    }

    /// Remove the log segments no file needs any more (after system transactions made
    /// files' applied LSNs durable).
    pub(super) fn recycle_log(&mut self) -> Result<()> {
        if !self.logging() || self.log_failed.is_some() {
            return Ok(());
        }
        let mut applied = self.closed_applied.clone();
        for f in self.files.values() {
            applied.insert(f.path.clone(), f.df.pager.data_file_applied_lsn());
        }
        let ignore = self.mutant(Mutant::RecycleNeededSegment);
        let Some(log) = self.txlog.as_mut() else {
            return Ok(());
        };
        match log.recycle(&applied, ignore) {
            Ok(n) => {
                self.stats.log_segments_recycled += n as u64;
                Ok(())
            }
            Err(e) => Err(self.log_failure(e)),
        }
    }

    /// In Durability mode, an acknowledged change is a synced one.
    pub(super) fn durable_if_required(&mut self) -> Result<()> {
        if self.config.log_mode == LogMode::Durability
            && !self.mutant(Mutant::DurabilityAckBeforeSync)
        {
            self.sync_log()?;
        }
        Ok(())
    }

    /// Log a change made through `h`: into its client's transaction, or at once as a
    /// transaction of its own.
    pub(super) fn log_change(&mut self, h: Handle, change: Change) -> Result<()> {
        if !self.logging() {
            return Ok(());
        }
        let (client, file) = {
            let c = self.cursor(h)?;
            (c.client, c.file)
        };
        let path = self
            .files
            .get(&file)
            .map(|f| f.path.clone())
            .unwrap_or_default();
        if let Some(t) = self.txns.get_mut(&client) {
            t.changes.push((path, change));
            return Ok(());
        }
        let changes = [(path, change)];
        let lsn = match self.log().and_then(|l| l.append(&changes)) {
            Ok(lsn) => lsn,
            Err(e) => return Err(self.log_failure(e)),
        };
        self.applied(&changes, lsn);
        self.stats.log_commits += 1;
        self.durable_if_required()
    }

    /// The files `changes` touch now include everything up to commit `lsn`.
    pub(super) fn applied(&mut self, changes: &[(PathBuf, Change)], lsn: u64) {
        self.last_commit_lsn = lsn;
        for f in self.files.values_mut() {
            if changes.iter().any(|(p, _)| *p == f.path) {
                f.df.pager.set_applied_lsn(lsn);
            }
        }
    }

    /// Roll `df` (just opened for writing) forward: apply the committed transactions
    /// the log holds for it beyond its applied LSN, then commit them as one system
    /// transaction so the file no longer depends on them. A crash anywhere in here
    /// leaves the file at its old applied LSN, and the next open does it again.
    ///
    /// An archived file's replayed changes go to its archival log with that system
    /// transaction, like any other; so that they fit its frames, a system transaction
    /// is committed after any replayed transaction that brings them to
    /// [`ARCHIVE_BUNDLE_BYTES`] (each commit leaves the file at a transaction boundary
    /// with its applied LSN, so a crash between them is finished by the next open).
    pub(super) fn roll_forward(
        &mut self,
        path: &Path,
        df: &mut DataFile,
        mut archive: Option<&mut Archive>,
    ) -> Result<()> {
        let applied = df.pager.state().applied_lsn;
        let (incomplete, ignore_applied) = (
            self.mutant(Mutant::RedoIncomplete),
            self.mutant(Mutant::RedoIgnoresAppliedLsn),
        );
        let applied = if ignore_applied { 0 } else { applied };
        let redo = self
            .log()?
            .redo_for(path, applied, incomplete)
            .map_err(|e| e.during(format_args!("rolling {} forward", path.display())))?;
        if redo.is_empty() {
            return Ok(());
        }
        let vfs = self.vfs.clone();
        let commit = |this: &mut Engine, df: &mut DataFile, archive: Option<&mut Archive>| {
            let c = this.counters.entry(path.to_path_buf()).or_default();
            c.attempts += 1;
            commit_df(vfs.as_ref(), df, archive)?;
            c.durable += 1;
            this.stats.system_transactions += 1;
            Ok::<(), Error>(())
        };
        for r in &redo {
            for change in &r.changes {
                df.redo(change).map_err(|e| {
                    e.during(format_args!(
                        "rolling {} forward to LSN {}",
                        path.display(),
                        r.commit_lsn
                    ))
                })?;
                if let Some(a) = archive.as_deref_mut() {
                    a.record(change);
                }
            }
            df.pager.set_applied_lsn(r.commit_lsn);
            if archive
                .as_deref()
                .is_some_and(|a| a.pending_bytes() >= ARCHIVE_BUNDLE_BYTES)
            {
                commit(self, df, archive.as_deref_mut())?;
            }
        }
        tracing::info!(target: "keel::engine", file = %path.display(), transactions = redo.len(), "rolled forward");
        commit(self, df, archive)
    }

    /// Every file the transaction log names (opening the log if needed): what
    /// `butil -recoverlog` opens to finish recovery.
    pub fn log_paths(&mut self) -> Result<Vec<PathBuf>> {
        Ok(self.log()?.paths())
    }

    /// Remove the log segments no file needs (also done after every flush).
    pub fn recycle_log_now(&mut self) -> Result<u64> {
        let before = self.stats.log_segments_recycled;
        self.recycle_log()?;
        Ok(self.stats.log_segments_recycled - before)
    }

    /// Commit LSN of the last transaction (or single change) appended to the log.
    pub fn last_commit_lsn(&self) -> u64 {
        self.last_commit_lsn
    }

    /// Every log record below this LSN is durable (0 before the log is opened).
    pub fn log_durable_lsn(&self) -> u64 {
        self.txlog.as_ref().map_or(0, |l| l.durable_lsn())
    }

    /// Has the transaction log failed (the engine refuses changes until restarted)?
    pub fn log_failed(&self) -> bool {
        self.log_failed.is_some()
    }
}
