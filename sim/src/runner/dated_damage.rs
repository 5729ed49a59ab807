//! Damage to a data file, a delta or the transaction log, judged by *when* it happened.
//!
//! A delta is an append-only run of checksummed frames, each system transaction synced
//! before the next begins, and every frame carries a watermark saying which frames were
//! synced when it was written (`engine::appendfile`). So damage to a committed frame is
//! provable — and the engine owes a status 2 for it — as soon as a later transaction's
//! frames reached the disk: they vouch for the damaged one. Only damage to the last
//! transaction on disk looks exactly like a crash's torn tail, and may read as the state
//! before it.
//!
//! The simulator does not parse the delta to decide (that would trust the engine's own
//! reading); it uses the order of events it saw. For a lying fault on file `f`'s delta
//! in a step that began with `states.len() == L` and candidates from index `c`:
//! - the damaged frame belongs to a transaction that was on disk by the end of the step,
//!   and (latent corruption hits durable bytes; a misdirected write belongs to the
//!   transaction being written) no transaction before the one that made state `c` can be
//!   the last one on disk — so an undetected fallback reaches state `c - 1` at the
//!   oldest (further back over unchanged states, which may be empty commits; and if `c`
//!   is the baseline of the last recovery, to a state before it, which the model no
//!   longer holds: then any older state of written records; and if `c - 1` is one of a
//!   bulk load's batch states, of which the commit counters do not say which were
//!   commits, to the state before the load's first batch);
//! - once a state from `L + 1` on — or, when the step made several states (a bulk
//!   load's batches, which may all be one transaction), from the first state a later
//!   step made — that changed the file (an unchanged one may have been an empty commit,
//!   which writes no frame) is acknowledged durable, a transaction written after the
//!   damaged one was synced is on disk: the damage is provable, and any older state is
//!   a failure (the engine read proven damage as a torn tail).
//!
//! Damage seen while a recovery ran (faults on) is judged loosely (any older state of
//! written records, as for a damaged data file): the recovery's own scan may have run
//! before it. The record ends when the delta is gone (rolled in, killed, replaced), or
//! at a recovery that checked the file — its scan read every committed frame, so any
//! damage left lies in a tail the writer cuts before appending. Damage to the copy a
//! restarted delta writer makes of the delta's synced prefix under `NAME.^^~`, before
//! it renames it over the delta, is damage to the delta (the same bytes, in the same
//! step).
//!
//! A data file is judged the same way: its commit point is a checksummed control
//! record in one of two slots, and a damaged newest one reads exactly like a torn
//! control-record write — the state before the last commit on disk, which the next
//! commit supersedes. Everything else a lying fault can do to it (a rotten page, a
//! misdirected page write) its page checksums and the sequence numbers its referrers
//! expect must reveal. While the file is frozen by `startbu`, its last commit on disk
//! is the startbu instant, and what is committed to the delta supersedes nothing —
//! but the delta's header names the instant's control record, so damage to it is
//! provable while the delta is intact, and a fallback is allowed only if the delta was
//! damaged too.
//! The record ends at a recovery that checked the file (every page it reaches).
//!
//! The transaction log (log modes, from generation 12) is judged the same way against
//! the journal: its records carry the same watermark, and every acknowledgement is a
//! sync. For a lying fault on a segment dated at the end of a step with `E` journal
//! entries, with `P` entries acknowledged before the last acknowledgement preceding the
//! step: once an entry from `E` on is acknowledged, its record — written after the
//! damaged one was synced — vouches for it, and recovery must reach the usual prefix or
//! report the damage; before that, only the last synced group of records may drop, and
//! everything acknowledged by the acknowledgement before the last one (the first `P`
//! entries) must survive. A recovery that reports the damage (status 2) ends the seed:
//! the operator restores the log, which the simulator does not model.
use super::world::World;
use crate::model::Records;
use rand::Rng;
use std::path::Path;
use std::sync::Arc;

