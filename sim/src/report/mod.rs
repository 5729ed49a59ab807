//! `sim report`: one self-contained HTML page from result files.
//!
//! Inputs are told apart by their shape: a campaign result file (`sim run --json`,
//! `sim merge --json`; `"format": "keel-sim-result/1"`) or the mutant table
//! (`sim mutants --json`: an array of `{mutant, caught, ...}`). Result files of one
//! sharded campaign are merged (with `sim merge`'s checks; one shard alone is shown as
//! that shard); other campaigns — a run
//! of the correct engine beside a mutant's, say — each get their own section.
//!
//! - `svg`: the charts, hand-written inline SVG;
//! - `trace`: failing seeds shrunk and replayed in-process for their traces;
//! - `html`: the page.

pub mod html;
pub mod svg;
pub mod trace;

use crate::campaign::merge::{merge, Input};
use crate::campaign::result::{json_of, result_of, ResultFile};
use crate::campaign::MutantResult;
use trace::ShrunkTrace;

/// One input file, by shape.
pub enum Loaded {
    Result(Box<ResultFile>),
    Mutants(Vec<MutantResult>),
}

/// Read one input (the JSON alone or a command's whole output ending in it).
pub fn load(text: &str) -> Result<Loaded, String> {
    let v = json_of(text)?;
    if let Some(items) = v.as_array() {
        let looks_like_mutants = items
            .iter()
            .all(|i| i.get("mutant").is_some() && i.get("caught").is_some());
        if !looks_like_mutants {
            return Err("a JSON array, but not `sim mutants --json` output".into());
        }
        return serde_json::from_value(v)
            .map(Loaded::Mutants)
            .map_err(|e| format!("malformed mutant table: {e}"));
    }
    result_of(v).map(|r| Loaded::Result(Box::new(r)))
}

/// How much work the report may do to show traces.
#[derive(Clone, Copy, Debug)]
pub struct TraceBudget {
    /// Failures (over all campaigns, in order) whose shrunk trace is shown.
    pub failures: usize,
    /// Runs allowed to shrink each.
    pub runs_per_failure: usize,
}

/// One campaign's section.
pub struct Campaign {
    pub result: ResultFile,
    /// How many files it was merged from.
    pub files: usize,
    pub traces: Vec<ShrunkTrace>,
}

/// Everything the page shows.
pub struct Report {
    pub campaigns: Vec<Campaign>,
    pub mutants: Vec<MutantResult>,
}

/// Group, merge and trace the inputs (`(name, loaded)`).
pub fn build(inputs: Vec<(String, Loaded)>, budget: TraceBudget) -> Result<Report, String> {
    let mut mutants = Vec::new();
    // Result files grouped by what they ran; shards of one campaign share a key.
    let mut groups: Vec<(String, Vec<(String, ResultFile)>)> = Vec::new();
    for (name, l) in inputs {
        match l {
            Loaded::Mutants(m) => mutants.extend(m),
            Loaded::Result(r) => {
                let key = format!(
                    "{} {} {} {:?} {} {} {}",
                    r.commit,
                    r.workload,
                    r.steps,
                    r.mutant,
                    r.seed_set.start,
                    r.seed_set.count,
                    r.seed_set.shard.1
                );
                match groups.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, g)) => g.push((name, *r)),
                    None => groups.push((key, vec![(name, *r)])),
                }
            }
        }
    }
    let mut campaigns = Vec::new();
    let mut left = budget.failures;
    for (_, group) in groups {
        let files = group.len();
        let result = if files == 1 {
            group
                .into_iter()
                .map(|(_, r)| r)
                .next()
                .ok_or("empty group")?
        } else {
            let inputs: Vec<Input<'_>> = group
                .iter()
                .map(|(name, result)| Input { name, result })
                .collect();
            merge(&inputs)?
        };
        let opts = result.options()?;
        let mut traces = Vec::new();
        for f in result.summary.failures.iter().take(left) {
            if let Some(t) = trace::shrunk_trace(f, &opts, budget.runs_per_failure) {
                traces.push(t);
            }
        }
        left -= result.summary.failures.len().min(left);
        campaigns.push(Campaign {
            result,
            files,
            traces,
        });
    }
    if campaigns.is_empty() && mutants.is_empty() {
        return Err("no result files or mutant tables to report".into());
    }
    Ok(Report { campaigns, mutants })
}
