//! The simulated machine behind `SimVfs`: inodes, names, open handles, the crash state,
//! the seeded RNG, counters and trace; the gate every I/O call passes ([`State::io`]);
//! and the helpers its operations share (inode access and allocation, space checks,
//! garbage collection, errors). The operations live beside it, one concern per file:
//! `vfs_calls` and `file_calls` (the I/O steps), `outage` (power loss and process
//! crash), `damage` (lying-disk faults and their record) and `direct` (the simulator's
//! helpers, not I/O steps).
//!
//! Guarantees:
//! - Every I/O call passes through [`State::io`], which refuses it while crashed or on a
//!   handle from before the last crash, counts it as a step, fires an armed crash point,
//!   injects latent corruption, and hashes the call and its outcome.
//! - Every random decision comes from the one `ChaCha8Rng`, in an order fixed by the
//!   calls (maps are `BTreeMap`s), so a seed and a call sequence fix the outcome.
//! - Random faults are drawn only while faults are enabled; crash points and explicit
//!   crash resolution are the simulator's and work either way.
//! - Inodes live while a name, a pending directory change or an open handle refers to
//!   them ([`State::collect_garbage`]); nothing else is kept.
//! - Bounded: file size ([`MAX_FILE_LEN`]), total size ([`MAX_TOTAL_BYTES`]), inode count
//!   ([`MAX_INODES`]), path length ([`MAX_PATH_BYTES`]); pending queues are bounded in
//!   `inode` and `namespace`.

use super::faults::{chance, FaultConfig, FaultKind, FaultStats};
use super::inode::Inode;
use super::namespace::{InodeId, Namespace};
use super::trace::{FaultEvent, Op, Trace};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};

/// Largest simulated file (a longer write or `set_len` fails with `FileTooLarge`).
pub const MAX_FILE_LEN: u64 = 256 << 20;
/// Most bytes all simulated files may hold together, faults or not (`StorageFull`).
pub const MAX_TOTAL_BYTES: u64 = 1 << 30;
/// Most inodes alive at once (creating more fails with `StorageFull`).
pub const MAX_INODES: usize = 65_536;
/// Longest path accepted (`InvalidInput` beyond).
pub const MAX_PATH_BYTES: usize = 4096;

/// An open handle's identity: which inode, opened when (epoch), how.
#[derive(Clone, Debug)]
pub(super) struct HandleInfo {
    pub id: u64,
    pub epoch: u64,
    pub ino: InodeId,
    /// The path it was opened by (for traces; the handle follows the inode).
    pub path: PathBuf,
    pub writable: bool,
}

/// What an I/O call is, for stepping and tracing.
pub(super) struct Call<'a> {
    pub op: Op,
    pub path: &'a Path,
    pub offset: u64,
    pub len: u64,
    /// The handle's epoch, for calls on a file.
    pub epoch: Option<u64>,
}

pub(super) struct State {
    pub(super) rng: ChaCha8Rng,
    pub config: FaultConfig,
    pub faults_enabled: bool,
    pub(super) inodes: BTreeMap<InodeId, Inode>,
    next_ino: InodeId,
    pub(super) ns: Namespace,
    /// Open handles of the current epoch and the inode each refers to.
    pub(super) handles: BTreeMap<u64, InodeId>,
    pub(super) next_handle: u64,
    /// Bumped by every crash; handles from an older epoch are dead.
    pub(super) epoch: u64,
    pub crashed: bool,
    pub crash_at: Option<u64>,
    /// An aimed error: the call numbered this fails with EIO, taking no effect (the
    /// simulator aims it at a path a random campaign barely reaches).
    pub eio_at: Option<u64>,
    /// The last writes to files (I/O step, inode, offset), newest last, at most
    /// [`RECENT_WRITES`]: what an aimed misdirection picks its offsets from.
    pub(super) recent_writes: std::collections::VecDeque<(u64, InodeId, u64)>,
    /// An aimed misdirected write: the next write to this file at one of these offsets
    /// lands elsewhere (generation 19: a retry rewriting a failed attempt's pages).
    pub misdirect_next: Option<(InodeId, BTreeSet<u64>)>,
    /// An aimed power cut: the next write to this file below this offset is cut short
    /// by the power failing (generation 20: the first control-record write after a
    /// failed commit).
    pub cut_power_at_write: Option<(InodeId, u64)>,
    /// An aimed power cut has struck: the crash it left must be resolved by a power
    /// loss (`SimVfs::power_cut_struck`).
    pub power_cut: bool,
    pub stats: FaultStats,
    pub trace: Trace,
    /// Every path that named a file when a lying-disk fault touched it.
    pub(super) damaged_paths: BTreeSet<PathBuf>,
    /// Every lying-disk fault in order: the paths naming the damaged file then (durable
    /// or not). Lets the checker tie damage to the moment it happened.
    pub(super) damage_events: Vec<Vec<PathBuf>>,
}