/// What a lying fault left in one file's delta (or in the log), as far as the oracle
/// must know.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum Dated {
    #[default]
    None,
    /// Damage a later durable transaction (or acknowledged log entry) would prove.
    Timed {
        /// Deltas: the oldest state index (in the file's model states) an undetected
        /// fallback may reach; `None`: a state before the model's baseline (the last
        /// recovery's), whose own delta transaction may be the one damaged. The log:
        /// the fewest journal entries recovery may keep; `None`: none, and the log's
        /// last synced group may be one a recovery settled into the base (nothing was
        /// acknowledged since — an acknowledged record, synced after them, vouches for
        /// every settled one), which matters only once a killbu makes the open roll
        /// the files through those records again.
        oldest: Option<usize>,
        /// Deltas: once the file's candidates start at or after this index, the damage
        /// is provable. The log: once more than this many entries are acknowledged.
        provable_from: usize,
        /// A data file damaged while frozen: its delta's header names the control
        /// record of the startbu instant (synced before the delta was made), so while
        /// the delta is intact the engine can prove damage to it (a file reading as an
        /// older control record does not belong to its delta: open and killbu report
        /// status 2). The fallback is allowed only if the delta was damaged too (sim
        /// seed 82007: its header rotted with nothing after it, which reads as a
        /// startbu cut short), or the record was merged with one that is not vouched.
        vouched: bool,
    },
    /// Damage seen during a recovery with faults on: judged like a damaged data file.
    Loose,
}

impl Dated {
    /// Both records in one, each bound the more lenient.
    fn merge(self, new: Dated) -> Dated {
        match (self, new) {
            (Dated::Loose, _) | (_, Dated::Loose) => Dated::Loose,
            (Dated::None, x) | (x, Dated::None) => x,
            (
                Dated::Timed {
                    oldest: a,
                    provable_from: p,
                    vouched: v,
                },
                Dated::Timed {
                    oldest: b,
                    provable_from: q,
                    vouched: w,
                },
            ) => Dated::Timed {
                // `None` (before the baseline) is the most lenient.
                oldest: a.zip(b).map(|(a, b)| a.min(b)),
                provable_from: p.max(q),
                vouched: v && w,
            },
        }
    }
}

/// Startbu instants whose roll-ins may still be a data file's last commit on disk
/// ([`DatedDamage`]'s `rolled_in`).
#[derive(Clone, Debug)]
struct RolledIn {
    instants: Vec<Arc<Records>>,
    /// The file's model states when last checked: a new one is a commit attempt, and
    /// a durable mark at this index or later a commit that overwrote the instant's
    /// control record.
    len: usize,
    /// Frozen again with no commit of its own (startbu had nothing to flush): what it
    /// commits to the delta meanwhile leaves the data file's control records as they
    /// are, so the record stays good until the thaw (sim seed 303035).
    pinned: bool,
}

/// Dated damage records, and what the oracle needs to date new damage.
#[derive(Clone, Debug, Default)]
pub(super) struct DatedDamage {
    /// Per file: its delta.
    pub(super) delta: Vec<Dated>,
    /// Per file: the data file itself.
    pub(super) data: Vec<Dated>,
    /// The transaction log (any segment).
    pub(super) log: Dated,
    /// Damage events of the disk already dated.
    seen: usize,
    /// Per file, at the start of the current step: (first candidate, states.len()).
    step_view: Vec<(usize, usize)>,
    /// Per file, at the start of the current step: its startbu instant if it was
    /// frozen then (the step may have rolled it in).
    step_frozen: Vec<Option<Arc<Records>>>,
    /// Per file: the startbu instants of roll-ins that may still be the data file's
    /// last commit on disk, and how many model states the file had when the last was
    /// seen. Until a later commit is known durable (a durable mark on a state made
    /// since) or a writable open (whose copy of the live control record overwrites the
    /// instant's), the other control record on disk may be an instant's: a damaged
    /// roll-in record falls back to it (sim seed 149897: it rotted in the next step's
    /// reopen; sim seed 487356: it rotted after a commit attempt that failed before
    /// its control record — a new state, but nothing written over the instant's).
    /// Several when a backup cycle made no commit at all (its roll-in wrote nothing):
    /// the last roll-in on disk is then an earlier cycle's (sim seed 147507).
    rolled_in: Vec<Option<RolledIn>>,
    /// The journal at the start of the current step: entries acknowledged before its
    /// last acknowledgement, and entries acknowledged.
    step_prev_acked: usize,
    step_acked: usize,
}

