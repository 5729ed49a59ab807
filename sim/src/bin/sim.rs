//! `sim`: run simulation campaigns, replay a seed, check determinism, hunt mutants.

use clap::{Parser, Subcommand};
use engine::mutant::Mutant;
use indicatif::{ProgressBar, ProgressStyle};
use sim::campaign::parallel::{self, Campaign};
use sim::campaign::result::{parse_result, ResultFile};
use sim::campaign::{self, merge, text::summary_text};
use sim::runner::{run_seed, Options};
use sim::shrink;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A campaign allocates and frees small buffers (pages, records, model maps) at a high
/// rate; mimalloc does that markedly faster than the system allocator. Only this
/// binary chooses it: the engine library leaves the allocator to its host.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "sim",
    about = "Keel's deterministic simulation and fault-injection harness"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a campaign over many seeds and print a summary.
    Run {
        #[arg(long, default_value_t = 100)]
        seeds: u64,
        #[arg(long, default_value_t = 0)]
        start: u64,
        /// Run only shard K of N (1-based), e.g. 2/8.
        #[arg(long, value_parser = parse_shard)]
        shard: Option<(u64, u64)>,
        #[arg(long, default_value_t = 1000)]
        steps: usize,
        /// Run a known-bad engine.
        #[arg(long, value_parser = parse_mutant)]
        mutant: Option<Mutant>,
        /// Print the result file (one JSON object: seed set, commit, workload
        /// generation, every counter, failures, per-seed rows) as the last line of stdout.
        #[arg(long)]
        json: bool,
        /// Worker threads (default: every core). The result does not depend on it.
        #[arg(long)]
        jobs: Option<usize>,
    },
    /// Combine shard result files (`sim run --shard K/N --json`) into the summary one
    /// unsharded run prints; refuses files of different builds or runs, gaps and
    /// overlaps (exit 2), and exits 1 if any seed failed.
    Merge {
        /// Result files: the JSON line alone or the whole `sim run --json` output.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print the merged result file as the last line of stdout.
        #[arg(long)]
        json: bool,
    },
    /// Write one self-contained HTML page from result files (`sim run --json`, `sim
    /// merge --json`; shards of one campaign are merged) and mutant tables (`sim
    /// mutants --json`): summary, faults by kind, crashes and recoveries per seed,
    /// seeds/s, the mutant table, each failure with its replay command and, for the
    /// first few, the shrunk trace (shrunk in-process, bounded).
    Report {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The page to write.
        #[arg(short, long, default_value = "report.html")]
        output: PathBuf,
        /// Failures (the first N, over all campaigns) to shrink for a trace.
        #[arg(long, default_value_t = 3)]
        traces: usize,
        /// Runs allowed to shrink each of them.
        #[arg(long, default_value_t = 300)]
        shrink_runs: usize,
    },
    /// Reproduce one seed.
    Replay {
        seed: u64,
        #[arg(long, default_value_t = 1000)]
        steps: usize,
        #[arg(long, value_parser = parse_mutant)]
        mutant: Option<Mutant>,
        /// Print the trace (operations, crashes, recoveries, I/O).
        #[arg(long)]
        trace: bool,
        /// Workload generation (older ones replay old regression cases).
        #[arg(long, default_value_t = sim::workload::WORKLOAD_VERSION)]
        workload: u32,
        /// Replay a regression case file instead (its seed, steps and generation).
        #[arg(long)]
        case: Option<PathBuf>,
        /// Run a plan instead: any file, decoded as the structured fuzz target decodes
        /// its input (e.g. a crash file from `fuzz/artifacts/workload/`). SEED is
        /// ignored; the plan is printed first.
        #[arg(long, conflicts_with = "case")]
        plan: Option<PathBuf>,
    },
    /// Minimize a failing seed's workload and write it to DIR as a regression case.
    Shrink {
        seed: u64,
        #[arg(long, default_value_t = 1000)]
        steps: usize,
        #[arg(long, value_parser = parse_mutant)]
        mutant: Option<Mutant>,
        /// Where regression cases live.
        #[arg(long, default_value = "corpora/seeds")]
        out: PathBuf,
        /// Why the case exists (stored in it).
        #[arg(long, default_value = "")]
        note: String,
        /// Workload generation.
        #[arg(long, default_value_t = sim::workload::WORKLOAD_VERSION)]
        workload: u32,
    },
    /// Replay every regression case in DIR (what `cargo test` does).
    Corpus {
        #[arg(default_value = "corpora/seeds")]
        dir: PathBuf,
    },
    /// Run each seed twice and compare trace hashes.
    Determinism {
        #[arg(long, default_value_t = 50)]
        seeds: u64,
        #[arg(long, default_value_t = 1000)]
        steps: usize,
    },
    /// Run every known-bad engine and show which the harness catches.
    Mutants {
        #[arg(long, default_value_t = 1000)]
        max_seeds: u64,
        #[arg(long, default_value_t = 1000)]
        steps: usize,
        #[arg(long)]
        json: bool,
    },
}