/// How many recent writes the state remembers for an aimed misdirection.
pub(super) const RECENT_WRITES: usize = 512;

pub(super) fn crashed_error() -> io::Error {
    io::Error::other("simulated crash: the machine is down until power_loss() or process_crash()")
}

pub(super) fn eio(what: &str, path: &Path) -> io::Error {
    io::Error::other(format!("simulated EIO on {what} of {}", path.display()))
}

pub(super) fn storage_full(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::StorageFull,
        format!("simulated disk full writing {}", path.display()),
    )
}

pub(super) fn too_large(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::FileTooLarge,
        format!(
            "{} would exceed the simulated file size limit of {MAX_FILE_LEN} bytes",
            path.display()
        ),
    )
}

pub(super) fn check_path(path: &Path) -> io::Result<()> {
    if path.as_os_str().len() > MAX_PATH_BYTES || path.as_os_str().is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "path empty or too long",
        ));
    }
    Ok(())
}

impl State {
    pub fn new(seed: u64, config: FaultConfig) -> State {
        State {
            rng: ChaCha8Rng::seed_from_u64(seed),
            config,
            faults_enabled: true,
            inodes: BTreeMap::new(),
            next_ino: 1,
            ns: Namespace::default(),
            handles: BTreeMap::new(),
            next_handle: 1,
            epoch: 0,
            crashed: false,
            crash_at: None,
            eio_at: None,
            recent_writes: Default::default(),
            misdirect_next: None,
            cut_power_at_write: None,
            power_cut: false,
            stats: FaultStats::default(),
            trace: Trace::default(),
            damaged_paths: BTreeSet::new(),
            damage_events: Vec::new(),
        }
    }

    /// Restart the random stream from `seed` (everything else stays).
    pub fn reseed(&mut self, seed: u64) {
        self.rng = ChaCha8Rng::seed_from_u64(seed);
    }

    // ----- stepping -----

    /// Run one I/O call: refuse it while crashed or on a stale handle, count it, fire an
    /// armed crash point, maybe inject latent corruption, then run `f` and hash the
    /// outcome.
    pub(super) fn io<T>(
        &mut self,
        call: Call<'_>,
        f: impl FnOnce(&mut State) -> io::Result<T>,
    ) -> io::Result<T> {
        let result = match self.begin(&call) {
            Ok(()) => f(self),
            Err(e) => Err(e),
        };
        self.trace.outcome(&result);
        if let Err(e) = &result {
            tracing::debug!(target: "sim::vfs", op = call.op.name(), error = %e);
        }
        result
    }

    /// A call is refused while the machine is down, and on a handle opened before
    /// the last crash.
    pub(super) fn alive(&self, epoch: Option<u64>, path: &std::path::Path) -> io::Result<()> {
        if self.crashed {
            return Err(crashed_error());
        }
        if epoch.is_some_and(|e| e != self.epoch) {
            return Err(io::Error::other(format!(
                "stale handle for {}: the simulated machine crashed since it was opened",
                path.display()
            )));
        }
        Ok(())
    }

    fn begin(&mut self, call: &Call<'_>) -> io::Result<()> {
        self.alive(call.epoch, call.path)?;
        self.stats.io_steps += 1;
        let step = self.stats.io_steps;
        match call.op {
            Op::Read => self.stats.reads += 1,
            Op::Write => self.stats.writes += 1,
            Op::Sync => self.stats.syncs += 1,
            Op::SyncDir => self.stats.dir_syncs += 1,
            _ => {}
        }
        self.trace
            .call(step, call.op, call.path, call.offset, call.len);
        if self.crash_at == Some(step) {
            self.crash_at = None;
            self.crashed = true;
            self.stats.crashes_armed_fired += 1;
            self.trace.fault(FaultEvent::CrashPoint, call.path, step, 0);
            return Err(crashed_error());
        }
        if self.eio_at == Some(step) {
            self.eio_at = None;
            self.stats.aimed_errors += 1;
            self.trace.fault(FaultEvent::Aimed, call.path, step, 0);
            return Err(eio(call.op.name(), call.path));
        }
        if self.roll(FaultKind::LatentCorruption) {
            self.corrupt_random_sector();
        }
        Ok(())
    }

