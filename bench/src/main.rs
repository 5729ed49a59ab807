//! `bench`: Keel against SQLite and redb, in one run, on the same directory's disk, on
//! the same records and key orders, at the same durability, with the same cache — and
//! the simulator's own speed. Prints a table of medians and Keel's ratios; `--json`
//! writes every figure and every run (layout in `report`), `--svg` a chart of the ratios.
//!
//! ```text
//! cargo run --release -p bench -- [--quick] [--json FILE] [--svg FILE] [--dir DIR]
//!                                 [--records N] [--runs N] [--cache-mib N]
//!                                 [--delta-mib N]
//! ```
//!
//! The parent (`runner`) runs each engine's side of each row as a child process of this
//! binary (`--child JOB`, `child`), which is what gives a peak RSS per engine per row
//! (`rss`). One module per engine (`keel`, `sqlite`, `redb_store`), per workload outside
//! them (`fsync`, `simulator`), `fs_kind` (what the scratch directory is on), `report`
//! (table and JSON), `plot` (SVG); `common` holds the record layout and sizes.

mod child;
mod common;
mod fs_kind;
mod fsync;
mod keel;
mod plot;
mod redb_store;
mod report;
mod rss;
mod runner;
mod simulator;
mod sqlite;

use clap::Parser;
use common::{median, BenchError, Ctx, Result, Sizes};
use report::{Better, Results, Row};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Parser, Debug)]
#[command(
    name = "bench",
    about = "Keel vs SQLite (WAL, synchronous=FULL) vs redb (Immediate): same disk, records, \
             cache; medians of several runs, peak RSS per engine per row"
)]
struct Cli {
    /// Shrink every workload 50-100x and run each row once (a smoke run of well under a
    /// minute).
    #[arg(long)]
    quick: bool,
    /// Write every figure to FILE as JSON.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write the ratio chart to FILE (default: the JSON's path with .svg, else
    /// bench-results.svg here).
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
    /// Make the scratch directory inside DIR (default: the OS temp dir). Its disk is
    /// what every engine writes to; a memory-backed file system (tmpfs) is warned about.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Records in the bulk loads (and the database the reads run over), instead of
    /// the mode's default (1,000,000; 20,000 with --quick). Up to 10,000,000 is
    /// supported (Keel's load holds its input in memory: about 110 bytes a record).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    records: Option<u64>,
    /// Runs of every row, 1-5 (default 3; 1 with --quick); the table shows medians.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=5))]
    runs: Option<u64>,
    /// Page cache of every engine, MiB (default 64).
    #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..=65536))]
    cache_mib: Option<u64>,
    /// Keel's roll-in row: grow the delta to about MIB MiB before the timed open +
    /// endbu (default 64; 4 with --quick). Needs about twice that on the disk.
    #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..=65536))]
    delta_mib: Option<u64>,
    /// Bytes of each Keel data-page slot's serial, 1-8 (default 3): 100-byte records
    /// fit 37 to a 4 KiB page with 8, 38 with 4, 39 with 3. A page then takes a record
    /// only within 2^(8N) insertions of its oldest live one, far more than any row here
    /// makes.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=8))]
    serial_bytes: Option<u8>,
    /// Internal: run one measurement (a JSON job) and print its outcome.
    #[arg(long, hide = true, value_name = "JOB")]
    child: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match &cli.child {
        Some(job) => child::main(job),
        None => run(&cli),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The one-line load average (`/proc/loadavg`), to say how busy the machine was.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn run(cli: &Cli) -> Result<()> {
    let mut sizes = if cli.quick {
        Sizes::quick()
    } else {
        Sizes::default_run()
    };
    if let Some(n) = cli.records {
        sizes.load_records = n;
        sizes.lookups = sizes
            .lookups
            .min(usize::try_from(n).unwrap_or(usize::MAX) * 4);
    }
    if let Some(r) = cli.runs {
        sizes.runs = r as usize;
    }
    if let Some(m) = cli.cache_mib {
        sizes.cache_bytes = m << 20;
    }
    if let Some(m) = cli.delta_mib {
        sizes.delta_mib = m;
    }
    if let Some(n) = cli.serial_bytes {
        sizes.serial_bytes = n;
    }
    let scratch = match &cli.dir {
        Some(d) => tempfile::TempDir::new_in(d),
        None => tempfile::TempDir::new(),
    }
    .ctx("creating the scratch directory")?;
    let dir = scratch.path();
    eprintln!("bench: scratch directory {}", dir.display());
    let fs = fs_kind::of(dir)?;
    if fs.in_memory {
        eprintln!(
            "bench: WARNING: {} is on {} (memory-backed): syncs cost nothing there, so \
             every durable figure measures CPU only. Use --dir on a disk.",
            dir.display(),
            fs.fstype
        );
    }
    let exe = std::env::current_exe().ctx("finding the bench binary")?;
    let start = Instant::now();
    let mut res = Results::new(sizes.clone());
    res.fs = Some(fs);
    res.load_before = load_average();

    runner::run_all(&exe, dir, &sizes, &mut res)?;
    derived(&sizes, &mut res)?;
    res.load_after = load_average();
    simulator(&sizes, &mut res);

    res.total_seconds = start.elapsed().as_secs_f64();
    print!("{}", res.table());
    println!("total {:.1} s", res.total_seconds);
    if let Some(path) = &cli.json {
        let text = serde_json::to_string_pretty(&res.json()).ctx("encoding the JSON")?;
        std::fs::write(path, text + "\n").ctx(format_args!("writing {}", path.display()))?;
    }
    let svg = match (&cli.svg, &cli.json) {
        (Some(p), _) => p.clone(),
        (None, Some(j)) => j.with_extension("svg"),
        (None, None) => PathBuf::from("bench-results.svg"),
    };
    let footer = res
        .rows
        .iter()
        .filter(|r| r.key == "commit8_per_sync")
        .map(|r| format!("Keel only: {} = {:.2}", r.label, r.keel))
        .collect::<Vec<_>>();
    plot::ratio_chart(&res.rows, &footer, &svg)?;
    eprintln!("bench: chart written to {}", svg.display());
    Ok(())
}

/// Figures computed from the rows' extras: the file-size rows, the 8-client commits per
/// log sync row, and the singles beside the table.
fn derived(sizes: &Sizes, res: &mut Results) -> Result<()> {
    let extra = |res: &Results, k: &str| {
        res.extras
            .get(k)
            .copied()
            .ok_or_else(|| BenchError(format!("figure {k} was not measured")))
    };
    let probes = res.probes.clone();
    res.single(
        "fsync.syncs_per_second",
        &format!(
            "raw sync limit (4 KiB write + fdatasync), median of {} probes",
            probes.len()
        ),
        "syncs/s",
        median(&probes),
    );
    let (lo, hi) = probes
        .iter()
        .fold((f64::INFINITY, 0.0f64), |(l, h), &v| (l.min(v), h.max(v)));
    res.single("fsync.min", "raw sync limit, slowest probe", "syncs/s", lo);
    res.single("fsync.max", "raw sync limit, fastest probe", "syncs/s", hi);

    let per_sync = extra(res, "commit8.keel.commits_per_sync")?;
    let at = res
        .rows
        .iter()
        .position(|r| r.key == "commit8_mutex")
        .map_or(res.rows.len(), |i| i + 1);
    let peak = res
        .rows
        .iter()
        .find(|r| r.key == "commit8")
        .map(|r| r.peak_kib)
        .unwrap_or_default();
    res.rows.insert(
        at,
        Row {
            key: "commit8_per_sync",
            label: format!(
                "Keel commits per log sync, {} clients (Durability)",
                sizes.clients
            ),
            unit: "commits/sync",
            keel: per_sync,
            sqlite: None,
            redb: None,
            better: Better::Higher,
            note: None,
            peak_kib: [peak[0], None, None],
        },
    );
    let c1 = extra(res, "commit1.keel.commits_per_sync")?;
    res.single(
        "keel.commit1.commits_per_sync",
        "Keel commits per log sync, 1 client (Durability)",
        "commits/sync",
        c1,
    );
    res.single(
        "keel.commit8.commits_per_sync",
        &format!("Keel commits per log sync, {} clients", sizes.clients),
        "commits/sync",
        per_sync,
    );
    for v in ["v5", "v6"] {
        let s = extra(res, &format!("commit1_flush_{v}.keel.syncs_per_commit"))?;
        res.single(
            &format!("keel.commit1_flush_{v}.syncs_per_commit"),
            &format!("Keel {v} syncs per flush commit"),
            "syncs/commit",
            s,
        );
    }
    let rate = |res: &Results, k: &str| res.rows.iter().find(|r| r.key == k).map(|r| r.keel);
    if let (Some(v5), Some(v6)) = (rate(res, "commit1_flush_v5"), rate(res, "commit1_flush_v6")) {
        res.single(
            "keel.commit1_flush.v5_over_v6",
            "Keel legacy/6.x flush-commit rate",
            "x",
            v5 / v6.max(1e-9),
        );
    }
    for (key, load, label) in [
        (
            "size_ascending",
            "load_ascending",
            "file size after ascending load",
        ),
        (
            "size_random",
            "load_random",
            "file size after random-order load",
        ),
    ] {
        let b = |e: &str| extra(res, &format!("{load}.{e}.bytes"));
        let (k, s, r) = (b("keel")?, b("sqlite")?, b("redb")?);
        res.rows.push(Row {
            key,
            label: label.into(),
            unit: "bytes",
            keel: k,
            sqlite: Some(s),
            redb: Some(r),
            better: Better::Lower,
            note: (key == "size_ascending").then_some(
                "Keel: the data file (log Off); SQLite: db + WAL after \
                 wal_checkpoint(TRUNCATE); redb: the db file",
            ),
            peak_kib: [None; 3],
        });
    }
    Ok(())
}

fn step(what: &str) {
    eprintln!("bench: {what}");
}

/// Workload 7: the simulator campaign's throughput.
fn simulator(sizes: &Sizes, res: &mut Results) {
    step(&format!(
        "simulator: {} seeds x {} steps",
        sizes.sim_seeds, sizes.sim_steps
    ));
    let s = simulator::campaign(sizes);
    res.single(
        "sim.seeds_per_second",
        "simulator: seeds",
        "seeds/s",
        s.seeds_per_second,
    );
    res.single(
        "sim.steps_per_second",
        "simulator: workload steps",
        "steps/s",
        s.steps_per_second,
    );
    res.single(
        "sim.operations_per_second",
        "simulator: engine operations",
        "ops/s",
        s.operations_per_second,
    );
    res.single(
        "sim.io_steps_per_second",
        "simulator: simulated I/O steps",
        "I/Os/s",
        s.io_steps_per_second,
    );
    res.single(
        "sim.crashes_per_second",
        "simulator: crash + recover cycles",
        "crashes/s",
        s.crashes_per_second,
    );
    res.single(
        "sim.recoveries_checked_per_second",
        "simulator: recoveries checked",
        "recoveries/s",
        s.recoveries_per_second,
    );
    res.counts
        .insert("sim.failures".into(), s.summary.failures.len() as u64);
    for f in &s.summary.failures {
        res.notes.push(format!(
            "simulator seed {} FAILED: {} (replay: {})",
            f.seed, f.message, f.replay
        ));
    }
}
