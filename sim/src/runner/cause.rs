//! Fault attribution: the oracle accepts a status 2 (I/O error) or 100 (disk full) from
//! the engine only when the simulated disk injected something that can explain it.
//!
//! An engine that returns status 2 on a healthy disk, or that stays failed after the
//! fault that failed it is long past, is broken: a user sees errors nothing caused.
//! So every fault status the runner accepts needs a cause, and each cause is counted
//! (the summary shows how often the oracle leaned on each). For an operation on one
//! file, only faults the operation could observe count: those on that file, its delta,
//! its pre-image file (legacy format), its directory or the transaction log (`SimVfs` records the path of every observable
//! fault); for anything else (a flush, startbu, a recovery), a fault anywhere.
//! - **direct**: such a fault (I/O error, failed or dropping sync, disk full, misdirected
//!   write, latent corruption, an armed crash or aimed error firing) was injected since
//!   the current step began — the operation, or the system transaction it triggered,
//!   met it; or the machine is down (a crash point fired);
//! - **sticky**: such a fault was injected since the engine last started — and, for an
//!   operation on one file, since that file was last opened — and none since the step
//!   began: the engine may legitimately still be in the failed state it caused (a pager
//!   poisoned by a failed commit refuses work until its file is reopened), but that
//!   state must end at the next open;
//! - **damaged**: the file (or, for an operation on no one file, some file) was hit by a
//!   lying fault, whose damage stays readable (and so reportable) until the file is
//!   replaced; or the transaction log was.
//!
//! Anything else fails the seed as "status without cause". A restart ends the sticky
//! window: after recovery, a failure with no new fault is the engine's own.

use super::dated_damage::Dated;
use super::world::World;
use engine::Status;
use std::path::Path;

/// Generation 14: whether `path` is `blog.cfg` (or its directory) or the archival log
/// of `file` (beside it, its stem with another extension), or a copy the log's writer
/// makes of it.
fn archival_of(file: &Path, path: &Path) -> bool {
    let stem = file.with_extension("");
    path.starts_with("/blog")
        || path
            .to_string_lossy()
            .strip_prefix(&*stem.to_string_lossy())
            .is_some_and(|rest| rest.starts_with('.'))
}

/// Where the windows of the current step and of the running engine begin, in counts of
/// observable faults, and how often each cause excused a fault status.
#[derive(Clone, Debug, Default)]
pub(super) struct Causes {
    /// Faults injected when the current step began.
    pub(super) step_mark: usize,
    /// Faults injected when the running engine started.
    pub(super) engine_mark: usize,
    /// Fault statuses excused by a fault in the same step.
    pub(super) direct: u64,
    /// Fault statuses excused by an earlier fault since the engine started.
    pub(super) sticky: u64,
    /// Fault statuses excused by a lying fault's lasting damage.
    pub(super) damaged: u64,
    /// Faults injected when each file was last (re)opened by the running engine.
    pub(super) file_marks: Vec<usize>,
    /// The one file the current step operates on, if it is one.
    pub(super) file: Option<usize>,
}

impl World {
    /// Observable faults injected so far.
    pub(super) fn faults_now(&self) -> usize {
        self.rig.vfs.observable_fault_count()
    }

