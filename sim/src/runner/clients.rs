//! The simulated clients: each has a handle on every file and may run one transaction
//! at a time. Here is the model of their transactions — what each client sees, which
//! files its transaction holds, what End applies, journals and (Durability mode)
//! waits for — and the log writer's group commit that releases waiting clients.

use super::world::{Model, World};
use crate::model::{JournalEntry, Record, Records};
use engine::{Client, LogMode, Status};
use rand::Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Simulated clients; each has a handle on every file and may run transactions.
pub(super) const CLIENTS: usize = 2;

pub(super) fn client(k: usize) -> Client {
    Client(k as u32 + 1)
}

/// A client's open transaction in the model.
#[derive(Clone, Debug, Default)]
pub(super) struct TxnModel {
    /// Per file, the records it changed (`None`: deleted), applied at End.
    pub(super) changes: BTreeMap<usize, BTreeMap<u32, Option<Record>>>,
    /// Files the transaction holds (changed or tried to change).
    pub(super) locked: BTreeSet<usize>,
}

/// The clients' state in the model.
#[derive(Clone, Debug)]
pub(super) struct Clients {
    /// Each client's open transaction, if any.
    pub(super) txns: Vec<Option<TxnModel>>,
    /// Durability mode: the commit LSN of each client's End waiting for a group
    /// commit (the client is blocked until then).
    pub(super) awaiting: Vec<Option<u64>>,
}

impl Clients {
    /// Every client idle: no transaction, not waiting (the run's start, and after
    /// every recovery).
    pub(super) fn new() -> Clients {
        Clients {
            txns: vec![None; CLIENTS],
            awaiting: vec![None; CLIENTS],
        }
    }

    /// Client `k`, or, if `k` is blocked waiting for its End to become durable, one
    /// that is not (the run loop makes sure one is).
    pub(super) fn ready(&self, k: usize) -> usize {
        if self.awaiting[k].is_none() {
            return k;
        }
        (0..CLIENTS)
            .find(|&j| self.awaiting[j].is_none())
            .unwrap_or(k)
    }

    /// Is every client blocked waiting for a group commit?
    pub(super) fn all_waiting(&self) -> bool {
        self.awaiting.iter().all(|a| a.is_some())
    }

    /// The client whose transaction holds file `f`, if any.
    pub(super) fn holder(&self, f: usize) -> Option<usize> {
        (0..CLIENTS).find(|&k| self.txns[k].as_ref().is_some_and(|t| t.locked.contains(&f)))
    }

    /// A change by client `k` to file `f` is about to be attempted: what the engine must
    /// answer if another client's transaction holds the file.
    pub(super) fn locked_out(&self, k: usize, f: usize) -> Option<Status> {
        match self.holder(f) {
            Some(j) if j != k => Some(Status::FileInUse),
            _ => None,
        }
    }
}

impl Model {
    /// File `f` as client `k` sees it: the committed records plus, if `k`'s
    /// transaction changed the file, those changes.
    pub(super) fn view(&self, k: usize, f: usize) -> Arc<Records> {
        let live = &self.files[f].live;
        let Some(over) = self.clients.txns[k]
            .as_ref()
            .and_then(|t| t.changes.get(&f))
        else {
            return live.clone(); // a reference, not a copy
        };
        let mut r = Records::clone(live);
        for (id, v) in over {
            match v {
                Some(rec) => r.insert(*id, rec.clone()),
                None => r.remove(id),
            };
        }
        Arc::new(r)
    }

    /// Apply an acknowledged change by client `k`: into its transaction, or committed.
    pub(super) fn apply(&mut self, k: usize, f: usize, id: u32, rec: Option<Record>) {
        match self.clients.txns[k].as_mut() {
            // A transaction's records join the file's written set only when it
            // ends (an aborted transaction's never reach any committed state).
            Some(t) => {
                t.changes.entry(f).or_default().insert(id, rec);
            }
            None => match rec {
                Some(r) => self.files[f].put(id, r),
                None => {
                    self.files[f].remove(id);
                }
            },
        }
    }
}

impl World {
    /// After a change attempt by client `k` (in a transaction, not locked out) on
    /// `f`: the engine locks the file for the transaction before applying the change,
    /// so the file must now be `k`'s — unless the attempt failed before locking (an
    /// I/O error on a damaged or poisoned file).
    pub(super) fn sync_lock(&mut self, k: usize, f: usize, succeeded: bool) -> Result<(), String> {
        if self.model.clients.txns[k].is_none() {
            return Ok(());
        }
        let owner = self.rig.engine_ref()?.lock_owner(&self.model.files[f].path);
        match owner {
            Some(o) if o == client(k) => {
                if let Some(t) = self.model.clients.txns[k].as_mut() {
                    t.locked.insert(f);
                }
                Ok(())
            }
            None if !succeeded => Ok(()),
            other => Err(format!(
                "after a change in client {k}'s transaction, file {f}'s lock belongs to {other:?}"
            )),
        }
    }

