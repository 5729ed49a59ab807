//! Generation 18: bulk loads through `Engine::insert_batched` (`engine/src/engine/
//! batch.rs`), in the seed's small batches so a load of a few records spans several.
//!
//! What is checked, as the engine documents it:
//! - The status and the count `inserted` are Insert by Insert's: the first record
//!   whose id or tag the file (or an earlier record of the load) already holds stops
//!   the load with 5, the records before it in. A fault status may stop it earlier,
//!   never later; the records counted are in either way.
//! - What a crash may leave. A batch is one operation: system transactions commit only
//!   between batches, so the states a commit during the load may have made durable are
//!   the file after each whole batch (log Off). A batch that fails is undone and
//!   inserted one record at a time, so inside it a commit may land after any record.
//!   In a log mode each batch is one log transaction — one journal entry — and each
//!   record inserted one at a time its own.
//!
//! Which batches went one at a time: without faults only the one holding the duplicate
//! (the records of it before the duplicate), which the engine's count of batched
//! records confirms. When the count says otherwise — a fault failed a batch, or the
//! file is archived (every record goes one at a time) — the load is judged record by
//! record (every record boundary a candidate, every record its own journal entry),
//! counted as `bulk_per_record` unless the file is archived or held by a transaction
//! (then one at a time is what the engine documents, and exact). A failed log write leaves the load's entries
//! uncertain (and the record it stopped at, which may have reached the log).

use super::world::World;
use crate::model::{JournalEntry, Record, Records};
use crate::workload::{self, BULK_BASE, BULK_MAX, BULK_SPAN};
use engine::engine::Batches;
use engine::{LogMode, Status};
use rand::Rng;
use std::collections::BTreeSet;
use std::sync::Arc;

/// A load a crash cut short, kept until the next recovery says what it left: the file,
/// the states its commits may have left (indices into the file model's `states`, first
/// and last) and its journal entries (`from..to`).
#[derive(Clone, Debug)]
pub(super) struct CrashedLoad {
    file: usize,
    states: Option<(usize, usize)>,
    entries: (usize, usize),
}

