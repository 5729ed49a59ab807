//! `SimVfs`: the simulated filesystem the engine runs on under simulation, with its
//! fault model. It implements `engine::vfs::Vfs`; everything is in memory and every
//! random decision comes from one `ChaCha8Rng` seeded with the `u64` given to
//! [`SimVfs::new`], so a seed and the sequence of calls fix every outcome, byte for byte
//! ([`SimVfs::trace_hash`] proves it).
//!
//! # Model
//! - Each file (inode) has a *durable* image (survives power loss), a *volatile* image
//!   (what reads see) and the ordered unsynced writes and length changes between them.
//!   `sync` on any handle makes that inode's pending operations durable. (Under the
//!   Linux sync-failure policy a file may also hold writes a failed sync forgot:
//!   readable, in neither the durable image nor the pending list; see `inode`.)
//! - Names map paths to inodes, also twice: durable and volatile names, with the pending
//!   creates, removes and renames between them. `sync_dir(dir)` makes that directory's
//!   pending changes durable. `exists` and `list_dir` see the volatile names.
//! - Directories are implicit by default (the parent of a path,
//!   `engine::vfs::parent_dir`; `create_dir_all` does nothing). With
//!   [`SimVfs::set_dirs_are_objects`] (the simulator's workload generation 9 on) they are
//!   objects, as on Linux: `create_dir_all` creates each missing directory as a pending
//!   change in its parent — durable only once the parent is `sync_dir`-ed, lost at power
//!   loss like any other change, and everything under it with it; creating a file in a
//!   directory that does not exist is `NotFound`. See `namespace`.
//! - A handle refers to its inode: renames keep it working; a remove keeps the inode
//!   alive for it. Advisory locks are per inode, held by a handle until it is dropped or
//!   the machine crashes.
//!
//! # I/O steps and crash points
//! Every call of a `Vfs` or `VfsFile` method is one I/O step — `open`, `remove`,
//! `rename`, `exists`, `list_dir`, `sync_dir`, `create_dir_all` (with directories as
//! objects only), `read_at`, `write_at`, `sync`, `set_len`, `len`,
//! `try_lock_exclusive` — numbered from 1 ([`SimVfs::io_step`] is the number of the
//! last). Calls refused because the machine is down or the handle is dead are not steps;
//! dropping a handle and the direct helpers below are not steps. [`SimVfs::set_crash_at`]
//! arms a crash: the call numbered `step` fails with "simulated crash" *without taking
//! effect*, and from then on every call on the `SimVfs` and every handle fails the same
//! way until the simulator calls [`SimVfs::power_loss`] or [`SimVfs::process_crash`]
//! (which may also be called at any time, crash point or not).
//!
//! # Power loss
//! - Data, per file: each unsynced write and length change survives or not
//!   (`lost_unsynced_write`); a surviving multi-sector write may be torn at 512-byte
//!   sector boundaries (`torn_write`); surviving writes may land out of order between
//!   length changes (`reordered_writes`). See the `crash` module.
//! - Names: per directory a *prefix* of the pending changes survives (each change lost
//!   with `lost_dir_op`, and every later change in the same directory with it); a
//!   cross-directory rename belongs to both directories; a directory's creation belongs
//!   to its parent, and a lost one takes everything under it (`dirs_lost`). A rename is
//!   atomic: the file is under one name or the other, never neither, never both. See
//!   `namespace`.
//! - Then volatile := durable, nothing is pending, every handle is dead, every lock free.
//!
//! A process crash loses nothing: volatile images and names stay, pending operations stay
//! pending (a later power loss may still drop them); handles die and locks are released.
//!
//! # Faults
//! Configured by [`FaultConfig`] (see `faults` for the honest/lying split): EIO on read,
//! write and sync; disk full; a failed sync that drops the dirty data (volatile reverts
//! to durable); misdirected writes; latent sector corruption (at random steps, or with
//! [`SimVfs::corrupt_random_sector`]). What a file sync failing with EIO does to the
//! pending writes is the [`SyncFailure`] policy: they stay pending, or (Linux) they are
//! forgotten — marked clean without being written, so reads still see them, a retried
//! sync succeeds with nothing to write, and a power loss loses them. [`SimVfs::set_faults_enabled`] and
//! [`SimVfs::with_faults_paused`] suspend the random faults (not crash points, and not
//! what an explicit power loss drops). A lying-disk fault marks the file:
//! [`SimVfs::was_damaged`].
//!
//! Every I/O call is a `tracing` debug event and every fault an info event, target
//! `sim::vfs`.

mod crash;
mod damage;
mod direct;
mod faults;
mod file;
mod file_calls;
mod image;
mod inode;
mod names;
mod namespace;
mod outage;
mod state;
mod trace;
mod vfs_calls;

