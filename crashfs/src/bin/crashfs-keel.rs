//! Keel's scenarios for crashfs, and their oracle.
//!
//! Each scenario (`loads`, `contops`, `durability`, `legacy`, `archival`) is a setup
//! making a directory, a shell command of real `butil` runs that prints `ack N` after
//! each one that succeeded, and an oracle that recovers a crash state the way an
//! operator would (with the same butil) and judges what it finds against the acks.
//!
//! ```text
//! crashfs-keel setup SCENARIO DIR       make the scenario directory
//! crashfs-keel command SCENARIO         the shell script to record (cwd = DIR)
//! crashfs-keel run SCENARIO DIR         run that script here, without crashfs
//! crashfs-keel oracle SCENARIO          judge the state in the cwd (crashfs's oracle)
//! crashfs-keel campaign [...]           setup + crashfs record + crashfs check, each scenario
//! ```
//!
//! butil is `$BUTIL` or the `butil` beside this executable; crashfs is `$CRASHFS` or
//! the `crashfs` beside it.

#[path = "keel/butil.rs"]
mod butil;
#[path = "keel/campaign.rs"]
mod campaign;
#[path = "keel/coalesce.rs"]
mod coalesce;
#[path = "keel/oracle.rs"]
mod oracle;
#[path = "keel/records.rs"]
mod records;
#[path = "keel/scenario.rs"]
mod scenario;

use crate::butil::Butil;
use crate::campaign::{CheckOptions, Outcome};
use crate::scenario::{AckOrder, Scenario};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "crashfs-keel",
    about = "Keel's crash scenarios for crashfs, and their oracle"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Make the scenario directory DIR (inputs, and the initial data file if any).
    Setup { scenario: Scenario, dir: PathBuf },
    /// Print the shell script to record, to be run by `sh` with cwd = the scenario directory.
    Command { scenario: Scenario },
    /// Run the scenario's script in DIR (made by `setup`) without crashfs; its acks go
    /// to stdout, butil's reports to stderr.
    Run { scenario: Scenario, dir: PathBuf },
    /// Judge the crash state in the current directory (CRASHFS_DIR if set), given the
    /// acks in the file CRASHFS_ACKS. Exit 0 if acceptable; else 1 and a last line
    /// `KIND: message` (2 for an error of the oracle itself, kind `oracle`).
    Oracle { scenario: Scenario },
    /// For each scenario: setup, `crashfs record`, `crashfs check`; a summary table.
    /// Exit 0 only if every scenario ran with no failure.
    Campaign(CampaignArgs),
}

#[derive(clap::Args)]
struct CampaignArgs {
    /// Scenarios to run (default: all). Repeatable.
    #[arg(long = "scenario")]
    scenarios: Vec<Scenario>,
    /// Persistence model (crashfs check --model): conservative or ext4-ordered;
    /// default both.
    #[arg(long)]
    model: Option<String>,
    /// Most crash states per scenario (crashfs check --max-states).
    #[arg(long)]
    max_states: Option<u64>,
    /// Random crash states per crash point and model (crashfs check --random), with
    /// --seed; default 32, 4 for durability (each of its states copies 16 MiB of log).
    #[arg(long)]
    random: Option<u64>,
    #[arg(long)]
    seed: Option<u64>,
    /// Oracles run at once (crashfs check --jobs).
    #[arg(long, default_value_t = 2)]
    jobs: u64,
    /// Oracle timeout in seconds (crashfs check --timeout).
    #[arg(long)]
    timeout: Option<u64>,
    /// Keep failing states under KEEP/SCENARIO (crashfs check --keep).
    #[arg(long)]
    keep: Option<PathBuf>,
    /// Work directory (scenario directories and traces, kept); default a temporary
    /// directory removed at the end.
    #[arg(long)]
    work: Option<PathBuf>,
    /// Print the outcomes as one JSON array instead of the table.
    #[arg(long)]
    json: bool,
    /// Calibration: record a broken script that prints each ack before its step
    /// runs, so acknowledged work is not yet durable; the campaign must then report
    /// failures (`lost-ack`, `missing`). A checker that finds none is broken.
    #[arg(long)]
    ack_before_step: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Setup { scenario, dir } => setup(scenario, &dir),
        Cmd::Command { scenario } => butil::locate().map(|b| {
            print!("{}", scenario.spec().script(&b));
            ExitCode::SUCCESS
        }),
        Cmd::Run { scenario, dir } => run(scenario, &dir),
        Cmd::Oracle { scenario } => return oracle_main(scenario),
        Cmd::Campaign(args) => campaign_main(args),
    };
    result.unwrap_or_else(|e| {
        eprintln!("crashfs-keel: {e}");
        ExitCode::from(2)
    })
}

