//! The engine: open files, position blocks (handles), Btrieve operations with their
//! positioning rules, and the bundling of committed operations into system
//! transactions.
//!
//! Each operation is applied in memory atomically and is visible to every handle at
//! once. It becomes durable when the system transaction carrying it commits, which
//! happens when the Operation Bundle Limit or the Initiation Time Limit (read through
//! `Clock`) is reached, on cache pressure, when the file's last handle closes, or on
//! an explicit [`Engine::flush`]. There are no threads: the host calls
//! [`Engine::background_step`] to let time-based initiation happen.
//!
//! The engine is split along its seams, one concept a module: `config` (tunables and
//! modes), `handles` (open files and position blocks), `cursor` (positions and the
//! record changes), `reads` (the Gets and Steps, and what a cursor keeps between
//! them), `txn` (user transactions and their file locks), `bundle` (system
//! transactions), `logging` (the transaction log), `archive` (archival logging: the
//! append before each FCR, reconciling a file with its log on open), `rollfwd`
//! (rolling a restored backup forward from its archival log), `backup` (continuous
//! operations). This module holds the state they share and what always holds of it
//! between two calls (checked by `check_bookkeeping` in debug builds at the end of
//! open, close, Begin, End and Abort, whatever their outcome):
//! - every handle refers to an open file, and a file's handle count is the number of
//!   handles on it, at least one; no path is open twice;
//! - a file is open exclusively exactly when its one handle's mode is `Exclusive`, and
//!   a file loaded read-only has only read-only handles;
//! - a handle's logical position is on the handle's key, a key the file has;
//! - a file is locked (`txn_owner`) exactly when its pager holds a user transaction,
//!   by a client whose open transaction has it enlisted, and every file a transaction
//!   has enlisted is open and locked by that transaction's client — so a file is
//!   locked by at most one transaction, and no lock outlives its transaction;
//! - a transaction enlists at most [`MAX_TRANSACTION_FILES`] files and, in a log mode,
//!   holds one change (on one of its files) per operation, none otherwise;
//! - an operation is pending for bundling (`pending_ops > 0`) exactly when the bundle
//!   has a start time (`bundle_since`);
//! - nothing is logged in `LogMode::Off`, and a commit LSN implies an open log;
//! - a file has an archival log only when loaded for writing, and its log marks a
//!   user transaction's changes exactly when the file is locked by one.

mod archive;
mod backup;
mod batch;
mod bundle;
mod config;
mod cursor;
mod handles;
mod inspect;
mod logging;
mod reads;
mod rollfwd;
mod txn;

pub use archive::{ArchivalStat, ARCHIVE_BUNDLE_BYTES};
pub use batch::{next_batch, Batches, BATCH_RECORDS, MAX_BATCH_RECORDS, MIN_BATCH_RECORDS};
pub use bundle::CommitCounters;
pub use config::{Config, LogMode, OpenMode};
pub use handles::{Client, FileStat, Handle};
pub use rollfwd::{RollForward, RollOptions};
pub use txn::MAX_TRANSACTION_FILES;

use cursor::{Cursor, Position};
use handles::OpenFile;
use txn::Txn;

use crate::clock::Clock;
use crate::file::datafile::DataFile;
use crate::mutant::Mutant;
use crate::pager::PagerConfig;
use crate::status::Result;
use crate::txlog::log::TxLog;
use crate::vfs::Vfs;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Engine-wide counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EngineStats {
    pub operations: u64,
    pub system_transactions: u64,
    pub failed_system_transactions: u64,
    /// Transaction log segments removed because no file needed them.
    pub log_segments_recycled: u64,
    /// Transactions (or single operations) committed to the log.
    pub log_commits: u64,
    /// Log syncs: `log_commits / log_syncs` commits share one sync.
    pub log_syncs: u64,
    /// Records inserted by batches (`insert_all`), not Insert by Insert.
    pub batched_inserts: u64,
    /// The batches that inserted them (a batch replayed Insert by Insert not counted).
    pub batches: u64,
    /// Pending pages bulk jobs wrote ahead of their commit under dirty-page pressure
    /// (`engine::batch`, `pager/spill.rs`).
    pub pages_spilled: u64,
    /// The most pending page images the files held at once after a bulk batch: what
    /// a bulk job's memory for pages is bounded by (`max_dirty_pages` plus a batch).
    pub peak_dirty_pages: u64,
}

