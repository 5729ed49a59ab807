//! Executing one workload step against the engine: what the step does, what the
//! model says the engine must answer, and the check of the answer. The schedule
//! chose the step and makes its crash decisions; here is only how it runs. Every
//! answer goes through `World::expect`, and a crash the step asks for or causes is
//! handed to `recovery`.

use super::clients::{client, TxnModel, CLIENTS};
use super::world::{open_fault_status, World};
use crate::check;
use crate::model::Records;
use crate::workload::{self, Step};
use engine::{GetOp, Handle, LogMode, OpenMode, Status};
use rand::Rng;
use std::time::Duration;

impl World {
    /// Run `step` (the schedule chose it) and check every answer.
    pub(super) fn step(&mut self, step: Step) -> Result<(), String> {
        match step {
            Step::Insert => self.insert()?,
            Step::Update | Step::Delete | Step::GetEqual => self.get_then_change(step)?,
            Step::Scan => self.scan()?,
            Step::Begin => {
                let k = self.sched.rng.random_range(0..CLIENTS);
                let k = self.model.clients.ready(k);
                let want = if self.model.clients.txns[k].is_some() {
                    Err(Status::TransactionAlreadyActive)
                } else {
                    Ok(())
                };
                let got = self.rig.engine_mut()?.begin_transaction(client(k));
                if self.expect("begin transaction", &got, want)? {
                    self.model.clients.txns[k] = Some(TxnModel::default());
                }
            }
            Step::End | Step::Abort => {
                let k = self.sched.rng.random_range(0..CLIENTS);
                let k = self.model.clients.ready(k);
                self.finish(k, step == Step::End)?;
            }
            Step::Transfer => self.transfer()?,
            Step::StartBackup => self.start_backup()?,
            Step::CopyBackup => {
                self.archival_backup()?;
                if self.rig.vfs.is_crashed() {
                    return Ok(());
                }
                self.copy_backup()?
            }
            Step::EndBackup => self.end_backup()?,
            Step::Flush => {
                // Generation 17: half the flushes are the operator's, through the admin
                // path.
                let got = if self.workload >= 17 {
                    self.operator(engine::admin::Request::Flush, |e| e.flush())?
                } else {
                    self.rig.engine_mut()?.flush()
                };
                if self.expect("flush", &got, Ok(()))? {
                    self.flushed();
                }
            }
            Step::Background => {
                let ms = self.sched.rng.random_range(0..100);
                self.rig.clock.advance(Duration::from_millis(ms));
                let got = self.rig.engine_mut()?.background_step();
                self.expect("background step", &got, Ok(()))?;
                self.group_sync()?;
            }
            Step::Reopen => self.reopen()?,
            Step::ArmCrash => {
                let n = self.sched.crash_point_ahead();
                self.rig.vfs.set_crash_after(n);
            }
            Step::CrashNow => return self.crash(),
            Step::Cursor => self.cursor()?,
            Step::BulkLoad => self.bulk_load()?,
            Step::CrashInCommit => {
                let n = self.sched.crash_point_in_commit();
                self.rig.vfs.set_crash_after(n);
                let got = self.rig.engine_mut()?.flush();
                if self.expect("flush", &got, Ok(()))? {
                    self.flushed();
                }
            }
        }
        Ok(())
    }

    /// A flush returned success: everything acknowledged so far is durable — in every
    /// file no open transaction holds (its acknowledged state is the oldest a crash may
    /// leave; a held file's pending changes wait for the transaction's End, as the
    /// engine documents) and in the log.
    pub(super) fn flushed(&mut self) {
        for f in 0..self.model.files.len() {
            if self.model.clients.holder(f).is_none() {
                self.model.files[f].acknowledged_durable();
            }
        }
        if self.log_mode != LogMode::Off {
            self.model.journal.acknowledge_all();
        }
    }

