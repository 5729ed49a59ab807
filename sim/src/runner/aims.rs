//! Aimed faults: a fault placed on the one write a correct engine never makes, where
//! random faults would almost never land. Each aim names the known-bad engine it
//! hunts; the oracle judges the outcome exactly as for a random fault of its kind.
//!
//! Generation 19's aim: after a shadow-paged file's system transaction failed (or a
//! crash is about to cut it short), misdirect the next write at a page the failed
//! attempt wrote (hunts `reuse-attempted-pages`).
//!
//! Generation 20's aim: after a shadow-paged file's system transaction failed, cut the
//! power during the next write to its control-record slots — the undo of a failed
//! FCR, a retry's FCR, or a reopen's copy of the live FCR, perhaps in the next process
//! (hunts `copy-over-last-durable-fcr`).

use super::schedule::{Aim, Crash};
use super::world::World;
use crate::vfs::SimVfs;
use engine::LogMode;
use rand::Rng;

/// What the aims need to remember between steps.
#[derive(Clone, Debug, Default)]
pub(super) struct Aims {
    /// The disk's I/O step count when the current step began: the failed attempt's
    /// writes are those since.
    pub(super) step_io: u64,
    /// The file a misdirected rewrite is aimed at, until its next durable commit.
    rewrite: Option<usize>,
    /// The file a power cut at a control-record write is aimed at, until its next
    /// durable commit.
    fcr_power_cut: Option<usize>,
}

impl Aims {
    /// File `f` made a commit durable: a rewrite aimed at it is over (the retry
    /// committed without rewriting the failed attempt's pages).
    pub(super) fn committed(&mut self, f: usize, vfs: &SimVfs) {
        if self.rewrite == Some(f) {
            vfs.clear_aimed_misdirection();
            self.rewrite = None;
        }
        if self.fcr_power_cut == Some(f) {
            vfs.clear_aimed_power_cut();
            self.fcr_power_cut = None;
        }
    }
}

impl World {
    /// Generation 19: after shadow-paged file `f`'s system transaction failed (or a
    /// crash is about to cut it short), now and then misdirect the next write to its
    /// data file at a page the failed attempt wrote — a rewrite the correct engine
    /// does not make before a commit succeeds, since the retry (same sequence, in this
    /// process or the first commit after a restart) takes other pages. If it did put a
    /// page there, the attempt's image (which verifies) would stay and be read as
    /// committed (the known-bad `reuse-attempted-pages`); random misdirections almost
    /// never hit that one write. The aim ends at the file's next durable commit.
    /// Only where the disk may lie about data files already: log mode Off (with a log,
    /// a damaged data file would be rebuilt from it, which the model does not follow),
    /// not archival seeds (lying faults off there).
    pub(super) fn maybe_misdirect_retry(&mut self, f: usize) {
        let vfs = &self.rig.vfs;
        if self.workload < 19
            || self.log_mode != LogMode::Off
            || vfs.config().lying_only_under.is_some()
            || self.arch.is_some()
            || self.rig.legacy.get(f).copied().unwrap_or(true)
            || !self.sched.rng.random_bool(0.9)
        {
            return;
        }
        let path = &self.model.files[f].path;
        // Not the control-record slots (the next open rewrites them).
        let min_offset = 2 * u64::from(self.rig.spec_of(f).page_size);
        let n = vfs.aim_misdirected_rewrite(path, self.aims.step_io, min_offset);
        if n > 0 {
            tracing::info!(target: "sim", file = %path.display(), pages = n, "misdirect a rewrite of the failed attempt's pages");
            self.aims.rewrite = Some(f);
        }
    }

    /// Generation 20: after shadow-paged file `f`'s system transaction failed and left
    /// its control-record slots showing writes a failed sync forgot (Linux marks them
    /// clean unwritten), now and then cut the power during the next write to those
    /// slots. The forgotten FCR is readable but never durable, and the other slot
    /// holds the only durable one:
    /// the correct engine writes the durable FCR back over the failed one at once (the
    /// write aimed at here: cut short, it leaves the other slot whole), while the
    /// known-bad `copy-over-last-durable-fcr` leaves it, and the next open — after the
    /// application restarts — copies it over the other slot first: cut short, that
    /// write tears the only durable FCR, and the file falls back to an older one
    /// beneath an acknowledged commit. Random crash points almost never fall inside
    /// that one write.
    pub(super) fn maybe_aim_fcr_power_cut(&mut self, f: usize) {
        if self.workload < 20
            || self.rig.legacy.get(f).copied().unwrap_or(true)
            || !self.sched.rng.random_bool(0.9)
        {
            return;
        }
        let path = &self.model.files[f].path;
        let slots = 2 * u64::from(self.rig.spec_of(f).page_size);
        // (The correct engine has already written the durable FCR back: nothing shows.)
        if !self.rig.vfs.forgot_writes_below(path, slots) {
            return;
        }
        if self.rig.vfs.aim_power_cut_at_write(path, slots) {
            tracing::info!(target: "sim", file = %path.display(), "power cut at the next control-record write");
            self.aims.fcr_power_cut = Some(f);
        }
    }

    /// How the crash now pending strikes: the schedule's draw, unless it was an aimed
    /// power cut (then a power loss, whatever the draw) — or a power cut is aimed at a
    /// file whose forgotten FCR a power loss now would take (then the process dies
    /// and the OS lives on, so that the next process opens the file over it).
    pub(super) fn crash_kind(&mut self) -> Crash {
        let drawn = self.sched.crash();
        if self.rig.vfs.power_cut_struck() {
            Crash::PowerLoss
        } else if self.aims.fcr_power_cut.is_some() {
            Crash::ProcessCrash
        } else {
            drawn
        }
    }

    /// Whether the next recovery runs with faults on first, and aimed at what: the
    /// schedule's draw — or, while a power cut is aimed at a control-record write, a
    /// recovery under faults (a fault-free one makes the write with faults paused,
    /// where the aim waits).
    pub(super) fn recovery_aim(&mut self) -> Option<Aim> {
        let drawn = self.sched.faulty_recovery();
        match (drawn, self.aims.fcr_power_cut) {
            (None, Some(_)) => Some(Aim::Faults),
            _ => drawn,
        }
    }
}