fn setup(scenario: Scenario, dir: &Path) -> Result<ExitCode, String> {
    let spec = scenario.spec();
    spec.setup(dir, &Butil::new(butil::locate()?, spec.env.clone()))?;
    Ok(ExitCode::SUCCESS)
}

fn run(scenario: Scenario, dir: &Path) -> Result<ExitCode, String> {
    let script = scenario.spec().script(&butil::locate()?);
    let status = std::process::Command::new("sh")
        .args(["-c", &script])
        .current_dir(dir)
        .status()
        .map_err(|e| format!("running sh: {e}"))?;
    Ok(match status.success() {
        true => ExitCode::SUCCESS,
        false => ExitCode::FAILURE,
    })
}

/// The oracle: the verdict's last stdout line is what crashfs reads.
fn oracle_main(scenario: Scenario) -> ExitCode {
    match oracle_verdict(scenario) {
        Ok(Ok(msg)) => {
            println!("ok: {msg}");
            ExitCode::SUCCESS
        }
        Ok(Err(f)) => {
            println!("{}: {}", f.kind, f.message);
            ExitCode::FAILURE
        }
        Err(e) => {
            println!("oracle: {e}");
            ExitCode::from(2)
        }
    }
}

/// `Err` only for the oracle's own trouble (no butil, no acks file).
fn oracle_verdict(scenario: Scenario) -> Result<Result<String, oracle::Failure>, String> {
    let spec = scenario.spec();
    let dir = match std::env::var_os("CRASHFS_DIR") {
        Some(d) => PathBuf::from(d),
        None => std::env::current_dir().map_err(|e| format!("current directory: {e}"))?,
    };
    let acks_path = std::env::var_os("CRASHFS_ACKS").ok_or("CRASHFS_ACKS is not set")?;
    let acks = std::fs::read(&acks_path).map_err(|e| {
        format!(
            "reading CRASHFS_ACKS {}: {e}",
            Path::new(&acks_path).display()
        )
    })?;
    let acked = oracle::count_acks(&acks)?;
    let butil = Butil::new(butil::locate()?, spec.env.clone());
    let scratch = tempfile::tempdir().map_err(|e| format!("scratch directory: {e}"))?;
    Ok(oracle::judge(&spec, &dir, acked, &butil, scratch.path()))
}

fn campaign_main(args: CampaignArgs) -> Result<ExitCode, String> {
    let butil = butil::locate()?;
    let crashfs = campaign::locate_crashfs()?;
    let temp;
    let work = match &args.work {
        Some(w) => w.clone(),
        None => {
            temp = tempfile::tempdir().map_err(|e| format!("work directory: {e}"))?;
            temp.path().to_path_buf()
        }
    };
    let opts = CheckOptions {
        model: args.model.clone(),
        max_states: args.max_states,
        random: args.random,
        seed: args.seed,
        jobs: Some(args.jobs),
        timeout: args.timeout,
        keep: args.keep.clone(),
        ack_order: match args.ack_before_step {
            true => AckOrder::BeforeStep,
            false => AckOrder::AfterStep,
        },
    };
    let scenarios = match args.scenarios.is_empty() {
        true => scenario::ALL.to_vec(),
        false => args.scenarios.clone(),
    };
    let mut outcomes: Vec<Outcome> = Vec::new();
    for s in scenarios {
        eprintln!("crashfs-keel: scenario {}", s.name());
        outcomes.push(campaign::run_scenario(s, &work, &butil, &crashfs, &opts)?);
    }
    if args.json {
        let json = serde_json::to_string(&outcomes).map_err(|e| e.to_string())?;
        println!("{json}");
    } else {
        campaign::print_table(&outcomes);
    }
    let failed = outcomes.iter().any(|o| o.failures > 0);
    Ok(match failed {
        true => ExitCode::FAILURE,
        false => ExitCode::SUCCESS,
    })
}