fn parse_shard(s: &str) -> Result<(u64, u64), String> {
    let (k, n) = s.split_once('/').ok_or("expected K/N, e.g. 2/8")?;
    let k: u64 = k.parse().map_err(|_| "K is not a number")?;
    let n: u64 = n.parse().map_err(|_| "N is not a number")?;
    if n == 0 || k == 0 || k > n {
        return Err("need 1 <= K <= N".into());
    }
    Ok((k, n))
}

fn parse_mutant(s: &str) -> Result<Mutant, String> {
    Mutant::from_name(s).ok_or_else(|| {
        let names: Vec<_> = Mutant::ALL.iter().map(|m| m.name()).collect();
        format!("unknown mutant; one of {}", names.join(", "))
    })
}

/// Exit status of a campaign stopped by Ctrl-C (128 + SIGINT, as a shell reports it).
const INTERRUPTED: u8 = 130;

/// `sim run`: the seeds on `jobs` threads with a progress bar; the first Ctrl-C stops
/// taking seeds and prints the summary of those that finished (exit 130), a second
/// one exits at once.
fn run(c: &Campaign, jobs: usize, json: bool) -> ExitCode {
    let stop = Arc::new(AtomicBool::new(false));
    for r in [
        signal_hook::flag::register_conditional_shutdown(
            signal_hook::consts::SIGINT,
            INTERRUPTED as i32,
            Arc::clone(&stop),
        ),
        signal_hook::flag::register(signal_hook::consts::SIGINT, Arc::clone(&stop)),
    ] {
        if let Err(e) = r {
            eprintln!("warning: cannot handle Ctrl-C ({e}); it will end the run without a summary");
        }
    }
    let planned = c.seeds().len() as u64;
    let bar = ProgressBar::new(planned);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} seeds {per_sec} eta {eta} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut failures = 0;
    let r = parallel::run_campaign(c, jobs, &stop, |o| {
        if let Some(m) = &o.failure {
            failures += 1;
            bar.println(format!(
                "FAIL seed {}: {m}\n  replay: {}",
                o.seed,
                campaign::replay_command(o.seed, &c.opts)
            ));
        }
        bar.set_message(format!("{failures} failures"));
        bar.inc(1);
    });
    bar.finish_and_clear();
    print!("{}", summary_text(&r.summary));
    if r.interrupted || stop.load(Ordering::Relaxed) {
        println!(
            "INTERRUPTED: {} of {planned} seeds finished (Ctrl-C); the summary covers only those",
            r.summary.seeds
        );
    }
    if json {
        println!("{}", r.to_json());
    }
    if r.interrupted {
        ExitCode::from(INTERRUPTED)
    } else if r.summary.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Read result files, naming the file in any error.
fn read_results(files: &[PathBuf]) -> Result<Vec<(String, ResultFile)>, String> {
    files
        .iter()
        .map(|p| {
            let name = p.display().to_string();
            std::fs::read_to_string(p)
                .map_err(|e| format!("{name}: {e}"))
                .and_then(|t| parse_result(&t).map_err(|e| format!("{name}: {e}")))
                .map(|r| (name, r))
        })
        .collect()
}

