//! The fault model's knobs ([`FaultConfig`]) and counters ([`FaultStats`]).
//!
//! Every fault kind has a switch and a rate ([`Fault`]). Kinds fall into two classes,
//! kept apart by name because the checker judges them differently:
//!
//! - [`FaultClass::Honest`]: what a real disk and OS do without lying — losing, tearing
//!   and reordering unsynced writes at power loss, losing unsynced directory changes,
//!   EIO on read/write/sync, ENOSPC, an fsync failure that drops dirty data. The engine
//!   must *recover* from every one of these.
//!
//! What a failed file sync (`sync_error`) does to the file's unsynced writes is the
//! [`SyncFailure`] policy, one per configuration: they stay pending (a retried sync
//! can still persist them), or — Linux since the 2018 "fsyncgate" discussion — they are
//! marked clean without being written: still readable, never written by a later sync
//! (which succeeds), lost at power loss. An engine must not trust a sync retried after
//! a failure.
//! - [`FaultClass::Lying`]: the disk returns something other than what was written —
//!   misdirected writes and latent sector corruption. The engine need only *detect*
//!   these (`SimVfs::was_damaged` tells the checker where status 2 is acceptable).
//!
//! Rates are probabilities in `[0, 1]`; out-of-range or NaN rates are clamped when used,
//! never a panic. [`FaultConfig::swarm`] draws a configuration from a seed so that each
//! seed exercises a different mix (swarm testing); its rates come from fixed tables, not
//! floating-point transcendental functions, so a seed means the same on every platform.

use rand::Rng;
use std::fmt;

/// One fault kind's switch and rate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fault {
    pub enabled: bool,
    /// Probability per opportunity (what an opportunity is depends on the kind; see the
    /// field docs of [`FaultConfig`]).
    pub rate: f64,
}

impl Fault {
    /// Switched off.
    pub const OFF: Fault = Fault {
        enabled: false,
        rate: 0.0,
    };

    /// Switched on at `rate`.
    pub const fn on(rate: f64) -> Fault {
        Fault {
            enabled: true,
            rate,
        }
    }

    /// The probability to use: 0 when disabled, otherwise `rate` clamped into `[0, 1]`
    /// (NaN counts as 0).
    pub fn probability(&self) -> f64 {
        if !self.enabled || self.rate.is_nan() {
            return 0.0;
        }
        self.rate.clamp(0.0, 1.0)
    }
}

/// Whether a fault is one a real disk commits honestly or one where the disk lies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultClass {
    /// Crash-style and error-returning faults: the engine must recover.
    Honest,
    /// Silent wrong data: the engine must detect, never serve it.
    Lying,
}

/// Every fault kind, in a fixed order (the order [`FaultConfig::swarm`] draws in).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    LostUnsyncedWrite,
    TornWrite,
    ReorderedWrites,
    LostDirOp,
    ReadError,
    WriteError,
    SyncError,
    SyncDrop,
    DiskFull,
    MisdirectedWrite,
    LatentCorruption,
}

impl FaultKind {
    pub const ALL: [FaultKind; 11] = [
        FaultKind::LostUnsyncedWrite,
        FaultKind::TornWrite,
        FaultKind::ReorderedWrites,
        FaultKind::LostDirOp,
        FaultKind::ReadError,
        FaultKind::WriteError,
        FaultKind::SyncError,
        FaultKind::SyncDrop,
        FaultKind::DiskFull,
        FaultKind::MisdirectedWrite,
        FaultKind::LatentCorruption,
    ];

