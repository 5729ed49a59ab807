//! A campaign on every core. Each seed is independent and deterministic (its outcome
//! is a function of the seed and the options, nothing shared), so seeds can run on
//! any thread in any order; what must not depend on the thread count is the result.
//! Workers take the next seed from one shared index and send each outcome back; the
//! caller sees them as they finish (progress, failures so far), and they are folded
//! into the campaign's result in seed order (a small reorder buffer holds those that
//! finish early) — so the summary, its failure list and the per-seed rows are the
//! same bytes for `--jobs 1` and `--jobs 64`, and memory does not grow with the
//! number of seeds beyond one small row each.

use super::result::{ResultFile, SeedRow, SeedSet};
use super::{shard_seeds, Summary};
use crate::runner::{run_seed, Options, Outcome};
use std::collections::BTreeMap;
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
/// taken: once it is set no new seed starts and the running ones finish. `on_done`
/// sees each outcome on the calling thread as it arrives (completion order: progress,
/// failures so far); `in_order` then receives the finished outcomes in the order of
/// `seeds`. Outcomes that finish ahead of an earlier seed wait in a reorder buffer
/// (about `jobs` of them), so memory does not grow with the number of seeds; after a
/// stop, the finished ones past a gap are passed on too, still in order.
pub fn run_seeds(
    seeds: &[u64],
    opts: &Options,
    jobs: usize,
    stop: &AtomicBool,
    mut on_done: impl FnMut(&Outcome),
    mut in_order: impl FnMut(Outcome),
) {
    let jobs = jobs.clamp(1, seeds.len().max(1));
    let next = AtomicUsize::new(0);
    let mut waiting: BTreeMap<usize, Outcome> = BTreeMap::new();
    let mut due = 0usize;
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
            waiting.insert(i, o);
            while let Some(o) = waiting.remove(&due) {
                in_order(o);
                due += 1;
            }
        }
    });
    for (_, o) in waiting {
        in_order(o);
    }
}

/// Folds outcomes, in seed order, into a campaign's result.
pub struct Folder<'a> {
    campaign: &'a Campaign,
    summary: Summary,
    per_seed: Vec<SeedRow>,
}

impl<'a> Folder<'a> {
    pub fn new(campaign: &'a Campaign) -> Self {
        Folder {
            campaign,
            summary: Summary::default(),
            per_seed: Vec::new(),
        }
    }

    pub fn add(&mut self, o: &Outcome) {
        self.summary.add(o, &self.campaign.opts);
        self.per_seed.push(SeedRow::of(o));
    }

    /// The result file, `seconds` after the start, run on `jobs` threads.
    pub fn finish(self, jobs: usize, seconds: f64) -> ResultFile {
        let c = self.campaign;
        let mut summary = self.summary;
        summary.seconds = seconds;
        summary.seeds_per_second = summary.seeds as f64 / seconds.max(1e-9);
        let planned = shard_seeds(c.start, c.count, c.shard).count();
        ResultFile::new(
            SeedSet {
                start: c.start,
                count: c.count,
                shard: c.shard,
            },
            &c.opts,
            jobs,
            self.per_seed.len() < planned,
            summary,
            self.per_seed,
        )
    }
}

/// Run a whole campaign: [`run_seeds`] folded by a [`Folder`].
pub fn run_campaign(
    c: &Campaign,
    jobs: usize,
    stop: &AtomicBool,
    on_done: impl FnMut(&Outcome),
) -> ResultFile {
    let t = Instant::now();
    let mut folder = Folder::new(c);
    run_seeds(&c.seeds(), &c.opts, jobs, stop, on_done, |o| folder.add(&o));
    folder.finish(jobs, t.elapsed().as_secs_f64())
}
