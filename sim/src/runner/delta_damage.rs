//! Damage to a delta, judged by *when* it happened.
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
//!   longer holds: then any older state of written records);
//! - once a state from `L + 1` on that changed the file (an unchanged one may have been
//!   an empty commit, which writes no frame) is acknowledged durable, a transaction
//!   written after the damaged one was synced is on disk: the damage is provable, and
//!   any older state is a failure (the engine read proven damage as a torn tail).
//!
//! Damage seen while a recovery ran (faults on) is judged loosely (any older state of
//! written records, as for a damaged data file): the recovery's own scan may have run
//! before it. The record ends when the delta is gone (rolled in, killed, replaced), or
//! at a recovery that checked the file — its scan read every committed frame, so any
//! damage left lies in a tail the writer cuts before appending.

use super::world::World;
use std::path::PathBuf;

/// What a lying fault left in one file's delta, as far as the oracle must know.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum DeltaDamage {
    #[default]
    None,
    /// Damage a later durable transaction would prove (see the module doc).
    Timed {
        /// The oldest state index (in the file's model states) an undetected fallback
        /// may reach; `None`: a state before the model's baseline (the last recovery's),
        /// whose own delta transaction may be the one damaged.
        oldest: Option<usize>,
        /// Once the file's candidates start at or after this index, the damage is
        /// provable and no fallback is allowed.
        provable_from: usize,
    },
    /// Damage seen during a recovery with faults on: judged like a damaged data file.
    Loose,
}

/// Per-file delta damage records, and what the oracle needs to date new damage.
#[derive(Clone, Debug, Default)]
pub(super) struct DeltaDamages {
    pub(super) per_file: Vec<DeltaDamage>,
    /// Damage events of the disk already dated.
    seen: usize,
    /// Per file, at the start of the current step: (first candidate, states.len()).
    step_view: Vec<(usize, usize)>,
}

impl World {
    /// Date the lying faults injected since the last call: those that hit a delta get a
    /// record (merged with any earlier one, keeping the more lenient bound). Called when
    /// a step begins (for the step before) and when a recovery begins; `in_recovery`
    /// marks damage injected during a recovery with faults on.
    pub(super) fn date_damage(&mut self, in_recovery: bool) {
        let (events, total) = self.rig.vfs.damage_events_since(self.delta_damage.seen);
        self.delta_damage.seen = total;
        let n = self.model.files.len();
        self.delta_damage.per_file.resize(n, DeltaDamage::None);
        for paths in events {
            for f in 0..n {
                let delta: Option<PathBuf> = engine::delta::delta_path(&self.model.files[f].path)
                    .ok()
                    .map(|d| d.to_path_buf());
                if !delta.is_some_and(|d| paths.contains(&d)) {
                    continue;
                }
                let (c, l) = self
                    .delta_damage
                    .step_view
                    .get(f)
                    .copied()
                    .unwrap_or((0, 0));
                // The last transaction on disk that wrote frames made a state at or after
                // `c` — or the last one before it that changed the file (an unchanged
                // state may be an empty commit): the fallback reaches the state before it.
                let states = &self.model.files[f].states;
                let oldest = (1..=c.min(states.len().saturating_sub(1)))
                    .rev()
                    .find(|&j| states[j] != states[j - 1])
                    .map(|j| j - 1);
                let new = if in_recovery {
                    DeltaDamage::Loose
                } else {
                    DeltaDamage::Timed {
                        oldest,
                        provable_from: l + 1,
                    }
                };
                let slot = &mut self.delta_damage.per_file[f];
                *slot = match (*slot, new) {
                    (DeltaDamage::Loose, _) | (_, DeltaDamage::Loose) => DeltaDamage::Loose,
                    (DeltaDamage::None, x) | (x, DeltaDamage::None) => x,
                    (
                        DeltaDamage::Timed {
                            oldest: a,
                            provable_from: p,
                        },
                        DeltaDamage::Timed {
                            oldest: b,
                            provable_from: q,
                        },
                    ) => DeltaDamage::Timed {
                        // `None` (before the baseline) is the most lenient.
                        oldest: a.zip(b).map(|(a, b)| a.min(b)),
                        provable_from: p.max(q),
                    },
                };
            }
        }
    }

    /// A step begins: date the damage of the step before, then remember where each
    /// file's model stands.
    pub(super) fn view_step(&mut self) {
        self.date_damage(false);
        self.delta_damage.step_view = self
            .model
            .files
            .iter()
            .map(|f| (f.durable.max(f.floor), f.states.len()))
            .collect();
    }

    /// Whether file `f`'s delta damage allows recovery to find its model state `at`
    /// (an index into its states, older than its candidates).
    pub(super) fn delta_fallback_allowed(&self, f: usize, at: Option<usize>) -> bool {
        let m = &self.model.files[f];
        match self
            .delta_damage
            .per_file
            .get(f)
            .copied()
            .unwrap_or_default()
        {
            DeltaDamage::None => false,
            DeltaDamage::Loose => true,
            DeltaDamage::Timed {
                oldest,
                provable_from,
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

    /// Recovery checked file `f` (and kept or replaced it), or its delta was killed: a
    /// dated record is settled (its damage was read, or lies in a tail the writer cuts);
    /// if the delta is gone, so is its damage — the record ends, and the disk forgets
    /// the path's mark (a delta made later at that path starts clean; a removal a power
    /// loss could undo keeps the file's own mark through its durable name).
    pub(super) fn settle_delta_damage(&mut self, f: usize) {
        let Ok(delta) = engine::delta::delta_path(&self.model.files[f].path) else {
            return;
        };
        let gone = self.rig.vfs.read_file(&delta).is_none();
        if gone {
            self.rig.vfs.forget_damage(&delta);
        }
        if let Some(slot) = self.delta_damage.per_file.get_mut(f) {
            if gone || matches!(slot, DeltaDamage::Timed { .. }) {
                *slot = DeltaDamage::None;
            }
        }
    }
}
