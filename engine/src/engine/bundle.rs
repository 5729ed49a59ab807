//! System-transaction bundling: when the pending changes of committed operations are
//! written, each file atomically on its own.
//!
//! A committed operation (a single change, or every change of an ended user
//! transaction) is pending until its file's next system transaction, which commits
//! the file's whole pending state. One is initiated when the Operation Bundle Limit
//! is reached, when the changed pages reach `max_dirty_pages` (or an archived file's
//! changes reach a quarter of an archival log frame), or when the Initiation
//! Time Limit (read through `Clock`) has passed since the first pending operation —
//! checked after every operation and End and by [`Engine::background_step`] — and by
//! an explicit [`Engine::flush`] and the close of a file's last handle.
//!
//! What it guarantees:
//! - Write-ahead: the log is synced before any data page is written.
//! - An archived file's system transaction is appended to its archival log, synced,
//!   before its FCR is written (`archive.rs`).
//! - A file an open user transaction holds is never committed: its changes wait.
//! - A failed system transaction does not fail the operation that initiated it (that
//!   was applied and never promised durable): it is counted and the pending state
//!   stays, to be committed by the next one.
//! - The bundle (operation count and start time) is reset only once every file has
//!   committed, so nothing pending is forgotten by the triggers.

use super::archive::{commit_df, ARCHIVE_BUNDLE_BYTES};
use super::{Engine, EngineStats, Handle, LogMode, OpenFile};
use crate::status::Result;
use crate::vfs::Vfs;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// System transactions of one file over the engine's lifetime.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommitCounters {
    /// Commits started (each writes the file's whole pending state).
    pub attempts: u64,
    /// Commits that completed (their FCR is durable).
    pub durable: u64,
}

impl Engine {
    /// Commit `f`'s pending state as one system transaction, unless nothing is pending
    /// or an open user transaction holds the file; counts the attempt and its outcome.
    pub(super) fn commit_file(
        vfs: &dyn Vfs,
        f: &mut OpenFile,
        stats: &mut EngineStats,
        counters: &mut BTreeMap<PathBuf, CommitCounters>,
    ) -> Result<()> {
        if !f.df.pager.has_changes() || f.df.pager.in_txn() {
            // Nothing to do, or an open user transaction holds the file: its pending
            // changes wait for the transaction to end.
            return Ok(());
        }
        let c = counters.entry(f.path.clone()).or_default();
        c.attempts += 1;
        // An archived file's transaction is appended to its archival log before its FCR.
        match commit_df(vfs, &mut f.df, f.archive.as_mut()) {
            Ok(_) => {
                c.durable += 1;
                stats.system_transactions += 1;
                Ok(())
            }
            Err(e) => {
                stats.failed_system_transactions += 1;
                Err(e)
            }
        }
    }

    /// Commit every file's pending changes now (each file atomically on its own).
    /// Returns the first failure after trying every file. Success means every change
    /// acknowledged before the call is durable.
    pub fn flush(&mut self) -> Result<()> {
        self.flush_all(true)
    }

    /// [`flush`](Self::flush), for the engine's own callers (bundle triggers, startbu,
    /// endbu); `by_user` only lets the `flush-skips-commit` known-bad engine tell the
    /// application's flushes apart.
    pub(super) fn flush_all(&mut self, by_user: bool) -> Result<()> {
        // Write-ahead rule: the log is durable up to every change a data page will
        // carry before any data page is written.
        self.sync_log()?;
        let mut first_err = None;
        let (skip_on, mut seen) = self.flush_skip_state();
        let skip_on = skip_on && by_user;
        let vfs = self.vfs.clone();
        for f in self.files.values_mut() {
            if skip_on && f.df.pager.has_changes() && !f.df.pager.in_txn() {
                seen += 1;
                if seen.is_multiple_of(3) {
                    // Wrong: this file's system transaction is skipped, yet flush
                    // will report success.
                    continue;
                }
            }
            if let Err(e) = Self::commit_file(vfs.as_ref(), f, &mut self.stats, &mut self.counters)
            {
                tracing::warn!(target: "keel::engine", file = %f.path.display(), error = %e, "system transaction failed");
                first_err.get_or_insert(e);
            }
        }
        self.set_flush_skip_state(seen);
        match first_err {
            Some(e) => Err(e),
            None => {
                self.pending_ops = 0;
                self.bundle_since = None;
                self.recycle_log()
            }
        }
    }