#[cfg(test)]
mod tests;

pub use faults::{Fault, FaultClass, FaultConfig, FaultKind, FaultStats, SyncFailure};
pub use inode::{PENDING_BYTES_LIMIT, PENDING_OPS_LIMIT, SECTOR};
pub use namespace::{MAX_DIRS, PENDING_DIR_OPS_LIMIT};
pub use state::{MAX_FILE_LEN, MAX_INODES, MAX_PATH_BYTES, MAX_TOTAL_BYTES};

use engine::vfs::{OpenMode, Vfs, VfsFile};
use file::SimFile;
use state::State;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// The simulated filesystem. Cheap to clone; clones share one machine.
#[derive(Clone)]
pub struct SimVfs {
    state: Arc<Mutex<State>>,
    seed: u64,
}

impl std::fmt::Debug for SimVfs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimVfs")
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

impl SimVfs {
    /// An empty filesystem whose every random decision derives from `seed`.
    pub fn new(seed: u64, config: FaultConfig) -> SimVfs {
        SimVfs {
            state: Arc::new(Mutex::new(State::new(seed, config))),
            seed,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means a panic elsewhere (a failing test); the state is
        // still consistent between calls.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Restart the fault stream from `seed`. The runner reseeds at every workload
    /// step, so the faults a step meets depend only on the seed and that step's
    /// number: a shrunk workload that drops other steps meets the same faults.
    pub fn reseed(&self, seed: u64) {
        self.lock().reseed(seed);
    }

    pub fn config(&self) -> FaultConfig {
        self.lock().config.clone()
    }

    pub fn set_config(&self, config: FaultConfig) {
        self.lock().config = config;
    }

    /// Switch the random faults on or off (crash points and explicit crashes still work).
    pub fn set_faults_enabled(&self, enabled: bool) {
        self.lock().faults_enabled = enabled;
    }

    pub fn faults_enabled(&self) -> bool {
        self.lock().faults_enabled
    }

    /// Make directories objects of their own (see the module doc), or implicit again.
    /// Only while the filesystem is empty (no name, nothing pending); otherwise an
    /// error and no change.
    pub fn set_dirs_are_objects(&self, on: bool) -> io::Result<()> {
        self.lock().ns.set_dirs_are_objects(on)
    }

    pub fn dirs_are_objects(&self) -> bool {
        self.lock().ns.dirs_are_objects()
    }

    /// Run `f` with random faults suspended, then restore the previous setting (also if
    /// `f` panics). `f` may use this `SimVfs` freely.
    pub fn with_faults_paused<R>(&self, f: impl FnOnce() -> R) -> R {
        struct Restore<'a>(&'a SimVfs, bool);
        impl Drop for Restore<'_> {
            fn drop(&mut self) {
                self.0.set_faults_enabled(self.1);
            }
        }
        let previous = std::mem::replace(&mut self.lock().faults_enabled, false);
        let _restore = Restore(self, previous);
        f()
    }

    // ----- crash control -----

    /// The number of the last I/O step (0 before any).
    pub fn io_step(&self) -> u64 {
        self.lock().stats.io_steps
    }

    /// Arm a crash at I/O step `step` (replacing any armed one). A step already past
    /// never fires. The crash point survives crash resolution until it fires or is
    /// cleared.
    pub fn set_crash_at(&self, step: u64) {
        self.lock().crash_at = Some(step);
    }

    /// Arm a crash `n` steps from now (`n >= 1`; 0 is taken as 1): the `n`-th following
    /// call crashes. Returns the step armed.
    pub fn set_crash_after(&self, n: u64) -> u64 {
        let mut st = self.lock();
        let step = st.stats.io_steps.saturating_add(n.max(1));
        st.crash_at = Some(step);
        step
    }

    /// Disarm the crash point.
    pub fn clear_crash_point(&self) {
        self.lock().crash_at = None;
    }

    /// Aim an I/O error: the call `n` I/O steps from now (at least 1) fails with EIO and
    /// takes no effect, whatever it is and whether random faults are paused. Returns
    /// its step number. One-shot; [`SimVfs::clear_aimed_error`] disarms it.
    pub fn set_error_after(&self, n: u64) -> u64 {
        let mut st = self.lock();
        let step = st.stats.io_steps.saturating_add(n.max(1));
        st.eio_at = Some(step);
        step
    }

    /// Disarm the aimed error.
    pub fn clear_aimed_error(&self) {
        self.lock().eio_at = None;
    }