    /// After a change by client `k` returned (`ok`: acknowledged): apply it to the
    /// model, and in a log mode journal it — acknowledged, or uncertain if the call
    /// failed because the log did (the engine must then restart).
    pub(super) fn changed(
        &mut self,
        k: usize,
        f: usize,
        id: u32,
        rec: Option<Vec<u8>>,
        ok: bool,
    ) -> Result<(), String> {
        // One shared copy for the model, its journal and every view of it.
        let rec = rec.map(Record::from);
        if self.log_mode == LogMode::Off || self.model.clients.txns[k].is_some() {
            if ok {
                self.model.apply(k, f, id, rec);
            }
            return Ok(());
        }
        let e = self.rig.engine_ref()?;
        let uncertain = !ok && e.log_failed();
        if ok || uncertain {
            let lsn = e.last_commit_lsn();
            self.model.journal.entries.push(JournalEntry {
                lsn,
                uncertain,
                changes: vec![(f, id, rec.clone())],
            });
        }
        if ok {
            self.acknowledged_durably()?;
            self.model.apply(k, f, id, rec);
        }
        Ok(())
    }

    /// In Durability mode an acknowledged change is durable: the simulator records it
    /// so (every journal entry so far must survive), and the engine's own account must
    /// agree that the log is synced past it.
    pub(super) fn acknowledged_durably(&mut self) -> Result<(), String> {
        if self.log_mode == LogMode::Durability {
            self.model.journal.acknowledge_all();
        }
        let e = self.rig.engine_ref()?;
        if self.log_mode == LogMode::Durability && e.log_durable_lsn() <= e.last_commit_lsn() {
            return Err(format!(
                "invariant 4 (durability): Durability mode acknowledged commit LSN {} while the \
                 log was durable only below {}",
                e.last_commit_lsn(),
                e.log_durable_lsn()
            ));
        }
        Ok(())
    }

    /// End (or abort) client `k`'s transaction and check the answer: the model
    /// applies it at End, journals it in a log mode, and in Durability mode half the
    /// Ends wait for a group commit.
    pub(super) fn finish(&mut self, k: usize, end: bool) -> Result<(), String> {
        // Durability mode: half the Ends wait for a group commit.
        let deferred = end
            && self.workload >= 4
            && self.log_mode == LogMode::Durability
            && self.sched.rng.random_bool(0.5);
        let mut lsn = 0;
        let got = if deferred {
            self.rig
                .engine_mut()?
                .end_transaction_deferred(client(k))
                .map(|l| lsn = l)
        } else if end {
            self.rig.engine_mut()?.end_transaction(client(k))
        } else {
            self.rig.engine_mut()?.abort_transaction(client(k))
        };
        let want = match self.model.clients.txns[k] {
            Some(_) => Ok(()),
            None => Err(Status::EndAbortWithoutBegin),
        };
        tracing::debug!(target: "sim", client = k, end, ok = got.is_ok(), "end/abort transaction");
        let ok = self.expect(
            if end {
                "end transaction"
            } else {
                "abort transaction"
            },
            &got,
            want,
        )?;
        // An End the log failed under may or may not have reached the log.
        let uncertain = !ok
            && end
            && self.model.clients.txns[k].is_some()
            && self.rig.engine_ref()?.log_failed();
        if !ok && !uncertain {
            return Ok(());
        }
        let Some(t) = self.model.clients.txns[k].take() else {
            return Ok(());
        };
        if !end {
            self.tally.transactions.1 += 1;
            self.drop_cursors_of(k);
            return Ok(());
        }
        if self.log_mode != LogMode::Off && !t.changes.is_empty() {
            let lsn = self.rig.engine_ref()?.last_commit_lsn();
            let changes = t
                .changes
                .iter()
                .flat_map(|(&f, m)| m.iter().map(move |(&id, r)| (f, id, r.clone())))
                .collect();
            self.model.journal.entries.push(JournalEntry {
                lsn,
                uncertain,
                changes,
            });
            if uncertain {
                // It may be in the log: its records may come back.
                for (&f, m) in &t.changes {
                    let written = &mut self.model.files[f].written;
                    written.extend(m.values().flatten().cloned());
                }
                return Ok(());
            }
            if deferred {
                // Not acknowledged yet: the client waits for a group commit.
                self.model.clients.awaiting[k] = Some(lsn);
            } else {
                self.acknowledged_durably()?;
            }
        }
        self.tally.transactions.0 += 1;
        let mut touched = Vec::new();
        for (f, changes) in t.changes {
            // The first commit attempt of this file from now on carries it.
            touched.push((f, self.model.files[f].states.len()));
            for (id, rec) in changes {
                match rec {
                    Some(r) => self.model.files[f].put(id, r),
                    None => {
                        self.model.files[f].remove(id);
                    }
                }
            }
        }
        if touched.len() > 1 && self.log_mode == LogMode::Off {
            self.model.multi.push(touched);
        }
        Ok(())
    }

    /// The log writer's group commit: one sync acknowledges every waiting End.
    pub(super) fn group_sync(&mut self) -> Result<(), String> {
        let Some(lsn) = self.model.clients.awaiting.iter().flatten().copied().max() else {
            return Ok(());
        };
        let got = self.rig.engine_mut()?.wait_durable(lsn);
        tracing::debug!(target: "sim", lsn, ok = got.is_ok(), waiting = self.model.clients.awaiting.iter().flatten().count(), "group commit");
        if self.expect("wait durable", &got, Ok(()))? {
            self.model.journal.acknowledge_through(lsn);
            let durable = self.rig.engine_ref()?.log_durable_lsn();
            for k in 0..CLIENTS {
                if let Some(l) = self.model.clients.awaiting[k].take() {
                    if durable <= l {
                        return Err(format!(
                            "invariant 4 (durability): a group commit acknowledged client {k}'s \
                             End at LSN {l} while the log was durable only below {durable}"
                        ));
                    }
                    self.tally.group_acks += 1;
                }
            }
        }
        Ok(())
    }
}