    /// The snake_case name used in traces, summaries and [`FaultConfig`] fields.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::LostUnsyncedWrite => "lost_unsynced_write",
            FaultKind::TornWrite => "torn_write",
            FaultKind::ReorderedWrites => "reordered_writes",
            FaultKind::LostDirOp => "lost_dir_op",
            FaultKind::ReadError => "read_error",
            FaultKind::WriteError => "write_error",
            FaultKind::SyncError => "sync_error",
            FaultKind::SyncDrop => "sync_drop",
            FaultKind::DiskFull => "disk_full",
            FaultKind::MisdirectedWrite => "misdirected_write",
            FaultKind::LatentCorruption => "latent_corruption",
        }
    }

    pub fn class(self) -> FaultClass {
        match self {
            FaultKind::MisdirectedWrite | FaultKind::LatentCorruption => FaultClass::Lying,
            _ => FaultClass::Honest,
        }
    }

    /// Swarm table: how likely the kind is switched on for a seed, and the rates it may
    /// get. Rates are per opportunity, so per-step kinds get small ones.
    fn swarm_table(self) -> (f64, &'static [f64]) {
        match self {
            FaultKind::LostUnsyncedWrite => (0.9, &[0.1, 0.25, 0.5, 0.75, 0.9]),
            FaultKind::TornWrite => (0.5, &[0.05, 0.1, 0.25, 0.5]),
            FaultKind::ReorderedWrites => (0.5, &[0.25, 0.5, 1.0]),
            FaultKind::LostDirOp => (0.75, &[0.1, 0.25, 0.5, 0.75]),
            FaultKind::ReadError => (0.25, &[0.0002, 0.0005, 0.001, 0.002]),
            FaultKind::WriteError => (0.25, &[0.0002, 0.0005, 0.001, 0.002]),
            FaultKind::SyncError => (0.25, &[0.001, 0.002, 0.005, 0.01]),
            FaultKind::SyncDrop => (0.2, &[0.001, 0.002, 0.005, 0.01]),
            FaultKind::DiskFull => (0.2, &[0.0, 0.0005, 0.001, 0.002]),
            FaultKind::MisdirectedWrite => (0.1, &[0.0002, 0.0005, 0.001]),
            FaultKind::LatentCorruption => (0.1, &[0.0001, 0.0002, 0.0005]),
        }
    }
}

/// What a failed file sync (EIO from `sync_error`) does to the file's unsynced writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SyncFailure {
    /// They stay pending: a later sync can still make them durable, a power loss may
    /// keep or lose them. (What the simulator always did; workload generations before 9
    /// know only this.)
    #[default]
    KeepPending,
    /// Linux: the kernel marks the dirty pages clean without writing them. Reads still
    /// return the new data, a later sync has nothing of it to write and succeeds, and a
    /// power loss loses it (`SimVfs` counts these syncs in
    /// [`FaultStats::syncs_failed_linux`]).
    Linux,
}

impl SyncFailure {
    pub fn name(self) -> &'static str {
        match self {
            SyncFailure::KeepPending => "keep_pending",
            SyncFailure::Linux => "linux",
        }
    }

    /// Swarm testing: either policy, one half each (one draw).
    pub fn swarm(rng: &mut impl Rng) -> SyncFailure {
        if rng.random_bool(0.5) {
            SyncFailure::Linux
        } else {
            SyncFailure::KeepPending
        }
    }
}

/// Capacities [`FaultConfig::swarm`] picks from when disk-full is switched on.
const SWARM_CAPACITIES: [u64; 5] = [256 << 10, 1 << 20, 4 << 20, 16 << 20, 64 << 20];

