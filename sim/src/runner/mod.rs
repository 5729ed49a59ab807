//! Runs one seed: draws the seed's swarm of faults, operation mix and engine
//! tunables, drives the engine on a `SimVfs`, compares every read and status with
//! the model while it runs, and after every crash recovers and checks the
//! invariants. Everything derives from the seed, so a seed replays exactly.
//!
//! What [`run_seed`] guarantees:
//! - Determinism: the [`Outcome`], trace hash included, is a function of the seed and
//!   the [`Options`]. Every choice comes from a stream keyed by (seed, step number,
//!   stream index), the setup's from streams of its own, so a shrunk workload
//!   (`only_steps`) keeps the choices and faults of the steps it keeps; a [`Plan`]
//!   fixes the setup and the step kinds and leaves the details to its seed's streams.
//! - Checking throughout: every engine answer is compared with the model as the run
//!   goes, and after every crash — and after the power loss that ends every run —
//!   each file is recovered and checked against the invariants of DESIGN.md.
//! - Failures are values: the first violated invariant ends the run and is reported
//!   in [`Outcome::failure`]; a panic anywhere is caught and reported as one.
//!
//! The runner is split by concern, all of it acting on one `World`:
//! - `setup`: the world a seed (or a plan) starts from — tunables, log mode, faults,
//!   files;
//! - `schedule`: what happens next — the turns, their streams, the crash decisions —
//!   and the loop that plays them;
//! - `steps`: one step against the engine, checked against the model;
//! - `clients`: the simulated clients and their transactions;
//! - `recovery`: crashes, recovery, and the invariants checked after them;
//! - `backup`: continuous-operations cycles (`startbu`, copies, `endbu`, killed deltas);
//! - `inventory`: transfers between files and the conserved totals;
//! - `world`: the state they share — grouped as the schedule, the engine side (`Rig`),
//!   the model side (`Model`) and the counters (`Tally`) — and how a result is
//!   checked and hashed.

mod aims;
mod archival;
mod backup;
mod bulk;
mod cause;
mod clients;
mod cursors;
mod dated_damage;
mod inventory;
mod operator;
mod recovery;
mod schedule;
mod setup;
mod steps;
mod world;

use crate::plan::Plan;
use crate::vfs::FaultStats;
use crate::workload;
use engine::mutant::Mutant;
use world::World;

/// How to run a seed.
#[derive(Clone, Debug)]
pub struct Options {
    /// Workload steps per seed.
    pub steps: usize,
    pub mutant: Option<Mutant>,
    /// Run only these step numbers (ascending, each `< steps`) — a shrunk workload.
    /// Every step draws from its own stream (seed, step number), so dropping steps
    /// leaves the others' choices and faults as they were.
    pub only_steps: Option<Vec<usize>>,
    /// Workload generation ([`workload::WORKLOAD_VERSION`] unless replaying an old
    /// regression case).
    pub workload: u32,
    /// Run this plan instead of drawing setup and steps from the seed (the seed
    /// argument is then ignored: the plan carries its own; `steps` and `only_steps`
    /// too — the plan lists its steps).
    pub plan: Option<Plan>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            steps: 1000,
            mutant: None,
            only_steps: None,
            workload: workload::WORKLOAD_VERSION,
            plan: None,
        }
    }
}

