//! Shrinking a failing seed to a minimal workload, and the regression cases kept in
//! `corpora/seeds/`.
//!
//! A seed's workload is a numbered list of steps, and every step draws its choices and
//! its faults from its own stream (see `runner`), so a subset of the step numbers is a
//! smaller workload that still means the same operations. Shrinking is delta debugging
//! (ddmin) over that list: drop chunks while the run still fails *the same invariant*.

use crate::runner::{run_seed, Options};
use engine::mutant::Mutant;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A minimized failing workload, as stored in `corpora/seeds/*.json`.
///
/// Without a mutant the case records a bug that has been fixed: it must pass. With a
/// mutant it proves the harness catches that known-bad engine: it must fail.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RegressionCase {
    pub seed: u64,
    /// The seed's step count (the streams do not depend on it, the step list does).
    pub steps: usize,
    /// The step numbers kept, ascending; stored as ranges ("3,7-9,12").
    #[serde(with = "step_ranges")]
    pub only_steps: Vec<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mutant: Option<String>,
    /// The workload generation the case was shrunk under (cases from before the
    /// field existed are generation 1).
    #[serde(default = "first_workload")]
    pub workload: u32,
    /// The failure the shrunk workload showed when it was written.
    pub failure: String,
    /// Why the case exists, for the next reader.
    #[serde(default)]
    pub note: String,
}

impl RegressionCase {
    pub fn options(&self) -> Result<Options, String> {
        let mutant = match &self.mutant {
            None => None,
            Some(n) => Some(Mutant::from_name(n).ok_or_else(|| format!("unknown mutant {n}"))?),
        };
        Ok(Options {
            steps: self.steps,
            mutant,
            only_steps: Some(self.only_steps.clone()),
            workload: self.workload,
            plan: None,
        })
    }

    /// The file name this case is stored under.
    pub fn file_name(&self) -> String {
        match &self.mutant {
            None => format!("seed-{}.json", self.seed),
            Some(m) => format!("seed-{}-{m}.json", self.seed),
        }
    }
}

fn first_workload() -> u32 {
    1
}

/// The invariant a failure message names ("invariant 2", …), or the message's first
/// words: shrinking keeps only reductions that fail the same way.
pub fn failure_class(message: &str) -> String {
    if let Some(i) = message.find("invariant ") {
        let rest = &message[i + "invariant ".len()..];
        let n: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        return format!("invariant {n}");
    }
    message.split(':').next().unwrap_or(message).to_string()
}

/// Progress of a shrink, for the CLI.
pub trait Observer {
    fn tried(&mut self, _steps_left: usize, _runs: usize) {}
}

impl Observer for () {}

/// Shrink `seed` under `opts` (its full step list). Returns `None` if the seed does not
/// fail; otherwise the minimal case found and how many runs it took.
pub fn shrink(
    seed: u64,
    opts: &Options,
    obs: &mut dyn Observer,
) -> Option<(RegressionCase, usize)> {
    shrink_bounded(seed, opts, obs, usize::MAX)
}

/// [`shrink`] with at most `max_runs` runs of the seed: past the budget every further
/// reduction counts as not failing, so the search ends at once with the smallest
/// workload found so far (still failing the same invariant, only less minimal). For
/// callers that must finish in bounded time, such as `sim report`.
pub fn shrink_bounded(
    seed: u64,
    opts: &Options,
    obs: &mut dyn Observer,
    max_runs: usize,
) -> Option<(RegressionCase, usize)> {
    let runs = std::cell::Cell::new(0usize);
    let fails = |steps: &[usize]| -> Option<String> {
        if runs.get() >= max_runs.max(1) {
            return None;
        }
        runs.set(runs.get() + 1);
        let o = run_seed(
            seed,
            &Options {
                only_steps: Some(steps.to_vec()),
                ..opts.clone()
            },
        );
        o.failure
    };
    let start: Vec<usize> = match &opts.only_steps {
        Some(s) => s.clone(),
        None => (0..opts.steps).collect(),
    };
    let first = fails(&start)?;
    let class = failure_class(&first);
    let mut cur = start;
    let mut msg = first;
    let mut n = 2usize;
    // ddmin: try dropping each of n chunks; on success keep the rest and coarsen,
    // otherwise refine until chunks are single steps.
    while cur.len() >= 2 {
        let chunk = cur.len().div_ceil(n);
        let mut reduced = false;
        for c in 0..n {
            let lo = c * chunk;
            if lo >= cur.len() {
                break;
            }
            let hi = (lo + chunk).min(cur.len());
            let rest: Vec<usize> = cur[..lo].iter().chain(&cur[hi..]).copied().collect();
            if let Some(m) = fails(&rest) {
                if failure_class(&m) == class {
                    cur = rest;
                    msg = m;
                    reduced = true;
                    break;
                }
            }
        }
        obs.tried(cur.len(), runs.get());
        if reduced {
            n = (n - 1).max(2);
        } else {
            if n >= cur.len() {
                break;
            }
            n = (2 * n).min(cur.len());
        }
    }
    // The empty workload (setup and the final power loss only) is the last try.
    if cur.len() == 1 {
        if let Some(m) = fails(&[]) {
            if failure_class(&m) == class {
                cur.clear();
                msg = m;
            }
        }
    }
    Some((
        RegressionCase {
            seed,
            steps: opts.steps,
            only_steps: cur,
            mutant: opts.mutant.map(|m| m.name().to_string()),
            workload: opts.workload,
            failure: msg,
            note: String::new(),
        },
        runs.get(),
    ))
}

