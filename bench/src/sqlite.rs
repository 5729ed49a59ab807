//! SQLite's side (bundled SQLite through `rusqlite`): `journal_mode=WAL`,
//! `synchronous=FULL` — each committed transaction syncs the WAL before COMMIT
//! returns, the durability Keel's Durability mode and redb's `Immediate` give.
//!
//! Table `t(id INTEGER PRIMARY KEY, v BLOB)`: the id is the rowid (the table's own
//! B-tree key, no separate index) and `v` the 92-byte payload, so SQLite stores the same
//! 8-byte key and 92 payload bytes as Keel's 100-byte record. Cache sizes are SQLite's
//! defaults, as Keel and redb run with theirs.

use crate::common::{check, payload, rate, timed_loop, Ctx, Order, Result, Sizes};
use rusqlite::{params, Connection, ErrorCode};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A connection with the benchmark's settings (one per thread for concurrent runs).
fn connect(path: &Path) -> Result<Connection> {
    let c = Connection::open(path).ctx(format_args!("SQLite: opening {}", path.display()))?;
    c.busy_timeout(Duration::from_secs(10))
        .ctx("SQLite: busy_timeout")?;
    let mode: String = c
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .ctx("SQLite: journal_mode=WAL")?;
    check(mode.eq_ignore_ascii_case("wal"), "SQLite: WAL mode refused")?;
    c.execute_batch("PRAGMA synchronous=FULL")
        .ctx("SQLite: synchronous=FULL")?;
    Ok(c)
}

fn create(path: &Path) -> Result<Connection> {
    let c = connect(path)?;
    c.execute_batch("CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB NOT NULL)")
        .ctx("SQLite: CREATE TABLE")?;
    Ok(c)
}

/// Single-client durable commits: one autocommit INSERT per record.
pub fn commits_single(dir: &Path, sizes: &Sizes) -> Result<f64> {
    let c = create(&dir.join("commit1.sqlite"))?;
    let mut ins = c
        .prepare("INSERT INTO t(id, v) VALUES (?1, ?2)")
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

/// What the concurrent run measured.
pub struct Concurrent {
    pub commits_per_second: f64,
    /// INSERTs that failed with SQLITE_BUSY even after the 10 s busy timeout (a writer
    /// can be starved that long among eight) and were retried, as an application must.
    pub busy_retries: u64,
}

/// `sizes.clients` threads, each with its own connection, each an autocommit INSERT
/// per record in its own id range. SQLite admits one writer at a time (the others wait
/// in the busy handler); that is the comparison.
pub fn commits_concurrent(dir: &Path, sizes: &Sizes) -> Result<Concurrent> {
    let path = dir.join("commit8.sqlite");
    drop(create(&path)?);
    let deadline = Instant::now() + Duration::from_secs_f64(sizes.concurrent_seconds);
    let start = Instant::now();
    let results: Vec<Result<(u64, u64)>> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..sizes.clients)
            .map(|k| {
                let path = &path;
                s.spawn(move || client_loop(path, k, sizes, deadline))
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().expect("an SQLite client thread panicked"))
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
fn client_loop(path: &Path, k: u64, sizes: &Sizes, deadline: Instant) -> Result<(u64, u64)> {
    let c = connect(path)?;
    let mut ins = c
        .prepare("INSERT INTO t(id, v) VALUES (?1, ?2)")
        .ctx("SQLite: prepare INSERT")?;
    let first = k * sizes.commits_per_client;
    let (mut done, mut busy) = (0, 0);
    while done < sizes.commits_per_client && Instant::now() < deadline {
        let id = first + done;
        match ins.execute(params![id as i64, &payload(id)[..]]) {
            Ok(_) => done += 1,
            Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == ErrorCode::DatabaseBusy => {
                busy += 1
            }
            Err(e) => return Err(e).ctx(format_args!("SQLite: client {k} INSERT")),
        }
    }
    Ok((done, busy))
}

/// A loaded database, its connection open, for the read workloads.
pub struct Loaded {
    conn: Connection,
    path: PathBuf,
    /// Seconds the load took.
    pub seconds: f64,
}

/// Bulk-load `n` records in `order` in one transaction with a prepared INSERT; the
/// COMMIT (a WAL sync) is inside the timing.
pub fn load(dir: &Path, n: u64, order: Order) -> Result<Loaded> {
    let path = dir.join(format!("load-{}.sqlite", order.name()));
    let mut conn = create(&path)?;
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
    Ok(Loaded {
        conn,
        path,
        seconds,
    })
}

impl Loaded {
    /// Point lookups by primary key; each payload is read and checked.
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
            check(v[..] == payload(id)[..], "SQLite: wrong payload")?;
        }
        Ok(rate(ids.len() as u64, start.elapsed()))
    }

    /// A full scan in key order; checks the count and that ids ascend.
    pub fn scan(&mut self, n: u64) -> Result<f64> {
        let start = Instant::now();
        let mut q = self
            .conn
            .prepare("SELECT id, v FROM t ORDER BY id")
            .ctx("SQLite: prepare scan")?;
        let mut rows = q.query([]).ctx("SQLite: scan")?;
        let (mut count, mut last) = (0u64, -1i64);
        while let Some(row) = rows.next().ctx("SQLite: scan step")? {
            let id: i64 = row.get(0).ctx("SQLite: scan id")?;
            let v = row.get_ref(1).ctx("SQLite: scan v")?;
            let v = v.as_blob().ctx("SQLite: scan v is a blob")?;
            check(
                id > last && v.len() == crate::common::PAYLOAD_LEN,
                "SQLite: scan out of order or short value",
            )?;
            last = id;
            count += 1;
        }
        check(count == n, "SQLite: scan saw the wrong number of records")?;
        Ok(rate(count, start.elapsed()))
    }

    /// Checkpoint the WAL into the database (`wal_checkpoint(TRUNCATE)`), then return
    /// the database's size on disk: main file plus WAL (empty after the checkpoint).
    pub fn close(self) -> Result<u64> {
        let busy: i64 = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))
            .ctx("SQLite: wal_checkpoint(TRUNCATE)")?;
        check(busy == 0, "SQLite: the checkpoint could not finish")?;
        let mut len = 0;
        for suffix in ["", "-wal"] {
            let mut p = self.path.clone().into_os_string();
            p.push(suffix);
            if let Ok(m) = std::fs::metadata(&p) {
                len += m.len();
            }
        }
        self.conn
            .close()
            .map_err(|(_, e)| e)
            .ctx("SQLite: closing")?;
        Ok(len)
    }
}