/// The record engine.
pub struct Engine {
    vfs: Arc<dyn Vfs>,
    clock: Arc<dyn Clock>,
    config: Config,
    /// The open files, by id (ids are never reused).
    files: BTreeMap<u32, OpenFile>,
    /// The open handles (never reused) and where each stands.
    cursors: BTreeMap<Handle, Cursor>,
    next_file: u32,
    next_handle: u32,
    /// Operations committed since the last complete flush (toward the Operation
    /// Bundle Limit).
    pending_ops: u64,
    /// When the current bundle's first operation was committed.
    bundle_since: Option<Duration>,
    stats: EngineStats,
    counters: BTreeMap<PathBuf, CommitCounters>,
    /// The open user transactions, one at most per client.
    txns: BTreeMap<Client, Txn>,
    /// The transaction log, opened on first need (log modes only).
    txlog: Option<TxLog>,
    /// Why the log failed: the engine refuses changes until it is restarted.
    log_failed: Option<String>,
    /// Commit LSN of the last transaction appended to the log.
    last_commit_lsn: u64,
    /// Durable applied LSN of files closed since the engine started (open files are
    /// asked directly), for log recycling.
    closed_applied: BTreeMap<PathBuf, u64>,
    /// Files closed with a control record whose write or sync failed, and its sequence:
    /// handed to the file's next open ([`PagerConfig::failed_fcr_seq`]) until one
    /// writable open has made the file's live control record durable.
    failed_fcrs: BTreeMap<PathBuf, u64>,
    /// Counter making each startbu set id unique within this engine.
    next_set_id: u64,
    /// Known-bad engines only: inserts seen, for `spurious-io-error`'s schedule.
    #[cfg(feature = "mutants")]
    mutant_inserts: u64,
    #[cfg(feature = "mutants")]
    mutant_poisoned: bool,
    /// Known-bad engines only: flushed system transactions, for `flush-skips-commit`.
    #[cfg(feature = "mutants")]
    mutant_flushed: u64,
}

impl Engine {
    pub fn new(vfs: Arc<dyn Vfs>, clock: Arc<dyn Clock>, config: Config) -> Engine {
        Engine {
            vfs,
            clock,
            config,
            files: BTreeMap::new(),
            cursors: BTreeMap::new(),
            next_file: 1,
            next_handle: 1,
            pending_ops: 0,
            bundle_since: None,
            stats: EngineStats::default(),
            counters: BTreeMap::new(),
            txns: BTreeMap::new(),
            txlog: None,
            log_failed: None,
            last_commit_lsn: 0,
            closed_applied: BTreeMap::new(),
            failed_fcrs: BTreeMap::new(),
            next_set_id: 0,
            #[cfg(feature = "mutants")]
            mutant_inserts: 0,
            #[cfg(feature = "mutants")]
            mutant_poisoned: false,
            #[cfg(feature = "mutants")]
            mutant_flushed: 0,
        }
    }

    pub fn vfs(&self) -> &Arc<dyn Vfs> {
        &self.vfs
    }
    pub fn config(&self) -> &Config {
        &self.config
    }
    pub fn stats(&self) -> &EngineStats {
        &self.stats
    }

    /// The pager configuration for opening `path`.
    fn pager_config(&self, path: &Path) -> PagerConfig {
        PagerConfig {
            clean_cache_pages: self.config.clean_cache_pages,
            failed_fcr_seq: self.failed_fcrs.get(path).copied(),
            #[cfg(feature = "mutants")]
            mutant: self.config.mutant,
        }
    }

    /// Open the data file at `path` for this engine's use: with what the engine knows
    /// of a control record of it whose sync failed, forgotten once a writable open has
    /// made the live control record durable.
    fn open_data_file(&mut self, path: &Path, read_only: bool) -> Result<DataFile> {
        let df = DataFile::open(self.vfs.as_ref(), path, read_only, self.pager_config(path))?;
        if !read_only {
            self.failed_fcrs.remove(path);
        }
        Ok(df)
    }

    /// `df` (of `path`) is being dropped: remember a control record whose write or sync
    /// failed, for the file's next open.
    fn closing_data_file(&mut self, path: &Path, df: &DataFile) {
        if let Some(seq) = df.pager.failed_fcr_seq() {
            self.failed_fcrs.insert(path.to_path_buf(), seq);
        }
    }

