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

mod config;
mod logging;

pub use config::{Config, LogMode, OpenMode};

use crate::btree::Seek;
use crate::clock::Clock;
use crate::contops::startbu::{check_set, Refusal};
use crate::file::datafile::{serial_of, DataFile};
use crate::file::key;
use crate::file::ops::{GetOp, StepOp};
use crate::file::spec::FileSpec;
use crate::mutant::Mutant;
use crate::page::node::RecAddr;
use crate::pager::{self, PagerConfig};
use crate::status::{fail, Error, Result, Status};
use crate::txlog::entry::Change;
use crate::txlog::log::TxLog;
use crate::txlog::PendingSync;
use crate::vfs::Vfs;
use std::collections::{BTreeMap, BTreeSet};
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

/// Files one user transaction may change at most (status 40 beyond).
pub const MAX_TRANSACTION_FILES: usize = 64;

/// An open user transaction (Btrieve's exclusive transaction, 19/20/21): it locks
/// each file it changes until it ends; other clients read those files as they were
/// before it and get status 85 if they try to change them.
#[derive(Debug, Default)]
struct Txn {
    files: BTreeSet<u32>,
    ops: u64,
    /// What the log will record at End (log modes only).
    changes: Vec<(PathBuf, Change)>,
}

/// Where a handle stands.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Position {
    None,
    /// On (or, after a delete, just where) an index entry of `key`.
    Logical {
        key: usize,
        entry: Vec<u8>,
        addr: RecAddr,
        on_record: bool,
    },
    /// On a record in physical order.
    Physical {
        addr: RecAddr,
        serial: u64,
        on_record: bool,
    },
}

struct Cursor {
    file: u32,
    client: Client,
    mode: OpenMode,
    /// Key used for currency by Insert (the last key a Get used).
    key: usize,
    pos: Position,
}

struct OpenFile {
    path: PathBuf,
    df: DataFile,
    handles: usize,
    exclusive: bool,
    /// The client whose user transaction has changed this file, if one is open.
    txn_owner: Option<Client>,
}

