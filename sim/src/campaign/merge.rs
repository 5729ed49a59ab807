//! Shard result files combined into the result of the whole campaign.
//!
//! A merge is only meaningful if the shards are the same experiment and together run
//! every seed once, so it refuses, with a message naming the files: results from
//! different engine commits, workload generations, step counts or mutants; shards of
//! different seed ranges or shard counts; a shard given twice (an overlap: its seeds
//! would count twice); a shard missing or stopped by Ctrl-C (a gap); a file whose
//! per-seed rows are not exactly its shard's seeds. What remains is a sum: counters
//! add, failures and per-seed rows are listed in seed order — what one unsharded run
//! of the same seeds reports.

use super::result::{ResultFile, SeedSet};
use super::shard_seeds;

/// One input: its name (for messages) and content.
pub struct Input<'a> {
    pub name: &'a str,
    pub result: &'a ResultFile,
}

/// Merge shard results. `Err` says why they cannot be merged; a merged result with
/// failures is `Ok` (the caller reports them and exits non-zero).
///
/// Time: the merged `seconds` is the **sum** of the shards' seconds, so
/// `seeds_per_second` is seeds per second of one shard's worker — the rate an
/// unsharded run on one such machine would show. The maximum (the wall time, had every
/// shard run at once) would make the rate depend on how the scheduler happened to
/// place the shards, which the files cannot tell: shards queued one after another on
/// one node would look N times faster than they were. [`slowest_shard_seconds`] gives
/// the maximum for whoever knows they ran concurrently.
pub fn merge(inputs: &[Input<'_>]) -> Result<ResultFile, String> {
    let first = inputs.first().ok_or("nothing to merge: no result files")?;
    let f = first.result;
    for i in &inputs[1..] {
        let r = i.result;
        let differs = |what: &str, a: String, b: String| -> Result<(), String> {
            if a == b {
                Ok(())
            } else {
                Err(format!(
                    "refusing to merge: {} has {what} {a} but {} has {b}; shards of one \
                     campaign must come from the same sim build and the same `sim run` \
                     arguments",
                    first.name, i.name
                ))
            }
        };
        differs("engine commit", f.commit.clone(), r.commit.clone())?;
        differs(
            "workload generation",
            f.workload.to_string(),
            r.workload.to_string(),
        )?;
        differs("steps", f.steps.to_string(), r.steps.to_string())?;
        differs(
            "mutant",
            format!("{:?}", f.mutant),
            format!("{:?}", r.mutant),
        )?;
        differs("seed range", range(&f.seed_set), range(&r.seed_set))?;
    }
    let set = f.seed_set;
    let n = set.shard.1;
    let mut seen: Vec<Option<&str>> =
        vec![None; usize::try_from(n).unwrap_or(usize::MAX).min(1 << 20)];
    if seen.len() as u64 != n {
        return Err(format!("{}: shard count {n} is too large", first.name));
    }
    for i in inputs {
        let r = i.result;
        let k = r.seed_set.shard.0;
        let slot = seen
            .get_mut(k.wrapping_sub(1) as usize)
            .ok_or_else(|| format!("{}: shard {k}/{n} is not a shard of {n}", i.name))?;
        if let Some(other) = slot {
            return Err(format!(
                "overlap: shard {k}/{n} is in both {other} and {}; its seeds would count twice",
                i.name
            ));
        }
        *slot = Some(i.name);
        if r.interrupted {
            return Err(format!(
                "gap: {} was interrupted after {} of its seeds; rerun shard {k}/{n}",
                i.name, r.summary.seeds
            ));
        }
        let expected: Vec<u64> = shard_seeds(set.start, set.count, (k, n)).collect();
        let got: Vec<u64> = r.per_seed.iter().map(|row| row.seed).collect();
        if got != expected {
            return Err(format!(
                "{}: its per-seed rows are not the seeds of shard {k}/{n} of {} \
                 ({} rows, {} expected)",
                i.name,
                range(&set),
                got.len(),
                expected.len()
            ));
        }
    }
    let missing: Vec<String> = seen
        .iter()
        .enumerate()
        .filter(|(_, s)| s.is_none())
        .map(|(k, _)| format!("{}/{n}", k + 1))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "gap: shard{} {} of {} missing",
            if missing.len() > 1 { "s" } else { "" },
            missing.join(", "),
            range(&set)
        ));
    }
    let mut merged = f.clone();
    merged.seed_set.shard = (1, 1);
    merged.jobs = inputs.iter().map(|i| i.result.jobs).max().unwrap_or(1);
    merged.summary = Default::default();
    merged.per_seed.clear();
    for i in inputs {
        merged.summary.absorb(&i.result.summary);
        merged.per_seed.extend(i.result.per_seed.iter().cloned());
    }
    merged.per_seed.sort_by_key(|r| r.seed);
    merged.summary.seconds = inputs.iter().map(|i| i.result.summary.seconds).sum();
    merged.summary.seeds_per_second =
        merged.summary.seeds as f64 / merged.summary.seconds.max(1e-9);
    Ok(merged)
}

/// The longest shard's seconds: the campaign's wall time if every shard ran at once.
pub fn slowest_shard_seconds(inputs: &[Input<'_>]) -> f64 {
    inputs
        .iter()
        .map(|i| i.result.summary.seconds)
        .fold(0.0, f64::max)
}

fn range(s: &SeedSet) -> String {
    format!(
        "seeds {}..{} in {} shards",
        s.start,
        s.start.saturating_add(s.count),
        s.shard.1
    )
}
