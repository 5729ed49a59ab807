//! Campaigns: many seeds, a summary of what was exercised and found, sharding so a
//! seed range spreads over machines, and the determinism and mutant checks.
//!
//! - `parallel`: a campaign's seeds on every core, folded in seed order so the result
//!   does not depend on the number of threads;
//! - `result`: the result file a campaign (or one shard of it) writes;
//! - `merge`: shard result files combined into the campaign's result, refusing any
//!   that do not belong together or leave a seed out or in twice;
//! - `text`: the summary as `sim run` and `sim merge` print it.

pub mod merge;
pub mod parallel;
pub mod result;
pub mod text;

use crate::runner::{run_seed, Options, Outcome};
use engine::mutant::Mutant;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a campaign did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub seeds: u64,
    pub operations: u64,
    pub crashes: u64,
    pub recoveries_checked: u64,
    /// Recoveries that found lying-disk damage and detected it.
    pub damage_detected: u64,
    /// Relaxed rule: damaged files accepted at an older state (undetectable damage).
    pub damage_older_state: u64,
    /// Relaxed rule: files accepted at the state before their delta's damaged last
    /// transaction (no later transaction on disk could prove it).
    pub delta_older_state: u64,
    /// Log modes: log damage the engine reported (each ends its seed), and recoveries
    /// that dropped the damaged, unproven last synced group of the log (relaxed rule).
    pub log_damage_detected: u64,
    pub log_older_state: u64,
    pub transactions_ended: u64,
    pub transactions_aborted: u64,
    /// Multi-file transactions a crash split (log mode Off only).
    pub split_transactions: u64,
    /// Recoveries a crash interrupted (log modes), each redone and checked.
    pub interrupted_recoveries: u64,
    /// Generation 16: operator requests run through the admin endpoint's code path.
    pub admin_requests: u64,
    /// Recoveries run with faults on, and those that failed (then redone fault-free).
    pub faulty_recoveries: u64,
    pub failed_faulty_recoveries: u64,
    /// Log segments recycled.
    pub segments_recycled: u64,
    /// Pages bulk loads spilled ahead of their commit under dirty-page pressure.
    #[serde(default)]
    pub pages_spilled: u64,
    /// Durability-mode Ends acknowledged by a group commit.
    pub group_acks: u64,
    /// Inventory transfers ended; recoveries in log mode Off that found a total changed.
    pub transfers: u64,
    pub inventory_splits: u64,
    /// Backup cycles: startbu done, copies checked, endbu (or killed deltas) done.
    pub backups_started: u64,
    pub backups_copied: u64,
    pub backups_ended: u64,
    /// Generation 14 (archival seeds): archival backups taken and checked, restored
    /// backups rolled forward and checked (invariant 7), roll-forwards a crash
    /// interrupted, backups skipped for lying-fault damage, pre-archival backups
    /// refused as older than the log (41), such backups with no frame to show it, and
    /// roll-forwards first run with the disk's faults on.
    pub archival_backups: u64,
    pub rollforwards_checked: u64,
    pub rollforwards_crashed: u64,
    pub rollforwards_skipped_damaged: u64,
    pub rollforward_gaps_refused: u64,
    pub rollforward_gaps_unseen: u64,
    pub rollforwards_under_faults: u64,
    /// Relaxed rules: fault statuses (2, 100) the oracle excused, by the cause it
    /// found — a fault in the same step, an earlier fault since the engine started
    /// (a failed state it may still be in), a lying fault's lasting damage.
    pub excused_direct: u64,
    pub excused_sticky: u64,
    pub excused_damaged: u64,
    /// Generation 18: held-cursor moves checked, those across a change since the
    /// cursor last landed; bulk loads, records they inserted, loads judged record by
    /// record (relaxed: a fault or a failed log write sent a batch Insert by Insert), loads a crash cut short and what recovery found of them (nothing,
    /// a prefix of whole batches, all it had inserted).
    #[serde(default)]
    pub cursor_moves: u64,
    #[serde(default)]
    pub cursor_moves_across_changes: u64,
    #[serde(default)]
    pub bulk_loads: u64,
    #[serde(default)]
    pub bulk_records: u64,
    #[serde(default)]
    pub bulk_per_record: u64,
    #[serde(default)]
    pub bulk_crashed: u64,
    #[serde(default)]
    pub bulk_crash_none: u64,
    #[serde(default)]
    pub bulk_crash_prefix: u64,
    #[serde(default)]
    pub bulk_crash_all: u64,
    /// Seeds per transaction log mode.
    pub log_modes: BTreeMap<String, u64>,
    pub faults: BTreeMap<String, u64>,
    pub failures: Vec<Failure>,
    pub seconds: f64,
    pub seeds_per_second: f64,
}

