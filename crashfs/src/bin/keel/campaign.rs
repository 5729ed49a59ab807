//! `crashfs-keel campaign`: for each scenario, set it up, record its command under
//! `crashfs record`, check every crash state under `crashfs check` with this binary's
//! oracle, and summarise.

use crate::butil::Butil;
use crate::scenario::{shell_quote, AckOrder, Scenario};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// What the campaign passes through to `crashfs check`.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    pub model: Option<String>,
    pub max_states: Option<u64>,
    pub random: Option<u64>,
    pub seed: Option<u64>,
    pub jobs: Option<u64>,
    pub timeout: Option<u64>,
    pub keep: Option<PathBuf>,
    /// Record the broken script (acks before their steps) instead of the real one.
    pub ack_order: AckOrder,
}

/// One scenario's line of the summary (what `crashfs check --json` reported).
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    pub scenario: String,
    pub ops: u64,
    pub crash_points: u64,
    pub states: u64,
    pub failures: u64,
    pub failures_by_kind: serde_json::Value,
    pub seconds: f64,
    /// Zero writes merged before the check, and into how many (see `coalesce`).
    pub zero_writes_coalesced: (usize, usize),
    /// The first failures crashfs listed (at most 5), for the report.
    pub first_failures: Vec<serde_json::Value>,
}

/// Where the `crashfs` binary is: `$CRASHFS`, else beside this executable.
pub fn locate_crashfs() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("CRASHFS").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().map_err(|e| format!("locating this executable: {e}"))?;
    let path = exe
        .parent()
        .map(|d| d.join(format!("crashfs{}", std::env::consts::EXE_SUFFIX)))
        .ok_or("this executable has no directory")?;
    match path.is_file() {
        true => Ok(path),
        false => Err(format!(
            "{} is missing: build it with `cargo build --release -p crashfs` or set CRASHFS",
            path.display()
        )),
    }
}

