//! Fault attribution: the oracle accepts a status 2 (I/O error) or 100 (disk full) from
//! the engine only when the simulated disk injected something that can explain it.
//!
//! An engine that returns status 2 on a healthy disk, or that stays failed after the
//! fault that failed it is long past, is broken: a user sees errors nothing caused.
//! So every fault status the runner accepts needs a cause, and each cause is counted
//! (the summary shows how often the oracle leaned on each):
//! - **direct**: a fault (I/O error, failed or dropping sync, disk full, misdirected
//!   write, latent corruption, an armed crash firing) was injected since the current
//!   step began — the operation, or the system transaction it triggered, met it;
//! - **sticky**: a fault was injected since the engine last started — and, for an
//!   operation on one file, since that file was last opened — and none since the step
//!   began: the engine may legitimately still be in the failed state it caused (a pager
//!   poisoned by a failed commit refuses work until its file is reopened), but that
//!   state must end at the next open;
//! - **damaged**: a file was hit by a lying fault, whose damage stays readable (and so
//!   reportable) until the file is replaced.
//!
//! Anything else fails the seed as "status without cause". A restart ends the sticky
//! window: after recovery, a failure with no new fault is the engine's own.

use super::world::World;
use crate::vfs::FaultStats;
use engine::Status;

/// Where the windows of the current step and of the running engine begin, in counts of
/// injected faults, and how often each cause excused a fault status.
#[derive(Clone, Debug, Default)]
pub(super) struct Causes {
    /// Faults injected when the current step began.
    pub(super) step_mark: u64,
    /// Faults injected when the running engine started.
    pub(super) engine_mark: u64,
    /// Fault statuses excused by a fault in the same step.
    pub(super) direct: u64,
    /// Fault statuses excused by an earlier fault since the engine started.
    pub(super) sticky: u64,
    /// Fault statuses excused by a lying fault's lasting damage.
    pub(super) damaged: u64,
    /// Faults injected when each file was last (re)opened by the running engine.
    pub(super) file_marks: Vec<u64>,
    /// The one file the current step operates on, if it is one.
    pub(super) file: Option<usize>,
}

/// Faults so far that an operation can observe as an error.
pub(super) fn observable(s: &FaultStats) -> u64 {
    s.read_errors
        + s.sticky_read_errors
        + s.write_errors
        + s.sync_errors
        + s.sync_drops
        + s.syncs_failed_linux
        + s.disk_full
        + s.disk_full_namespace
        + s.misdirected_writes
        + s.latent_corruptions
        + s.crashes_armed_fired
        + s.aimed_errors
}

impl World {
    /// Injected faults so far.
    pub(super) fn faults_now(&self) -> u64 {
        observable(&self.rig.vfs.stats())
    }

    /// A step begins: faults from now on are direct causes.
    pub(super) fn mark_step(&mut self) {
        self.cause.step_mark = self.faults_now();
        self.cause.file = None;
    }

    /// File `f` was reopened: a failed state it was in has ended.
    pub(super) fn mark_reopened(&mut self, f: usize) {
        let now = self.faults_now();
        if let Some(m) = self.cause.file_marks.get_mut(f) {
            *m = now;
        }
    }

    /// A new engine starts: earlier faults no longer excuse anything it does.
    pub(super) fn mark_engine(&mut self) {
        let now = self.faults_now();
        self.cause.engine_mark = now;
        self.cause.step_mark = now;
        self.cause.file_marks = vec![now; self.model.files.len()];
    }

    /// Whether a file of the run carries a lying fault's damage.
    fn any_damaged(&self) -> bool {
        (0..self.model.files.len()).any(|f| self.damaged(f))
            || self.damage.log != super::dated_damage::Dated::None
    }

    /// `status` (2 or 100) came back from `what`: find the injected fault that explains
    /// it, count it, or fail the seed.
    pub(super) fn explain(&mut self, what: &str, status: Status) -> Result<(), String> {
        let now = self.faults_now();
        let since = match self.cause.file {
            Some(f) => {
                let opened = self.cause.file_marks.get(f).copied().unwrap_or(0);
                self.cause.engine_mark.max(opened)
            }
            None => self.cause.engine_mark,
        };
        if now > self.cause.step_mark || self.rig.vfs.is_crashed() {
            self.cause.direct += 1;
        } else if now > since {
            self.cause.sticky += 1;
        } else if self.any_damaged() {
            self.cause.damaged += 1;
        } else {
            return Err(format!(
                "status without cause: {what} returned status {} ({}) but the disk injected \
                 no fault since the engine started or the file was last opened ({} faults in \
                 all) and no file is damaged",
                status.code(),
                status.meaning(),
                now
            ));
        }
        Ok(())
    }
}