    /// Aim a misdirected write at a rewrite: the next write to the file at `path` at an
    /// offset (at least `min_offset`) it was written at after I/O step `since` lands
    /// elsewhere in the file (sector-aligned, clear of its range; counted, traced and
    /// marked as damage like a random one), whatever the configuration, unless faults
    /// are paused (it waits then). One-shot, and it survives crashes (the first commit after a restart may rewrite the pages of
    /// the attempt the crash cut short); [`SimVfs::clear_aimed_misdirection`] disarms
    /// it. Returns how many offsets it watches (0: nothing aimed).
    pub fn aim_misdirected_rewrite(
        &self,
        path: impl AsRef<Path>,
        since: u64,
        min_offset: u64,
    ) -> usize {
        let mut st = self.lock();
        let Some(ino) = st.ns.lookup(path.as_ref()) else {
            return 0;
        };
        let at: std::collections::BTreeSet<u64> = st
            .recent_writes
            .iter()
            .filter(|&&(step, i, off)| step > since && i == ino && off >= min_offset)
            .map(|&(_, _, off)| off)
            .collect();
        let n = at.len();
        st.misdirect_next = (n > 0).then_some((ino, at));
        n
    }

    /// Disarm an aimed misdirection.
    pub fn clear_aimed_misdirection(&self) {
        self.lock().misdirect_next = None;
    }

    /// Aim a power cut at the next write to the file at `path` at an offset below
    /// `below`: the power fails while that write's first sector is being written — it
    /// holds garbage if the disk's torn sectors may (`FaultConfig::torn_garbage`),
    /// and nothing else of the write lands — the file's other unsynced operations
    /// reach the disk, and the machine is down — to be resolved by a power loss
    /// ([`SimVfs::power_cut_struck`] tells the runner so). Not while faults are paused
    /// (it waits then). One-shot, and it survives crashes (the write may be a
    /// recovery's, in the next process); [`SimVfs::clear_aimed_power_cut`] disarms it.
    /// Returns whether the file exists (otherwise nothing is aimed).
    pub fn aim_power_cut_at_write(&self, path: impl AsRef<Path>, below: u64) -> bool {
        let mut st = self.lock();
        let Some(ino) = st.ns.lookup(path.as_ref()) else {
            return false;
        };
        st.cut_power_at_write = Some((ino, below));
        true
    }

    /// Whether a failed sync left the file at `path` showing, in its first `below`
    /// bytes, writes it forgot (Linux: marked clean unwritten) — lost at the next power
    /// loss. The simulator's own look; not an I/O step.
    pub fn forgot_writes_below(&self, path: impl AsRef<Path>, below: u64) -> bool {
        let st = self.lock();
        st.ns
            .lookup(path.as_ref())
            .and_then(|ino| st.inodes.get(&ino))
            .is_some_and(|i| i.forgot_below(usize::try_from(below).unwrap_or(usize::MAX)))
    }

    /// Disarm an aimed power cut.
    pub fn clear_aimed_power_cut(&self) {
        self.lock().cut_power_at_write = None;
    }

    /// Whether the crash now pending was an aimed power cut (then only a power loss
    /// may resolve it; a power loss clears this).
    pub fn power_cut_struck(&self) -> bool {
        self.lock().power_cut
    }

    pub fn crash_point(&self) -> Option<u64> {
        self.lock().crash_at
    }

    /// Whether an armed crash has fired and not yet been resolved.
    pub fn is_crashed(&self) -> bool {
        self.lock().crashed
    }

    /// Lose power: keep what the fault model says of every unsynced operation, then
    /// reboot (see the module doc). Resolves a fired crash point; also usable any time.
    pub fn power_loss(&self) {
        self.lock().power_loss();
    }

    /// The process dies, the OS does not: nothing is lost, pending operations stay
    /// pending, handles die and locks are released. Resolves a fired crash point; also
    /// usable any time.
    pub fn process_crash(&self) {
        self.lock().process_crash();
    }

    // ----- lying-disk faults -----

    /// Corrupt a few bytes of one durable sector of a random file now (whatever the
    /// configuration). Returns the file and the sector's offset, or `None` if no file
    /// has durable bytes.
    pub fn corrupt_random_sector(&self) -> Option<(PathBuf, u64)> {
        self.lock().corrupt_random_sector()
    }

    /// [`SimVfs::corrupt_random_sector`] aimed at the file named `path` (counted and
    /// marked the same way) — with `written_only`, at a durable sector holding a
    /// non-zero byte; `None` if there is none or it has no such bytes.
    pub fn corrupt_sector_of(
        &self,
        path: impl AsRef<Path>,
        written_only: bool,
    ) -> Option<(PathBuf, u64)> {
        self.lock().corrupt_sector_of(path.as_ref(), written_only)
    }

    /// Whether a lying-disk fault (misdirected write, latent corruption) ever touched the
    /// file at `path` — the file named so when it happened, or the file named so now (also
    /// through a rename or a `copy_file` of a damaged file).
    pub fn was_damaged(&self, path: impl AsRef<Path>) -> bool {
        self.lock().was_damaged(path.as_ref())
    }