/// Run one scenario end to end in `work/NAME/`.
pub fn run_scenario(
    scenario: Scenario,
    work: &Path,
    butil: &Path,
    crashfs: &Path,
    opts: &CheckOptions,
) -> Result<Outcome, String> {
    let started = Instant::now();
    let spec = scenario.spec();
    let base = work.join(scenario.name());
    let dir = base.join("dir");
    let trace = base.join("trace.json");
    spec.setup(&dir, &Butil::new(butil.to_path_buf(), spec.env.clone()))?;
    let dir_abs = std::path::absolute(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    record(
        &spec.script_with(butil, opts.ack_order),
        &dir_abs,
        &trace,
        crashfs,
    )?;
    let (checked, coalesced) = coalesce(&trace, &base.join("trace-coalesced.json"))?;
    let report = check(scenario, &checked, butil, crashfs, opts)?;
    let mut outcome = outcome(scenario, &report, started.elapsed().as_secs_f64())?;
    outcome.zero_writes_coalesced = coalesced;
    Ok(outcome)
}

/// The trace to check: `trace` itself, or — when it holds runs of zero writes (the
/// log's segment copies, see [`crate::coalesce`]) — a copy at `out` with each run
/// merged into one write; with how many writes were merged into how many.
fn coalesce(trace: &Path, out: &Path) -> Result<(PathBuf, (usize, usize)), String> {
    let original = crashfs::trace::Trace::load(trace)?;
    let mut t = original.clone();
    let stats = crate::coalesce::coalesce_zero_fill(&mut t);
    if stats.writes_in == 0 {
        return Ok((trace.to_path_buf(), (0, 0)));
    }
    if !crate::coalesce::same_end_state(&original, &t) {
        return Err(format!(
            "{}: merging its zero writes changed the directory it replays to",
            trace.display()
        ));
    }
    t.save(out)?;
    Ok((out.to_path_buf(), (stats.writes_in, stats.writes_out)))
}

/// `crashfs record --dir DIR --out TRACE -- sh -c 'cd DIR && SCRIPT'`.
fn record(script: &str, dir: &Path, trace: &Path, crashfs: &Path) -> Result<(), String> {
    let dir_s = dir.display().to_string();
    let shell = format!("cd {} || exit 1\n{script}", shell_quote(&dir_s));
    let out = Command::new(crashfs)
        .arg("record")
        .arg("--dir")
        .arg(dir)
        .arg("--out")
        .arg(trace)
        .args(["--", "sh", "-c", &shell])
        .output()
        .map_err(|e| format!("running {}: {e}", crashfs.display()))?;
    match out.status.success() {
        true => Ok(()),
        false => Err(format!(
            "crashfs record failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )),
    }
}

/// `crashfs check --trace TRACE --oracle '... oracle NAME' --json …`: its JSON report.
fn check(
    scenario: Scenario,
    trace: &Path,
    butil: &Path,
    crashfs: &Path,
    opts: &CheckOptions,
) -> Result<serde_json::Value, String> {
    let me = std::env::current_exe().map_err(|e| format!("locating this executable: {e}"))?;
    let oracle = format!(
        "BUTIL={} {} oracle {}",
        shell_quote(&butil.display().to_string()),
        shell_quote(&me.display().to_string()),
        scenario.name()
    );
    let mut cmd = Command::new(crashfs);
    cmd.arg("check")
        .arg("--trace")
        .arg(trace)
        .args(["--oracle", &oracle, "--json"]);
    let pairs = [
        ("--model", opts.model.clone()),
        ("--max-states", opts.max_states.map(|n| n.to_string())),
        (
            "--random",
            Some(opts.random.unwrap_or(scenario.default_random()).to_string()),
        ),
        ("--seed", opts.seed.map(|n| n.to_string())),
        ("--jobs", opts.jobs.map(|n| n.to_string())),
        ("--timeout", opts.timeout.map(|n| n.to_string())),
    ];
    for (flag, value) in pairs {
        if let Some(v) = value {
            cmd.args([flag, &v]);
        }
    }
    if let Some(keep) = &opts.keep {
        cmd.arg("--keep").arg(keep.join(scenario.name()));
    }
    let out = cmd
        .output()
        .map_err(|e| format!("running {}: {e}", crashfs.display()))?;
    // Exit 1 means failures found: the JSON says which. Anything else is an error.
    if !matches!(out.status.code(), Some(0) | Some(1)) {
        return Err(format!(
            "crashfs check failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| {
        format!(
            "crashfs check --json printed no JSON ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// The summary line from `crashfs check`'s report.
fn outcome(
    scenario: Scenario,
    report: &serde_json::Value,
    seconds: f64,
) -> Result<Outcome, String> {
    let number = |field: &str| {
        report
            .get(field)
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| format!("crashfs check --json: no number {field:?}"))
    };
    let first_failures = report
        .get("failure_list")
        .and_then(serde_json::Value::as_array)
        .map(|l| l.iter().take(5).cloned().collect())
        .unwrap_or_default();
    Ok(Outcome {
        scenario: scenario.name().to_string(),
        ops: number("ops")?,
        crash_points: number("crash_points")?,
        states: number("states")?,
        failures: number("failures")?,
        failures_by_kind: report
            .get("failures_by_kind")
            .cloned()
            .unwrap_or(serde_json::Value::Null),
        seconds,
        zero_writes_coalesced: (0, 0),
        first_failures,
    })
}

/// The summary table.
pub fn print_table(outcomes: &[Outcome]) {
    println!(
        "{:<12} {:>6} {:>12} {:>8} {:>9} {:>8}  failures by kind",
        "scenario", "ops", "crash points", "states", "failures", "seconds"
    );
    for o in outcomes {
        println!(
            "{:<12} {:>6} {:>12} {:>8} {:>9} {:>8.1}  {}",
            o.scenario, o.ops, o.crash_points, o.states, o.failures, o.seconds, o.failures_by_kind
        );
    }
    for o in outcomes.iter().filter(|o| o.zero_writes_coalesced.0 > 0) {
        let (from, to) = o.zero_writes_coalesced;
        println!(
            "{}: {from} zero writes (log segment copies) checked as {to} (crashfs-keel coalesce)",
            o.scenario
        );
    }
    let sum = |f: fn(&Outcome) -> u64| outcomes.iter().map(f).sum::<u64>();
    println!(
        "{:<12} {:>6} {:>12} {:>8} {:>9} {:>8.1}",
        "total",
        sum(|o| o.ops),
        sum(|o| o.crash_points),
        sum(|o| o.states),
        sum(|o| o.failures),
        outcomes.iter().map(|o| o.seconds).sum::<f64>()
    );
    for o in outcomes.iter().filter(|o| o.failures > 0) {
        for f in &o.first_failures {
            println!("{} failure: {f}", o.scenario);
        }
    }
}
