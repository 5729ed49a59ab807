//! The inventory (generation 5): every file holds each item with a count, and a
//! transfer moves a quantity of one item from one file to another in one transaction.
//! Each item's total on hand is conserved: with a log it must hold after every
//! recovery; in log mode Off a crash may split a transfer, which is counted.

use super::clients::{client, TxnModel, CLIENTS};
use super::world::{Model, World};
use crate::workload;
use engine::{GetOp, LogMode, Status};
use rand::Rng;

impl World {
    /// An inventory transfer by a client not in a transaction: Begin, read the item in
    /// file A, take `q` from it (abort if it has fewer), add `q` to it in file B, End.
    /// Every answer is checked like any other operation's; a failure aborts.
    pub(super) fn transfer(&mut self) -> Result<(), String> {
        if self.model.files.len() < 2 {
            return Ok(());
        }
        let k = self.sched.rng.random_range(0..CLIENTS);
        let k = self.model.clients.ready(k);
        if self.model.clients.txns[k].is_some() || self.model.clients.awaiting[k].is_some() {
            return Ok(());
        }
        let item = self.sched.rng.random_range(0..workload::ITEMS);
        let a = self.sched.rng.random_range(0..self.model.files.len());
        let b =
            (a + self.sched.rng.random_range(1..self.model.files.len())) % self.model.files.len();
        let q = self.sched.rng.random_range(1..=20u32);
        let id = workload::item_id(item);
        let got = self.rig.engine_mut()?.begin_transaction(client(k));
        if !self.expect("transfer: begin", &got, Ok(()))? {
            return Ok(());
        }
        self.model.clients.txns[k] = Some(TxnModel::default());
        for (f, delta) in [(a, -i64::from(q)), (b, i64::from(q))] {
            let h = self.rig.handles[f][k];
            // The transfer moves the handle: a held cursor on it is let go.
            self.model.held.remove(&(f, k));
            let want = self
                .model
                .view(k, f)
                .get(&id)
                .map(|r| r.to_vec())
                .ok_or(Status::KeyValueNotFound);
            let got = self
                .rig
                .engine_mut()?
                .get(h, GetOp::Equal, 0, &id.to_le_bytes());
            if !self.expect("transfer: get item", &got, want)? {
                return self.finish(k, false);
            }
            let Ok(rec) = got else {
                return self.finish(k, false);
            };
            let count = i64::from(workload::count_of(&rec)) + delta;
            let Ok(count) = u32::try_from(count) else {
                // Not enough on hand: give up.
                return self.finish(k, false);
            };
            let new = workload::item_record(item, count);
            let locked_out = self.model.clients.locked_out(k, f);
            let got = self.rig.engine_mut()?.update(h, &new);
            tracing::debug!(target: "sim", client = k, file = f, item, count, ok = got.is_ok(), "transfer update");
            let ok = self.expect(
                "transfer: update item",
                &got,
                locked_out.map_or(Ok(()), Err),
            )?;
            if locked_out.is_none() {
                self.sync_lock(k, f, ok)?;
            }
            self.changed(k, f, id, Some(new), ok)?;
            if !ok {
                return self.finish(k, false);
            }
        }
        self.tally.transfers += 1;
        self.finish(k, true)
    }

    /// Generation 5: the total on hand of every item is what the files started with.
    /// With a log that must hold after every recovery (a transfer is in both its files
    /// or neither); in Off mode a crash may split one, which is counted.
    pub(super) fn check_inventory(&mut self, why: &str) -> Result<(), String> {
        if self.workload < 5 || self.model.files.len() < 2 {
            return Ok(());
        }
        for i in 0..workload::ITEMS {
            let want = self.model.item_totals[i as usize];
            let id = workload::item_id(i);
            let total = self.model.item_total(id);
            if total != want {
                if self.log_mode == LogMode::Off {
                    // Expected of Off: count it, and carry on from the new totals.
                    self.tally.inventory_splits += 1;
                    for j in 0..workload::ITEMS {
                        self.model.item_totals[j as usize] =
                            self.model.item_total(workload::item_id(j));
                    }
                    return Ok(());
                }
                return Err(format!(
                    "invariant 3 (inventory: total on hand = sum of per-location counts; log \
                     mode {}) after {why}: item {i} totals {total}, not {want}",
                    self.log_mode.name()
                ));
            }
        }
        Ok(())
    }
}

impl Model {
    /// An item's total on hand: the sum of its counts over every file.
    fn item_total(&self, id: u32) -> u32 {
        self.files
            .iter()
            .filter_map(|f| f.live.get(&id))
            .map(|r| workload::count_of(r))
            .sum()
    }
}
