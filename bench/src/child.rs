//! One measurement in its own process: the parent (`runner`) starts the bench binary
//! again with `--child JOB` (a JSON [`Job`]), the child runs that one engine's side of
//! one row once and prints a JSON [`Outcome`] on stdout. A process per measurement is
//! what makes peak RSS a per-engine, per-row figure (`rss`) and keeps one engine's
//! leftovers (caches, allocator arenas, threads) out of the next one's timing.

use crate::common::{lookup_ids, BenchError, Ctx, Order, Result, Sizes};
use crate::sqlite::Journal;
use crate::{keel, redb_store, rss, sqlite};
use engine::{FileFormat, LogMode};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Which engine a job runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Eng {
    Keel,
    Sqlite,
    Redb,
}

impl Eng {
    pub const ALL: [Eng; 3] = [Eng::Keel, Eng::Sqlite, Eng::Redb];

    pub fn name(self) -> &'static str {
        match self {
            Eng::Keel => "keel",
            Eng::Sqlite => "sqlite",
            Eng::Redb => "redb",
        }
    }

    pub fn index(self) -> usize {
        match self {
            Eng::Keel => 0,
            Eng::Sqlite => 1,
            Eng::Redb => 2,
        }
    }
}

/// What a job measures (the engine's settings for it are in each engine's module).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    /// Durable single-record commits, one client.
    Commit1,
    /// Logging-mode counterparts: Keel Logging, SQLite WAL `synchronous=NORMAL`, redb
    /// `Durability::None`.
    Commit1Logging,
    /// Keel only: insert + flush commits with the log Off, 6.x or legacy 5.x format.
    FlushV6,
    FlushV5,
    /// Durable commits from `clients` threads (SQLite: busy handler).
    Commit8,
    /// SQLite only: the same, its writers behind one mutex.
    Commit8Mutex,
    /// Bulk loads (SQLite in WAL).
    Load(OrderName),
    /// SQLite only: bulk load with the rollback journal (pages home at COMMIT).
    LoadDelete(OrderName),
    /// Over the ascending load: a full scan, or random point reads (each after an
    /// untimed warming scan).
    Scan,
    PointReads,
    /// Keel only, untimed: a file in continuous operations whose delta holds about
    /// `Sizes::delta_mib` MiB (run before every `RollIn`, in its own process).
    DeltaSetup,
    /// Keel only: open that file and `endbu` it (the roll-in), timed.
    RollIn,
}

/// `Order` as serde sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderName {
    Ascending,
    Random,
}

impl OrderName {
    pub fn order(self) -> Order {
        match self {
            OrderName::Ascending => Order::Ascending,
            OrderName::Random => Order::Random,
        }
    }
}

/// One measurement to run in a child.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Job {
    pub kind: Kind,
    pub eng: Eng,
    /// The scratch directory (shared by every job of the run: loads leave their files
    /// for the read jobs).
    pub dir: PathBuf,
    pub sizes: Sizes,
}

/// What a child reports.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Outcome {
    /// The row's figure (a rate, or seconds for loads).
    pub value: f64,
    /// Further figures of this job (`bytes`, `commits_per_sync`, `syncs_per_commit`).
    pub extra: BTreeMap<String, f64>,
    /// Counters that may be zero (`busy_retries`).
    pub counts: BTreeMap<String, u64>,
    /// The child's `VmHWM` at its end, KiB (0 if unreadable).
    pub peak_kib: u64,
}

/// The child's entry point: run `job_json`, print the outcome.
pub fn main(job_json: &str) -> Result<()> {
    let job: Job = serde_json::from_str(job_json).ctx("child: decoding the job")?;
    let mut out = run(&job)?;
    out.peak_kib = rss::own_peak_kib().unwrap_or(0);
    println!(
        "{}",
        serde_json::to_string(&out).ctx("child: encoding the outcome")?
    );
    Ok(())
}

fn unsupported(job: &Job) -> BenchError {
    BenchError(format!(
        "child: {:?} has no {} side",
        job.kind,
        job.eng.name()
    ))
}

