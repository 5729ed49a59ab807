//! User transactions (Begin 19, End 20, Abort 21) and the file locks they hold.
//!
//! A client has at most one open transaction. The first change a transaction makes
//! to a file locks that file for it (`enlist`): until End or Abort, other clients read
//! the file as it was before the transaction and get status 85 if they try to change
//! it, and the file's pending changes wait for the transaction (no system transaction
//! commits them). End makes the transaction's changes visible to every client at once
//! and, in a log mode, appends them to the log as one transaction before releasing
//! anything; Abort undoes every change it made. Either way every lock the transaction
//! holds is released, and nothing else releases one.
//!
//! In Durability mode End is acknowledged only once its log record is synced
//! ([`Engine::wait_durable`], or the split [`Engine::begin_durable`] /
//! [`Engine::finish_durable`] for group commit across threads).

use super::{Client, Engine, Handle, LogMode};
use crate::file::change::Change;
use crate::mutant::Mutant;
use crate::status::{fail, Error, Result, Status};
use crate::txlog::PendingSync;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Files one user transaction may change at most (status 40 beyond).
pub const MAX_TRANSACTION_FILES: usize = 64;

/// An open user transaction (Btrieve's exclusive transaction, 19/20/21): it locks
/// each file it changes until it ends; other clients read those files as they were
/// before it and get status 85 if they try to change them.
#[derive(Debug, Default)]
pub(super) struct Txn {
    pub(super) files: BTreeSet<u32>,
    pub(super) ops: u64,
    /// What the log will record at End (log modes only).
    pub(super) changes: Vec<(PathBuf, Change)>,
}

impl Engine {
    /// Begin Transaction (19) for `client`.
    pub fn begin_transaction(&mut self, client: Client) -> Result<()> {
        if self.txns.contains_key(&client) {
            return fail(
                Status::TransactionAlreadyActive,
                format!("client {} already has a transaction open", client.0),
            );
        }
        self.txns.insert(client, Txn::default());
        self.check_bookkeeping();
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
        let r = self.end_and_release(client);
        self.check_bookkeeping();
        r
    }

    /// The work of [`end_transaction_deferred`](Self::end_transaction_deferred), whose
    /// caller checks the bookkeeping.
    fn end_and_release(&mut self, client: Client) -> Result<u64> {
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
                let _ = self.flush_all(false);
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
        self.check_bookkeeping();
        Ok(())
    }

    /// The client whose open transaction holds `path`, if any.
    pub fn lock_owner(&self, path: &Path) -> Option<Client> {
        self.files
            .values()
            .find(|f| f.path == path)
            .and_then(|f| f.txn_owner)
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
                if let Some(a) = f.archive.as_mut() {
                    a.end_txn(keep);
                }
                f.txn_owner = None;
            }
        }
    }

    /// Before a change through `h`: refuse it if another client's transaction holds
    /// the file (85); if the handle's client is in a transaction, lock the file for it.
    pub(super) fn enlist(&mut self, h: Handle) -> Result<()> {
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
        if let Some(a) = f.archive.as_mut() {
            a.begin_txn();
        }
        f.txn_owner = Some(client);
        t.files.insert(file);
        Ok(())
    }
}