    /// Insert a new record (its id and tag may collide: duplicate key).
    fn insert(&mut self) -> Result<(), String> {
        let (k, f, h) = self.pick();
        let id = self.sched.rng.random_range(0..workload::ID_RANGE);
        let r = workload::record(id, &mut self.sched.rng);
        let view = self.model.view(k, f);
        let want = match self.model.clients.locked_out(k, f) {
            Some(s) => Err(s),
            None if view.contains_key(&id)
                || view
                    .values()
                    .any(|x| workload::tag_of(x) == workload::tag_of(&r)) =>
            {
                Err(Status::DuplicateKeyValue)
            }
            None => Ok(()),
        };
        let got = self.rig.engine_mut()?.insert(h, &r);
        tracing::debug!(target: "sim", client = k, file = f, id, ok = got.is_ok(), "insert");
        let ok = self.expect("insert", &got, want)?;
        if want != Err(Status::FileInUse) {
            self.sync_lock(k, f, ok)?;
        }
        self.changed(k, f, id, Some(r), ok)?;
        Ok(())
    }

    /// Get a record by id (mostly one present), then, for `Update` or `Delete`,
    /// change it through the position the get established.
    fn get_then_change(&mut self, step: Step) -> Result<(), String> {
        let (k, f, h) = self.pick();
        let view = self.model.view(k, f);
        let id = self.existing_id(&view);
        let want = view
            .get(&id)
            .map(|r| r.to_vec())
            .ok_or(Status::KeyValueNotFound);
        let got = self
            .rig
            .engine_mut()?
            .get(h, GetOp::Equal, 0, &id.to_le_bytes());
        if !self.expect("get equal", &got, want)? {
            return Ok(());
        }
        let Ok(found) = got else {
            return Ok(());
        };
        // The handle is on the record now (generation 18 moves it later).
        self.land(f, k, &found, view.clone());
        if step == Step::GetEqual {
            return Ok(());
        }
        let locked_out = self.model.clients.locked_out(k, f);
        if step == Step::Delete {
            let got = self.rig.engine_mut()?.delete(h);
            tracing::debug!(target: "sim", client = k, file = f, id, ok = got.is_ok(), "delete");
            let want = locked_out.map_or(Ok(()), Err);
            let ok = self.expect("delete", &got, want)?;
            if !ok && locked_out.is_none() {
                // A fault: where the handle is now is unknown.
                self.model.held.remove(&(f, k));
            }
            if locked_out.is_none() {
                self.sync_lock(k, f, ok)?;
            }
            self.changed(k, f, id, None, ok)?;
        } else {
            let r = workload::record(id, &mut self.sched.rng);
            let taken = view
                .iter()
                .any(|(&i, x)| i != id && workload::tag_of(x) == workload::tag_of(&r));
            let want = match locked_out {
                Some(s) => Err(s),
                None if taken => Err(Status::DuplicateKeyValue),
                None => Ok(()),
            };
            let got = self.rig.engine_mut()?.update(h, &r);
            tracing::debug!(target: "sim", client = k, file = f, id, ok = got.is_ok(), "update");
            let ok = self.expect("update", &got, want)?;
            if ok {
                self.updated_record(f, &found, &r);
            } else if want.is_ok() {
                // A fault: where the handle is now is unknown.
                self.model.held.remove(&(f, k));
            }
            if locked_out.is_none() {
                self.sync_lock(k, f, ok)?;
            }
            self.changed(k, f, id, Some(r), ok)?;
        }
        Ok(())
    }

    /// Read a whole file in the order of one key, forwards or backwards.
    fn scan(&mut self) -> Result<(), String> {
        let (k, f, h) = self.pick();
        let view = self.model.view(k, f);
        let key = self.sched.rng.random_range(0..3);
        let reverse = self.sched.rng.random_bool(0.3);
        let what = format!("scan key {key}{}", if reverse { " backwards" } else { "" });
        let got = check::scan(self.rig.engine_mut()?, h, key, reverse, view.len())
            .map_err(|over| format!("read check: {what}: {over}"))?;
        let verdict = got.map(|g| {
            check::scan_matches(&g, &view, key, reverse)
                .then_some(())
                .ok_or(g.len())
        });
        // The engine's status (or success) is checked as usual; the records
        // it returned then must be the model's, in key order.
        let status = verdict.as_ref().map(|_| ()).map_err(Clone::clone);
        self.expect(&what, &status, Ok(()))?;
        if let Ok(Err(n)) = verdict {
            return Err(format!(
                "read check: {what}: the engine returned {n} records that are not the \
                 model's {} in key order",
                view.len()
            ));
        }
        Ok(())
    }