    /// Forget that `path` was damaged (the simulator replaced the file: an operator
    /// restored it). Clears the mark on whatever file the path names now.
    pub fn forget_damage(&self, path: impl AsRef<Path>) {
        self.lock().forget_damage(path.as_ref());
    }

    /// Faults an operation can observe (an error it gets, damage it may read), so far.
    pub fn observable_fault_count(&self) -> usize {
        self.lock().trace.observable_count()
    }

    /// Whether an observable fault from the `from`-th on hit a path `hit` accepts (the
    /// file or directory the failed call named, or the file a lying fault damaged).
    pub fn observable_fault_since(&self, from: usize, hit: impl Fn(&Path) -> bool) -> bool {
        self.lock()
            .trace
            .observable_since(from)
            .iter()
            .any(|p| hit(p))
    }

    /// The lying-disk faults from the `from`-th on (in order; each the paths that named
    /// the damaged file when it happened), and how many there have been in all.
    pub fn damage_events_since(&self, from: usize) -> (Vec<Vec<PathBuf>>, usize) {
        let st = self.lock();
        let all = &st.damage_events;
        (all.get(from..).unwrap_or_default().to_vec(), all.len())
    }

    /// Every path [`SimVfs::was_damaged`] is true for, sorted.
    pub fn damaged_paths(&self) -> Vec<PathBuf> {
        self.lock().damaged_paths()
    }

    // ----- direct helpers: not I/O steps, never faulted, usable while crashed -----

    /// The contents reads would see now.
    pub fn read_file(&self, path: impl AsRef<Path>) -> Option<Vec<u8>> {
        self.lock().read_file(path.as_ref())
    }

    /// The contents a power loss that keeps no unsynced operation would leave under the
    /// durable name `path`.
    pub fn durable_file(&self, path: impl AsRef<Path>) -> Option<Vec<u8>> {
        self.lock().durable_file(path.as_ref())
    }

    /// Create or replace `path` with `bytes`, data and name durable at once (restoring a
    /// backup). Pending changes of the directory become durable first (with directories
    /// as objects, the directory and those above it too, created if missing).
    pub fn write_file_durable(&self, path: impl AsRef<Path>, bytes: &[u8]) -> io::Result<()> {
        self.lock()
            .write_file_durable(path.as_ref(), bytes)
            .map(|_| ())
    }

    /// With directories as objects: make `dir` and every directory above it exist
    /// durably now, creating what is missing (the operator's `mkdir -p` before a run).
    /// Does nothing with implicit directories.
    pub fn create_dir_durable(&self, dir: impl AsRef<Path>) -> io::Result<()> {
        self.lock().create_dir_durable(dir.as_ref())
    }

    /// Copy what reads of `from` see to `to`, durably (a backup program's copy).
    pub fn copy_file(&self, from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
        self.lock().copy_file(from.as_ref(), to.as_ref())
    }

    /// Every file name, sorted (volatile names).
    pub fn file_names(&self) -> Vec<PathBuf> {
        self.lock().file_names()
    }

    /// Every durable file name, sorted.
    pub fn durable_file_names(&self) -> Vec<PathBuf> {
        self.lock().durable_file_names()
    }

    /// Whether a power loss now could leave `path` naming a file: durably named, or
    /// named after some prefix of the pending directory changes (a creation kept, the
    /// removal after it lost). The simulator's own look; not an I/O step.
    pub fn may_name_after_power_loss(&self, path: impl AsRef<Path>) -> bool {
        self.lock().ns.may_name_after_power_loss(path.as_ref())
    }

    pub fn stats(&self) -> FaultStats {
        self.lock().stats.clone()
    }

    /// Unsynced operations: file writes and length changes plus directory changes.
    pub fn pending_ops_count(&self) -> usize {
        self.lock().pending_ops_count()
    }

    /// The running hash of every I/O call, its outcome and every fault.
    pub fn trace_hash(&self) -> u64 {
        self.lock().trace.value()
    }

    /// Check the simulator's own invariants (durable + pending = volatile for data and
    /// names, locks held by open handles, no leaked inodes). For tests of the simulator.
    pub fn check_invariants(&self) -> Result<(), String> {
        self.lock().check_invariants()
    }
}

impl Vfs for SimVfs {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn VfsFile>> {
        let info = self.lock().open(path, mode)?;
        Ok(Box::new(SimFile {
            vfs: self.clone(),
            info,
        }))
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        self.lock().remove(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.lock().rename(from, to)
    }
    fn exists(&self, path: &Path) -> io::Result<bool> {
        self.lock().exists(path)
    }
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.lock().list_dir(dir)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.lock().sync_dir(dir)
    }
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.lock().create_dir_all(dir)
    }
}