/// Which faults a `SimVfs` injects and how often. Crash points and explicit
/// `power_loss()` / `process_crash()` calls are the simulator's, not configured here;
/// the first four fields only shape what a power loss keeps.
///
/// With everything off ([`FaultConfig::none`]) the disk is perfect: a power loss keeps
/// every unsynced write and directory change, whole and in order.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultConfig {
    // --- Honest, decided at power loss ---
    /// Per unsynced write or length change: the chance it is lost at power loss.
    pub lost_unsynced_write: Fault,
    /// Per surviving unsynced write spanning more than one 512-byte sector: the chance
    /// only some of its sectors survive.
    pub torn_write: Fault,
    /// Per file and power loss: the chance its surviving unsynced writes land in a random
    /// order (between length changes) rather than issue order.
    pub reordered_writes: Fault,
    /// Per unsynced create/remove/rename (or directory creation): the chance it is lost
    /// at power loss (and with it every later pending change in the same directory).
    pub lost_dir_op: Fault,

    // --- Honest, per operation ---
    /// Per `read_at`: fails with EIO (`ErrorKind::Other`), nothing read.
    pub read_error: Fault,
    /// Per `write_at`: fails with EIO, nothing written.
    pub write_error: Fault,
    /// Per `sync` / `sync_dir`: fails with EIO. A directory's pending changes stay
    /// pending (a later power loss may keep or lose them); a file's pending writes are
    /// treated as `sync_failure` says.
    pub sync_error: Fault,
    /// Per `sync` of a file with pending writes: fails with EIO *and* the pending writes
    /// are discarded — reads see the durable image again. (Whatever `sync_failure`.)
    pub sync_drop: Fault,
    /// What a file sync failed by `sync_error` does to the file's pending writes. Not a
    /// fault kind of its own: it takes effect only where `sync_error` fires.
    pub sync_failure: SyncFailure,
    /// Per sector piece a torn write drops at power loss: whether it may hold garbage
    /// (random bytes, neither old nor new content) instead of its old content — one
    /// half of them do when this is on (counted in [`FaultStats::garbage_sectors`]).
    /// Only pieces whose new bytes differ from the durable ones can turn to garbage:
    /// a rewrite of identical bytes is taken to leave them as they were. (Real disks
    /// need not be that kind; the engine rewrites durable log and data bytes after a
    /// restart, which a stricter model would catch losing synced records.)
    /// A per-seed option of workload generation 10; only shapes `torn_write`.
    pub torn_garbage: bool,
    /// With `torn_garbage`: whether a dropped piece may hold garbage even where the
    /// write rewrote bytes already durable (a sector caught mid-write is garbage
    /// whatever it held). Off, such a rewrite leaves them as they were — the kinder
    /// disk of generations 10–12, from before the engine stopped rewriting durable
    /// data in place. On from generation 13.
    pub garbage_even_if_unchanged: bool,
    /// Whether a read error (`read_error`) leaves its sector bad: one 512-byte sector
    /// of the failed read (inside the file) keeps failing every read that touches it
    /// (counted in [`FaultStats::sticky_read_errors`]) until a write covering any of
    /// it (or a truncation past it) clears it; crashes and power losses keep it. While
    /// faults are paused, bad sectors read normally. A per-seed option of workload
    /// generation 10.
    pub sticky_bad_sectors: bool,
    /// Whether disk full (`disk_full`, at its rate) also strikes a creating `open`, a
    /// `rename` and a file `sync` with writes pending, as ENOSPC does on Linux (a
    /// directory block or delayed allocation that finds no space). Each fails with
    /// `StorageFull` without taking effect — except that under [`SyncFailure::Linux`]
    /// the failed sync forgets the pending writes, as a failed sync does. Counted in
    /// [`FaultStats::disk_full_namespace`]. A per-seed option of workload generation 10.
    pub namespace_enospc: bool,
    /// Whether an extending write that a power loss drops (or tears, losing its last
    /// sector) may still leave the file at its new size, zeros where the data should be
    /// — one half of them do when this is on (counted in
    /// [`FaultStats::extended_without_data`]): a size update that reached the
    /// file system's journal before the data (ext4 `data=writeback`, XFS). A per-seed
    /// option of workload generation 11; only shapes what a power loss keeps.
    pub size_without_data: bool,
    /// When enabled: a write or `set_len` that would grow the total size of all files
    /// past `capacity_bytes` fails with `StorageFull`, and any growing write or `set_len`
    /// fails so with probability `rate`.
    pub disk_full: Fault,
    /// The capacity `disk_full` enforces (none: only the random part).
    pub capacity_bytes: Option<u64>,
    /// `Some(dir)`: lying faults strike only files under `dir` — latent corruption picks
    /// among them, and a misdirected write happens only to a write of one (the log
    /// modes' lying disk damages the transaction log alone, whose damage the journal
    /// model can judge). `None`: any file.
    pub lying_only_under: Option<std::path::PathBuf>,

    // --- Lying ---
    /// Per `write_at` that lies inside the file: the data lands at another sector-aligned
    /// offset that does not overlap the intended range, which keeps its old content.
    pub misdirected_write: Fault,
    /// Per I/O step: some bytes of one durable 512-byte sector of a random file change.
    pub latent_corruption: Fault,
}