/// One failing seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    pub seed: u64,
    pub message: String,
    pub replay: String,
}

impl Summary {
    pub fn add(&mut self, o: &Outcome, opts: &Options) {
        self.seeds += 1;
        self.operations += o.operations;
        self.crashes += o.crashes;
        self.recoveries_checked += o.recoveries_checked;
        self.damage_detected += o.damage_detected;
        self.damage_older_state += o.damage_older_state;
        self.delta_older_state += o.delta_older_state;
        self.log_damage_detected += o.log_damage.0;
        self.log_older_state += o.log_damage.1;
        self.transactions_ended += o.transactions.0;
        self.transactions_aborted += o.transactions.1;
        self.split_transactions += o.split_transactions;
        self.interrupted_recoveries += o.interrupted_recoveries;
        self.admin_requests += o.admin_requests;
        self.faulty_recoveries += o.faulty_recoveries.0;
        self.failed_faulty_recoveries += o.faulty_recoveries.1;
        self.segments_recycled += o.segments_recycled;
        self.pages_spilled += o.pages_spilled;
        self.group_acks += o.group_acks;
        self.transfers += o.transfers;
        self.inventory_splits += o.inventory_splits;
        self.backups_started += o.backups.0;
        self.backups_copied += o.backups.1;
        self.backups_ended += o.backups.2;
        self.archival_backups += o.archival.0;
        self.rollforwards_checked += o.archival.1;
        self.rollforwards_crashed += o.archival.2;
        self.rollforwards_skipped_damaged += o.archival.3;
        self.rollforward_gaps_refused += o.archival.4;
        self.rollforward_gaps_unseen += o.archival.5;
        self.rollforwards_under_faults += o.archival.6;
        self.excused_direct += o.excused.0;
        self.excused_sticky += o.excused.1;
        self.excused_damaged += o.excused.2;
        self.cursor_moves += o.cursor_moves.0;
        self.cursor_moves_across_changes += o.cursor_moves.1;
        self.bulk_loads += o.bulk.0;
        self.bulk_records += o.bulk.1;
        self.bulk_per_record += o.bulk.2;
        self.bulk_crashed += o.bulk.3;
        self.bulk_crash_none += o.bulk_crash_outcomes.0;
        self.bulk_crash_prefix += o.bulk_crash_outcomes.1;
        self.bulk_crash_all += o.bulk_crash_outcomes.2;
        *self.log_modes.entry(o.log_mode.to_string()).or_default() += 1;
        for (k, v) in o.faults.iter() {
            *self.faults.entry(k.to_string()).or_default() += v;
        }
        if let Some(m) = &o.failure {
            self.failures.push(Failure {
                seed: o.seed,
                message: m.clone(),
                replay: replay_command(o.seed, opts),
            });
        }
    }
}

