//! The parent's plan: which rows run, in what order, how often. Every row runs
//! `Sizes::runs` times; each run starts every engine's side as its own child process
//! (`child`), in an order rotated by one engine per run, so no engine always goes first
//! (cold disk caches, a quiet moment) or last. The raw fsync probe runs before every
//! row, so the disk's sync rate is sampled across the whole run, not once at its start.
//! The table shows each figure's median over the runs; the JSON keeps every run.

use crate::child::{Eng, Job, Kind, OrderName, Outcome};
use crate::common::{median, BenchError, Ctx, Result, Sizes};
use crate::report::{Better, Results, Row};
use crate::{fsync, rss};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// Where an engine's figure of a row comes from.
#[derive(Clone, Copy)]
enum Src {
    /// Measured by this row's own jobs.
    Run(Kind),
    /// The same engine's figure of an earlier row (a variant row that changes only
    /// another engine's settings).
    Same(&'static str),
    None,
}

struct Spec {
    key: &'static str,
    label: String,
    unit: &'static str,
    note: Option<&'static str>,
    src: [Src; 3],
}

const LOAD_NOTE: &str = "crash safety: Keel (log Off, butil -load's path; its time includes \
     parsing the sequential file) writes its pending pages ahead of the commit, to pages \
     no FCR references, whenever max_dirty_pages pages are dirty, and commits one atomic \
     system transaction at the end (or every 1,000,000 operations), so a crash leaves a \
     consistent file holding none of the load or a prefix of whole batches; SQLite and redb insert from an id list in one \
     transaction, all or nothing; all three durable when the load returns. SQLite here: \
     WAL, synchronous=FULL, its checkpoint into the database not timed";
const LOAD_DELETE_NOTE: &str = "SQLite with journal_mode=DELETE, synchronous=FULL: COMMIT \
     writes and syncs the pages into the database file itself, as Keel's and redb's loads \
     do (WAL leaves them in the WAL for a later, untimed checkpoint); Keel and redb: the \
     figures of the row above";
const COMMIT8_NOTE: &str = "Keel: engine::shared::SharedEngine, each commit one \
     transaction(Begin, Insert, End) under the lock, the log sync with the lock released \
     (group commit), commit_delay 5 ms (a cap: a sync starts once every client on its way \
     has appended its End; the 1-client rows run with commit_delay 0); SQLite: 8 connections, waiting in its busy handler (sleeps); redb: \
     begin_write blocks";
const MUTEX_NOTE: &str = "SQLite's 8 connections take one process mutex around each \
     INSERT: one writer at a time, no busy-handler sleeps; Keel: the figure of the row above";
const LOGGING_NOTE: &str = "not durable per commit in any engine: Keel Logging (acknowledged \
     before the log sync), SQLite WAL synchronous=NORMAL (WAL synced at checkpoints), redb \
     Durability::None (persisted by a later Immediate commit)";
const ROLL_IN_NOTE: &str = "Keel only (SQLite and redb have no online-backup delta): \
     a file in continuous operations whose delta holds about --delta-mib MiB of page images \
     (made untimed in another process: startbu on an empty file, ascending inserts), then \
     open + endbu — attach the delta, roll every page into the data file as one system \
     transaction, remove the delta — timed in a fresh process; its peak RSS is the figure \
     that shows roll-in memory does not grow with the delta";
const FLUSH_NOTE: &str = "Keel against itself: each commit one durable system transaction of \
     the data file (no log): legacy pre-images to NAME.PRE and overwrites in place, 6.x \
     shadow-pages";

fn plan(s: &Sizes) -> Vec<Spec> {
    use Src::{Run, Same};
    let all = |k: Kind| [Run(k), Run(k), Run(k)];
    let n = s.load_records;
    let mut v = vec![
        Spec {
            key: "commit1",
            label: "durable commits, 1 client, 1 record each".into(),
            unit: "commits/s",
            note: None,
            src: all(Kind::Commit1),
        },
        Spec {
            key: "commit1_logging",
            label: "Logging-mode commits, 1 client (not durable per commit)".into(),
            unit: "commits/s",
            note: Some(LOGGING_NOTE),
            src: all(Kind::Commit1Logging),
        },
        Spec {
            key: "commit1_flush_v5",
            label: "Keel legacy (5.x) commits, insert + flush, log Off".into(),
            unit: "commits/s",
            note: Some(FLUSH_NOTE),
            src: [Run(Kind::FlushV5), Src::None, Src::None],
        },
        Spec {
            key: "commit1_flush_v6",
            label: "Keel 6.x commits, insert + flush, log Off".into(),
            unit: "commits/s",
            note: None,
            src: [Run(Kind::FlushV6), Src::None, Src::None],
        },
        Spec {
            key: "commit8",
            label: format!("durable commits, {} clients, 1 record each", s.clients),
            unit: "commits/s",
            note: Some(COMMIT8_NOTE),
            src: all(Kind::Commit8),
        },
        Spec {
            key: "commit8_mutex",
            label: format!(
                "durable commits, {} clients, SQLite writers behind a mutex",
                s.clients
            ),
            unit: "commits/s",
            note: Some(MUTEX_NOTE),
            src: [Same("commit8"), Run(Kind::Commit8Mutex), Src::None],
        },
    ];
    for (o, name) in [
        (OrderName::Ascending, "ascending keys"),
        (OrderName::Random, "random key order"),
    ] {
        let key = if o == OrderName::Ascending {
            ("load_ascending", "load_ascending_delete")
        } else {
            ("load_random", "load_random_delete")
        };
        v.push(Spec {
            key: key.0,
            label: format!("bulk load, {name}, {n} records"),
            unit: "records/s",
            note: (o == OrderName::Ascending).then_some(LOAD_NOTE),
            src: all(Kind::Load(o)),
        });
        v.push(Spec {
            key: key.1,
            label: format!("bulk load, {name}, SQLite journal_mode=DELETE"),
            unit: "records/s",
            note: (o == OrderName::Ascending).then_some(LOAD_DELETE_NOTE),
            src: [Same(key.0), Run(Kind::LoadDelete(o)), Same(key.0)],
        });
    }
    v.push(Spec {
        key: "point_reads",
        label: format!("point reads by key, warm, {} random ids", s.lookups),
        unit: "reads/s",
        note: None,
        src: all(Kind::PointReads),
    });
    v.push(Spec {
        key: "scan",
        label: "full scan in key order, warm".into(),
        unit: "records/s",
        note: Some(
            "reads over the ascending load, reopened in a fresh process and warmed by one \
             untimed scan; every record's key and value bytes are checked in every engine",
        ),
        src: all(Kind::Scan),
    });
    v.push(Spec {
        key: "roll_in",
        label: format!(
            "Keel endbu roll-in of a {} MiB delta (open + endbu)",
            s.delta_mib
        ),
        unit: "MiB/s",
        note: Some(ROLL_IN_NOTE),
        src: [Run(Kind::RollIn), Src::None, Src::None],
    });
    v
}

/// The engines whose jobs run in run `run`, rotated by one per run.
pub fn rotation(runnable: &[Eng], run: usize) -> Vec<Eng> {
    let mut v = runnable.to_vec();
    if !v.is_empty() {
        let k = run % v.len();
        v.rotate_left(k);
    }
    v
}

/// Every outcome of one engine in one row.
#[derive(Default)]
struct Samples {
    values: Vec<f64>,
    extra: BTreeMap<String, Vec<f64>>,
    counts: BTreeMap<String, u64>,
    peak_kib: u64,
    ru_maxrss_kib: u64,
}

/// Run every row into `res`. `exe` is the bench binary (re-run with `--child`).
pub fn run_all(exe: &Path, dir: &Path, sizes: &Sizes, res: &mut Results) -> Result<()> {
    let mut probes = Vec::new();
    let mut done: BTreeMap<&'static str, [Option<f64>; 3]> = BTreeMap::new();
    let mut peaks: BTreeMap<&'static str, [Option<u64>; 3]> = BTreeMap::new();
    for spec in plan(sizes) {
        probes.push(fsync::syncs_per_second(dir, sizes)?);
        let runnable: Vec<Eng> = Eng::ALL
            .into_iter()
            .filter(|e| matches!(spec.src[e.index()], Src::Run(_)))
            .collect();
        let mut samples: [Samples; 3] = Default::default();
        for run in 0..sizes.runs {
            for eng in rotation(&runnable, run) {
                let Src::Run(kind) = spec.src[eng.index()] else {
                    continue;
                };
                eprintln!(
                    "bench: {} — {} (run {}/{})",
                    spec.key,
                    eng.name(),
                    run + 1,
                    sizes.runs
                );
                if kind == Kind::RollIn {
                    // Untimed, in its own process: the roll-in's child must hold only
                    // what open + endbu hold.
                    run_job(exe, dir, sizes, Kind::DeltaSetup, eng)?;
                }
                let (out, ru) = run_job(exe, dir, sizes, kind, eng)?;
                if let Kind::Load(OrderName::Random) = kind {
                    remove_prefixed(dir, "load-random");
                }
                let s = &mut samples[eng.index()];
                s.values.push(out.value);
                for (k, v) in out.extra {
                    s.extra.entry(k).or_default().push(v);
                }
                for (k, v) in out.counts {
                    *s.counts.entry(k).or_default() += v;
                }
                s.peak_kib = s.peak_kib.max(out.peak_kib);
                s.ru_maxrss_kib = s.ru_maxrss_kib.max(ru);
            }
        }
        let mut figure = [None; 3];
        let mut peak = [None; 3];
        for eng in Eng::ALL {
            let i = eng.index();
            match spec.src[i] {
                Src::Run(_) => {
                    let s = &samples[i];
                    figure[i] = Some(median(&s.values));
                    peak[i] = Some(s.peak_kib);
                    let base = format!("{}.{}", spec.key, eng.name());
                    res.runs.insert(base.clone(), s.values.clone());
                    res.ru_maxrss_kib.insert(base.clone(), s.ru_maxrss_kib);
                    for (k, v) in &s.extra {
                        res.extras.insert(format!("{base}.{k}"), median(v));
                    }
                    for (k, v) in &s.counts {
                        res.counts.insert(format!("{base}.{k}"), *v);
                    }
                }
                Src::Same(row) => {
                    figure[i] = done.get(row).and_then(|f| f[i]);
                    peak[i] = peaks.get(row).and_then(|p| p[i]);
                }
                Src::None => {}
            }
        }
        let keel = figure[0].ok_or_else(|| BenchError(format!("{}: no Keel figure", spec.key)))?;
        done.insert(spec.key, figure);
        peaks.insert(spec.key, peak);
        res.rows.push(Row {
            key: spec.key,
            label: spec.label,
            unit: spec.unit,
            keel,
            sqlite: figure[1],
            redb: figure[2],
            better: Better::Higher,
            note: spec.note,
            peak_kib: peak,
        });
    }
    res.probes = probes;
    Ok(())
}

/// Start one child for (`kind`, `eng`) and return its outcome and `ru_maxrss`.
fn run_job(exe: &Path, dir: &Path, sizes: &Sizes, kind: Kind, eng: Eng) -> Result<(Outcome, u64)> {
    let job = Job {
        kind,
        eng,
        dir: dir.to_path_buf(),
        sizes: sizes.clone(),
    };
    let what = format!("the {} child for {kind:?}", eng.name());
    let mut cmd = Command::new(exe);
    cmd.arg("--child")
        .arg(serde_json::to_string(&job).ctx("encoding a job")?);
    let r = rss::run_child(cmd, &what)?;
    let line = r
        .stdout
        .lines()
        .last()
        .ok_or_else(|| BenchError(format!("{what} printed nothing")))?;
    let out: Outcome = serde_json::from_str(line).ctx(format_args!("{what}: its outcome"))?;
    Ok((out, r.ru_maxrss_kib))
}

/// Remove the files in `dir` whose names start with `prefix` (a random load's files are
/// not read again; at 10 M records each is over a GiB).
fn remove_prefixed(dir: &Path, prefix: &str) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(prefix) {
                let p = e.path();
                let _ = if p.is_dir() {
                    std::fs::remove_dir_all(&p)
                } else {
                    std::fs::remove_file(&p)
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_engines() {
        let all = Eng::ALL;
        assert_eq!(rotation(&all, 0), vec![Eng::Keel, Eng::Sqlite, Eng::Redb]);
        assert_eq!(rotation(&all, 1), vec![Eng::Sqlite, Eng::Redb, Eng::Keel]);
        assert_eq!(rotation(&all, 2), vec![Eng::Redb, Eng::Keel, Eng::Sqlite]);
        assert_eq!(rotation(&all, 3), rotation(&all, 0));
        assert!(rotation(&[], 1).is_empty());
    }

    #[test]
    fn every_same_refers_to_an_earlier_row() {
        let rows = plan(&Sizes::quick());
        for (i, r) in rows.iter().enumerate() {
            for s in r.src {
                if let Src::Same(k) = s {
                    assert!(rows[..i].iter().any(|e| e.key == k), "{} uses {k}", r.key);
                }
            }
            assert!(matches!(r.src[0], Src::Run(_) | Src::Same(_)), "{}", r.key);
        }
    }
}
