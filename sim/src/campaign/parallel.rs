//! A campaign on every core. Each seed is independent and deterministic (its outcome
//! is a function of the seed and the options, nothing shared), so seeds can run on
//! any thread in any order; what must not depend on the thread count is the result.
//! Workers take the next seed from one shared index and send each outcome back; the
//! caller sees them as they finish (progress, failures so far), and the campaign's
//! result is folded afterwards in seed order — so the summary, its failure list and
//! the per-seed rows are the same bytes for `--jobs 1` and `--jobs 64`.

use super::result::{ResultFile, SeedRow, SeedSet};
use super::{shard_seeds, Summary};
use crate::runner::{run_seed, Options, Outcome};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Instant;

/// Which seeds a campaign runs and how.
#[derive(Clone, Debug)]
pub struct Campaign {
    pub start: u64,
    pub count: u64,
    /// Shard `(k, n)`, 1-based; `(1, 1)` is the whole range.
    pub shard: (u64, u64),
    pub opts: Options,
}

impl Campaign {
    /// The seeds this campaign (shard) runs, ascending.
    pub fn seeds(&self) -> Vec<u64> {
        shard_seeds(self.start, self.count, self.shard).collect()
    }
}

/// The number of worker threads `--jobs` defaults to: every core the process may use
/// (`available_parallelism` honours CPU affinity and cgroup quotas, so a container
/// limited to 2 CPUs gets 2).
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Run `seeds` on `jobs` threads (at least one). `stop` is polled before each seed is
/// taken: once it is set no new seed starts, the running ones finish, and only the
/// finished ones are returned. `on_done` sees each outcome on the calling thread as
/// it arrives (completion order). Returns the finished outcomes in the order of
/// `seeds`.
pub fn run_seeds(
    seeds: &[u64],
    opts: &Options,
    jobs: usize,
    stop: &AtomicBool,
    mut on_done: impl FnMut(&Outcome),
) -> Vec<Outcome> {
    let jobs = jobs.clamp(1, seeds.len().max(1));
    let next = AtomicUsize::new(0);
    let mut slots: Vec<Option<Outcome>> = vec![None; seeds.len()];
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel::<(usize, Outcome)>();
        for _ in 0..jobs {
            let tx = tx.clone();
            let next = &next;
            scope.spawn(move || loop {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&seed) = seeds.get(i) else { break };
                if tx.send((i, run_seed(seed, opts))).is_err() {
                    break;
                }
            });
        }
        // The workers hold the only senders now: the loop ends when the last exits.
        drop(tx);
        for (i, o) in rx {
            on_done(&o);
            slots[i] = Some(o);
        }
    });
    slots.into_iter().flatten().collect()
}

/// Fold finished outcomes (in seed order) into a result file.
pub fn fold(c: &Campaign, outcomes: &[Outcome], jobs: usize, seconds: f64) -> ResultFile {
    let mut summary = Summary::default();
    let mut per_seed = Vec::with_capacity(outcomes.len());
    for o in outcomes {
        summary.add(o, &c.opts);
        per_seed.push(SeedRow::of(o));
    }
    summary.seconds = seconds;
    summary.seeds_per_second = summary.seeds as f64 / seconds.max(1e-9);
    let planned = c.seeds().len();
    ResultFile::new(
        SeedSet {
            start: c.start,
            count: c.count,
            shard: c.shard,
        },
        &c.opts,
        jobs,
        outcomes.len() < planned,
        summary,
        per_seed,
    )
}

/// Run a whole campaign: [`run_seeds`] then [`fold`].
pub fn run_campaign(
    c: &Campaign,
    jobs: usize,
    stop: &AtomicBool,
    on_done: impl FnMut(&Outcome),
) -> ResultFile {
    let t = Instant::now();
    let outcomes = run_seeds(&c.seeds(), &c.opts, jobs, stop, on_done);
    fold(c, &outcomes, jobs, t.elapsed().as_secs_f64())
}