impl World {
    /// Date the lying faults injected since the last call: those that hit a delta or a
    /// log segment get a record (merged with any earlier one, keeping the more lenient
    /// bound). Called when a step begins (for the step before) and when a recovery
    /// begins; `in_recovery` marks damage injected during a recovery with faults on.
    pub(super) fn date_damage(&mut self, in_recovery: bool) {
        let (events, total) = self.rig.vfs.damage_events_since(self.damage.seen);
        self.damage.seen = total;
        let n = self.model.files.len();
        self.damage.delta.resize(n, Dated::None);
        self.damage.data.resize(n, Dated::None);
        for paths in events {
            if paths.iter().any(|p| self.is_log_path(p)) {
                let new = if in_recovery {
                    Dated::Loose
                } else {
                    Dated::Timed {
                        oldest: (self.damage.step_acked > 0).then_some(self.damage.step_prev_acked),
                        provable_from: self.model.journal.entries.len(),
                        vouched: false,
                    }
                };
                self.damage.log = self.damage.log.merge(new);
            }
            for f in 0..n {
                let delta = self.delta_of(f);
                let on_data = paths.contains(&self.model.files[f].path);
                // The delta, or the copy of its synced prefix a restarted delta writer
                // makes under the temporary name and renames over it (then keeps
                // appending to): a lying fault on that copy before the rename is damage
                // to the delta's bytes, dated like damage to the delta itself.
                let on_delta = delta.is_some_and(|d| {
                    paths.contains(&d) || paths.contains(&engine::delta::delta_temp_path(&d))
                });
                if !on_data && !on_delta {
                    continue;
                }
                let (c, l) = self.damage.step_view.get(f).copied().unwrap_or((0, 0));
                let states = &self.model.files[f].states;
                // While the file is frozen its last commit on disk is the startbu
                // instant, and nothing written later (to the delta) supersedes its
                // control record.
                let frozen = self
                    .model
                    .backup
                    .as_ref()
                    .and_then(|b| b.instant_of(f))
                    .filter(|_| on_data)
                    .map(|inst| states.iter().rposition(|s| **s == *inst));
                // And the last commit known durable when startbu ran: the control
                // record the instant's supersedes is at or after it (sim seed 82007:
                // an insert bundled into startbu's own commit).
                let before_freeze = self
                    .model
                    .backup
                    .as_ref()
                    .and_then(|b| b.before_of(f))
                    .and_then(|d| states.iter().rposition(|s| **s == *d));
                // Provable once a state made by a *later* step is durable: the damaged
                // step's own states may all be one system transaction's, written before
                // the damage (a bulk load's batches, committed once at its end — sim
                // seed 8871: its FCR rotted right after it was synced).
                let later = (l + 1).max(states.len());
                let (last, provable_from) = match frozen {
                    Some(at) => (at, usize::MAX),
                    None => (Some(c), later),
                };
                // The last transaction on disk that wrote frames made a state at or after
                // `last` — or the last one before it that changed the file (an unchanged
                // state may be an empty commit): the fallback reaches the state before it.
                // Within a bulk load's run of batch states the last commit before
                // that one may be any of them, or the state before the run.
                let model = &self.model.files[f];
                let mut oldest = last.and_then(|last| {
                    (1..=last.min(states.len().saturating_sub(1)))
                        .rev()
                        .find(|&j| states[j] != states[j - 1])
                        .map(|j| model.durable_at_or_before(model.commit_at_or_before(j - 1)))
                });
                // A file frozen when the step began and thawed since was rolled in
                // (endbu), and so was one rolled in earlier with no commit or open
                // since: the commit before the roll-in's, on disk, is its startbu
                // instant's, whatever the model made meanwhile in the delta (sim seed
                // 38560: the roll-in's FCR rotted after the delta was gone). If the
                // model's baseline moved past the instant: before the baseline.
                // The same holds while the file is frozen again by a startbu that had
                // nothing to commit.
                let mut thawed = self.rolled_in_instants(f);
                if frozen.is_none() {
                    thawed.extend(self.damage.step_frozen.get(f).cloned().flatten());
                }
                if on_data {
                    for inst in thawed {
                        oldest = oldest
                            .zip(states.iter().rposition(|s| **s == *inst))
                            .map(|(o, at)| o.min(at));
                    }
                }
                if frozen.is_some() {
                    // Not found (the model's baseline moved past it): before the
                    // baseline, the most lenient bound.
                    oldest = oldest.zip(before_freeze).map(|(o, b)| o.min(b));
                }
                let new = if in_recovery {
                    Dated::Loose
                } else {
                    Dated::Timed {
                        oldest,
                        provable_from,
                        vouched: frozen.is_some()
                            && self.model.backup.as_ref().is_some_and(|b| b.vouches(f)),
                    }
                };
                if on_data {
                    self.damage.data[f] = self.damage.data[f].merge(new);
                } else {
                    self.damage.delta[f] = self.damage.delta[f].merge(new);
                }
            }
        }
    }

