//! Workload 7: the simulator's own throughput — how fast `sim run` explores. Runs the
//! campaign loop `sim run` runs (`run_seed` per seed, `Summary::add`), single-threaded
//! as it is, and turns the summary's counters into rates. A failing seed does not stop
//! the benchmark; it is reported beside the figures.

use crate::common::Sizes;
use sim::campaign::Summary;
use sim::runner::{run_seed, Options};
use std::time::Instant;

/// Rates of one campaign.
pub struct SimRates {
    pub seeds_per_second: f64,
    /// Workload steps (seeds × steps per seed) per second.
    pub steps_per_second: f64,
    /// Engine operations the workload ran, per second (`Summary::operations`).
    pub operations_per_second: f64,
    /// Simulated I/O calls (reads, writes, syncs, directory operations) per second.
    pub io_steps_per_second: f64,
    /// Simulated crashes, each followed by a recovery, per second (`Summary::crashes`).
    pub crashes_per_second: f64,
    /// Recoveries checked against the model per second (`Summary::recoveries_checked`).
    pub recoveries_per_second: f64,
    pub summary: Summary,
}

/// Seeds 0..`sizes.sim_seeds`, `sizes.sim_steps` steps each, default options.
pub fn campaign(sizes: &Sizes) -> SimRates {
    let opts = Options {
        steps: sizes.sim_steps,
        ..Options::default()
    };
    let start = Instant::now();
    let mut sum = Summary::default();
    for seed in 0..sizes.sim_seeds {
        sum.add(&run_seed(seed, &opts), &opts);
    }
    sum.seconds = start.elapsed().as_secs_f64();
    sum.seeds_per_second = sum.seeds as f64 / sum.seconds.max(1e-9);
    let per_s = |n: u64| n as f64 / sum.seconds.max(1e-9);
    SimRates {
        seeds_per_second: sum.seeds_per_second,
        steps_per_second: per_s(sum.seeds * sizes.sim_steps as u64),
        operations_per_second: per_s(sum.operations),
        io_steps_per_second: per_s(sum.faults.get("io_steps").copied().unwrap_or(0)),
        crashes_per_second: per_s(sum.crashes),
        recoveries_per_second: per_s(sum.recoveries_checked),
        summary: sum,
    }
}