/// Every regression case under `dir`, sorted by file name.
pub fn load_cases(dir: &Path) -> Result<Vec<(PathBuf, RegressionCase)>, String> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
        if path.extension().is_some_and(|x| x == "json") {
            let text =
                std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let case: RegressionCase =
                serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            out.push((path, case));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Replay one case: `Ok` if it behaves as its kind requires (a fixed bug passes, a
/// mutant case fails the same invariant), else why not.
pub fn replay_case(case: &RegressionCase) -> Result<(), String> {
    let o = run_seed(case.seed, &case.options()?);
    match (&case.mutant, o.failure) {
        (None, None) => Ok(()),
        (None, Some(m)) => Err(format!("fixed bug is back: {m}")),
        (Some(_), Some(m)) if failure_class(&m) == failure_class(&case.failure) => Ok(()),
        (Some(_), Some(m)) => Err(format!(
            "mutant caught differently: now {m}, recorded {}",
            case.failure
        )),
        (Some(name), None) => Err(format!("mutant {name} no longer caught")),
    }
}

/// A step list as compact text: ascending numbers, runs written `a-b`.
mod step_ranges {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn to_text(steps: &[usize]) -> String {
        let mut parts = Vec::new();
        let mut i = 0;
        while i < steps.len() {
            let mut j = i;
            while j + 1 < steps.len() && steps[j + 1] == steps[j] + 1 {
                j += 1;
            }
            parts.push(if j > i {
                format!("{}-{}", steps[i], steps[j])
            } else {
                steps[i].to_string()
            });
            i = j + 1;
        }
        parts.join(",")
    }

    pub fn from_text(text: &str) -> Result<Vec<usize>, String> {
        let mut out: Vec<usize> = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let num = |x: &str| {
                x.trim()
                    .parse::<usize>()
                    .map_err(|_| format!("step list: {x:?} is not a step number"))
            };
            let (a, b) = match part.split_once('-') {
                Some((a, b)) => (num(a)?, num(b)?),
                None => (num(part)?, num(part)?),
            };
            if a > b || out.last().is_some_and(|&l| l >= a) {
                return Err(format!("step list: {part:?} is not ascending"));
            }
            out.extend(a..=b);
        }
        Ok(out)
    }

    pub fn serialize<S: Serializer>(steps: &[usize], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&to_text(steps))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<usize>, D::Error> {
        let text = String::deserialize(d)?;
        from_text(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_ranges_round_trip() {
        let steps = vec![0, 3, 4, 5, 9, 11, 12];
        let text = step_ranges::to_text(&steps);
        assert_eq!(text, "0,3-5,9,11-12");
        assert_eq!(step_ranges::from_text(&text), Ok(steps));
        assert_eq!(step_ranges::from_text(""), Ok(vec![]));
        assert!(step_ranges::from_text("5,3").is_err());
        assert!(step_ranges::from_text("1-x").is_err());
        assert!(step_ranges::from_text("4-2").is_err());
    }

    #[test]
    fn failure_class_names_the_invariant() {
        assert_eq!(
            failure_class("after power loss: invariant 1 (structure): x"),
            "invariant 1"
        );
        assert_eq!(
            failure_class("invariant 2 (per-file atomicity/durability) after x"),
            "invariant 2"
        );
        assert_eq!(failure_class("reopen: status 2"), "reopen");
    }
}
