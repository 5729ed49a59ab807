//! SQLite's side (bundled SQLite through `rusqlite`, built with `HAVE_FDATASYNC` by
//! the workspace's `.cargo/config.toml`, so it syncs with `fdatasync` as Keel and redb
//! do). Durable rows run `journal_mode=WAL`, `synchronous=FULL` — each committed
//! transaction syncs the WAL before COMMIT returns, the durability Keel's Durability
//! mode and redb's `Immediate` give; the Logging-mode counterpart is
//! `synchronous=NORMAL` (WAL synced only at checkpoints: a crash may lose the latest
//! commits, never part of one).
//!
//! Table `t(id INTEGER PRIMARY KEY, v BLOB)`: the id is the rowid (the table's own
//! B-tree key, no separate index) and `v` the 92-byte payload, so SQLite stores the same
//! 8-byte key and 92 payload bytes as Keel's 100-byte record. The page cache is
//! `Sizes::cache_bytes` (`PRAGMA cache_size=-KiB`), as for the other two engines.

use crate::common::{check, check_value, payload, rate, timed_loop, Ctx, Order, Result, Sizes};
use rusqlite::{params, Connection, ErrorCode};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How commits are made durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Journal {
    /// WAL, `synchronous=FULL`: every COMMIT syncs the WAL.
    WalFull,
    /// WAL, `synchronous=NORMAL`: the WAL is synced at checkpoints only.
    WalNormal,
    /// Rollback journal (`journal_mode=DELETE`, `synchronous=FULL`): COMMIT writes the
    /// pages into the database file itself and syncs it, as Keel's and redb's loads do.
    Delete,
}

/// A connection with the benchmark's settings (one per thread for concurrent runs).
fn connect(path: &Path, journal: Journal, sizes: &Sizes) -> Result<Connection> {
    let c = Connection::open(path).ctx(format_args!("SQLite: opening {}", path.display()))?;
    c.busy_timeout(Duration::from_secs(10))
        .ctx("SQLite: busy_timeout")?;
    let want = if journal == Journal::Delete {
        "delete"
    } else {
        "wal"
    };
    let mode: String = c
        .query_row(&format!("PRAGMA journal_mode={want}"), [], |r| r.get(0))
        .ctx("SQLite: journal_mode")?;
    check(
        mode.eq_ignore_ascii_case(want),
        "SQLite: journal mode refused",
    )?;
    let sync = if journal == Journal::WalNormal {
        "NORMAL"
    } else {
        "FULL"
    };
    c.execute_batch(&format!(
        "PRAGMA synchronous={sync}; PRAGMA cache_size=-{}",
        sizes.cache_bytes / 1024
    ))
    .ctx("SQLite: synchronous, cache_size")?;
    Ok(c)
}

/// A fresh database at `path` (any earlier one and its journals removed).
fn create(path: &Path, journal: Journal, sizes: &Sizes) -> Result<Connection> {
    remove(path);
    let c = connect(path, journal, sizes)?;
    c.execute_batch("CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB NOT NULL)")
        .ctx("SQLite: CREATE TABLE")?;
    Ok(c)
}

fn remove(path: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
}

/// Ids the warm-up writes: far above any id a timed run uses.
const WARM_BASE: u64 = 1 << 40;

