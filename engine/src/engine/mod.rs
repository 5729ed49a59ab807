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
use crate::contops::startbu::{check_set, Refusal};
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

    // ----- continuous operations ------------------------------------------------------

    /// Check a `startbu` set without changing anything: every refusal (file, status,
    /// reason). Files this engine has open count as data files unless a transaction
    /// holds them or they have changes a transaction keeps pending.
    pub fn check_backup_set(&mut self, paths: &[PathBuf]) -> Vec<Refusal> {
        let vfs = self.vfs.clone();
        let cfg = self.pager_config();
        let open: BTreeMap<PathBuf, bool> = self
            .files
            .values()
            .map(|f| (f.path.clone(), f.txn_owner.is_some()))
            .collect();
        check_set(vfs.as_ref(), paths, &mut |p: &Path| match open.get(p) {
            Some(false) => Ok(()),
            Some(true) => fail(
                Status::OperationNotAllowed,
                "a transaction holds the file; end or abort it first",
            ),
            None => DataFile::open(vfs.as_ref(), p, true, cfg.clone()).map(|_| ()),
        })
    }

    /// `startbu` (continuous operations) on a set of files, all or nothing: every file
    /// is checked first (a refusal puts no file into continuous operations); then
    /// everything pending is committed, and every file of the set is frozen at that
    /// one instant with its delta (`NAME.^^^`) created durably. From now on a copy of
    /// the data files is a consistent backup of that instant.
    pub fn start_backup(&mut self, paths: &[PathBuf]) -> Result<()> {
        let refusals = self.check_backup_set(paths);
        if let Some(first) = refusals.first() {
            let all: Vec<String> = refusals.iter().map(|r| r.to_string()).collect();
            return fail(
                first.status,
                format!(
                    "startbu refused, no file was put into continuous operations: {}",
                    all.join("; ")
                ),
            );
        }
        // One instant for the whole set: commit everything, then freeze each file with
        // no operation in between.
        if self.mutant(Mutant::StartbuDifferentInstants) {
            // Wrong: the first file is frozen before the pending changes are committed,
            // so they land in its delta and its frozen image is an earlier instant.
            let set_id = self.next_set_id + 1;
            let _ = self.with_file(&paths[0], |vfs, df| df.pager.freeze_anyway(vfs, set_id));
        }
        self.flush()?;
        self.next_set_id += 1;
        let set_id = self.clock.now().as_nanos() as u64 ^ (self.next_set_id << 48);
        let mut frozen: Vec<PathBuf> = Vec::new();
        let mut result = Ok(());
        for p in paths {
            let skip = self.mutant(Mutant::StartbuDifferentInstants) && p == &paths[0];
            if skip {
                frozen.push(p.clone());
                continue;
            }
            if let Err(e) = self.with_file(p, |vfs, df| df.pager.freeze(vfs, set_id)) {
                result = Err(e);
                break;
            }
            frozen.push(p.clone());
        }
        if let Err(e) = result {
            // Put back the files already frozen: nothing was committed to their deltas.
            for p in &frozen {
                let _ = self.with_file(p, |vfs, df| df.pager.unfreeze_unused(vfs));
            }
            return Err(e.during("startbu failed; no file was left in continuous operations"));
        }
        Ok(())
    }

    /// `endbu` on a set of files: commit what is pending (to the deltas), then roll
    /// each delta into its data file and remove it. Idempotent and resumable: after a
    /// crash, opening the file or `endbu` again finishes the roll-in; a file with
    /// nothing left to roll in is success.
    pub fn end_backup(&mut self, paths: &[PathBuf]) -> Result<()> {
        self.flush()?;
        let mut first_err = None;
        for p in paths {
            let r = self.with_file(p, |vfs, df| {
                if !df.pager.is_frozen() {
                    // Nothing (left) to roll in: a crash-interrupted endbu finished by
                    // the open, or one that had already completed. endbu is resumable,
                    // so running it again is success.
                    return Ok(());
                }
                df.pager.roll_in(vfs)
            });
            if let Err(e) = r {
                first_err.get_or_insert(e.during(format_args!("endbu {}", p.display())));
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The data files in directory `dir` that have a delta beside them: what
    /// `endbu -A` ends. A delta `NAME.^^^` belongs to the one file `NAME.*` (startbu
    /// never lets two share it); a delta whose data file is missing, or is ambiguous,
    /// is an error naming it.
    pub fn files_in_backup(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        let names = self
            .vfs
            .list_dir(dir)
            .map_err(|e| Error::io(&e, format_args!("listing {}", dir.display())))?;
        let mut out = Vec::new();
        for n in &names {
            let Some(stem) = n.strip_suffix(".^^^") else {
                continue;
            };
            let owners: Vec<&String> = names
                .iter()
                .filter(|m| {
                    !m.ends_with(".^^^")
                        && (m.as_str() == stem
                            || m.strip_prefix(stem).is_some_and(|r| r.starts_with('.')))
                })
                .filter(|m| {
                    crate::contops::delta_path(&dir.join(m)).is_ok_and(|d| d == dir.join(n))
                })
                .collect();
            match owners.as_slice() {
                [one] => out.push(dir.join(one)),
                [] => {
                    return fail(
                        Status::FileNotFound,
                        format!(
                            "delta {} has no data file beside it; restore the file or remove \
                             the delta",
                            dir.join(n).display()
                        ),
                    )
                }
                _ => {
                    return fail(
                        Status::IncompatibleMode,
                        format!(
                            "delta {} could belong to several files ({}); end each by name",
                            dir.join(n).display(),
                            owners
                                .iter()
                                .map(|s| s.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )
                }
            }
        }
        Ok(out)
    }

    /// Is `path` (open in this engine) in continuous operations?
    pub fn in_backup(&self, path: &Path) -> bool {
        self.files
            .values()
            .any(|f| f.path == path && f.df.pager.is_frozen())
    }

    /// Run `f` on `path`'s data file: the open one, or one opened for the purpose
    /// (writable, its delta attached) and closed after.
    fn with_file(
        &mut self,
        path: &Path,
        f: impl FnOnce(&dyn Vfs, &mut DataFile) -> Result<()>,
    ) -> Result<()> {
        let vfs = self.vfs.clone();
        if let Some(of) = self.files.values_mut().find(|o| o.path == path) {
            return f(vfs.as_ref(), &mut of.df);
        }
        let mut df = DataFile::open(vfs.as_ref(), path, false, self.pager_config())?;
        df.pager.attach_delta(vfs.as_ref())?;
        f(vfs.as_ref(), &mut df)
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