    /// Check the bookkeeping invariants listed in the module doc (debug builds only;
    /// O(handles + files + transactions' changes)). A failure is an engine bug: the
    /// handle, file and transaction maps no longer describe one consistent state.
    fn check_bookkeeping(&self) {
        if !cfg!(debug_assertions) {
            return;
        }
        let mut handles_on: BTreeMap<u32, usize> = BTreeMap::new();
        for (h, c) in &self.cursors {
            assert!(h.0 < self.next_handle, "{h:?} was never handed out");
            let Some(f) = self.files.get(&c.file) else {
                panic!("{h:?} refers to file {} which is not open", c.file);
            };
            *handles_on.entry(c.file).or_default() += 1;
            assert_eq!(
                c.mode == OpenMode::Exclusive,
                f.exclusive,
                "{h:?} ({:?}) on {}: exclusive flag disagrees with the handle's mode",
                c.mode,
                f.path.display()
            );
            assert!(
                !f.df.pager.is_read_only() || c.mode == OpenMode::ReadOnly,
                "{h:?} ({:?}) on {}, which is loaded read-only",
                c.mode,
                f.path.display()
            );
            let keys = f.df.spec().keys.len();
            assert!(c.key < keys, "{h:?}: key {} of {keys}", c.key);
            if let Position::Logical { key, .. } = c.pos {
                assert_eq!(key, c.key, "{h:?}: positioned on a key not its own");
            }
        }
        let mut paths = BTreeSet::new();
        for (id, f) in &self.files {
            assert!(*id < self.next_file, "file id {id} was never handed out");
            assert!(paths.insert(&f.path), "{} is open twice", f.path.display());
            let n = handles_on.get(id).copied().unwrap_or(0);
            assert!(
                f.handles == n && n >= 1,
                "{}: handle count {} but {n} handles on it",
                f.path.display(),
                f.handles
            );
            assert!(
                !f.exclusive || n == 1,
                "{} exclusive with {n} handles",
                f.path.display()
            );
            assert_eq!(
                f.df.pager.in_txn(),
                f.txn_owner.is_some(),
                "{}: pager transaction and lock disagree",
                f.path.display()
            );
            if let Some(a) = &f.archive {
                assert!(
                    !f.df.pager.is_read_only(),
                    "{}: archived but loaded read-only",
                    f.path.display()
                );
                assert_eq!(
                    a.in_txn(),
                    f.txn_owner.is_some(),
                    "{}: archival log's transaction mark and lock disagree",
                    f.path.display()
                );
            }
            if let Some(owner) = f.txn_owner {
                assert!(
                    self.txns.get(&owner).is_some_and(|t| t.files.contains(id)),
                    "{} locked by client {}, which has no transaction holding it",
                    f.path.display(),
                    owner.0
                );
            }
        }
        for (client, t) in &self.txns {
            assert!(t.files.len() <= MAX_TRANSACTION_FILES);
            let mut enlisted = BTreeSet::new();
            for id in &t.files {
                let Some(f) = self.files.get(id) else {
                    panic!(
                        "client {}'s transaction holds file {id}, not open",
                        client.0
                    );
                };
                assert_eq!(
                    f.txn_owner,
                    Some(*client),
                    "client {}'s transaction holds {} without its lock",
                    client.0,
                    f.path.display()
                );
                enlisted.insert(&f.path);
            }
            if self.logging() {
                assert_eq!(t.changes.len() as u64, t.ops, "client {}", client.0);
            } else {
                assert!(t.changes.is_empty(), "client {}: changes logged", client.0);
            }
            for (path, _) in &t.changes {
                assert!(
                    enlisted.contains(path),
                    "client {}'s transaction logged a change to {}, a file it does not hold",
                    client.0,
                    path.display()
                );
            }
        }
        assert_eq!(
            self.pending_ops == 0,
            self.bundle_since.is_none(),
            "operations pending without a bundle start, or the reverse"
        );
        assert!(self.logging() || self.last_commit_lsn == 0);
        assert!(self.last_commit_lsn == 0 || self.txlog.is_some());
    }

    /// Is this deliberate bug selected? (Always false without the `mutants` feature.)
    #[allow(unused_variables)]
    /// `spurious-io-error`: whether this insert is one of the 2% that fail with no
    /// cause (every 50th, counting each insert attempt).
    pub(super) fn spurious_insert_error(&mut self) -> bool {
        #[cfg(feature = "mutants")]
        if self.mutant(Mutant::SpuriousIoError) {
            self.mutant_inserts += 1;
            return self.mutant_inserts.is_multiple_of(50);
        }
        false
    }

    /// `poison-spreads`: whether an earlier insert failed with status 2, so (wrongly)
    /// every insert on any file now fails until the engine restarts. `false` on a
    /// correct engine.
    pub(super) fn poison_spread(&self) -> bool {
        #[cfg(feature = "mutants")]
        return self.mutant(Mutant::PoisonSpreads) && self.mutant_poisoned;
        #[cfg(not(feature = "mutants"))]
        false
    }

    /// `poison-spreads`: remember an insert that failed with status 2.
    pub(super) fn note_poison<T>(&mut self, r: &crate::status::Result<T>) {
        #[cfg(feature = "mutants")]
        if r.as_ref()
            .is_err_and(|e| e.status == crate::status::Status::IoError)
        {
            self.mutant_poisoned = true;
        }
        #[cfg(not(feature = "mutants"))]
        let _ = r;
    }

    /// `flush-skips-commit`: whether it is on, and how many system transactions
    /// flushes have run under it (every third is skipped). `(false, 0)` on a correct
    /// engine.
    pub(super) fn flush_skip_state(&self) -> (bool, u64) {
        #[cfg(feature = "mutants")]
        return (self.mutant(Mutant::FlushSkipsCommit), self.mutant_flushed);
        #[cfg(not(feature = "mutants"))]
        (false, 0)
    }

    pub(super) fn set_flush_skip_state(&mut self, _seen: u64) {
        #[cfg(feature = "mutants")]
        {
            self.mutant_flushed = _seen;
        }
    }

    fn mutant(&self, m: Mutant) -> bool {
        #[cfg(feature = "mutants")]
        return self.config.mutant == Some(m);
        #[cfg(not(feature = "mutants"))]
        {
            let _ = m;
            false
        }
    }
}