/// `sim merge`: exit 2 if the files cannot be merged, 1 if a seed failed.
fn merge(files: &[PathBuf], json: bool) -> ExitCode {
    let results = match read_results(files) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sim merge: {e}");
            return ExitCode::from(2);
        }
    };
    let inputs: Vec<merge::Input<'_>> = results
        .iter()
        .map(|(name, result)| merge::Input { name, result })
        .collect();
    let merged = match merge::merge(&inputs) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("sim merge: {e}");
            return ExitCode::from(2);
        }
    };
    print!("{}", summary_text(&merged.summary));
    eprintln!(
        "merged {} shard files (engine {}, workload generation {}); seeds/s above is per \
         shard worker (total seeds / summed shard seconds); the slowest shard took {:.1} s",
        inputs.len(),
        merged.commit,
        merged.workload,
        merge::slowest_shard_seconds(&inputs)
    );
    if json {
        println!("{}", merged.to_json());
    }
    if merged.summary.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `sim report`: exit 2 if an input cannot be read or the page cannot be written.
fn report(
    files: &[PathBuf],
    output: &std::path::Path,
    traces: usize,
    shrink_runs: usize,
) -> ExitCode {
    let mut inputs = Vec::new();
    for p in files {
        let name = p.display().to_string();
        match std::fs::read_to_string(p)
            .map_err(|e| e.to_string())
            .and_then(|t| sim::report::load(&t))
        {
            Ok(l) => inputs.push((name, l)),
            Err(e) => {
                eprintln!("sim report: {name}: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let budget = sim::report::TraceBudget {
        failures: traces,
        runs_per_failure: shrink_runs,
    };
    let r = match sim::report::build(inputs, budget) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sim report: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = std::fs::write(output, sim::report::html::page(&r)) {
        eprintln!("sim report: cannot write {}: {e}", output.display());
        return ExitCode::from(2);
    }
    println!("wrote {}", output.display());
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Run {
            seeds,
            start,
            shard,
            steps,
            mutant,
            json,
            jobs,
        } => {
            let c = Campaign {
                start,
                count: seeds,
                shard: shard.unwrap_or((1, 1)),
                opts: Options {
                    steps,
                    mutant,
                    ..Options::default()
                },
            };
            run(&c, jobs.unwrap_or_else(parallel::default_jobs), json)
        }
        Cmd::Merge { files, json } => merge(&files, json),
        Cmd::Report {
            files,
            output,
            traces,
            shrink_runs,
        } => report(&files, &output, traces, shrink_runs),
        Cmd::Replay {
            seed,
            steps,
            mutant,
            trace,
            workload,
            case,
            plan,
        } => {
            if trace {
                tracing_subscriber::fmt()
                    .with_env_filter(tracing_subscriber::EnvFilter::new("sim=debug,keel=debug"))
                    .without_time()
                    .with_ansi(std::io::stdout().is_terminal())
                    .init();
            }
            let mut opts = Options {
                steps,
                mutant,
                only_steps: None,
                workload,
                plan: None,
            };
            let mut seed = seed;
            if let Some(path) = plan {
                match std::fs::read(&path) {
                    Ok(bytes) => {
                        let p = sim::plan::Plan::from_bytes(&bytes);
                        println!("{}", p.describe());
                        seed = p.setup.seed;
                        opts.plan = Some(p);
                    }
                    Err(e) => {
                        eprintln!("{}: {e}", path.display());
                        return ExitCode::FAILURE;
                    }
                }
            }
            if let Some(path) = case {
                let loaded = std::fs::read_to_string(&path)
                    .map_err(|e| e.to_string())
                    .and_then(|t| {
                        serde_json::from_str::<shrink::RegressionCase>(&t)
                            .map_err(|e| e.to_string())
                    })
                    .and_then(|c| c.options().map(|o| (c.seed, o)));
                match loaded {
                    Ok((s, o)) => {
                        seed = s;
                        opts = o;
                    }
                    Err(e) => {
                        eprintln!("{}: {e}", path.display());
                        return ExitCode::FAILURE;
                    }
                }
            }
            let o = run_seed(seed, &opts);
            println!(
                "seed {seed}: {} operations, {} crashes, {} recoveries checked, trace hash {:016x}",
                o.operations, o.crashes, o.recoveries_checked, o.trace_hash
            );
            match o.failure {
                None => {
                    println!("ok");
                    ExitCode::SUCCESS
                }
                Some(m) => {
                    println!("FAIL: {m}");
                    ExitCode::FAILURE
                }
            }
        }
        Cmd::Shrink {
            seed,
            steps,
            mutant,
            out,
            note,
            workload,
        } => {
            let opts = Options {
                steps,
                mutant,
                only_steps: None,
                workload,
                plan: None,
            };
            let bar = ProgressBar::new_spinner();
            struct Bar<'a>(&'a ProgressBar);
            impl shrink::Observer for Bar<'_> {
                fn tried(&mut self, left: usize, runs: usize) {
                    self.0
                        .set_message(format!("{left} steps left after {runs} runs"));
                    self.0.tick();
                }
            }
            let Some((mut case, runs)) = shrink::shrink(seed, &opts, &mut Bar(&bar)) else {
                bar.finish_and_clear();
                println!("seed {seed} does not fail; nothing to shrink");
                return ExitCode::FAILURE;
            };
            bar.finish_and_clear();
            case.note = note;
            let path = out.join(case.file_name());
            let text = match serde_json::to_string_pretty(&case) {
                Ok(t) => t + "\n",
                Err(e) => {
                    eprintln!("cannot encode the case: {e}");
                    return ExitCode::FAILURE;
                }
            };
            if let Err(e) = std::fs::create_dir_all(&out).and_then(|()| std::fs::write(&path, text))
            {
                eprintln!("cannot write {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
            println!(
                "seed {seed}: {} of {steps} steps still fail ({runs} runs): {}",
                case.only_steps.len(),
                case.failure
            );
            println!("steps kept: {:?}", case.only_steps);
            println!("wrote {}", path.display());
            ExitCode::SUCCESS
        }
        Cmd::Corpus { dir } => {
            let cases = match shrink::load_cases(&dir) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
            };
            let mut bad = 0;
            for (path, case) in &cases {
                match shrink::replay_case(case) {
                    Ok(()) => println!("ok   {}", path.display()),
                    Err(e) => {
                        bad += 1;
                        println!("FAIL {}: {e}", path.display());
                    }
                }
            }
            println!("{} cases, {bad} failing", cases.len());
            if bad == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Cmd::Determinism { seeds, steps } => {
            let bad = campaign::determinism(
                0..seeds,
                &Options {
                    steps,
                    ..Options::default()
                },
            );
            if bad.is_empty() {
                println!("determinism: {seeds} seeds each ran twice with identical trace hashes");
                ExitCode::SUCCESS
            } else {
                println!("determinism FAILED for seeds {bad:?}");
                ExitCode::FAILURE
            }
        }
        Cmd::Mutants {
            max_seeds,
            steps,
            json,
        } => {
            let results: Vec<_> = Mutant::ALL
                .iter()
                .map(|&m| campaign::hunt(m, max_seeds, steps))
                .collect();
            println!(
                "{:<26} {:<7} {:>18} {:>12}",
                "mutant", "caught", "first failing seed", "seeds needed"
            );
            for r in &results {
                println!(
                    "{:<26} {:<7} {:>18} {:>12}",
                    r.mutant,
                    if r.caught { "yes" } else { "NO" },
                    r.first_failing_seed
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| "-".into()),
                    r.seeds_needed
                );
            }
            if json {
                println!("{}", serde_json::to_string(&results).unwrap_or_default());
            }
            if results.iter().all(|r| r.caught) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
