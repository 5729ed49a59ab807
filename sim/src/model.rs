//! The reference model: what each file holds, and which states a crash may leave.
//!
//! Per file it keeps the records acknowledged so far (what every read must return
//! while the engine runs) and the record set at every system-transaction *attempt*
//! since the last durable one. After a crash the file must equal one of those — the
//! last durable boundary or a later one whose commit was in flight (invariant 2, and
//! "acknowledged-and-synced changes survive").

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

/// A file's records by primary key (the record's id). A persistent map: the model
/// snapshots a file's records at every commit attempt and every client's view, and
/// copying a whole `BTreeMap` on the next change after each was about 5% of a
/// campaign; a snapshot here shares all but the changed path.
pub type Records = imbl::OrdMap<u32, Record>;

/// One record image in the model, shared: copying a map node (on a change to a
/// snapshotted map) copies a reference count per record, not the record.
pub type Record = Arc<[u8]>;

/// One file of the model.
#[derive(Clone, Debug)]
pub struct FileModel {
    pub path: PathBuf,
    /// Acknowledged state (in memory in the engine). Shared, copied on write: the
    /// per-operation views and the per-commit snapshots below take a reference, and
    /// the next change copies it once.
    pub live: Arc<Records>,
    /// States at commit attempts; `states[durable]` is the last durable one.
    pub states: Vec<Arc<Records>>,
    pub durable: usize,
    /// The simulator's own durability floor: `states[floor]` is the state a `flush` or
    /// last `close` was seen to return success at, so no crash may leave an older one
    /// (whatever the engine's counters say it committed).
    pub floor: usize,
    /// Engine commit counters last seen (attempts, durable).
    pub seen: (u64, u64),
    /// `states[first..=last]` made by one bulk load (generation 18): the states after
    /// its batches, of which the commit counters do not say which were commits. Damage
    /// judged by date needs it: the commit before the last one on disk may lie
    /// anywhere in such a run.
    pub load_spans: Vec<(usize, usize)>,
    /// Indices of `states` known to have been durable commits: the baseline, each state
    /// the commit counters reported durable, each acknowledged flush or close. A failed
    /// attempt between two of them may never have reached the disk (a retried page
    /// write, an undone control record), so damage judged by date falls back at least
    /// to one of these.
    pub durable_marks: BTreeSet<usize>,
    /// Every record image ever acknowledged in this file. A file a lying disk damaged
    /// may legitimately come back at an older state (a misdirected FCR write is
    /// undetectable), but never with a record that was never written.
    pub written: BTreeSet<Record>,
}

impl FileModel {
    pub fn new(path: PathBuf) -> FileModel {
        FileModel {
            path,
            live: Arc::default(),
            states: vec![Arc::default()],
            durable: 0,
            floor: 0,
            seen: (0, 0),
            load_spans: Vec::new(),
            durable_marks: BTreeSet::from([0]),
            written: BTreeSet::new(),
        }
    }

    /// An acknowledged insert or update of `record` under `id`.
    pub fn put(&mut self, id: u32, record: Record) {
        self.written.insert(record.clone());
        Arc::make_mut(&mut self.live).insert(id, record);
    }

    /// An acknowledged delete of `id`.
    pub fn remove(&mut self, id: u32) {
        Arc::make_mut(&mut self.live).remove(&id);
    }