    /// Draw a fault of `kind`: never while faults are paused or the kind is off.
    pub(super) fn roll(&mut self, kind: FaultKind) -> bool {
        self.faults_enabled && chance(&mut self.rng, self.config.get(kind).probability())
    }

    pub(super) fn inode(&self, ino: InodeId) -> io::Result<&Inode> {
        debug_assert!(
            self.inodes.contains_key(&ino),
            "handle outlived inode {ino}"
        );
        self.inodes
            .get(&ino)
            .ok_or_else(|| io::Error::other("simulator bug: inode vanished"))
    }

    pub(super) fn inode_mut(&mut self, ino: InodeId) -> io::Result<&mut Inode> {
        debug_assert!(
            self.inodes.contains_key(&ino),
            "handle outlived inode {ino}"
        );
        self.inodes
            .get_mut(&ino)
            .ok_or_else(|| io::Error::other("simulator bug: inode vanished"))
    }

    pub(super) fn new_inode(&mut self, inode: Inode) -> io::Result<InodeId> {
        if self.inodes.len() >= MAX_INODES {
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                "simulated inode table full",
            ));
        }
        let ino = self.next_ino;
        self.next_ino += 1;
        self.inodes.insert(ino, inode);
        Ok(ino)
    }

    /// Drop inodes nothing refers to any more.
    pub(super) fn collect_garbage(&mut self) {
        // This runs at every close, remove, rename and directory sync, and usually
        // every inode is still referenced: mark each by its rank among the (sorted)
        // inode ids, stop as soon as all are marked, and only then drop the rest.
        let ids: Vec<InodeId> = self.inodes.keys().copied().collect();
        let mut live = vec![false; ids.len()];
        let mut unmarked = ids.len();
        let refs = self
            .ns
            .referenced_iter()
            .chain(self.handles.values().copied());
        for ino in refs {
            if unmarked == 0 {
                return;
            }
            if let Ok(i) = ids.binary_search(&ino) {
                if !live[i] {
                    live[i] = true;
                    unmarked -= 1;
                }
            }
        }
        if unmarked > 0 {
            self.inodes
                .retain(|ino, _| ids.binary_search(ino).is_ok_and(|i| live[i]));
        }
    }

    pub(super) fn total_bytes(&self) -> u64 {
        self.inodes.values().map(|i| i.len() as u64).sum()
    }

    /// Refuse growing the files by `growth` bytes if the disk is (simulated) full.
    pub(super) fn check_space(&mut self, growth: u64, path: &Path) -> io::Result<()> {
        let total = self.total_bytes().saturating_add(growth);
        let over_cap = self.faults_enabled
            && self.config.disk_full.enabled
            && self.config.capacity_bytes.is_some_and(|cap| total > cap);
        if total > MAX_TOTAL_BYTES || over_cap || self.roll(FaultKind::DiskFull) {
            self.stats.disk_full += 1;
            self.trace
                .fault(FaultEvent::Kind(FaultKind::DiskFull), path, total, growth);
            return Err(storage_full(path));
        }
        Ok(())
    }

    /// Disk full on a namespace call or a sync ([`FaultConfig::namespace_enospc`]):
    /// whether `what` on `path` fails with `StorageFull` this time (counted, traced).
    pub(super) fn namespace_full(&mut self, what: &str, path: &Path) -> Option<io::Error> {
        if !self.config.namespace_enospc || !self.roll(FaultKind::DiskFull) {
            return None;
        }
        self.stats.disk_full_namespace += 1;
        self.trace.fault(FaultEvent::NamespaceFull, path, 0, 0);
        Some(io::Error::new(
            io::ErrorKind::StorageFull,
            format!("simulated disk full on {what} of {}", path.display()),
        ))
    }

    pub(super) fn label(&self, ino: InodeId) -> PathBuf {
        self.ns
            .paths_of(ino)
            .into_iter()
            .next()
            .unwrap_or_else(|| PathBuf::from("<unnamed>"))
    }
}