fn run(job: &Job) -> Result<Outcome> {
    let (dir, s) = (job.dir.as_path(), &job.sizes);
    let mut out = Outcome::default();
    match (job.kind, job.eng) {
        (Kind::Commit1, Eng::Keel) | (Kind::Commit1Logging, Eng::Keel) => {
            let mode = if job.kind == Kind::Commit1 {
                LogMode::Durability
            } else {
                LogMode::Logging
            };
            let (rate, per_sync) = keel::commits_single(dir, s, mode)?;
            out.value = rate;
            out.extra.insert("commits_per_sync".into(), per_sync);
        }
        (Kind::Commit1, Eng::Sqlite) => {
            out.value = sqlite::commits_single(dir, s, Journal::WalFull)?
        }
        (Kind::Commit1Logging, Eng::Sqlite) => {
            out.value = sqlite::commits_single(dir, s, Journal::WalNormal)?
        }
        (Kind::Commit1, Eng::Redb) => {
            out.value = redb_store::commits_single(dir, s, redb::Durability::Immediate)?
        }
        (Kind::Commit1Logging, Eng::Redb) => {
            out.value = redb_store::commits_single(dir, s, redb::Durability::None)?
        }
        (Kind::FlushV6 | Kind::FlushV5, Eng::Keel) => {
            let format = if job.kind == Kind::FlushV6 {
                FileFormat::V6
            } else {
                FileFormat::V5
            };
            let f = keel::commits_flushed(dir, s, format)?;
            out.value = f.commits_per_second;
            out.extra
                .insert("syncs_per_commit".into(), f.syncs_per_commit);
        }
        (Kind::Commit8, Eng::Keel) => {
            let k = keel::commits_concurrent(dir, s)?;
            out.value = k.commits_per_second;
            out.extra
                .insert("commits_per_sync".into(), k.commits_per_sync);
        }
        (Kind::Commit8 | Kind::Commit8Mutex, Eng::Sqlite) => {
            let c = sqlite::commits_concurrent(dir, s, job.kind == Kind::Commit8Mutex)?;
            out.value = c.commits_per_second;
            out.counts.insert("busy_retries".into(), c.busy_retries);
        }
        (Kind::Commit8, Eng::Redb) => out.value = redb_store::commits_concurrent(dir, s)?,
        (Kind::Load(o), eng) => {
            let n = s.load_records;
            let (seconds, bytes) = match eng {
                Eng::Keel => {
                    let l = keel::load(dir, n, o.order(), s)?;
                    (l.seconds, l.bytes)
                }
                Eng::Sqlite => {
                    let l = sqlite::load(dir, n, o.order(), Journal::WalFull, s)?;
                    (l.seconds, l.bytes)
                }
                Eng::Redb => {
                    let l = redb_store::load(dir, n, o.order(), s)?;
                    (l.seconds, l.bytes)
                }
            };
            out.value = n as f64 / seconds.max(1e-9);
            out.extra.insert("seconds".into(), seconds);
            out.extra.insert("bytes".into(), bytes as f64);
        }
        (Kind::LoadDelete(o), Eng::Sqlite) => {
            let n = s.load_records;
            let l = sqlite::load(dir, n, o.order(), Journal::Delete, s)?;
            // The rollback-journal variant's file is not read again: free the disk.
            let _ = std::fs::remove_file(sqlite::load_path(dir, o.order(), Journal::Delete));
            out.value = n as f64 / l.seconds.max(1e-9);
            out.extra.insert("seconds".into(), l.seconds);
            out.extra.insert("bytes".into(), l.bytes as f64);
        }
        (Kind::Scan | Kind::PointReads, eng) => out.value = reads(job.kind, eng, job)?,
        (Kind::DeltaSetup, Eng::Keel) => {
            out.value = keel::make_delta(dir, s)? as f64;
        }
        (Kind::RollIn, Eng::Keel) => {
            let r = keel::roll_in(dir, s)?;
            out.value = r.mib / r.seconds.max(1e-9);
            out.extra.insert("seconds".into(), r.seconds);
            out.extra.insert("mib".into(), r.mib);
            eprintln!(
                "bench: Keel rolled in {:.1} MiB of delta in {:.2} s",
                r.mib, r.seconds
            );
        }
        _ => return Err(unsupported(job)),
    }
    Ok(out)
}

/// A read row over the ascending load: reopen it, warm with one untimed scan (every
/// engine's cache and the OS page cache hold what fits), then the timed scan or reads.
fn reads(kind: Kind, eng: Eng, job: &Job) -> Result<f64> {
    let (dir, s) = (job.dir.as_path(), &job.sizes);
    let n = s.load_records;
    let ids = lookup_ids(n, s.lookups);
    macro_rules! measure {
        ($r:expr) => {{
            let mut r = $r;
            r.scan(n)?;
            if kind == Kind::Scan {
                r.scan(n)
            } else {
                r.point_reads(&ids)
            }
        }};
    }
    match eng {
        Eng::Keel => measure!(keel::open_loaded(dir, s)?),
        Eng::Sqlite => measure!(sqlite::open_loaded(dir, s)?),
        Eng::Redb => measure!(redb_store::open_loaded(dir, s)?),
    }
}
