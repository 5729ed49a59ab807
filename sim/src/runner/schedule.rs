//! The schedule layer: what happens next in a run, decided apart from how it is done.
//!
//! A run is a sequence of turns. The [`Schedule`] says which step each turn runs
//! (fixed by a plan, else drawn from the seed's operation mix), gives each turn its
//! streams, and makes the run's crash decisions: how far ahead an armed crash point
//! lies, whether a crash is a power loss or a process crash, whether a recovery is
//! itself crashed. [`World::run`] plays the turns in order, with the two rules that
//! depend on the world: the log writer runs first when every client waits on it, and
//! a turn that stopped the engine is followed by a crash. What a step does to the
//! engine and the model is `steps`' business; nothing here touches the engine.
//!
//! Guarantees:
//! - Turn `i` draws only from streams keyed by (seed, `i`): its step stream (first
//!   its step kind, unless fixed, then the step's details and any crash decision
//!   made during the turn) and the disk's fault stream. Dropping turns (a shrunk
//!   workload) leaves every other turn's choices and faults as they were.
//! - The setup draws from its own streams (seed, `u64::MAX`, k); the recovery before
//!   the first turn draws from the setup's stream, as it always has.
//! - Every run ends with a power loss and a full recovery check.

use super::world::World;
use super::Options;
use crate::vfs::SimVfs;
use crate::workload::{self, Step};
use engine::LogMode;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The seed of stream `k` of step `i`: steps (and the setup, `i = u64::MAX`) draw from
/// independent streams so a shrunk workload keeps the choices of the steps it keeps.
pub(super) fn stream_seed(seed: u64, i: u64, k: u64) -> u64 {
    // SplitMix64 finaliser over the three inputs.
    let mut z = seed
        .wrapping_add(i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
        .wrapping_add(k.wrapping_mul(0xbf58_476d_1ce4_e5b9));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// What happens next in a run, and the streams it draws from.
pub(super) struct Schedule {
    seed: u64,
    /// The turns still to run: (stream number, the step if the plan fixes it, else
    /// drawn from the stream).
    slots: std::vec::IntoIter<(u64, Option<Step>)>,
    /// The seed's operation mix (swarm), for the steps a plan does not fix.
    weights: Vec<(Step, u32)>,
    /// The current stream: the setup's until the first turn, then each turn's. Steps
    /// draw their details (client, file, id, record) from it.
    pub(super) rng: ChaCha8Rng,
}

/// One turn, as the schedule decided it.
pub(super) struct Turn {
    /// The turn's stream number: its step number (a plan step's salt above bit 32).
    pub(super) stream: u64,
    pub(super) step: Step,
    /// The seed of the disk's fault stream for this turn.
    pub(super) fault_seed: u64,
}

/// What a recovery under faults is aimed at, besides the seed's own random faults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Aim {
    /// Nothing more: only the seed's random faults.
    Faults,
    /// A crash this many I/O steps into the recovery.
    Crash(u64),
    /// An I/O error this many I/O steps into the recovery.
    Error(u64),
}

/// How the engine's process dies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Crash {
    /// The machine loses power: unsynced writes may be lost, torn or reordered.
    PowerLoss,
    /// Only the process dies: the OS keeps every write.
    ProcessCrash,
}

impl Crash {
    /// Make it happen to the disk.
    pub(super) fn strike(self, vfs: &SimVfs) {
        match self {
            Crash::PowerLoss => vfs.power_loss(),
            Crash::ProcessCrash => vfs.process_crash(),
        }
    }

    /// As recovery messages name it.
    pub(super) fn name(self) -> &'static str {
        match self {
            Crash::PowerLoss => "power loss",
            Crash::ProcessCrash => "process crash",
        }
    }
}

impl Schedule {
    /// The schedule of a run: a plan's steps, the shrunk list `only_steps`, or steps
    /// `0..steps`. `rng` is the setup's stream, already past the setup's draws.
    pub(super) fn new(
        seed: u64,
        opts: &Options,
        rng: ChaCha8Rng,
        weights: Vec<(Step, u32)>,
    ) -> Schedule {
        let slots: Vec<(u64, Option<Step>)> = match (&opts.plan, &opts.only_steps) {
            (Some(plan), _) => plan
                .steps
                .iter()
                .enumerate()
                .map(|(i, s)| (i as u64 | u64::from(s.salt) << 32, Some(s.step)))
                .collect(),
            (None, Some(only)) => only.iter().map(|&i| (i as u64, None)).collect(),
            (None, None) => (0..opts.steps as u64).map(|i| (i, None)).collect(),
        };
        Schedule {
            seed,
            slots: slots.into_iter(),
            weights,
            rng,
        }
    }

