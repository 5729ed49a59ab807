//! `sim`: run simulation campaigns, replay a seed, check determinism, hunt mutants.

use clap::{Parser, Subcommand};
use engine::mutant::Mutant;
use indicatif::{ProgressBar, ProgressStyle};
use sim::campaign::{self, Summary};
use sim::runner::{run_seed, Options};
use sim::shrink;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

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
        /// Print one JSON summary object as the last line of stdout.
        #[arg(long)]
        json: bool,
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

fn print_summary(s: &Summary) {
    println!("seeds              {}", s.seeds);
    println!("operations         {}", s.operations);
    println!("crashes            {}", s.crashes);
    println!("recoveries checked {}", s.recoveries_checked);
    println!(
        "damage detected    {} (reported by the engine: file replaced); {} damaged files \
         accepted at an older state (undetectable: a misdirected or rotten control record reads like a torn one)",
        s.damage_detected, s.damage_older_state
    );
    println!(
        "delta damage       {} files accepted at the state before their delta's last \
         transaction (damaged before a later one could vouch for it)",
        s.delta_older_state
    );
    println!(
        "log damage         {} reported by the engine (the seed ends: the operator restores the \
         log); {} recoveries dropped the log's damaged last synced group (nothing later vouched for it)",
        s.log_damage_detected, s.log_older_state
    );
    println!(
        "log modes          {}",
        s.log_modes
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "recoveries crashed {} (and redone)",
        s.interrupted_recoveries
    );
    println!(
        "operator requests through the admin path {}",
        s.admin_requests
    );
    println!(
        "recoveries under faults {} ({} failed with an explained status or a crash, then redone)",
        s.faulty_recoveries, s.failed_faulty_recoveries
    );
    println!("log segments recycled {}", s.segments_recycled);
    println!("group-committed Ends  {}", s.group_acks);
    println!(
        "backup cycles         {} started, {} copied and checked, {} ended (endbu or killed deltas)",
        s.backups_started, s.backups_copied, s.backups_ended
    );
    println!(
        "archival logging      {} backups copied and checked, {} rolled forward and checked \
         (invariant 7; {} crashed part-way and {} first run under faults, then run again; {} \
         skipped for damage); {} backups \
         older than their log refused (41), {} with no frame to show the gap",
        s.archival_backups,
        s.rollforwards_checked,
        s.rollforwards_crashed,
        s.rollforwards_under_faults,
        s.rollforwards_skipped_damaged,
        s.rollforward_gaps_refused,
        s.rollforward_gaps_unseen
    );
    println!(
        "inventory transfers   {} (totals changed by a crash, log mode Off only: {})",
        s.transfers, s.inventory_splits
    );
    println!(
        "transactions       {} ended, {} aborted; {} multi-file split by a crash (log mode Off)",
        s.transactions_ended, s.transactions_aborted, s.split_transactions
    );
    println!(
        "fault statuses excused {} by a fault in the same step, {} by an earlier fault \
         since the engine started, {} by a lying fault's damage (any other: status without cause)",
        s.excused_direct, s.excused_sticky, s.excused_damaged
    );
    println!("faults injected:");
    for (k, v) in &s.faults {
        println!("  {k:<28} {v}");
    }
    println!("failures           {}", s.failures.len());
    println!(
        "time               {:.1} s ({:.1} seeds/s)",
        s.seconds, s.seeds_per_second
    );
    for f in &s.failures {
        println!(
            "FAIL seed {}: {}\n  replay: {}",
            f.seed, f.message, f.replay
        );
    }
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
        } => {
            let opts = Options {
                steps,
                mutant,
                ..Options::default()
            };
            let list: Vec<u64> =
                campaign::shard_seeds(start, seeds, shard.unwrap_or((1, 1))).collect();
            let bar = ProgressBar::new(list.len() as u64);
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:40} {pos}/{len} seeds {per_sec} eta {eta} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            let t = Instant::now();
            let mut sum = Summary::default();
            for seed in list {
                let o = run_seed(seed, &opts);
                if let Some(m) = &o.failure {
                    bar.println(format!(
                        "FAIL seed {seed}: {m}\n  replay: {}",
                        campaign::replay_command(seed, &opts)
                    ));
                }
                sum.add(&o, &opts);
                bar.set_message(format!("{} failures", sum.failures.len()));
                bar.inc(1);
            }
            bar.finish_and_clear();
            sum.seconds = t.elapsed().as_secs_f64();
            sum.seeds_per_second = sum.seeds as f64 / sum.seconds.max(1e-9);
            print_summary(&sum);
            if json {
                println!("{}", serde_json::to_string(&sum).unwrap_or_default());
            }
            if sum.failures.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
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
