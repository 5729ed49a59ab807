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
mod logging;
mod txn;

pub use bundle::CommitCounters;
pub use config::{Config, LogMode, OpenMode};
pub use txn::MAX_TRANSACTION_FILES;

use cursor::{Cursor, Position};
use txn::Txn;

use crate::clock::Clock;
use crate::file::datafile::DataFile;
use crate::file::spec::FileSpec;
use crate::mutant::Mutant;
use crate::pager::{self, PagerConfig};
use crate::status::{fail, Error, Result, Status};
use crate::txlog::log::TxLog;
use crate::vfs::Vfs;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// A position block: one client's open of a file, with its current position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Handle(u32);

/// A client (Btrieve's client ID): the unit that owns a user transaction. Every
/// handle belongs to one; [`Engine::open`] uses [`Client::DEFAULT`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Client(pub u32);

impl Client {
    pub const DEFAULT: Client = Client(0);
}

struct OpenFile {
    path: PathBuf,
    df: DataFile,
    handles: usize,
    exclusive: bool,
    /// The client whose user transaction has changed this file, if one is open.
    txn_owner: Option<Client>,
}

/// What Stat (15) reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileStat {
    pub spec: FileSpec,
    pub records: u64,
    /// Physical pages the file spans.
    pub pages: u32,
    /// Sequence of the last durable system transaction.
    pub durable_seq: u64,
    /// Records per data page.
    pub records_per_page: usize,
    /// Transaction-log LSN the file's durable state includes (0: never logged).
    pub applied_lsn: u64,
}

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

    // ----- files and handles -----------------------------------------------------------

    /// Create (14) a new data file. Fails with 59 if it exists.
    pub fn create(&mut self, path: &Path, spec: &FileSpec) -> Result<()> {
        pager::create(self.vfs.as_ref(), path, spec)
    }

    /// Open (0) a file for the default client, returning a new position block.
    pub fn open(&mut self, path: &Path, mode: OpenMode) -> Result<Handle> {
        self.open_as(Client::DEFAULT, path, mode)
    }

    /// Open (0) a file for `client`, returning a new position block.
    pub fn open_as(&mut self, client: Client, path: &Path, mode: OpenMode) -> Result<Handle> {
        let existing = self
            .files
            .iter()
            .find(|(_, f)| f.path == path)
            .map(|(&id, _)| id);
        let id = match existing {
            Some(id) => {
                let f = &self.files[&id];
                if f.exclusive || mode == OpenMode::Exclusive {
                    return fail(
                        Status::IncompatibleMode,
                        format!("{} is open exclusively (or already open)", path.display()),
                    );
                }
                if f.df.pager.is_read_only() && mode != OpenMode::ReadOnly {
                    return fail(
                        Status::IncompatibleMode,
                        format!(
                            "{} is already open read-only in this engine",
                            path.display()
                        ),
                    );
                }
                id
            }
            None => {
                let mut df = DataFile::open(
                    self.vfs.as_ref(),
                    path,
                    mode == OpenMode::ReadOnly,
                    self.pager_config(),
                )?;
                // Continue continuous operations, or finish a roll-in, before anything
                // else reads the file.
                df.pager.attach_delta(self.vfs.as_ref())?;
                if mode != OpenMode::ReadOnly && self.logging() {
                    self.roll_forward(path, &mut df)?;
                }
                let id = self.next_file;
                self.next_file += 1;
                self.files.insert(
                    id,
                    OpenFile {
                        path: path.to_path_buf(),
                        df,
                        handles: 0,
                        exclusive: mode == OpenMode::Exclusive,
                        txn_owner: None,
                    },
                );
                id
            }
        };
        if let Some(f) = self.files.get_mut(&id) {
            f.handles += 1;
        }
        let h = Handle(self.next_handle);
        self.next_handle += 1;
        self.cursors.insert(
            h,
            Cursor {
                file: id,
                client,
                mode,
                key: 0,
                pos: Position::None,
            },
        );
        Ok(h)
    }

    /// Close (1) a handle. Closing a file's last handle commits its pending changes and
    /// releases it; if that commit fails the file is closed anyway and the error says
    /// the changes since its last durable commit are lost.
    pub fn close(&mut self, h: Handle) -> Result<()> {
        let (c, f) = self.parts(h)?;
        if f.handles == 1 && f.txn_owner.is_some() {
            return fail(
                Status::TransactionError,
                format!(
                    "{} was changed in client {}'s open transaction; end or abort it before \
                     closing the file",
                    f.path.display(),
                    c.client.0
                ),
            );
        }
        let Some(c) = self.cursors.remove(&h) else {
            return fail(Status::FileNotOpen, "close: the handle is not open");
        };
        let Some(f) = self.files.get_mut(&c.file) else {
            return fail(Status::FileNotOpen, "close: the file is not open");
        };
        f.handles -= 1;
        if f.handles > 0 {
            return Ok(());
        }
        let result = match self.sync_log() {
            Ok(()) => match self.files.get_mut(&c.file) {
                Some(f) => Self::commit_file(f, &mut self.stats, &mut self.counters),
                None => Ok(()),
            },
            Err(e) => Err(e),
        };
        if let Some(f) = self.files.get(&c.file) {
            self.closed_applied
                .insert(f.path.clone(), f.df.pager.data_file_applied_lsn());
        }
        self.files.remove(&c.file);
        if self.files.values().all(|f| !f.df.pager.has_changes()) {
            self.pending_ops = 0;
            self.bundle_since = None;
        }
        result.map_err(|e| e.during("file closed, but its last system transaction failed"))
    }

    fn cursor(&self, h: Handle) -> Result<&Cursor> {
        self.cursors
            .get(&h)
            .ok_or_else(|| Error::new(Status::FileNotOpen, "the handle is not open"))
    }

    fn parts(&mut self, h: Handle) -> Result<(&mut Cursor, &mut OpenFile)> {
        let c = self
            .cursors
            .get_mut(&h)
            .ok_or_else(|| Error::new(Status::FileNotOpen, "the handle is not open"))?;
        let f = self
            .files
            .get_mut(&c.file)
            .ok_or_else(|| Error::new(Status::FileNotOpen, "the file is not open"))?;
        // Everyone but a transaction's owner sees the file as it was before it.
        f.df.pager
            .set_view_before_txn(f.txn_owner.is_some_and(|o| o != c.client));
        Ok((c, f))
    }

    /// The path a handle has open.
    pub fn path_of(&self, h: Handle) -> Result<&Path> {
        let c = self.cursor(h)?;
        Ok(&self.files[&c.file].path)
    }

    /// Stat (15).
    pub fn stat(&mut self, h: Handle) -> Result<FileStat> {
        let (_, f) = self.parts(h)?;
        let p = &f.df.pager;
        Ok(FileStat {
            spec: p.spec().clone(),
            records: p.state().record_count,
            pages: p.physical_pages(),
            durable_seq: p.durable_seq(),
            records_per_page: f.df.slots_per_page(),
            applied_lsn: p.durable_applied_lsn(),
        })
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