    /// Close every client's handle on a file (the last close commits) and open them
    /// again. A file a transaction holds is left alone; a failed close or reopen, or
    /// damage, restarts the application.
    fn reopen(&mut self) -> Result<(), String> {
        let f = self.sched.rng.random_range(0..self.model.files.len());
        if self.model.clients.holder(f).is_some() {
            // A file an open transaction changed cannot close (status 36,
            // covered by the engine's tests); the application waits.
            return Ok(());
        }
        let hs = std::mem::take(&mut self.rig.handles[f]);
        self.drop_cursors_on(f);
        let path = self.model.files[f].path.clone();
        if self.damaged(f) {
            // A damaged file may reopen at an older state; only a recovery
            // can tell which. Restart the application.
            return self.crash();
        }
        for h in hs {
            let got = self.rig.engine_mut()?.close(h);
            if !self.expect("close", &got, Ok(()))? {
                // The last close commits; if that failed, the engine closed
                // the file and dropped what was not durable. The application
                // restarts, and recovery decides which boundary survived.
                return self.crash();
            }
        }
        self.observe()?;
        // Every close returned success; the last one committed the file: what was
        // acknowledged in it is durable, whatever the engine's counters say.
        self.model.files[f].acknowledged_durable();
        let mut hs = Vec::new();
        for k in 0..CLIENTS {
            match self
                .rig
                .engine_mut()?
                .open_as(client(k), &path, OpenMode::Normal)
            {
                Ok(h) => hs.push(h),
                // Could not reopen through injected faults: restart the
                // application.
                Err(e) if open_fault_status(e.status) => {
                    if e.status == Status::PreImageOpenError {
                        // Held to faults on this file's pre-image file.
                        self.cause.file = Some(f);
                    }
                    self.explain(&format!("reopen {}", path.display()), e.status)?;
                    return self.crash();
                }
                Err(e) => return Err(format!("reopen {}: {e}", path.display())),
            }
        }
        self.rig.handles[f] = hs;
        // A failed state the file was in (a poisoned pager) ended with this open.
        self.mark_reopened(f);
        // Its control record was copied over the other slot: damage the open read
        // before that is dated as it stood.
        self.date_damage(false);
        self.forget_rolled_in(f);
        if self.damaged(f) {
            // Damaged while it reopened: it may have come back at an older
            // state (a corrupted last delta transaction reads as a torn
            // tail); only a recovery can tell.
            return self.crash();
        }
        Ok(())
    }

    /// A client, a file, and that client's handle on it.
    pub(super) fn pick(&mut self) -> (usize, usize, Handle) {
        let f = self.sched.rng.random_range(0..self.model.files.len());
        let k = self.sched.rng.random_range(0..CLIENTS);
        let k = self.model.clients.ready(k);
        self.cause.file = Some(f);
        // The step may move the handle: a held cursor on it is let go (generation 18).
        self.model.held.remove(&(f, k));
        (k, f, self.rig.handles[f][k])
    }

    /// An id for an update, delete or get: mostly one present (never an inventory
    /// item, which only transfers change).
    ///
    /// The draws and the id are those of picking from the sorted list of non-item ids;
    /// the list is counted and walked, not collected (a `Vec` of every id per step
    /// was 2% of a campaign).
    pub(super) fn existing_id(&mut self, live: &Records) -> u32 {
        let items = live
            .range(workload::ID_RANGE..workload::ID_RANGE + workload::ITEMS)
            .count();
        let n = live.len() - items;
        if n == 0 || self.sched.rng.random_bool(0.1) {
            return self.sched.rng.random_range(0..workload::ID_RANGE);
        }
        let i = self.sched.rng.random_range(0..n);
        let picked = live
            .keys()
            .copied()
            .filter(|&id| !workload::is_item(id))
            .nth(i);
        debug_assert!(picked.is_some(), "{n} non-item ids counted, fewer found");
        // `n` counts exactly the ids the walk yields, so `picked` is always `Some`.
        picked.unwrap_or(0)
    }
}
