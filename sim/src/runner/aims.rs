//! Aimed faults: a fault placed on the one write a correct engine never makes, where
//! random faults would almost never land. Each aim names the known-bad engine it
//! hunts; the oracle judges the outcome exactly as for a random fault of its kind.
//!
//! Generation 19's aim: after a shadow-paged file's system transaction failed (or a
//! crash is about to cut it short), misdirect the next write at a page the failed
//! attempt wrote (hunts `reuse-attempted-pages`).

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
}

impl Aims {
    /// File `f` made a commit durable: a rewrite aimed at it is over (the retry
    /// committed without rewriting the failed attempt's pages).
    pub(super) fn committed(&mut self, f: usize, vfs: &SimVfs) {
        if self.rewrite == Some(f) {
            vfs.clear_aimed_misdirection();
            self.rewrite = None;
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
}