impl World {
    /// Step `BulkLoad`: draw a load, run it, check the answer, and model what it did
    /// and what a crash may leave of it.
    pub(super) fn bulk_load(&mut self) -> Result<(), String> {
        let (k, f, h) = self.pick();
        let view = self.model.view(k, f);
        let rng = &mut self.sched.rng;
        let n = rng.random_range(1..=BULK_MAX);
        let shape = rng.random_range(0..3);
        let ids: Vec<u32> = if shape == 0 {
            // Ascending past the file's last id: the rightmost-leaf appender's case.
            let start = view
                .keys()
                .next_back()
                .map_or(BULK_BASE, |&m| (m + 1).max(BULK_BASE));
            (start..start + n as u32).collect()
        } else {
            (0..n)
                .map(|_| rng.random_range(BULK_BASE..BULK_BASE + BULK_SPAN))
                .collect()
        };
        let mut recs: Vec<Vec<u8>> = ids
            .iter()
            .map(|&id| workload::bulk_record(id, rng))
            .collect();
        if shape == 2 {
            // A duplicate part-way: a unique key (the id or the tag) of an earlier
            // record of the load or of one in the file.
            let at = rng.random_range(0..n);
            let from_file: Vec<&Record> = view.values().collect();
            let src = if at > 0 && (from_file.is_empty() || rng.random_bool(0.5)) {
                Some(recs[rng.random_range(0..at)].clone())
            } else if !from_file.is_empty() {
                Some(from_file[rng.random_range(0..from_file.len())].to_vec())
            } else {
                None
            };
            if let Some(src) = src {
                if rng.random_bool(0.5) {
                    recs[at][0..4].copy_from_slice(&src[0..4]);
                } else {
                    recs[at][6..18].copy_from_slice(workload::tag_of(&src));
                }
            }
        }
        // Insert by Insert: how far the load must get, and how it must end.
        let mut taken_ids: BTreeSet<u32> = view.keys().copied().collect();
        let mut taken_tags: BTreeSet<&[u8]> = view.values().map(|r| workload::tag_of(r)).collect();
        let mut fits = 0;
        let mut want = Ok(());
        if let Some(s) = self.model.clients.locked_out(k, f) {
            want = Err(s);
        } else {
            for r in &recs {
                if !taken_ids.insert(workload::id_of(r)) || !taken_tags.insert(workload::tag_of(r))
                {
                    want = Err(Status::DuplicateKeyValue);
                    break;
                }
                fits += 1;
            }
        }
        let batch = self.bulk_batch;
        let before = self.rig.engine_ref()?.stats().batched_inserts;
        let mut inserted = 0u64;
        let got =
            self.rig
                .engine_mut()?
                .insert_batched(h, &recs, Batches::Fixed(batch), &mut inserted);
        let e = self.rig.engine_ref()?;
        let batched = (e.stats().batched_inserts - before) as usize;
        let log_failed = e.log_failed();
        // An archived file (and a transaction's) goes Insert by Insert: exact per record.
        let each = self.model.clients.txns[k].is_some()
            || e.open_archival_log(&self.model.files[f].path).is_some();
        tracing::debug!(target: "sim", client = k, file = f, n, batch, inserted, batched, ok = got.is_ok(), "bulk load");
        let ok = self.expect("bulk load", &got, want)?;
        let n_in = inserted as usize;
        let faulted = !ok && got.as_ref().is_err_and(|x| want != Err(x.status));
        if n_in > fits || (!faulted && n_in != fits) {
            return Err(format!(
                "read check: bulk load of {n} records (batches of {batch}) counted {n_in} \
                 inserted; Insert by Insert inserts {fits}{}",
                if faulted {
                    " at most (a fault stopped it)"
                } else {
                    ""
                }
            ));
        }
        if want != Err(Status::FileInUse) {
            self.sync_lock(k, f, n_in > 0)?;
        }
        self.tally.bulk_loads += 1;
        self.tally.bulk_records += inserted;
        // Which records went one at a time (module doc).
        let one_by_one = n_in - batched.min(n_in);
        let exact = one_by_one == 0 || (got.is_err() && !log_failed && one_by_one == n_in % batch);
        let one_at_a_time = each && batched == 0 && !log_failed;
        if !(exact || one_at_a_time) {
            // Relaxed, counted: a fault (or a failed log write) sent a batch Insert by
            // Insert, and the count does not say which.
            self.tally.bulk_per_record += 1;
        }
        let whole = if exact { n_in - one_by_one } else { 0 };
        // Boundaries: the ends of whole batches, then every record.
        let ends: Vec<usize> = (1..=n_in)
            .filter(|&i| {
                if i <= whole {
                    i % batch == 0 || i == whole
                } else {
                    true
                }
            })
            .collect();
        self.model_load(k, f, &recs[..n_in], &ends, log_failed, recs.get(n_in))?;
        if self.rig.vfs.is_crashed() || log_failed {
            self.tally.bulk_crashed += 1;
        }
        Ok(())
    }