/// What one seed did and found.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    pub seed: u64,
    pub operations: u64,
    pub crashes: u64,
    pub recoveries_checked: u64,
    /// Recoveries that found a file a lying disk had damaged and detected it (the file
    /// then fails its check or its open with status 2 and is replaced).
    pub damage_detected: u64,
    /// Recoveries that accepted a damaged file at an older state (lying faults only:
    /// a misdirected control-record write no format can detect).
    pub damage_older_state: u64,
    /// Recoveries that accepted a file at the state before its delta's last
    /// transaction, which a lying fault damaged before a later one could vouch for it.
    pub delta_older_state: u64,
    /// Log modes: recoveries whose log a lying fault damaged that reported it (the seed
    /// then ends), and that kept fewer entries than acknowledged because the damage hit
    /// the last synced group before a later record could vouch for it.
    pub log_damage: (u64, u64),
    /// Transactions ended / aborted.
    pub transactions: (u64, u64),
    /// Recoveries a crash interrupted (log modes), each followed by another.
    pub interrupted_recoveries: u64,
    /// Generation 16: operator requests (startbu, endbu) run through the admin
    /// endpoint's code path (`Engine::admin`, its wire format both ways).
    pub admin_requests: u64,
    /// Generation 9: recoveries run with the disk's faults on (an aimed crash or I/O
    /// error among them), and how many of those failed before a fault-free one.
    pub faulty_recoveries: (u64, u64),
    /// The seed's transaction log mode.
    pub log_mode: &'static str,
    /// Log segments the engine recycled.
    pub segments_recycled: u64,
    /// Pages bulk loads spilled ahead of their commit under dirty-page pressure.
    pub pages_spilled: u64,
    /// Durability-mode Ends acknowledged by a group commit.
    pub group_acks: u64,
    /// Inventory transfers ended, and recoveries (log mode Off) that found an item's
    /// total changed by a split transfer.
    pub transfers: u64,
    pub inventory_splits: u64,
    /// Backup cycles: (startbu, copies checked, endbu or kill) completed.
    pub backups: (u64, u64, u64),
    /// Generation 14, archival seeds: (archival backups taken and checked, roll-forwards
    /// of a restored backup checked against the live file (invariant 7), roll-forwards
    /// a crash interrupted (then run again), backups skipped for lying-fault damage,
    /// backups taken before their file was archived that roll-forward refused as older
    /// than the log (status 41), such backups whose log held no frame to show the gap,
    /// roll-forwards first run with the disk's faults on (then run again fault-free)).
    pub archival: (u64, u64, u64, u64, u64, u64, u64),
    /// Ended multi-file transactions a crash left in some of their files only (what
    /// log mode Off allows; Logging and Durability must never show one).
    pub split_transactions: u64,
    /// Generation 18: held-cursor moves checked, and those across a change of the
    /// client's view since the cursor last landed.
    pub cursor_moves: (u64, u64),
    /// Generation 18: (bulk loads, records they inserted, loads judged record by record
    /// — a fault or a failed log write sent a batch Insert by Insert — loads
    /// a crash or log failure cut short).
    pub bulk: (u64, u64, u64, u64),
    /// Generation 18: what recovery found of a load cut short: (nothing of it, a prefix
    /// of whole batches, all it had inserted).
    pub bulk_crash_outcomes: (u64, u64, u64),
    pub faults: FaultStats,
    /// Fault statuses (2, 100) the oracle excused, by cause: (a fault in the same step,
    /// an earlier fault since the engine started, a lying fault's lasting damage).
    pub excused: (u64, u64, u64),
    /// The first invariant violation, if any.
    pub failure: Option<String>,
    /// Hash of the whole run (I/O trace and every result), for determinism checks.
    pub trace_hash: u64,
}

/// What a run returns instead of a failure when it ends early by design: the engine
/// reported damage the simulator cannot repair (a lying fault on the transaction log;
/// the operator would restore the log directory).
pub(super) const HALTED: &str = "halted: the engine reported damage the model cannot follow";

/// Run one seed. A panic anywhere in the engine is caught and reported as a failure
/// (invariant 8: errors are statuses, never panics).
pub fn run_seed(seed: u64, opts: &Options) -> Outcome {
    let seed = opts.plan.as_ref().map_or(seed, |p| p.setup.seed);
    let mut out = Outcome {
        seed,
        ..Outcome::default()
    };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut w = World::new(seed, opts);
        let r = w.run();
        let mut o = Outcome {
            seed,
            ..Outcome::default()
        };
        w.fill(&mut o);
        o.failure = r.err().filter(|m| m != HALTED);
        o
    }));
    match result {
        Ok(o) => out = o,
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "non-string panic".into());
            out.failure = Some(format!("invariant 8: panic: {msg}"));
        }
    }
    out
}