    /// Generation 12, on a seed whose log a lying disk may damage: now and then (at the
    /// start of a step) rot a written sector of the newest log segment — random latent
    /// corruption mostly lands in a segment's preallocated zeros, where it is harmless.
    pub(super) fn maybe_damage_log(&mut self) {
        let vfs = &self.rig.vfs;
        if self.workload < 12
            || vfs.config().lying_only_under.is_none()
            || !self.sched.rng.random_bool(0.03)
        {
            return;
        }
        let newest = vfs
            .file_names()
            .into_iter()
            .filter(|p| self.is_log_path(p))
            .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("log")))
            .max();
        if let Some(seg) = newest {
            let hit = vfs.corrupt_sector_of(&seg, true);
            tracing::info!(target: "sim", segment = %seg.display(), ?hit, "aimed log damage");
        }
    }

    /// Whether `p` is in the transaction log's directory.
    fn is_log_path(&self, p: &Path) -> bool {
        self.log_mode != engine::LogMode::Off && p.starts_with(&self.rig.config.log_dir)
    }

    /// A step begins: date the damage of the step before, then remember where each
    /// file's model and the journal stand.
    pub(super) fn view_step(&mut self) {
        self.date_damage(false);
        self.damage.step_view = self
            .model
            .files
            .iter()
            .map(|f| (f.durable.max(f.floor), f.states.len()))
            .collect();
        let n = self.model.files.len();
        self.damage.rolled_in.resize(n, None);
        let frozen: Vec<Option<Arc<Records>>> = (0..n)
            .map(|f| {
                let inst = self.model.backup.as_ref()?.instant_of(f)?;
                Some(Arc::new(inst.clone()))
            })
            .collect();
        for (f, was) in std::mem::take(&mut self.damage.step_frozen)
            .into_iter()
            .enumerate()
        {
            let len = self.model.files[f].states.len();
            match (was, frozen.get(f)) {
                // Thawed since the last step began: rolled in (or its delta killed,
                // which leaves it at the instant anyway). An earlier roll-in stays on
                // record if the cycle committed nothing (its roll-in wrote nothing).
                (Some(inst), Some(None)) => {
                    let mut instants = match self.damage.rolled_in[f].take() {
                        Some(r) if r.len == len => r.instants,
                        _ => Vec::new(),
                    };
                    instants.push(inst);
                    self.damage.rolled_in[f] = Some(RolledIn {
                        instants,
                        len,
                        pinned: false,
                    });
                }
                // Frozen since: pinned if startbu committed nothing.
                (None, Some(Some(_))) => {
                    if let Some(r) = self.damage.rolled_in[f].as_mut() {
                        r.pinned = r.len == len;
                    }
                }
                _ => {}
            }
        }
        self.damage.step_frozen = frozen;
        self.damage.step_prev_acked = self.model.journal.prev_acked;
        self.damage.step_acked = self.model.journal.acked;
    }

    /// File `f`'s startbu instants whose roll-ins may still be its last commit on disk:
    /// no commit since is known durable (the attempts since, if any, may all have
    /// failed before their control record: `FileModel::durable_marks`), or it is
    /// pinned by a freeze that committed nothing and not thawed yet.
    fn rolled_in_instants(&self, f: usize) -> Vec<Arc<Records>> {
        let model = &self.model.files[f];
        match self.damage.rolled_in.get(f) {
            Some(Some(r)) if r.pinned || model.durable_marks.range(r.len..).next().is_none() => {
                r.instants.clone()
            }
            _ => Vec::new(),
        }
    }

    /// File `f` was opened for writing (its live control record copied over the other
    /// slot) or recovered: a roll-in's startbu instant is no longer on disk — nor is
    /// that of a roll-in this step made (or the recovery finished) before the open, if
    /// the file is no longer frozen. Callers date the damage so far first: the open may
    /// have read a damaged roll-in record before its copy.
    pub(super) fn forget_rolled_in(&mut self, f: usize) {
        if let Some(r) = self.damage.rolled_in.get_mut(f) {
            *r = None;
        }
        let frozen = self
            .model
            .backup
            .as_ref()
            .is_some_and(|b| b.instant_of(f).is_some());
        if let (false, Some(s)) = (frozen, self.damage.step_frozen.get_mut(f)) {
            *s = None;
        }
    }

    /// Whether file `f`'s delta damage allows recovery to find its model state `at`
    /// (an index into its states, older than its candidates).
    pub(super) fn delta_fallback_allowed(&self, f: usize, at: Option<usize>) -> bool {
        self.fallback_allowed(self.damage.delta.get(f).copied().unwrap_or_default(), f, at)
    }

    /// [`World::delta_fallback_allowed`] for damage to the data file itself.
    pub(super) fn data_fallback_allowed(&self, f: usize, at: Option<usize>) -> bool {
        self.fallback_allowed(self.damage.data.get(f).copied().unwrap_or_default(), f, at)
    }

    /// Whether damage `d` (file `f`'s data or delta record) allows recovery to find its
    /// model state `at`: every relaxation of recovery's "newest candidate" rule for
    /// lying-disk damage, in one place.
    fn fallback_allowed(&self, d: Dated, f: usize, at: Option<usize>) -> bool {
        let m = &self.model.files[f];
        match d {
            Dated::None => false,
            Dated::Loose => true,
            // Damage the delta vouches for (the startbu instant's control record, rotted
            // while frozen) must be reported, never fallen past — unless the delta was
            // damaged too. (For `d` the delta's own record, that holds trivially.)
            Dated::Timed { vouched: true, .. }
                if self.damage.delta.get(f).copied().unwrap_or_default() == Dated::None =>
            {
                false
            }
            Dated::Timed {
                oldest,
                provable_from,
                ..
            } => {
                // A later transaction wrote frames only if it changed the file: a state
                // equal to the one before it may have been an empty commit.
                let start = m.durable.max(m.floor);
                let proven = (provable_from..=start)
                    .any(|j| j >= 1 && m.states.get(j).is_some_and(|s| *s != m.states[j - 1]));
                !proven
                    && match oldest {
                        Some(o) => at.is_some_and(|i| i >= o),
                        None => true,
                    }
            }
        }
    }

    /// The fewest journal entries recovery may keep, given the log's damage: `None` if
    /// the damage (if any) is provable, so the usual bound holds.
    pub(super) fn log_fallback_floor(&self) -> Option<usize> {
        match self.damage.log {
            Dated::None => None,
            Dated::Loose => Some(0),
            Dated::Timed {
                oldest,
                provable_from,
                ..
            } => (self.model.journal.acked <= provable_from).then(|| oldest.unwrap_or(0)),
        }
    }

    /// The journal gained `moved` settled entries in front, `floor` of them before the
    /// log's last synced group as the last recovery saw it ([`World::rewind_journal`]).
    /// A dated record of log damage moves with its entries; one dated when nothing had
    /// been acknowledged since the last recovery (`oldest: None`) may now reach into
    /// the settled group, the log's last then. (Dated after an acknowledgement, it may
    /// not: that record, synced after the settled ones, vouches for them — sim seeds
    /// 1087995 and 1088029, where a second reader found the first cut of this rule too
    /// lenient.)
    pub(super) fn rewind_log_damage(&mut self, moved: usize, floor: usize) {
        if let Dated::Timed {
            oldest,
            provable_from,
            ..
        } = &mut self.damage.log
        {
            *oldest = Some(match *oldest {
                None => floor,
                Some(o) => o + moved,
            });
            *provable_from += moved;
        }
    }

    /// Recovery checked file `f` (and kept or replaced it), or its delta was killed: a
    /// dated record is settled (its damage was read, or lies in a tail the writer cuts);
    /// if the delta is gone, so is its damage — the record ends, and the disk forgets
    /// the path's mark (a delta made later at that path starts clean; a removal a power
    /// loss could undo keeps the file's own mark through its durable name).
    pub(super) fn settle_delta_damage(&mut self, f: usize) {
        let Some(delta) = self.delta_of(f) else {
            return;
        };
        let gone = self.rig.vfs.read_file(&delta).is_none();
        if gone {
            self.rig.vfs.forget_damage(&delta);
        }
        if let Some(slot) = self.damage.delta.get_mut(f) {
            if gone || matches!(slot, Dated::Timed { .. }) {
                *slot = Dated::None;
            }
        }
    }

    /// `startbu` froze the files of `set`: their control records stay as they are until
    /// the roll-in, so what is committed to their deltas meanwhile proves nothing about
    /// damage already on them.
    pub(super) fn freeze_data_damage(&mut self, set: &[usize]) {
        for &f in set {
            if let Some(Dated::Timed { provable_from, .. }) = self.damage.data.get_mut(f) {
                *provable_from = usize::MAX;
            }
        }
    }

    /// File `f`'s backup cycle ended (endbu, a roll-in finished by an open, killbu): its
    /// delta is gone, and with it the header that vouched for the startbu instant's
    /// control record. If the roll-in committed nothing (an empty delta), that record
    /// is still the file's last commit on disk, and damage to it now reads like a torn
    /// control-record write (sim seed 194580).
    pub(super) fn unvouch_data_damage(&mut self, f: usize) {
        if let Some(Dated::Timed { vouched, .. }) = self.damage.data.get_mut(f) {
            *vouched = false;
        }
    }

    /// Recovery checked data file `f` (every page it reaches; or replaced it): a dated
    /// record is settled — damage it did not meet lies in pages nothing reaches, which
    /// are written whole before reuse. A loose record ends only with the file.
    pub(super) fn settle_data_damage(&mut self, f: usize) {
        let replaced = !self.rig.vfs.was_damaged(&self.model.files[f].path);
        if let Some(slot) = self.damage.data.get_mut(f) {
            if replaced || matches!(slot, Dated::Timed { .. }) {
                *slot = Dated::None;
            }
        }
    }

    /// A log-mode recovery read the whole log and reached a state the journal allows: a
    /// dated record is settled (the writer cuts whatever damage lies past the end).
    pub(super) fn settle_log_damage(&mut self) {
        if matches!(self.damage.log, Dated::Timed { .. }) {
            self.damage.log = Dated::None;
        }
    }
}
