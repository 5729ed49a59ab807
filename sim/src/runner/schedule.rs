//! The order of a run: each step draws from its own streams, keyed by (seed, step
//! number), so dropping steps leaves the others' choices and faults as they were; the
//! run loop steps through the schedule and ends with a power loss and a full check.

use super::world::World;
use super::Options;
use crate::workload::{self, Step};
use rand::SeedableRng;
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

impl World {
    pub(super) fn run(&mut self, opts: &Options) -> Result<(), String> {
        self.recover("start")?;
        // (stream number, the step if the plan fixes it, else drawn from the stream).
        let schedule: Vec<(u64, Option<Step>)> = match (&opts.plan, &opts.only_steps) {
            (Some(plan), _) => plan
                .steps
                .iter()
                .enumerate()
                .map(|(i, s)| (i as u64 | u64::from(s.salt) << 32, Some(s.step)))
                .collect(),
            (None, Some(only)) => only.iter().map(|&i| (i as u64, None)).collect(),
            (None, None) => (0..opts.steps as u64).map(|i| (i, None)).collect(),
        };
        for (i, fixed) in schedule {
            self.rng = ChaCha8Rng::seed_from_u64(stream_seed(self.seed, i, 0));
            self.vfs.reseed(stream_seed(self.seed, i, 1));
            let step = match fixed {
                Some(step) => step,
                None => workload::draw(&mut self.rng, &self.weights),
            };
            self.mix(i ^ ((step as u64) << 32));
            tracing::debug!(target: "sim", i, ?step, "step");
            if self.awaiting.iter().all(|a| a.is_some()) {
                // Every client waits: the log writer runs.
                self.group_sync()?;
            }
            self.step(step)?;
            self.observe()?;
            let log_failed = self.engine.as_ref().is_some_and(|e| e.log_failed());
            if self.vfs.is_crashed() || log_failed {
                // A failed log write or sync stops the engine: the application
                // restarts it, and recovery decides what the log kept.
                self.crash()?;
            }
        }
        // Every seed ends with a power loss and a full check.
        self.crashes += 1;
        self.retire_engine();
        self.vfs.clear_crash_point();
        self.vfs.power_loss();
        self.recover("final power loss")
    }
}