    /// The first record of `state` that was never written, if any.
    pub fn phantom<'a>(&self, state: &'a Records) -> Option<&'a Record> {
        state.values().find(|r| !self.written.contains(*r))
    }

    /// The file was replaced by a fresh, empty one.
    pub fn reset(&mut self) {
        *self = FileModel::new(self.path.clone());
    }

    /// Record what the engine's commit counters say happened during the last call.
    pub fn observe(&mut self, attempts: u64, durable: u64) -> Result<(), String> {
        if attempts > self.seen.0 + 1 {
            return Err(format!(
                "{}: two system transactions in one call",
                self.path.display()
            ));
        }
        if attempts > self.seen.0 {
            self.states.push(self.live.clone());
        }
        if durable > self.seen.1 {
            self.durable = self.states.len() - 1;
            self.durable_marks.insert(self.durable);
        }
        self.seen = (attempts, durable);
        Ok(())
    }

    /// What the engine's commit counters say happened during a bulk load (generation
    /// 18), which may run several system transactions in one call, each after one of
    /// `boundaries` (the states after each whole batch, or record, oldest first; the
    /// last is `live`). If any was attempted, every boundary is a candidate; if one was
    /// durable, the first boundary is the oldest state a crash may leave (which one was
    /// durable the counters do not say). Returns the indices of the boundaries in
    /// `states` (first, last), if they were added.
    pub fn observe_load(
        &mut self,
        attempts: u64,
        durable: u64,
        boundaries: &[Arc<Records>],
    ) -> Option<(usize, usize)> {
        let first = self.states.len();
        let attempted = attempts > self.seen.0;
        if attempted {
            if boundaries.is_empty() {
                self.states.push(self.live.clone());
            }
            self.states.extend(boundaries.iter().cloned());
            if boundaries.len() > 1 {
                self.load_spans.push((first, self.states.len() - 1));
            }
        }
        if durable > self.seen.1 {
            self.durable = if attempted {
                first
            } else {
                self.states.len() - 1
            };
            self.durable_marks.insert(self.durable);
        }
        self.seen = (attempts, durable);
        attempted.then(|| (first, self.states.len() - 1))
    }

    /// A `flush` or the last `close` returned success: everything acknowledged so far
    /// is durable, so the acknowledged state is the oldest a crash may leave.
    pub fn acknowledged_durable(&mut self) {
        let last = self.states.last().is_some_and(|s| **s == *self.live);
        if !last {
            self.states.push(self.live.clone());
        }
        self.floor = self.states.len() - 1;
        self.durable_marks.insert(self.floor);
    }

    /// The oldest state index the commit at or before `states[i]` may have made: `i`,
    /// or — when `i` is one of a bulk load's batch states, not all of which were
    /// commits — the state before the load's first batch.
    pub fn commit_at_or_before(&self, i: usize) -> usize {
        self.load_spans
            .iter()
            .find(|&&(first, last)| first <= i && i <= last)
            .map_or(i, |&(first, _)| first.saturating_sub(1))
    }

    /// The newest state at or before `states[i]` known to have been a durable commit
    /// (`durable_marks`): what the other control-record slot holds at the oldest when
    /// the commit after `i` is the last on disk — the attempts between may never have
    /// reached the disk (sim seed 437661: a flush whose page write failed, then a bulk
    /// load committed; the rotted newest FCR fell back past the failed attempt).
    pub fn durable_at_or_before(&self, i: usize) -> usize {
        self.durable_marks
            .range(..=i)
            .next_back()
            .copied()
            .unwrap_or(0)
    }

    /// States a crash may have left, oldest first: from the later of the engine's last
    /// durable commit and the simulator's durability floor.
    pub fn candidates(&self) -> &[Arc<Records>] {
        &self.states[self.durable.max(self.floor)..]
    }

    /// After recovery found `state`: it is the new durable baseline of a fresh engine.
    pub fn recovered(&mut self, state: Records) {
        let state = Arc::new(state);
        self.live = state.clone();
        self.states = vec![state];
        self.load_spans.clear();
        self.durable_marks = BTreeSet::from([0]);
        self.durable = 0;
        self.floor = 0;
        self.seen = (0, 0);
    }
}

/// One acknowledged (or, after a log failure, uncertain) entry of the transaction
/// log, as the model sees it: a single operation or an ended transaction.
#[derive(Clone, Debug)]
pub struct JournalEntry {
    /// Commit LSN the engine reported.
    pub lsn: u64,
    /// The call that made it failed when the log failed: it may or may not be in
    /// the log.
    pub uncertain: bool,
    /// (file, id, new image or `None` for a delete).
    pub changes: Vec<(usize, u32, Option<Record>)>,
}

