//! `crashfs`: record a command's file system calls, then check every crash state.

use clap::{Parser, Subcommand};
use crashfs::check::{self, RunOptions};
use crashfs::model::Model;
use crashfs::plan::{self, PlanOptions};
use crashfs::record;
use crashfs::report::Report;
use crashfs::trace::Trace;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(
    about = "Real-filesystem crash checking: record a command under strace, rebuild every crash state a persistence model allows, judge each with an oracle"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run CMD under strace and write the trace of what it did to DIR.
    Record {
        /// The directory whose crash states matter (its current contents are the snapshot).
        #[arg(long)]
        dir: PathBuf,
        /// Where to write the trace (JSON).
        #[arg(long)]
        out: PathBuf,
        /// The command (after `--`).
        #[arg(last = true, required = true)]
        cmd: Vec<String>,
    },
    /// Judge every crash state of TRACE with ORACLE (a shell command run in each state's directory,
    /// with CRASHFS_DIR, CRASHFS_CRASH_POINT and CRASHFS_ACKS set; exit 0 = acceptable).
    Check {
        #[arg(long)]
        trace: PathBuf,
        #[arg(long)]
        oracle: String,
        /// Persistence models to use (default: both).
        #[arg(long, value_enum)]
        model: Vec<Model>,
        /// At most this many distinct states are judged (whole families first, then an even sample).
        #[arg(long, default_value_t = 5000)]
        max_states: usize,
        /// Seeded random subsets per crash point and model.
        #[arg(long, default_value_t = 4)]
        random: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Oracles run in parallel (default: every core).
        #[arg(long)]
        jobs: Option<usize>,
        /// Print the report as JSON on stdout.
        #[arg(long)]
        json: bool,
        /// Make state directories here and keep failing ones (default: the temporary directory).
        #[arg(long)]
        keep: Option<PathBuf>,
        /// Seconds before an oracle run counts as a failure (kind `timeout`).
        #[arg(long, default_value_t = 60)]
        timeout: u64,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("crashfs: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, String> {
    match cli.cmd {
        Cmd::Record { dir, out, cmd } => {
            let r = record::record(&dir, &cmd)?;
            r.trace.save(&out)?;
            let t = &r.trace;
            println!(
                "recorded {} ({} system calls traced): {} ops on {}, {} bytes printed; replay matches the directory. Trace: {}",
                cmd.join(" "),
                r.calls,
                t.ops.len(),
                t.dir,
                r.stdout.len(),
                out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Check {
            trace,
            oracle,
            model,
            max_states,
            random,
            seed,
            jobs,
            json,
            keep,
            timeout,
        } => {
            let started = Instant::now();
            let t = Trace::load(&trace)?;
            let models = if model.is_empty() {
                vec![Model::Conservative, Model::Ext4Ordered]
            } else {
                model
            };
            let plan = plan::plan(
                &t,
                &PlanOptions {
                    models,
                    max_states,
                    random,
                    seed,
                },
            );
            if let Some(k) = &keep {
                std::fs::create_dir_all(k)
                    .map_err(|e| format!("cannot make {}: {e}", k.display()))?;
            }
            let jobs =
                jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            let opts = RunOptions {
                oracle: oracle.clone(),
                jobs,
                timeout: Duration::from_secs(timeout),
                keep,
                keep_limit: 20,
            };
            let bar = indicatif::ProgressBar::new(plan.states.len() as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:40} {pos}/{len} states, {per_sec}, eta {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            let verdicts = check::run(&t, &plan.states, &opts, &bar)?;
            bar.finish_and_clear();
            let report = Report::new(
                &trace.display().to_string(),
                &t,
                &oracle,
                &plan,
                &verdicts,
                started.elapsed().as_secs_f64(),
            );
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
                );
            } else {
                print!("{}", report.text(5));
            }
            Ok(if report.failures == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}
