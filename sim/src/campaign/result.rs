//! The result file of a campaign or of one shard: the JSON object `sim run --json`
//! prints as the last line of stdout, which `sim merge` combines and `sim report`
//! draws.
//!
//! It says exactly what ran — the seed set (start, count, shard K/N), steps, mutant,
//! the workload generation and the engine commit the binary was built from — so a
//! merge can refuse files that do not belong together, and it carries every summary
//! counter at the top level (the shape `--json` always had) plus one row per seed for
//! charts. Reading is strict: a malformed file is an error naming what is wrong,
//! never a panic.

use super::Summary;
use crate::runner::{Options, Outcome};
use serde::{Deserialize, Serialize};

/// The `format` tag every result file carries; a reader refuses any other.
pub const RESULT_FORMAT: &str = "keel-sim-result/1";

/// The engine commit this binary was built from: `git rev-parse HEAD` at build time
/// (`sim/build.rs`), `KEEL_COMMIT` if set when building (container builds without
/// `.git`), else "unknown".
pub const ENGINE_COMMIT: &str = env!("KEEL_SIM_COMMIT");

/// The fault counters that count I/O rather than injected faults: the per-seed
/// "faults injected" figure leaves them out.
pub const NOT_FAULTS: &[&str] = &[
    "io_steps",
    "reads",
    "writes",
    "syncs",
    "dir_syncs",
    "writebacks",
];

/// Exactly which seeds a campaign covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedSet {
    pub start: u64,
    pub count: u64,
    /// `(k, n)`: the seeds `s` of `start..start+count` with `s % n == k - 1`.
    pub shard: (u64, u64),
}

/// One seed's figures, for per-seed charts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedRow {
    pub seed: u64,
    pub operations: u64,
    pub crashes: u64,
    pub recoveries_checked: u64,
    /// Every fault counter except the plain I/O ones ([`NOT_FAULTS`]).
    pub faults_injected: u64,
    pub failed: bool,
}

impl SeedRow {
    pub fn of(o: &Outcome) -> SeedRow {
        SeedRow {
            seed: o.seed,
            operations: o.operations,
            crashes: o.crashes,
            recoveries_checked: o.recoveries_checked,
            faults_injected: o
                .faults
                .iter()
                .filter(|(k, _)| !NOT_FAULTS.contains(k))
                .map(|(_, v)| v)
                .sum(),
            failed: o.failure.is_some(),
        }
    }
}

/// A campaign's (or a shard's) result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResultFile {
    /// [`RESULT_FORMAT`].
    pub format: String,
    /// [`ENGINE_COMMIT`] of the binary that ran it.
    pub commit: String,
    /// Workload generation (`workload::WORKLOAD_VERSION` unless `--workload`).
    pub workload: u32,
    pub steps: usize,
    pub mutant: Option<String>,
    pub seed_set: SeedSet,
    /// Worker threads used (does not change any counter).
    pub jobs: usize,
    /// Ctrl-C stopped it: fewer seeds ran than the seed set names.
    pub interrupted: bool,
    /// Every counter, at the top level as `--json` always printed them.
    #[serde(flatten)]
    pub summary: Summary,
    /// One row per seed that ran, ascending.
    pub per_seed: Vec<SeedRow>,
}

impl ResultFile {
    pub fn new(
        seed_set: SeedSet,
        opts: &Options,
        jobs: usize,
        interrupted: bool,
        summary: Summary,
        per_seed: Vec<SeedRow>,
    ) -> ResultFile {
        ResultFile {
            format: RESULT_FORMAT.into(),
            commit: ENGINE_COMMIT.into(),
            workload: opts.workload,
            steps: opts.steps,
            mutant: opts.mutant.map(|m| m.name().to_string()),
            seed_set,
            jobs,
            interrupted,
            summary,
            per_seed,
        }
    }

    /// The options its seeds ran with (to replay or shrink one).
    pub fn options(&self) -> Result<Options, String> {
        let mutant = match &self.mutant {
            None => None,
            Some(n) => Some(
                engine::mutant::Mutant::from_name(n)
                    .ok_or_else(|| format!("unknown mutant {n:?}"))?,
            ),
        };
        Ok(Options {
            steps: self.steps,
            mutant,
            workload: self.workload,
            ..Options::default()
        })
    }

    /// One JSON line.
    pub fn to_json(&self) -> String {
        // A result holds only strings, integers, finite floats and maps with string
        // keys, which always encode.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The JSON value in a file: the whole text if it is JSON, else its last non-empty
/// line — `sim run --json > FILE` keeps the text summary above the JSON line, and
/// such a file is accepted as it is.
pub fn json_of(text: &str) -> Result<serde_json::Value, String> {
    if let Ok(v) = serde_json::from_str(text) {
        return Ok(v);
    }
    let last = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .ok_or("empty file")?;
    serde_json::from_str(last).map_err(|e| format!("no JSON object as the last line: {e}"))
}

/// Read a result file (see [`json_of`]) and check it is one.
pub fn parse_result(text: &str) -> Result<ResultFile, String> {
    let v = json_of(text)?;
    result_of(v)
}

/// A JSON value as a result file, with a clear error if it is not one.
pub fn result_of(v: serde_json::Value) -> Result<ResultFile, String> {
    match v.get("format").and_then(|f| f.as_str()) {
        Some(RESULT_FORMAT) => {}
        Some(other) => {
            return Err(format!(
                "result format {other:?}, this sim reads {RESULT_FORMAT:?}"
            ))
        }
        None => {
            return Err(format!(
                "not a sim result file (no \"format\": {RESULT_FORMAT:?}); \
                 write one with `sim run --json`"
            ))
        }
    }
    let r: ResultFile =
        serde_json::from_value(v).map_err(|e| format!("malformed result file: {e}"))?;
    if r.per_seed.len() as u64 != r.summary.seeds {
        return Err(format!(
            "malformed result file: {} seeds counted but {} per-seed rows",
            r.summary.seeds,
            r.per_seed.len()
        ));
    }
    let (k, n) = r.seed_set.shard;
    if n == 0 || k == 0 || k > n {
        return Err(format!("malformed result file: shard {k}/{n}"));
    }
    Ok(r)
}