    /// A step begins: faults from now on are direct causes.
    pub(super) fn mark_step(&mut self) {
        self.cause.step_mark = self.faults_now();
        self.aims.step_io = self.rig.vfs.io_step();
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

    /// Whether a fault at `path` is one an operation on file `f` could observe: on the
    /// file, its delta (or the copy a delta writer makes of it, whose handle keeps that
    /// name), its directory or one above it, or the transaction log (its files, its
    /// directory and the directory that holds it, which its durable creation syncs).
    fn observable_by(&self, f: usize, path: &Path) -> bool {
        let file = &self.model.files[f].path;
        let log = &self.rig.config.log_dir;
        path == file
            || engine::delta::delta_path(file)
                .is_ok_and(|d| path == d || path == engine::delta::delta_temp_path(&d))
            // A legacy file's pre-image file, and the name it is made under.
            || path == engine::preimage::path_for(file)
            || path == engine::preimage::temp_path_for(file)
            // Its directory, and (a directory made durably syncs its parent) every
            // directory above it.
            || file.ancestors().skip(1).any(|a| a == path)
            || (self.log_mode != engine::LogMode::Off
                && (path.starts_with(log) || path == engine::vfs::parent_dir(log)))
            || (self.arch.is_some() && archival_of(file, path))
    }

    /// Whether an observable fault the current operation could see was injected since
    /// fault number `from`.
    fn fault_since(&self, from: usize) -> bool {
        match self.cause.file {
            Some(f) => self
                .rig
                .vfs
                .observable_fault_since(from, |p| self.observable_by(f, p)),
            None => self.faults_now() > from,
        }
    }

    /// Whether lasting damage the current operation could read exists: its file (or,
    /// for an operation on no one file, any file) or the transaction log.
    fn damage_visible(&self) -> bool {
        let files = match self.cause.file {
            Some(f) => self.damaged(f),
            None => (0..self.model.files.len()).any(|f| self.damaged(f)),
        };
        files || self.damage.log != Dated::None
    }

    /// `status` (2 or 100) came back from `what`: find the injected fault that explains
    /// it, count it, or fail the seed. A status 14 (an open of a legacy file) goes to
    /// [`World::explain_preimage_open`].
    pub(super) fn explain(&mut self, what: &str, status: Status) -> Result<(), String> {
        if status == Status::PreImageOpenError {
            return self.explain_preimage_open(what);
        }
        let since = match self.cause.file {
            Some(f) => {
                let opened = self.cause.file_marks.get(f).copied().unwrap_or(0);
                self.cause.engine_mark.max(opened)
            }
            None => self.cause.engine_mark,
        };
        if self.rig.vfs.is_crashed() || self.fault_since(self.cause.step_mark) {
            self.cause.direct += 1;
        } else if self.fault_since(since) {
            self.cause.sticky += 1;
        } else if self.damage_visible() {
            self.cause.damaged += 1;
        } else {
            return Err(format!(
                "status without cause: {what} returned status {} ({}) but the disk injected \
                 no fault it could observe (on {}) since the engine started or the file was \
                 last opened ({} faults in all), and nothing it reads is damaged",
                status.code(),
                status.meaning(),
                match self.cause.file {
                    Some(f) => format!(
                        "{}, its delta, its directory or the log",
                        self.model.files[f].path.display()
                    ),
                    None => "any file".into(),
                },
                self.faults_now()
            ));
        }
        Ok(())
    }

    /// Generation 15: a writable open of a legacy file that has no `NAME.PRE` makes one
    /// (`engine::preimage::PreImageFile::create`), and when the pre-image file cannot be
    /// created the status is Btrieve's 14, not 2 or 100. It is explained only by a fault
    /// injected in this step on that file's pre-image file or the name it is made under
    /// (an error on its create, or a crash point firing there): no earlier fault, and
    /// no lasting damage, can make a create that truncates fail.
    fn explain_preimage_open(&mut self, what: &str) -> Result<(), String> {
        let hit = self.cause.file.is_some_and(|f| {
            let file = &self.model.files[f].path;
            let pre = engine::preimage::path_for(file);
            let temp = engine::preimage::temp_path_for(file);
            self.rig
                .vfs
                .observable_fault_since(self.cause.step_mark, |p| p == pre || p == temp)
        });
        if !hit {
            return Err(format!(
                "status without cause: {what} returned status 14 (the pre-image file cannot \
                 be created or opened) but the disk injected no fault on {} since the step \
                 began",
                match self.cause.file {
                    Some(f) => format!(
                        "the pre-image file of {}",
                        self.model.files[f].path.display()
                    ),
                    None => "a pre-image file (the operation is on no one file)".into(),
                }
            ));
        }
        self.cause.direct += 1;
        Ok(())
    }
}