    /// Pending page images in memory, over every open file.
    pub(super) fn dirty_pages(&self) -> usize {
        self.files.values().map(|f| f.df.pager.dirty_pages()).sum()
    }

    /// A bulk job under dirty-page pressure (`engine::batch`): write the pending pages
    /// of every file that can spill ahead of their commit (`pager/spill.rs`) instead of
    /// committing. Archived files are left alone (their archival frames are built from
    /// the pending pages at the commit). A file whose spill fails keeps the pages it
    /// could not write pending: the pressure stays, and the caller commits.
    pub(super) fn spill_under_pressure(&mut self) {
        if self.dirty_pages() < self.config.max_dirty_pages {
            return;
        }
        for f in self.files.values_mut() {
            if f.archive.is_some() || !f.df.pager.can_spill() {
                continue;
            }
            match f.df.pager.spill() {
                Ok(n) => self.stats.pages_spilled += n as u64,
                Err(e) => {
                    tracing::warn!(target: "keel::engine", file = %f.path.display(), error = %e, "spill failed");
                }
            }
        }
    }

    /// Is a system transaction due (a bundle limit reached, or the time limit passed)?
    pub(super) fn bundle_due(&self) -> bool {
        let dirty = self.dirty_pages();
        // An archived file's changes must fit one archival log frame.
        let archive_full = self.files.values().any(|f| {
            f.archive
                .as_ref()
                .is_some_and(|a| a.pending_bytes() >= ARCHIVE_BUNDLE_BYTES)
        });
        self.pending_ops >= self.config.operation_bundle_limit
            || dirty >= self.config.max_dirty_pages
            || archive_full
            || self.bundle_since.is_some_and(|t| {
                self.clock.now().saturating_sub(t) >= self.config.initiation_time_limit
            })
    }

    /// Count a committed operation and start a system transaction if one is due. A
    /// failed system transaction does not fail the operation (it is applied and
    /// visible; it was never promised durable): the failure is logged and retried.
    pub(super) fn after_modification(&mut self, h: Handle) {
        let client = self.cursors.get(&h).map(|c| c.client);
        if let Some(t) = client.and_then(|c| self.txns.get_mut(&c)) {
            // Counted (and bundled) when the transaction ends.
            t.ops += 1;
            return;
        }
        self.stats.operations += 1;
        self.pending_ops += 1;
        if self.bundle_since.is_none() {
            self.bundle_since = Some(self.clock.now());
        }
        if self.bundle_due() {
            let _ = self.flush_all(false);
        }
    }

    /// The background step the host calls periodically: starts a system transaction if
    /// the Initiation Time Limit (or another trigger) is due.
    pub fn background_step(&mut self) -> Result<()> {
        if self.config.log_mode == LogMode::Logging {
            // The log writer step: what End handed over becomes durable.
            self.sync_log()?;
        }
        if self.bundle_since.is_some() && self.bundle_due() {
            return self.flush_all(false);
        }
        Ok(())
    }

    /// System transactions of a file over this engine's lifetime (kept after close),
    /// so a model can tell which states were committed and which were in flight.
    pub fn commit_counters(&self, path: &Path) -> CommitCounters {
        self.counters.get(path).copied().unwrap_or_default()
    }

    /// Changes not yet durable?
    pub fn has_pending(&self) -> bool {
        self.files.values().any(|f| f.df.pager.has_changes())
    }
}