    /// The model's side of a load that inserted `recs`, whose commits may have landed
    /// after any of `ends` (counts of records): the file's candidate states or the
    /// journal's entries, and, if the load was cut short, what the next recovery should
    /// classify. `stopped_at` is the record a failed log write stopped at.
    fn model_load(
        &mut self,
        k: usize,
        f: usize,
        recs: &[Vec<u8>],
        ends: &[usize],
        log_failed: bool,
        stopped_at: Option<&Vec<u8>>,
    ) -> Result<(), String> {
        let crashed = self.rig.vfs.is_crashed() || log_failed;
        // The load's batches may run several system transactions of every file (one
        // that fails is retried at the next): the other files' states did not change.
        for g in 0..self.model.files.len() {
            let c = self
                .rig
                .engine_ref()?
                .commit_counters(&self.model.files[g].path);
            if g != f {
                self.model.files[g].observe_load(c.attempts, c.durable, &[]);
            }
        }
        if self.model.clients.txns[k].is_some() {
            // Held by the client's transaction (one Insert at a time): End commits it.
            for r in recs {
                self.model
                    .apply(k, f, workload::id_of(r), Some(Record::from(r.as_slice())));
            }
            let path = self.model.files[f].path.clone();
            let c = self.rig.engine_ref()?.commit_counters(&path);
            self.model.files[f].observe_load(c.attempts, c.durable, &[]);
            return Ok(());
        }
        let from_entry = self.model.journal.entries.len();
        let mut boundaries: Vec<Arc<Records>> = Vec::new();
        let mut last = 0;
        for &end in ends {
            // One shared copy of each record for the model and its journal.
            let part: Vec<(u32, Record)> = recs[last..end]
                .iter()
                .map(|r| (workload::id_of(r), Record::from(r.as_slice())))
                .collect();
            for (id, r) in &part {
                self.model.files[f].put(*id, r.clone());
            }
            boundaries.push(self.model.files[f].live.clone());
            if self.log_mode != LogMode::Off {
                let lsn = self.rig.engine_ref()?.last_commit_lsn();
                let changes = part.into_iter().map(|(id, r)| (f, id, Some(r))).collect();
                self.model.journal.entries.push(JournalEntry {
                    lsn,
                    uncertain: log_failed,
                    changes,
                });
            }
            last = end;
        }
        if self.log_mode != LogMode::Off {
            if log_failed {
                if let Some(r) = stopped_at {
                    // The Insert the log failed under may have reached it.
                    let lsn = self.rig.engine_ref()?.last_commit_lsn();
                    let r = Record::from(r.as_slice());
                    self.model.files[f].written.insert(r.clone());
                    self.model.journal.entries.push(JournalEntry {
                        lsn,
                        uncertain: true,
                        changes: vec![(f, workload::id_of(&r), Some(r))],
                    });
                }
            } else if !recs.is_empty() {
                self.acknowledged_durably()?;
            }
        }
        let path = self.model.files[f].path.clone();
        let c = self.rig.engine_ref()?.commit_counters(&path);
        let states = self.model.files[f].observe_load(c.attempts, c.durable, &boundaries);
        if crashed {
            self.model.crashed_load = Some(CrashedLoad {
                file: f,
                states,
                entries: (from_entry, self.model.journal.entries.len()),
            });
        }
        Ok(())
    }

    /// Log mode Off, after recovery found file states `at` (indices into the states
    /// before recovery): what a load a crash cut short left — nothing of it, a prefix
    /// of whole batches, or all it had inserted.
    pub(super) fn settle_crashed_load_off(&mut self, at: &[Option<usize>]) {
        let Some(l) = self.model.crashed_load.take() else {
            return;
        };
        let Some(Some(j)) = at.get(l.file) else {
            return;
        };
        let outcome = match l.states {
            Some((from, _)) if *j < from => 0,
            None => 0,
            Some((_, to)) if *j < to => 1,
            Some(_) => 2,
        };
        self.count_crashed_load(outcome);
    }

    /// The journal gained `by` entries in front ([`World::rewind_journal`]).
    pub(super) fn shift_crashed_load(&mut self, by: usize) {
        if let Some(l) = self.model.crashed_load.as_mut() {
            l.entries = (l.entries.0 + by, l.entries.1 + by);
        }
    }

    /// Log modes, after recovery matched the first `kept` journal entries.
    pub(super) fn settle_crashed_load_logged(&mut self, kept: Option<usize>) {
        let Some(l) = self.model.crashed_load.take() else {
            return;
        };
        let Some(kept) = kept else {
            return;
        };
        let (from, to) = l.entries;
        let outcome = if kept <= from || from == to {
            0
        } else if kept < to {
            1
        } else {
            2
        };
        self.count_crashed_load(outcome);
    }

    fn count_crashed_load(&mut self, outcome: usize) {
        let o = &mut self.tally.bulk_crash_outcomes;
        match outcome {
            0 => o.0 += 1,
            1 => o.1 += 1,
            _ => o.2 += 1,
        }
    }
}