/// The model of Logging and Durability modes: after recovery (every file opened, so
/// rolled forward) the database must equal the states at the last recovery plus the
/// first `K` journal entries, one `K` for all files (multi-file atomicity, invariant
/// 3), with `K` covering every entry whose LSN the engine had reported durable
/// (durability, invariant 4: in Durability mode that is every acknowledged entry, in
/// Logging mode a prefix of the acknowledged order).
#[derive(Clone, Debug, Default)]
pub struct Journal {
    pub base: Vec<Records>,
    pub entries: Vec<JournalEntry>,
    /// Every log record below this LSN was reported durable (the engine's claim: it
    /// can only make the check stricter).
    pub durable_lsn: u64,
    /// The simulator's own count: `entries[..acked]` were acknowledged durable by what
    /// it saw return — a Durability-mode operation or End, a group commit's wait, a
    /// successful flush in a log mode.
    pub acked: usize,
    /// `acked` before its last increase: what the acknowledgement before the last one
    /// covered (a lying fault on the log may drop only the last synced group).
    pub prev_acked: usize,
}

impl Journal {
    /// The smallest `K` the log must hold.
    pub fn must_keep(&self) -> usize {
        let claimed = self
            .entries
            .iter()
            .take_while(|e| !e.uncertain && e.lsn < self.durable_lsn)
            .count();
        claimed.max(self.acked)
    }

    /// Every entry so far was acknowledged durable.
    pub fn acknowledge_all(&mut self) {
        self.acknowledge(self.entries.len());
    }

    /// `entries[..n]` were acknowledged durable.
    fn acknowledge(&mut self, n: usize) {
        if n > self.acked {
            self.prev_acked = self.acked;
            self.acked = n;
        }
    }

    /// Every entry up to LSN `lsn` was acknowledged durable (the log is sequential).
    pub fn acknowledge_through(&mut self, lsn: u64) {
        let n = self.entries.iter().take_while(|e| e.lsn <= lsn).count();
        self.acknowledge(n);
    }

    /// The `K` in `must_keep()..=entries.len()` whose states equal `found`, if any
    /// (the largest, if several).
    pub fn matching_prefix(&self, found: &[Records]) -> Option<usize> {
        self.matching_prefix_from(found, self.must_keep())
    }

    /// The operator deleted the deltas of a backup cycle: the files of `set` are back
    /// at their `instant`, and opening them rolls them forward through every log
    /// record since — those a recovery already settled into the base (`since`) and
    /// the journal's own. The journal becomes that history: the base holds the instants
    /// for the set (the other files keep theirs), the entries are the settled ones (only
    /// their changes to the set: the other files are past them) followed by the
    /// journal's (those from before the instant only for the other files). Returns how
    /// many entries came first, by which every index into the old journal moves.
    pub fn rewind_to_instant(
        &mut self,
        set: &[usize],
        instant: &[Records],
        since: &SettledLog,
    ) -> usize {
        let in_set = |f: usize| set.contains(&f);
        let settled = since.settled.iter().map(|e| JournalEntry {
            lsn: e.lsn,
            uncertain: false,
            changes: e.changes.iter().filter(|c| in_set(c.0)).cloned().collect(),
        });
        let own = std::mem::take(&mut self.entries)
            .into_iter()
            .enumerate()
            .map(|(i, mut e)| {
                if i < since.at {
                    e.changes.retain(|c| !in_set(c.0));
                }
                e
            });
        self.entries = settled.chain(own).collect();
        for (&f, r) in set.iter().zip(instant) {
            if let Some(b) = self.base.get_mut(f) {
                *b = r.clone();
            }
        }
        let moved = since.settled.len();
        self.acked += moved;
        self.prev_acked += moved;
        moved
    }

    /// [`Journal::matching_prefix`] with `K` from `lo` on instead of `must_keep()`.
    pub fn matching_prefix_from(&self, found: &[Records], lo: usize) -> Option<usize> {
        let mut states = self.base.clone();
        let mut best = None;
        for k in 0..=self.entries.len() {
            if k >= lo && states.as_slice() == found {
                best = Some(k);
            }
            if let Some(e) = self.entries.get(k) {
                for (f, id, rec) in &e.changes {
                    match rec {
                        Some(r) => states[*f].insert(*id, r.clone()),
                        None => states[*f].remove(id),
                    };
                }
            }
        }
        best
    }
}