/// Warm the WAL past its first checkpoint before commits are timed: write more than the
/// auto-checkpoint's 1000 pages (one transaction), checkpoint with RESTART so the next
/// writer starts over at the WAL's beginning, then `sizes.warm_commits` single commits.
/// A fresh WAL grows with every commit (each sync then also flushes the file's new
/// size); after the first checkpoint SQLite overwrites the WAL in place, which is its
/// steady state.
fn warm_wal(c: &Connection, sizes: &Sizes) -> Result<()> {
    // ~40 records per 4 KiB page: 48,000 records are about 1,200 pages.
    c.execute_batch("BEGIN").ctx("SQLite: warm-up BEGIN")?;
    {
        let mut ins = c
            .prepare_cached("INSERT INTO t(id, v) VALUES (?1, ?2)")
            .ctx("SQLite: prepare INSERT")?;
        for id in WARM_BASE..WARM_BASE + 48_000 {
            ins.execute(params![id as i64, &payload(id)[..]])
                .ctx("SQLite: warm-up INSERT")?;
        }
    }
    c.execute_batch("COMMIT").ctx("SQLite: warm-up COMMIT")?;
    let (busy, frames): (i64, i64) = c
        .query_row("PRAGMA wal_checkpoint(RESTART)", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .ctx("SQLite: wal_checkpoint(RESTART)")?;
    check(busy == 0, "SQLite: the warm-up checkpoint could not finish")?;
    check(
        frames >= 1000,
        "SQLite: the warm-up did not pass 1000 WAL frames",
    )?;
    let mut ins = c
        .prepare_cached("INSERT INTO t(id, v) VALUES (?1, ?2)")
        .ctx("SQLite: prepare INSERT")?;
    for i in 0..sizes.warm_commits {
        let id = WARM_BASE + 100_000 + i;
        ins.execute(params![id as i64, &payload(id)[..]])
            .ctx("SQLite: warm-up commit")?;
    }
    Ok(())
}

/// Single-client commits: one autocommit INSERT per record, after [`warm_wal`].
pub fn commits_single(dir: &Path, sizes: &Sizes, journal: Journal) -> Result<f64> {
    let c = create(&dir.join("commit1.sqlite"), journal, sizes)?;
    warm_wal(&c, sizes)?;
    let mut ins = c
        .prepare_cached("INSERT INTO t(id, v) VALUES (?1, ?2)")
        .ctx("SQLite: prepare INSERT")?;
    let (n, d) = timed_loop(
        sizes.commit_count,
        Duration::from_secs_f64(sizes.commit_seconds),
        |i| {
            ins.execute(params![i as i64, &payload(i)[..]])
                .map(drop)
                .ctx("SQLite: autocommit INSERT")
        },
    )?;
    Ok(rate(n, d))
}

/// What a concurrent run measured.
pub struct Concurrent {
    pub commits_per_second: f64,
    /// INSERTs that failed with SQLITE_BUSY even after the 10 s busy timeout (a writer
    /// can be starved that long among eight) and were retried, as an application must.
    pub busy_retries: u64,
}

/// `sizes.clients` threads, each with its own connection, each an autocommit INSERT
/// per record in its own id range, on a WAL warmed by [`warm_wal`].
///
/// `mutex == false`: SQLite admits one writer at a time and the others wait in its busy
/// handler, which sleeps (1, 2, 5, 10… ms) between retries — what an application that
/// shares a database between connections gets. `mutex == true`: the clients take one
/// process-wide mutex around each INSERT, so exactly one writer runs and the next starts
/// as soon as it returns, with no busy-handler sleeps — the best SQLite does for
/// single-process writers (there is no group commit to gain).
pub fn commits_concurrent(dir: &Path, sizes: &Sizes, mutex: bool) -> Result<Concurrent> {
    let path = dir.join(if mutex {
        "commit8-mutex.sqlite"
    } else {
        "commit8.sqlite"
    });
    {
        let c = create(&path, Journal::WalFull, sizes)?;
        warm_wal(&c, sizes)?;
    }
    let lock = Mutex::new(());
    let lock = mutex.then_some(&lock);
    let deadline = Instant::now() + Duration::from_secs_f64(sizes.concurrent_seconds);
    let start = Instant::now();
    let results: Vec<Result<(u64, u64)>> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..sizes.clients)
            .map(|k| {
                let path = &path;
                s.spawn(move || client_loop(path, k, sizes, deadline, lock))
            })
            .collect();
        threads
            .into_iter()
            .map(|t| {
                t.join().unwrap_or_else(|_| {
                    Err(crate::common::BenchError(
                        "an SQLite client thread panicked".into(),
                    ))
                })
            })
            .collect()
    });
    let elapsed = start.elapsed();
    let (mut commits, mut busy_retries) = (0, 0);
    for r in results {
        let (c, b) = r?;
        commits += c;
        busy_retries += b;
    }
    Ok(Concurrent {
        commits_per_second: rate(commits, elapsed),
        busy_retries,
    })
}

/// One concurrent client: returns (commits, SQLITE_BUSY retries).
fn client_loop(
    path: &Path,
    k: u64,
    sizes: &Sizes,
    deadline: Instant,
    lock: Option<&Mutex<()>>,
) -> Result<(u64, u64)> {
    let c = connect(path, Journal::WalFull, sizes)?;
    let mut ins = c
        .prepare("INSERT INTO t(id, v) VALUES (?1, ?2)")
        .ctx("SQLite: prepare INSERT")?;
    let first = k * sizes.commits_per_client;
    let (mut done, mut busy) = (0, 0);
    while done < sizes.commits_per_client && Instant::now() < deadline {
        let id = first + done;
        // A poisoned lock only means another client failed; its error is reported.
        let guard = lock.map(|l| l.lock().unwrap_or_else(|p| p.into_inner()));
        let r = ins.execute(params![id as i64, &payload(id)[..]]);
        drop(guard);
        match r {
            Ok(_) => done += 1,
            Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == ErrorCode::DatabaseBusy => {
                busy += 1
            }
            Err(e) => return Err(e).ctx(format_args!("SQLite: client {k} INSERT")),
        }
    }
    Ok((done, busy))
}

