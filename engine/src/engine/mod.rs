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

mod backup;
mod bundle;
mod config;
mod cursor;
mod handles;
mod logging;
mod txn;

pub use bundle::CommitCounters;
pub use config::{Config, LogMode, OpenMode};
pub use handles::{Client, FileStat, Handle};
pub use txn::MAX_TRANSACTION_FILES;

use cursor::Cursor;
use handles::OpenFile;
use txn::Txn;

use crate::clock::Clock;
use crate::mutant::Mutant;
use crate::pager::PagerConfig;
use crate::txlog::log::TxLog;
use crate::vfs::Vfs;
use std::collections::BTreeMap;
use std::path::PathBuf;
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
}

/// The record engine.
pub struct Engine {
    vfs: Arc<dyn Vfs>,
    clock: Arc<dyn Clock>,
    config: Config,
    files: BTreeMap<u32, OpenFile>,
    cursors: BTreeMap<Handle, Cursor>,
    next_file: u32,
    next_handle: u32,
    pending_ops: u64,
    bundle_since: Option<Duration>,
    stats: EngineStats,
    counters: BTreeMap<PathBuf, CommitCounters>,
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
    /// Counter making each startbu set id unique within this engine.
    next_set_id: u64,
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
            next_set_id: 0,
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

    fn pager_config(&self) -> PagerConfig {
        PagerConfig {
            clean_cache_pages: self.config.clean_cache_pages,
            #[cfg(feature = "mutants")]
            mutant: self.config.mutant,
        }
    }

    /// Is this deliberate bug selected? (Always false without the `mutants` feature.)
    #[allow(unused_variables)]
    fn mutant(&self, m: Mutant) -> bool {
        #[cfg(feature = "mutants")]
        return self.config.mutant == Some(m);
        #[cfg(not(feature = "mutants"))]
        false
    }

}