impl FaultConfig {
    /// A perfect disk: no faults; power loss loses nothing.
    pub fn none() -> FaultConfig {
        FaultConfig {
            lost_unsynced_write: Fault::OFF,
            torn_write: Fault::OFF,
            reordered_writes: Fault::OFF,
            lost_dir_op: Fault::OFF,
            read_error: Fault::OFF,
            write_error: Fault::OFF,
            sync_error: Fault::OFF,
            sync_drop: Fault::OFF,
            sync_failure: SyncFailure::KeepPending,
            torn_garbage: false,
            garbage_even_if_unchanged: false,
            size_without_data: false,
            sticky_bad_sectors: false,
            namespace_enospc: false,
            disk_full: Fault::OFF,
            capacity_bytes: None,
            lying_only_under: None,
            misdirected_write: Fault::OFF,
            latent_corruption: Fault::OFF,
        }
    }

    /// Every kind switched on at the same `rate` (no capacity limit). Mostly for tests;
    /// real campaigns want [`FaultConfig::swarm`], since per-step kinds need far smaller
    /// rates than power-loss kinds.
    pub fn all(rate: f64) -> FaultConfig {
        let mut c = FaultConfig::none();
        for kind in FaultKind::ALL {
            *c.get_mut(kind) = Fault::on(rate);
        }
        c
    }

    /// Only what a power loss does (lost, torn, reordered writes; lost directory
    /// changes), each at one half; no per-operation faults.
    pub fn crash_only() -> FaultConfig {
        FaultConfig {
            lost_unsynced_write: Fault::on(0.5),
            torn_write: Fault::on(0.5),
            reordered_writes: Fault::on(0.5),
            lost_dir_op: Fault::on(0.5),
            ..FaultConfig::none()
        }
    }

    /// Swarm testing: switch each kind on or off at random and pick its rate from a
    /// table of sensible values, so some seeds have no torn writes and some many.
    pub fn swarm(rng: &mut impl Rng) -> FaultConfig {
        let mut c = FaultConfig::none();
        for kind in FaultKind::ALL {
            let (p_on, rates) = kind.swarm_table();
            let on = rng.random_bool(p_on);
            let rate = rates[rng.random_range(0..rates.len())];
            *c.get_mut(kind) = Fault {
                enabled: on,
                rate: if on { rate } else { 0.0 },
            };
            if kind == FaultKind::DiskFull && on {
                c.capacity_bytes =
                    Some(SWARM_CAPACITIES[rng.random_range(0..SWARM_CAPACITIES.len())]);
            }
        }
        c
    }

    /// The configuration one byte per kind names (in [`FaultKind::ALL`] order), with
    /// the campaign's odds: byte `b` switches its kind on when `b / 256` is below the
    /// kind's swarm chance of being on, and then picks the rate `b % rates`;
    /// `capacity` picks the disk-full capacity the same way. What a fuzzed
    /// [`crate::plan::Plan`] uses instead of a seed's swarm draw, so uniform bytes
    /// give the campaign's mix and any bytes name a configuration a campaign could.
    pub fn from_choices(choices: [u8; 11], capacity: u8) -> FaultConfig {
        let mut c = FaultConfig::none();
        for (kind, b) in FaultKind::ALL.into_iter().zip(choices) {
            let (p_on, rates) = kind.swarm_table();
            if f64::from(b) >= p_on * 256.0 {
                continue;
            }
            *c.get_mut(kind) = Fault::on(rates[usize::from(b) % rates.len()]);
            if kind == FaultKind::DiskFull {
                c.capacity_bytes =
                    Some(SWARM_CAPACITIES[usize::from(capacity) % SWARM_CAPACITIES.len()]);
            }
        }
        c
    }

