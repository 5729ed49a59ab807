//! `bench`: Keel against SQLite and redb, in one run, on the same directory's disk, on
//! the same records and key orders, at the same durability — and the simulator's own
//! speed. Prints a table of absolute figures and Keel's ratios; `--json` writes every
//! figure (layout in `report`), `--svg` a chart of the ratios.
//!
//! ```text
//! cargo run --release -p bench -- [--quick] [--json FILE] [--svg FILE] [--dir DIR]
//! ```
//!
//! One module per workload or engine: `fsync` (the disk's sync limit), `keel`,
//! `sqlite`, `redb_store` (each engine's side of every workload), `simulator`,
//! `report` (table and JSON), `plot` (SVG). `common` holds the record layout and sizes.

mod common;
mod fsync;
mod keel;
mod plot;
mod redb_store;
mod report;
mod simulator;
mod sqlite;

use clap::Parser;
use common::{lookup_ids, Ctx, Order, Result, Sizes};
use engine::{FileFormat, LogMode};
use report::{Better, Results, Row};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

#[derive(Parser, Debug)]
#[command(
    name = "bench",
    about = "Keel vs SQLite (WAL, synchronous=FULL) vs redb (Immediate), same disk, same records"
)]
struct Cli {
    /// Shrink every workload 50-100x (a smoke run of well under a minute).
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
    /// what every engine writes to.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Records in the bulk loads (and the database the reads run over), instead of
    /// the mode's default (1,000,000; 20,000 with --quick).
    #[arg(long, value_name = "N")]
    records: Option<u64>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> Result<()> {
    let mut sizes = if cli.quick {
        Sizes::quick()
    } else {
        Sizes::default_run()
    };
    if let Some(n) = cli.records {
        sizes.load_records = n;
        sizes.lookups = sizes.lookups.min(n as usize * 4);
    }
    let scratch = match &cli.dir {
        Some(d) => tempfile::TempDir::new_in(d),
        None => tempfile::TempDir::new(),
    }
    .ctx("creating the scratch directory")?;
    let dir = scratch.path();
    eprintln!("bench: scratch directory {}", dir.display());
    let start = Instant::now();
    let mut res = Results::new(sizes.clone());

    commits(dir, &sizes, &mut res)?;
    loads_and_reads(dir, &sizes, &mut res)?;
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
    plot::ratio_chart(&res.rows, &svg)?;
    eprintln!("bench: chart written to {}", svg.display());
    Ok(())
}

fn step(what: &str) {
    eprintln!("bench: {what}");
}

/// Workloads 1-3: the raw sync limit, then durable commits with one and many clients;
/// between them, Keel against itself: a single-record commit as a flushed system
/// transaction in the 6.x and the legacy (5.x) file format, to show what pre-imaging
/// costs per commit (the legacy row's ratio and each format's syncs per commit are
/// singles).
fn commits(dir: &Path, sizes: &Sizes, res: &mut Results) -> Result<()> {
    step("raw fsync");
    let syncs = fsync::syncs_per_second(dir, sizes)?;
    res.single(
        "fsync.syncs_per_second",
        "raw fsync limit (4 KiB write + sync_data)",
        "syncs/s",
        syncs,
    );

    step("1-client commits");
    let (keel_dur, keel_dur_per_sync) = keel::commits_single(dir, sizes, LogMode::Durability)?;
    let (keel_log, _) = keel::commits_single(dir, sizes, LogMode::Logging)?;
    let sqlite = sqlite::commits_single(dir, sizes)?;
    let redb = redb_store::commits_single(dir, sizes)?;
    res.rows.push(Row {
        key: "commit1",
        label: "durable commits, 1 client, 1 record each".into(),
        unit: "commits/s",
        keel: keel_dur,
        sqlite: Some(sqlite),
        redb: Some(redb),
        better: Better::Higher,
        note: None,
    });
    res.rows.push(Row {
        key: "commit1_logging",
        label: "Keel Logging-mode commits, 1 client".into(),
        unit: "commits/s",
        keel: keel_log,
        sqlite: None,
        redb: None,
        better: Better::Higher,
        note: Some(
            "not durable per commit: Logging acknowledges before the log sync \
             (no SQLite/redb counterpart was run)",
        ),
    });
    res.single(
        "keel.commit1.commits_per_sync",
        "Keel commits per log sync, 1 client (Durability)",
        "commits/sync",
        keel_dur_per_sync,
    );

    step("flush commits, 6.x and legacy 5.x formats");
    let v6 = keel::commits_flushed(dir, sizes, FileFormat::V6)?;
    let v5 = keel::commits_flushed(dir, sizes, FileFormat::V5)?;
    // Keel against itself: the table's "Keel" column is the legacy format, and the
    // 6.x figure and the ratio are singles (there is no SQLite/redb counterpart).
    res.rows.push(Row {
        key: "commit1_flush_v5",
        label: "Keel legacy (5.x) commits, insert + flush, log Off".into(),
        unit: "commits/s",
        keel: v5.commits_per_second,
        sqlite: None,
        redb: None,
        better: Better::Higher,
        note: Some(
            "each commit one durable system transaction of the data file (no log): \
             legacy pre-images to NAME.PRE and overwrites in place, 6.x shadow-pages",
        ),
    });
    res.rows.push(Row {
        key: "commit1_flush_v6",
        label: "Keel 6.x commits, insert + flush, log Off".into(),
        unit: "commits/s",
        keel: v6.commits_per_second,
        sqlite: None,
        redb: None,
        better: Better::Higher,
        note: None,
    });
    res.single(
        "keel.commit1_flush.v5_over_v6",
        "Keel legacy/6.x flush-commit rate",
        "x",
        v5.commits_per_second / v6.commits_per_second,
    );
    res.single(
        "keel.commit1_flush_v6.syncs_per_commit",
        "Keel 6.x syncs per flush commit",
        "syncs/commit",
        v6.syncs_per_commit,
    );
    res.single(
        "keel.commit1_flush_v5.syncs_per_commit",
        "Keel legacy syncs per flush commit",
        "syncs/commit",
        v5.syncs_per_commit,
    );

    step("concurrent commits");
    let k = keel::commits_concurrent(dir, sizes)?;
    let sqlite = sqlite::commits_concurrent(dir, sizes)?;
    let redb = redb_store::commits_concurrent(dir, sizes)?;
    res.rows.push(Row {
        key: "commit8",
        label: format!("durable commits, {} clients, 1 record each", sizes.clients),
        unit: "commits/s",
        keel: k.commits_per_second,
        sqlite: Some(sqlite.commits_per_second),
        redb: Some(redb),
        better: Better::Higher,
        note: Some(keel::SHARED_NOTE),
    });
    res.single(
        "keel.commit8.commits_per_sync",
        &format!(
            "Keel commits per log sync, {} clients (Durability)",
            sizes.clients
        ),
        "commits/sync",
        k.commits_per_sync,
    );
    res.counts
        .insert("sqlite.commit8.busy_retries".into(), sqlite.busy_retries);
    Ok(())
}

/// Workloads 4-6: bulk loads in both key orders; over the ascending load, a full
/// ordered scan (which also warms every cache) then random point reads; file sizes.
fn loads_and_reads(dir: &Path, sizes: &Sizes, res: &mut Results) -> Result<()> {
    let n = sizes.load_records;
    let ids = lookup_ids(n, sizes.lookups);
    let mut load = [[0.0f64; 3]; 2];
    let mut size = [[0.0f64; 3]; 2];
    let (mut reads, mut scans) = ([0.0f64; 3], [0.0f64; 3]);
    for (o, order) in [Order::Ascending, Order::Random].into_iter().enumerate() {
        let read = order == Order::Ascending;
        step(&format!("{n} records, {} load: Keel", order.name()));
        let mut l = keel::load(dir, n, order)?;
        load[o][0] = l.seconds;
        if read {
            scans[0] = l.scan(n)?;
            reads[0] = l.point_reads(&ids)?;
        }
        size[o][0] = l.close()? as f64;

        step(&format!("{n} records, {} load: SQLite", order.name()));
        let mut l = sqlite::load(dir, n, order)?;
        load[o][1] = l.seconds;
        if read {
            scans[1] = l.scan(n)?;
            reads[1] = l.point_reads(&ids)?;
        }
        size[o][1] = l.close()? as f64;

        step(&format!("{n} records, {} load: redb", order.name()));
        let mut l = redb_store::load(dir, n, order)?;
        load[o][2] = l.seconds;
        if read {
            scans[2] = l.scan(n)?;
            reads[2] = l.point_reads(&ids)?;
        }
        size[o][2] = l.close()? as f64;
    }
    let load_note = "Keel's time includes parsing the sequential file (butil -load's path; \
                     log mode Off, durable at the end through its system transaction); \
                     SQLite and redb insert from an id list in one durable transaction";
    for (o, (key, label)) in [
        ("load_ascending", "bulk load, ascending keys"),
        ("load_random", "bulk load, random key order"),
    ]
    .into_iter()
    .enumerate()
    {
        let rate = |s: f64| n as f64 / s.max(1e-9);
        res.rows.push(Row {
            key,
            label: format!("{label}, {n} records"),
            unit: "records/s",
            keel: rate(load[o][0]),
            sqlite: Some(rate(load[o][1])),
            redb: Some(rate(load[o][2])),
            better: Better::Higher,
            note: (o == 0).then_some(load_note),
        });
        for (e, engine) in ["keel", "sqlite", "redb"].iter().enumerate() {
            res.single(
                &format!("{key}.seconds.{engine}"),
                &format!("{label}: {engine} took"),
                "s",
                load[o][e],
            );
        }
    }
    res.rows.push(Row {
        key: "point_reads",
        label: format!("point reads by key, warm, {} random ids", sizes.lookups),
        unit: "reads/s",
        keel: reads[0],
        sqlite: Some(reads[1]),
        redb: Some(reads[2]),
        better: Better::Higher,
        note: None,
    });
    res.rows.push(Row {
        key: "scan",
        label: "full scan in key order".into(),
        unit: "records/s",
        keel: scans[0],
        sqlite: Some(scans[1]),
        redb: Some(scans[2]),
        better: Better::Higher,
        note: None,
    });
    for (o, (key, label)) in [
        ("size_ascending", "file size after ascending load"),
        ("size_random", "file size after random-order load"),
    ]
    .into_iter()
    .enumerate()
    {
        res.rows.push(Row {
            key,
            label: label.into(),
            unit: "bytes",
            keel: size[o][0],
            sqlite: Some(size[o][1]),
            redb: Some(size[o][2]),
            better: Better::Lower,
            note: (o == 0).then_some(
                "Keel: the data file (log Off); SQLite: db + WAL after \
                 wal_checkpoint(TRUNCATE); redb: the db file",
            ),
        });
    }
    Ok(())
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