    /// The next turn, if any: switches to its step stream and draws its step kind
    /// (unless the plan fixes it).
    fn next_turn(&mut self) -> Option<Turn> {
        let (i, fixed) = self.slots.next()?;
        self.rng = ChaCha8Rng::seed_from_u64(stream_seed(self.seed, i, 0));
        let step = match fixed {
            Some(step) => step,
            None => workload::draw(&mut self.rng, &self.weights),
        };
        Some(Turn {
            stream: i,
            step,
            fault_seed: stream_seed(self.seed, i, 1),
        })
    }

    /// A crash: a power loss more often than not.
    pub(super) fn crash(&mut self) -> Crash {
        if self.rng.random_bool(0.6) {
            Crash::PowerLoss
        } else {
            Crash::ProcessCrash
        }
    }

    /// Step `ArmCrash`: the crash point, this many I/O steps ahead.
    pub(super) fn crash_point_ahead(&mut self) -> u64 {
        self.rng.random_range(1..400)
    }

    /// Step `CrashInCommit`: the crash point, a few I/O steps ahead (the flush that
    /// follows is likely to be cut short).
    pub(super) fn crash_point_in_commit(&mut self) -> u64 {
        self.rng.random_range(1..5)
    }

    /// Before recovery attempt `attempt`: the crash point that interrupts it, if any.
    /// In the log modes recovery itself (log reopen, roll-forward, its system
    /// transactions) may crash, and the next attempt must reach the same result;
    /// Off-mode recovery only reads, so crashing it proves nothing.
    /// Generation 9: whether this recovery first runs with the disk's faults on, and
    /// what it is aimed at (a crash or an I/O error within its first I/O steps —
    /// the open, the log scan, roll-forward, roll-in, endbu's resume).
    pub(super) fn faulty_recovery(&mut self) -> Option<Aim> {
        if !self.rng.random_bool(0.35) {
            return None;
        }
        let at = self.rng.random_range(1..120);
        Some(match self.rng.random_range(0..3) {
            0 => Aim::Faults,
            1 => Aim::Crash(at),
            _ => Aim::Error(at),
        })
    }

    pub(super) fn recovery_crash_point(&mut self, log_mode: LogMode, attempt: u32) -> Option<u64> {
        let arm = log_mode != LogMode::Off && attempt < 3 && self.rng.random_bool(0.25);
        arm.then(|| self.rng.random_range(1..80))
    }
}

impl World {
    /// The run: recover the freshly created files, play the schedule's turns in order,
    /// and end with a power loss and a full check.
    pub(super) fn run(&mut self) -> Result<(), String> {
        self.recover("start")?;
        while let Some(Turn {
            stream: i,
            step,
            fault_seed,
        }) = self.sched.next_turn()
        {
            self.rig.vfs.reseed(fault_seed);
            self.mark_step();
            self.view_step();
            self.maybe_damage_log();
            self.tally.mix(i ^ ((step as u64) << 32));
            tracing::debug!(target: "sim", i, ?step, "step");
            if self.model.clients.all_waiting() {
                // Every client waits: the log writer runs.
                self.group_sync()?;
                if self.rig.vfs.is_crashed() {
                    // An armed crash fired in the log writer's sync: the machine is
                    // down, so the step cannot run; recovery comes first.
                    self.crash()?;
                    continue;
                }
            }
            self.step(step)?;
            self.observe()?;
            let log_failed = self.rig.engine.as_ref().is_some_and(|e| e.log_failed());
            if self.rig.vfs.is_crashed() || log_failed {
                // A failed log write or sync stops the engine: the application
                // restarts it, and recovery decides what the log kept.
                self.crash()?;
            }
        }
        // Every seed ends with a power loss and a full check.
        self.final_power_loss()
    }
}