/// System transactions of one file over the engine's lifetime.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommitCounters {
    /// Commits started (each writes the file's whole pending state).
    pub attempts: u64,
    /// Commits that completed (their FCR is durable).
    pub durable: u64,
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

    /// Before a change through `h`: refuse it if another client's transaction holds
    /// the file (85); if the handle's client is in a transaction, lock the file for it.
    fn enlist(&mut self, h: Handle) -> Result<()> {
        let (client, file) = {
            let c = self.cursor(h)?;
            (c.client, c.file)
        };
        let Some(f) = self.files.get_mut(&file) else {
            return fail(Status::FileNotOpen, "the file is not open");
        };
        match f.txn_owner {
            Some(o) if o != client => {
                return fail(
                    Status::FileInUse,
                    format!(
                        "{} is locked by client {}'s transaction; retry after it ends",
                        f.path.display(),
                        o.0
                    ),
                )
            }
            Some(_) => return Ok(()),
            None => {}
        }
        let Some(t) = self.txns.get_mut(&client) else {
            return Ok(());
        };
        if t.files.len() >= MAX_TRANSACTION_FILES {
            return fail(
                Status::TooManyFilesInTransaction,
                format!("a transaction may change at most {MAX_TRANSACTION_FILES} files"),
            );
        }
        f.df.pager.begin_txn()?;
        f.txn_owner = Some(client);
        t.files.insert(file);
        Ok(())
    }

    // ----- user transactions -------------------------------------------------------

    /// Begin Transaction (19) for `client`.
    pub fn begin_transaction(&mut self, client: Client) -> Result<()> {
        if self.txns.contains_key(&client) {
            return fail(
                Status::TransactionAlreadyActive,
                format!("client {} already has a transaction open", client.0),
            );
        }
        self.txns.insert(client, Txn::default());
        Ok(())
    }

    /// End Transaction (20): the transaction's changes become visible to every client
    /// and join the next system transaction of each file.
    pub fn end_transaction(&mut self, client: Client) -> Result<()> {
        let lsn = self.end_transaction_deferred(client)?;
        if self.config.log_mode == LogMode::Durability && lsn > 0 {
            self.wait_durable(lsn)?;
        }
        Ok(())
    }

    /// End Transaction without waiting for the log sync: the transaction is ended
    /// (visible to every client) and its records are appended; returns its commit
    /// LSN (0 if it logged nothing). In Durability mode the End is acknowledged only
    /// once [`Engine::wait_durable`] for that LSN returns — and one sync acknowledges
    /// every End appended before it (group commit).
    pub fn end_transaction_deferred(&mut self, client: Client) -> Result<u64> {
        let t = self.take_txn(client, "End Transaction")?;
        let mut lsn = 0;
        if self.logging() && !t.changes.is_empty() {
            let appended = self.log().and_then(|l| l.append(&t.changes));
            lsn = match appended {
                Ok(lsn) => lsn,
                Err(e) => {
                    // Nothing of it reached the log: it is as if aborted.
                    self.release(&t, false);
                    return Err(self.log_failure(e));
                }
            };
            self.release(&t, true);
            self.applied(&t.changes, lsn);
            self.stats.log_commits += 1;
        } else {
            self.release(&t, true);
        }
        if t.ops > 0 {
            self.stats.operations += t.ops;
            self.pending_ops += t.ops;
            if self.bundle_since.is_none() {
                self.bundle_since = Some(self.clock.now());
            }
            if self.bundle_due() {
                let _ = self.flush();
            }
        }
        Ok(lsn)
    }

    /// Return once the log record at `lsn` is durable, syncing the log if it is not
    /// yet (one sync covers everything appended so far).
    pub fn wait_durable(&mut self, lsn: u64) -> Result<()> {
        match self.begin_durable(lsn)? {
            None => Ok(()),
            Some(pending) => {
                let r = pending.run();
                self.finish_durable(&pending, r)
            }
        }
    }

    /// The first half of [`wait_durable`](Self::wait_durable), for hosts that run
    /// the log sync without holding the engine (group commit across threads, see
    /// [`crate::shared::SharedEngine`]): `None` if the record at `lsn` is durable
    /// already, else the sync to run. Run it ([`PendingSync::run`]) and hand its
    /// result to [`finish_durable`](Self::finish_durable); the End at `lsn` is
    /// acknowledged only when that returns `Ok`. Other calls may use the engine
    /// meanwhile: their records join the next sync.
    pub fn begin_durable(&mut self, lsn: u64) -> Result<Option<PendingSync>> {
        if !self.logging() || self.log_durable_lsn() > lsn {
            return Ok(None);
        }
        if self.mutant(Mutant::DurabilityAckBeforeSync) {
            return Ok(None);
        }
        if self.log_failed.is_some() {
            self.log()?;
        }
        let Some(log) = self.txlog.as_mut() else {
            return Ok(None);
        };
        match log.begin_sync() {
            Ok(p) => Ok(p),
            Err(e) => Err(self.log_failure(e)),
        }
    }

    /// The second half of [`wait_durable`](Self::wait_durable): `result` is what
    /// running `pending` returned. A failed sync stops the engine taking changes
    /// (as any log failure does).
    pub fn finish_durable(
        &mut self,
        pending: &PendingSync,
        result: std::io::Result<()>,
    ) -> Result<()> {
        self.stats.log_syncs += 1;
        if self.log_failed.is_some() {
            self.log()?;
        }
        let Some(log) = self.txlog.as_mut() else {
            return fail(
                Status::IoError,
                "the transaction log was closed while a sync was in flight; restart the \
                 engine to recover what it holds",
            );
        };
        match log.finish_sync(pending, result) {
            Ok(_) => Ok(()),
            Err(e) => Err(self.log_failure(e)),
        }
    }

    /// Abort Transaction (21): undo every change the transaction made.
    pub fn abort_transaction(&mut self, client: Client) -> Result<()> {
        let t = self.take_txn(client, "Abort Transaction")?;
        self.release(&t, false);
        Ok(())
    }

    /// The client whose open transaction holds `path`, if any.
    pub fn lock_owner(&self, path: &Path) -> Option<Client> {
        self.files
            .values()
            .find(|f| f.path == path)
            .and_then(|f| f.txn_owner)
    }

    /// Is `client` in a transaction?
    pub fn in_transaction(&self, client: Client) -> bool {
        self.txns.contains_key(&client)
    }

    fn take_txn(&mut self, client: Client, what: &str) -> Result<Txn> {
        self.txns.remove(&client).ok_or_else(|| {
            Error::new(
                Status::EndAbortWithoutBegin,
                format!("{what}: client {} has no transaction open", client.0),
            )
        })
    }

    fn release(&mut self, t: &Txn, keep: bool) {
        for id in &t.files {
            if let Some(f) = self.files.get_mut(id) {
                f.df.pager.end_txn(keep);
                f.txn_owner = None;
            }
        }
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

    /// System transactions of a file over this engine's lifetime (kept after close),
    /// so a model can tell which states were committed and which were in flight.
    pub fn commit_counters(&self, path: &Path) -> CommitCounters {
        self.counters.get(path).copied().unwrap_or_default()
    }

    // ----- modifications --------------------------------------------------------------------

    fn writable(c: &Cursor) -> Result<()> {
        if c.mode == OpenMode::ReadOnly {
            return fail(Status::AccessDenied, "the file was opened read-only");
        }
        Ok(())
    }

    /// Insert (2). The new record becomes the current one on the handle's key.
    pub fn insert(&mut self, h: Handle, record: &[u8]) -> Result<()> {
        Self::writable(self.cursor(h)?)?;
        self.log_ready()?;
        self.enlist(h)?;
        let (c, f) = self.parts(h)?;
        let (addr, serial) = f.df.insert(record)?;
        let change = Change::Insert {
            serial,
            record: record.to_vec(),
        };
        let ks = &f.df.spec().keys[c.key];
        c.pos = Position::Logical {
            key: c.key,
            entry: key::entry(ks, record, serial),
            addr,
            on_record: true,
        };
        self.log_change(h, change)?;
        self.after_modification(h);
        Ok(())
    }

    /// The current record's address and serial, for Update and Delete.
    fn current(c: &Cursor) -> Result<(RecAddr, u64)> {
        match &c.pos {
            Position::Logical {
                entry,
                addr,
                on_record: true,
                ..
            } => Ok((*addr, serial_of(entry))),
            Position::Physical {
                addr,
                serial,
                on_record: true,
            } => Ok((*addr, *serial)),
            _ => fail(
                Status::InvalidPositioning,
                "there is no current record: use a Get or Step first",
            ),
        }
    }

    /// Update (3) the current record.
    pub fn update(&mut self, h: Handle, record: &[u8]) -> Result<()> {
        Self::writable(self.cursor(h)?)?;
        self.log_ready()?;
        self.enlist(h)?;
        let (c, f) = self.parts(h)?;
        let (addr, serial) = Self::current(c)?;
        let old = f.df.update(addr, serial, record)?;
        let change = Change::Update {
            serial,
            old,
            new: record.to_vec(),
        };
        if let Position::Logical { key: k, entry, .. } = &mut c.pos {
            *entry = key::entry(&f.df.spec().keys[*k], record, serial);
        }
        self.log_change(h, change)?;
        self.after_modification(h);
        Ok(())
    }

    /// Delete (4) the current record. The position stays where the record was, so Get
    /// Next / Get Previous continue from there.
    pub fn delete(&mut self, h: Handle) -> Result<()> {
        Self::writable(self.cursor(h)?)?;
        self.log_ready()?;
        self.enlist(h)?;
        let (c, f) = self.parts(h)?;
        let (addr, serial) = Self::current(c)?;
        let old = f.df.delete(addr, serial)?;
        let change = Change::Delete { serial, old };
        match &mut c.pos {
            Position::Logical { on_record, .. } | Position::Physical { on_record, .. } => {
                *on_record = false
            }
            Position::None => {}
        }
        self.log_change(h, change)?;
        self.after_modification(h);
        Ok(())
    }

    // ----- reads ----------------------------------------------------------------------

    /// A Get operation (5–13) on key `key_num`; `key` is the key value for the
    /// operations that take one (at least the key's length). Returns the record.
    pub fn get(&mut self, h: Handle, op: GetOp, key_num: usize, key: &[u8]) -> Result<Vec<u8>> {
        let (c, f) = self.parts(h)?;
        let nkeys = f.df.spec().keys.len();
        if key_num >= nkeys {
            return fail(
                Status::InvalidKeyNumber,
                format!(
                    "key {key_num} does not exist; the file has keys 0..{}",
                    nkeys - 1
                ),
            );
        }
        let ks = f.df.spec().keys[key_num].clone();
        let bound = |fill: u8| -> Result<Vec<u8>> {
            let kl = ks.length();
            if key.len() < kl {
                return fail(
                    Status::KeyBufferTooShort,
                    format!(
                        "key {key_num} is {kl} bytes; the key buffer has {}",
                        key.len()
                    ),
                );
            }
            let mut t = key::normalize(&ks, &key[..kl]);
            t.extend_from_slice(&[fill; key::SERIAL_LEN]);
            Ok(t)
        };
        let found = match op {
            GetOp::Equal => {
                let t = bound(0)?;
                let hit = f.df.seek(key_num, &t, Seek::GreaterOrEqual)?;
                let nk = key::key_part(&t);
                match hit {
                    Some(found) if key::key_part(&found.entry) == nk => Some(found),
                    _ => {
                        return fail(
                            Status::KeyValueNotFound,
                            format!("no record has that key {key_num} value"),
                        )
                    }
                }
            }
            GetOp::Greater => f.df.seek(key_num, &bound(0xff)?, Seek::Greater)?,
            GetOp::GreaterOrEqual => f.df.seek(key_num, &bound(0)?, Seek::GreaterOrEqual)?,
            GetOp::Less => f.df.seek(key_num, &bound(0)?, Seek::Less)?,
            GetOp::LessOrEqual => f.df.seek(key_num, &bound(0xff)?, Seek::LessOrEqual)?,
            GetOp::First => f.df.first(key_num)?,
            GetOp::Last => f.df.last(key_num)?,
            GetOp::Next | GetOp::Previous => {
                let entry = match &c.pos {
                    Position::Logical { key: k, entry, .. } if *k == key_num => entry.clone(),
                    Position::Logical { key: k, .. } => {
                        return fail(
                            Status::DifferentKeyNumber,
                            format!("the position is on key {k}, not key {key_num}"),
                        )
                    }
                    _ => {
                        return fail(
                            Status::InvalidPositioning,
                            "Get Next/Previous needs a position set by a Get on this key",
                        )
                    }
                };
                let how = if op == GetOp::Next {
                    Seek::Greater
                } else {
                    Seek::Less
                };
                f.df.seek(key_num, &entry, how)?
            }
        };
        let Some(found) = found else {
            return fail(
                Status::EndOfFile,
                format!("no record in that direction on key {key_num}"),
            );
        };
        let (_, record) = f.df.fetch(found.addr)?;
        if key::entry(&ks, &record, serial_of(&found.entry)) != found.entry {
            return fail(
                Status::IoError,
                format!("index entry of key {key_num} does not match its record (damaged index)"),
            );
        }
        c.key = key_num;
        c.pos = Position::Logical {
            key: key_num,
            entry: found.entry,
            addr: found.addr,
            on_record: true,
        };
        Ok(record)
    }

    /// A Step operation (physical order). Returns the record.
    pub fn step(&mut self, h: Handle, op: StepOp) -> Result<Vec<u8>> {
        let (c, f) = self.parts(h)?;
        let here = match &c.pos {
            Position::Logical { addr, .. } | Position::Physical { addr, .. } => Some(*addr),
            Position::None => None,
        };
        let on = match &c.pos {
            Position::Logical { on_record, .. } | Position::Physical { on_record, .. } => {
                *on_record
            }
            Position::None => false,
        };
        let found = match op {
            StepOp::First => f.df.next_physical(RecAddr { page: 1, slot: 0 })?,
            StepOp::Last => f.df.prev_physical(RecAddr {
                page: u32::MAX,
                slot: u16::MAX,
            })?,
            StepOp::Next | StepOp::Previous => {
                let Some(a) = here else {
                    return fail(
                        Status::InvalidPositioning,
                        "Step Next/Previous needs a current position",
                    );
                };
                if op == StepOp::Next {
                    // After a delete the slot is empty, so start at it; else after it.
                    let start = if on { a.slot as u32 + 1 } else { a.slot as u32 };
                    let from = if start as usize >= f.df.slots_per_page() {
                        RecAddr {
                            page: a.page + 1,
                            slot: 0,
                        }
                    } else {
                        RecAddr {
                            page: a.page,
                            slot: start as u16,
                        }
                    };
                    f.df.next_physical(from)?
                } else if a.slot > 0 {
                    f.df.prev_physical(RecAddr {
                        page: a.page,
                        slot: a.slot - 1,
                    })?
                } else if a.page > 1 {
                    f.df.prev_physical(RecAddr {
                        page: a.page - 1,
                        slot: u16::MAX,
                    })?
                } else {
                    None
                }
            }
        };
        let Some(addr) = found else {
            return fail(
                Status::EndOfFile,
                "no record in that direction (physical order)",
            );
        };
        let (serial, record) = f.df.fetch(addr)?;
        c.pos = Position::Physical {
            addr,
            serial,
            on_record: true,
        };
        Ok(record)
    }

    // ----- system transactions ----------------------------------------------------------

    fn commit_file(
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
        match f.df.pager.commit() {
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
    /// Returns the first failure after trying every file.
    pub fn flush(&mut self) -> Result<()> {
        // Write-ahead rule: the log is durable up to every change a data page will
        // carry before any data page is written.
        self.sync_log()?;
        let mut first_err = None;
        for f in self.files.values_mut() {
            if let Err(e) = Self::commit_file(f, &mut self.stats, &mut self.counters) {
                tracing::warn!(target: "keel::engine", file = %f.path.display(), error = %e, "system transaction failed");
                first_err.get_or_insert(e);
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => {
                self.pending_ops = 0;
                self.bundle_since = None;
                self.recycle_log()
            }
        }
    }

    fn bundle_due(&self) -> bool {
        let dirty: usize = self.files.values().map(|f| f.df.pager.dirty_pages()).sum();
        self.pending_ops >= self.config.operation_bundle_limit
            || dirty >= self.config.max_dirty_pages
            || self.bundle_since.is_some_and(|t| {
                self.clock.now().saturating_sub(t) >= self.config.initiation_time_limit
            })
    }

    /// Count a committed operation and start a system transaction if one is due. A
    /// failed system transaction does not fail the operation (it is applied and
    /// visible; it was never promised durable): the failure is logged and retried.
    fn after_modification(&mut self, h: Handle) {
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
            let _ = self.flush();
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
            return self.flush();
        }
        Ok(())
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

    /// Changes not yet durable?
    pub fn has_pending(&self) -> bool {
        self.files.values().any(|f| f.df.pager.has_changes())
    }
}