/// The file a load in `order` writes (journal mode in the name: both kinds are kept).
pub fn load_path(dir: &Path, order: Order, journal: Journal) -> PathBuf {
    let tag = if journal == Journal::Delete {
        "-delete"
    } else {
        ""
    };
    dir.join(format!("load-{}{tag}.sqlite", order.name()))
}

/// What a load measured.
pub struct Loaded {
    pub seconds: f64,
    /// Bytes on disk after the load: database plus WAL, after `wal_checkpoint(TRUNCATE)`
    /// (untimed) in WAL mode.
    pub bytes: u64,
}

/// Bulk-load `n` records in `order` in one transaction with a prepared INSERT; the
/// COMMIT (a sync of the WAL, or of journal and database with `Journal::Delete`) is
/// inside the timing. The database is checkpointed and closed afterwards, untimed.
pub fn load(dir: &Path, n: u64, order: Order, journal: Journal, sizes: &Sizes) -> Result<Loaded> {
    let path = load_path(dir, order, journal);
    let mut conn = create(&path, journal, sizes)?;
    let ids = order.ids(n);
    let start = Instant::now();
    {
        let tx = conn.transaction().ctx("SQLite: BEGIN")?;
        {
            let mut ins = tx
                .prepare("INSERT INTO t(id, v) VALUES (?1, ?2)")
                .ctx("SQLite: prepare INSERT")?;
            for &id in &ids {
                ins.execute(params![id as i64, &payload(id)[..]])
                    .ctx("SQLite: INSERT")?;
            }
        }
        tx.commit().ctx("SQLite: COMMIT")?;
    }
    let seconds = start.elapsed().as_secs_f64();
    if journal != Journal::Delete {
        let busy: i64 = conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))
            .ctx("SQLite: wal_checkpoint(TRUNCATE)")?;
        check(busy == 0, "SQLite: the checkpoint could not finish")?;
    }
    conn.close().map_err(|(_, e)| e).ctx("SQLite: closing")?;
    let mut bytes = 0;
    for suffix in ["", "-wal"] {
        let mut p = path.clone().into_os_string();
        p.push(suffix);
        if let Ok(m) = std::fs::metadata(&p) {
            bytes += m.len();
        }
    }
    Ok(Loaded { seconds, bytes })
}

/// The ascending load's database, reopened for the read rows.
pub struct Reader {
    conn: Connection,
}

pub fn open_loaded(dir: &Path, sizes: &Sizes) -> Result<Reader> {
    let path = load_path(dir, Order::Ascending, Journal::WalFull);
    check(
        path.exists(),
        "SQLite: the ascending load's database is missing",
    )?;
    Ok(Reader {
        conn: connect(&path, Journal::WalFull, sizes)?,
    })
}

impl Reader {
    /// Point lookups by primary key; each payload's bytes are checked.
    pub fn point_reads(&mut self, ids: &[u64]) -> Result<f64> {
        let mut q = self
            .conn
            .prepare("SELECT v FROM t WHERE id = ?1")
            .ctx("SQLite: prepare SELECT")?;
        let start = Instant::now();
        for &id in ids {
            let v: Vec<u8> = q
                .query_row([id as i64], |r| r.get(0))
                .ctx(format_args!("SQLite: SELECT {id}"))?;
            check_value(id, id, &v, "SQLite")?;
        }
        Ok(rate(ids.len() as u64, start.elapsed()))
    }

    /// A full scan in key order; checks the count, that ids ascend, and every value's
    /// bytes.
    pub fn scan(&mut self, n: u64) -> Result<f64> {
        let start = Instant::now();
        let mut q = self
            .conn
            .prepare("SELECT id, v FROM t ORDER BY id")
            .ctx("SQLite: prepare scan")?;
        let mut rows = q.query([]).ctx("SQLite: scan")?;
        let mut count = 0u64;
        while let Some(row) = rows.next().ctx("SQLite: scan step")? {
            let id: i64 = row.get(0).ctx("SQLite: scan id")?;
            let v = row.get_ref(1).ctx("SQLite: scan v")?;
            let v = v.as_blob().ctx("SQLite: scan v is a blob")?;
            // Ids are 0..n ascending: the count-th row must be id `count`.
            check_value(id as u64, count, v, "SQLite scan")?;
            count += 1;
        }
        check(count == n, "SQLite: scan saw the wrong number of records")?;
        Ok(rate(count, start.elapsed()))
    }
}