impl Summary {
    /// Add another campaign's counters and failures to this one (merging shards).
    /// Every counter is a sum; failures are kept in seed order, as one run over all
    /// the seeds lists them. Timing is left to the caller: how shard times combine is
    /// a choice (see `merge`).
    pub fn absorb(&mut self, o: &Summary) {
        self.seeds += o.seeds;
        self.operations += o.operations;
        self.crashes += o.crashes;
        self.recoveries_checked += o.recoveries_checked;
        self.damage_detected += o.damage_detected;
        self.damage_older_state += o.damage_older_state;
        self.delta_older_state += o.delta_older_state;
        self.log_damage_detected += o.log_damage_detected;
        self.log_older_state += o.log_older_state;
        self.transactions_ended += o.transactions_ended;
        self.transactions_aborted += o.transactions_aborted;
        self.split_transactions += o.split_transactions;
        self.interrupted_recoveries += o.interrupted_recoveries;
        self.admin_requests += o.admin_requests;
        self.faulty_recoveries += o.faulty_recoveries;
        self.failed_faulty_recoveries += o.failed_faulty_recoveries;
        self.segments_recycled += o.segments_recycled;
        self.pages_spilled += o.pages_spilled;
        self.group_acks += o.group_acks;
        self.transfers += o.transfers;
        self.inventory_splits += o.inventory_splits;
        self.backups_started += o.backups_started;
        self.backups_copied += o.backups_copied;
        self.backups_ended += o.backups_ended;
        self.archival_backups += o.archival_backups;
        self.rollforwards_checked += o.rollforwards_checked;
        self.rollforwards_crashed += o.rollforwards_crashed;
        self.rollforwards_skipped_damaged += o.rollforwards_skipped_damaged;
        self.rollforward_gaps_refused += o.rollforward_gaps_refused;
        self.rollforward_gaps_unseen += o.rollforward_gaps_unseen;
        self.rollforwards_under_faults += o.rollforwards_under_faults;
        self.excused_direct += o.excused_direct;
        self.excused_sticky += o.excused_sticky;
        self.excused_damaged += o.excused_damaged;
        self.cursor_moves += o.cursor_moves;
        self.cursor_moves_across_changes += o.cursor_moves_across_changes;
        self.bulk_loads += o.bulk_loads;
        self.bulk_records += o.bulk_records;
        self.bulk_per_record += o.bulk_per_record;
        self.bulk_crashed += o.bulk_crashed;
        self.bulk_crash_none += o.bulk_crash_none;
        self.bulk_crash_prefix += o.bulk_crash_prefix;
        self.bulk_crash_all += o.bulk_crash_all;
        for (k, v) in &o.log_modes {
            *self.log_modes.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &o.faults {
            *self.faults.entry(k.clone()).or_default() += v;
        }
        self.failures.extend(o.failures.iter().cloned());
        self.failures.sort_by_key(|f| f.seed);
    }
}

/// The exact command that reproduces a seed.
pub fn replay_command(seed: u64, opts: &Options) -> String {
    let mut c = format!(
        "cargo run --release -p sim -- replay {seed} --steps {}",
        opts.steps
    );
    if let Some(m) = opts.mutant {
        c.push_str(&format!(" --mutant {}", m.name()));
    }
    if opts.workload != crate::workload::WORKLOAD_VERSION {
        c.push_str(&format!(" --workload {}", opts.workload));
    }
    c
}

/// The seeds of shard `k` of `n` (1-based) within `start..start+count`.
pub fn shard_seeds(start: u64, count: u64, shard: (u64, u64)) -> impl Iterator<Item = u64> {
    let (k, n) = shard;
    (start..start.saturating_add(count)).filter(move |s| n <= 1 || s % n == (k - 1) % n)
}

/// Run each seed twice; returns the seeds whose trace hashes differ.
pub fn determinism(seeds: impl Iterator<Item = u64>, opts: &Options) -> Vec<u64> {
    seeds
        .filter(|&s| {
            let a = run_seed(s, opts);
            let b = run_seed(s, opts);
            a.trace_hash != b.trace_hash || a.failure != b.failure
        })
        .collect()
}

/// A mutant's hunt: the first failing seed, if found within `max_seeds`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MutantResult {
    pub mutant: String,
    pub caught: bool,
    pub first_failing_seed: Option<u64>,
    pub seeds_needed: u64,
    pub message: Option<String>,
}

pub fn hunt(m: Mutant, max_seeds: u64, steps: usize) -> MutantResult {
    let opts = Options {
        steps,
        mutant: Some(m),
        only_steps: None,
        ..Options::default()
    };
    for (i, seed) in (0..max_seeds).enumerate() {
        let o = run_seed(seed, &opts);
        if let Some(msg) = o.failure {
            return MutantResult {
                mutant: m.name().into(),
                caught: true,
                first_failing_seed: Some(seed),
                seeds_needed: i as u64 + 1,
                message: Some(msg),
            };
        }
    }
    MutantResult {
        mutant: m.name().into(),
        caught: false,
        first_failing_seed: None,
        seeds_needed: max_seeds,
        message: None,
    }
}