/// The log records a backup cycle's files need again if the operator deletes their
/// deltas (log modes): the files go back to the `startbu` instant, and the next open
/// rolls them forward from it — through records a recovery since the instant already
/// settled into the journal's base, which the journal itself no longer holds. A lying
/// fault on the log's last synced group may make that group read as a torn tail, so the
/// roll-forward after a deletion may stop short of the base (sim seed 1086430: latent
/// corruption of the last record, an update a recovery had already applied).
#[derive(Clone, Debug, Default)]
pub struct SettledLog {
    /// Entries of the current journal from this index on are after the instant (0 once
    /// a recovery has settled the journal since).
    pub at: usize,
    /// Entries after the instant that recoveries settled, in log order.
    pub settled: Vec<JournalEntry>,
    /// How many of `settled` precede the log's last synced group as the last recovery
    /// saw it: the fewest a damaged last group can leave.
    pub floor: usize,
}

impl SettledLog {
    /// Starts at the instant: the journal holds `at` entries.
    pub fn at(at: usize) -> SettledLog {
        SettledLog {
            at,
            ..SettledLog::default()
        }
    }

    /// A recovery found the files at the journal's base plus `entries[..kept]`, the last
    /// acknowledgement before it covering `prev_acked` of them: those after the instant
    /// join the settled records.
    pub fn settle(&mut self, entries: &[JournalEntry], kept: usize, prev_acked: usize) {
        let from = self.at.min(kept);
        if kept > from {
            // The last synced group starts after the last acknowledgement but one; a
            // recovery that kept fewer than that cut the log somewhere unknown.
            let group = if prev_acked < kept {
                prev_acked.saturating_sub(from)
            } else {
                0
            };
            self.floor = self.settled.len() + group;
            self.settled.extend(entries[from..kept].iter().cloned());
        }
        self.at = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(tag: u8) -> Record {
        Arc::from(vec![tag; 4])
    }

    fn entry(lsn: u64, changes: &[(usize, u32, u8)]) -> JournalEntry {
        JournalEntry {
            lsn,
            uncertain: false,
            changes: changes
                .iter()
                .map(|&(f, id, t)| (f, id, Some(rec(t))))
                .collect(),
        }
    }

    fn records(rs: &[(u32, u8)]) -> Records {
        rs.iter().map(|&(id, t)| (id, rec(t))).collect()
    }

    /// startbu of file 0 after entry 0; entries 1 and 2 follow (entry 1 also writes
    /// file 1), a recovery settles all three, the deltas are deleted: the journal
    /// rewound to the instant holds exactly the settled entries, for file 0 only, and
    /// the settled group's floor lets only the last acknowledged one go.
    #[test]
    fn a_deletion_of_the_deltas_rewinds_the_journal_through_settled_records() {
        let mut j = Journal {
            base: vec![Records::new(), records(&[(9, 1)])],
            entries: vec![
                entry(1, &[(0, 1, 1)]),
                entry(2, &[(0, 2, 1), (1, 5, 1)]),
                entry(3, &[(0, 2, 2)]),
            ],
            durable_lsn: 4,
            acked: 3,
            prev_acked: 2,
        };
        let instant = records(&[(1, 1)]);
        let mut since = SettledLog::at(1);
        let all = [records(&[(1, 1), (2, 2)]), records(&[(5, 1), (9, 1)])];
        assert_eq!(j.matching_prefix(&all), Some(3));
        since.settle(&j.entries, 3, j.prev_acked);
        assert_eq!((since.settled.len(), since.floor, since.at), (2, 1, 0));
        j.base = all.to_vec();
        j.entries.clear();
        j.acked = 0;
        j.prev_acked = 0;

        let moved = j.rewind_to_instant(&[0], std::slice::from_ref(&instant), &since);
        assert_eq!(moved, 2);
        assert_eq!(j.base[0], instant);
        assert_eq!(j.base[1], all[1], "a file outside the set keeps its base");
        assert!(j.entries.iter().all(|e| e.changes.iter().all(|c| c.0 == 0)));
        // The whole log replayed: the state the recovery settled.
        assert_eq!(j.matching_prefix(&all), Some(2));
        // The last group read as a torn tail: allowed only from the floor.
        let short = [records(&[(1, 1), (2, 1)]), all[1].clone()];
        assert_eq!(j.matching_prefix(&short), None);
        assert_eq!(j.matching_prefix_from(&short, since.floor), Some(1));
        let shorter = [instant.clone(), all[1].clone()];
        assert_eq!(j.matching_prefix_from(&shorter, since.floor), None);
    }
}