    /// The same configuration with every lying-disk kind switched off.
    pub fn without_lying(mut self) -> FaultConfig {
        for kind in FaultKind::ALL {
            if kind.class() == FaultClass::Lying {
                *self.get_mut(kind) = Fault::OFF;
            }
        }
        self
    }

    pub fn get(&self, kind: FaultKind) -> &Fault {
        match kind {
            FaultKind::LostUnsyncedWrite => &self.lost_unsynced_write,
            FaultKind::TornWrite => &self.torn_write,
            FaultKind::ReorderedWrites => &self.reordered_writes,
            FaultKind::LostDirOp => &self.lost_dir_op,
            FaultKind::ReadError => &self.read_error,
            FaultKind::WriteError => &self.write_error,
            FaultKind::SyncError => &self.sync_error,
            FaultKind::SyncDrop => &self.sync_drop,
            FaultKind::DiskFull => &self.disk_full,
            FaultKind::MisdirectedWrite => &self.misdirected_write,
            FaultKind::LatentCorruption => &self.latent_corruption,
        }
    }

    pub fn get_mut(&mut self, kind: FaultKind) -> &mut Fault {
        match kind {
            FaultKind::LostUnsyncedWrite => &mut self.lost_unsynced_write,
            FaultKind::TornWrite => &mut self.torn_write,
            FaultKind::ReorderedWrites => &mut self.reordered_writes,
            FaultKind::LostDirOp => &mut self.lost_dir_op,
            FaultKind::ReadError => &mut self.read_error,
            FaultKind::WriteError => &mut self.write_error,
            FaultKind::SyncError => &mut self.sync_error,
            FaultKind::SyncDrop => &mut self.sync_drop,
            FaultKind::DiskFull => &mut self.disk_full,
            FaultKind::MisdirectedWrite => &mut self.misdirected_write,
            FaultKind::LatentCorruption => &mut self.latent_corruption,
        }
    }

    /// The kinds switched on, in [`FaultKind::ALL`] order.
    pub fn enabled_kinds(&self) -> Vec<FaultKind> {
        FaultKind::ALL
            .into_iter()
            .filter(|k| self.get(*k).enabled)
            .collect()
    }

    /// Whether any lying-disk kind is switched on.
    pub fn has_lying(&self) -> bool {
        self.enabled_kinds()
            .iter()
            .any(|k| k.class() == FaultClass::Lying)
    }
}

impl Default for FaultConfig {
    fn default() -> FaultConfig {
        FaultConfig::none()
    }
}

/// One line: the enabled kinds with their rates, e.g.
/// `torn_write=0.25 disk_full=0.001(cap=1048576)`, or `none`; then
/// ` sync_failure=linux` when that policy is chosen (the default is not shown).
impl fmt::Display for FaultConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kinds = self.enabled_kinds();
        if kinds.is_empty() {
            f.write_str("none")?;
        }
        for (i, kind) in kinds.into_iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{}={}", kind.name(), self.get(kind).rate)?;
            if kind == FaultKind::DiskFull {
                if let Some(cap) = self.capacity_bytes {
                    write!(f, "(cap={cap})")?;
                }
            }
        }
        if self.sync_failure != SyncFailure::KeepPending {
            write!(f, " sync_failure={}", self.sync_failure.name())?;
        }
        if self.torn_garbage {
            f.write_str(" torn_garbage")?;
        }
        if self.garbage_even_if_unchanged {
            f.write_str(" garbage_even_if_unchanged")?;
        }
        if self.sticky_bad_sectors {
            f.write_str(" sticky_bad_sectors")?;
        }
        if self.namespace_enospc {
            f.write_str(" namespace_enospc")?;
        }
        if self.size_without_data {
            f.write_str(" size_without_data")?;
        }
        Ok(())
    }
}

/// A Bernoulli draw that never panics: `p` outside `(0, 1]` (or NaN) draws nothing and
/// consumes no randomness when it is 0.
pub(super) fn chance(rng: &mut impl Rng, p: f64) -> bool {
    if p.is_nan() || p <= 0.0 {
        return false;
    }
    rng.random_bool(p.min(1.0))
}

macro_rules! fault_stats {
    ($($(#[$doc:meta])* $name:ident,)*) => {
        /// Counters of I/O and faults. Add runs together with [`FaultStats::add`]; list
        /// them with [`FaultStats::iter`] (fixed order, the field order).
        #[derive(Clone, Debug, Default, PartialEq, Eq)]
        pub struct FaultStats {
            $($(#[$doc])* pub $name: u64,)*
        }

        impl FaultStats {
            /// Every counter's name, in field order.
            pub const NAMES: &'static [&'static str] = &[$(stringify!($name)),*];

            /// Add `other`'s counts into `self` (saturating).
            pub fn add(&mut self, other: &FaultStats) {
                $(self.$name = self.$name.saturating_add(other.$name);)*
            }

            /// `(name, count)` for every counter, in field order.
            pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> {
                [$((stringify!($name), self.$name)),*].into_iter()
            }
        }
    };
}

fault_stats! {
    /// Calls counted as I/O steps (see the `vfs` module doc).
    io_steps,
    /// `read_at` steps.
    reads,
    /// `write_at` steps.
    writes,
    /// `sync` steps.
    syncs,
    /// `sync_dir` steps.
    dir_syncs,
    /// Armed crash points that fired.
    crashes_armed_fired,
    /// Aimed power cuts that struck a write (generation 20).
    aimed_power_cuts,
    power_losses,
    process_crashes,
    /// Unsynced writes lost entirely at power loss.
    writes_dropped_by_power_loss,
    /// Unsynced length changes lost at power loss.
    len_changes_dropped,
    /// Surviving writes of which only some sectors survived.
    torn_writes,
    /// Files whose surviving writes were applied out of issue order at a power loss.
    reordered,
    /// Unsynced creates/removes/renames lost at power loss.
    dir_ops_lost,
    /// Directories gone after a power loss with their unsynced creation (directories as
    /// objects), and everything under them.
    dirs_lost,
    read_errors,
    write_errors,
    /// Failed syncs (file or directory) that kept the pending changes pending (a file
    /// sync failing with nothing pending counts here under either policy).
    sync_errors,
    /// Writes or length changes refused with `StorageFull`.
    disk_full,
    /// Failed syncs that discarded the file's pending writes.
    sync_drops,
    misdirected_writes,
    latent_corruptions,
    /// Unsynced operations made durable by the simulated OS writeback (pending limits).
    writebacks,
    /// I/O errors the simulator aimed at one call (`SimVfs::set_error_after`).
    aimed_errors,
    /// Failed file syncs under [`SyncFailure::Linux`] that forgot the file's pending
    /// writes (marked clean, never written: readable until the next power loss).
    syncs_failed_linux,
    /// Writes and length changes those syncs forgot.
    writes_forgotten_after_failed_sync,
    /// Sector pieces of torn writes left holding garbage at power loss
    /// ([`FaultConfig::torn_garbage`]).
    garbage_sectors,
    /// Reads failed by a bad sector an earlier read error left
    /// ([`FaultConfig::sticky_bad_sectors`]).
    sticky_read_errors,
    /// Creating opens, renames and file syncs refused with `StorageFull`
    /// ([`FaultConfig::namespace_enospc`]).
    disk_full_namespace,
    /// Extending writes a power loss dropped or tore whose new size stayed, zeros
    /// where their data should be ([`FaultConfig::size_without_data`]).
    extended_without_data,
}

#[cfg(test)]
#[path = "faults_tests.rs"]
mod tests;
