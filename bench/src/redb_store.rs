//! redb's side: `TableDefinition<u64, &[u8]>` with the 92-byte payload as the value
//! (the same key and payload bytes as Keel's 100-byte record), every write
//! transaction committed with redb's default `Durability::Immediate` (synced before
//! `commit` returns). Named `redb_store` so it does not shadow the `redb` crate.

use crate::common::{check, payload, rate, timed_loop, Ctx, Order, Result, Sizes, PAYLOAD_LEN};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TABLE: TableDefinition<u64, &[u8]> = TableDefinition::new("t");

fn create(path: &Path) -> Result<Database> {
    Database::create(path).ctx(format_args!("redb: creating {}", path.display()))
}

/// Insert one record in its own write transaction and commit it.
fn commit_one(db: &Database, id: u64) -> Result<()> {
    let tx = db.begin_write().ctx("redb: begin_write")?;
    {
        let mut t = tx.open_table(TABLE).ctx("redb: open_table")?;
        t.insert(id, &payload(id)[..]).ctx("redb: insert")?;
    }
    tx.commit().ctx("redb: commit")
}

/// Single-client durable commits: one write transaction per record.
pub fn commits_single(dir: &Path, sizes: &Sizes) -> Result<f64> {
    let db = create(&dir.join("commit1.redb"))?;
    let (n, d) = timed_loop(
        sizes.commit_count,
        Duration::from_secs_f64(sizes.commit_seconds),
        |i| commit_one(&db, i),
    )?;
    Ok(rate(n, d))
}

/// `sizes.clients` threads sharing one `Database`, each a write transaction per record
/// in its own id range (redb serialises write transactions: `begin_write` waits).
pub fn commits_concurrent(dir: &Path, sizes: &Sizes) -> Result<f64> {
    let db = Arc::new(create(&dir.join("commit8.redb"))?);
    let deadline = Instant::now() + Duration::from_secs_f64(sizes.concurrent_seconds);
    let start = Instant::now();
    let results: Vec<Result<u64>> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..sizes.clients)
            .map(|k| {
                let db = Arc::clone(&db);
                s.spawn(move || -> Result<u64> {
                    let first = k * sizes.commits_per_client;
                    let mut done = 0;
                    while done < sizes.commits_per_client && Instant::now() < deadline {
                        commit_one(&db, first + done)?;
                        done += 1;
                    }
                    Ok(done)
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().expect("a redb client thread panicked"))
            .collect()
    });
    let elapsed = start.elapsed();
    let mut commits = 0;
    for r in results {
        commits += r?;
    }
    Ok(rate(commits, elapsed))
}

/// A loaded database, open, for the read workloads.
pub struct Loaded {
    db: Database,
    path: PathBuf,
    /// Seconds the load took.
    pub seconds: f64,
}

/// Bulk-load `n` records in `order` in one write transaction; the commit (synced) is
/// inside the timing.
pub fn load(dir: &Path, n: u64, order: Order) -> Result<Loaded> {
    let path = dir.join(format!("load-{}.redb", order.name()));
    let db = create(&path)?;
    let ids = order.ids(n);
    let start = Instant::now();
    let tx = db.begin_write().ctx("redb: begin_write")?;
    {
        let mut t = tx.open_table(TABLE).ctx("redb: open_table")?;
        for &id in &ids {
            t.insert(id, &payload(id)[..]).ctx("redb: insert")?;
        }
    }
    tx.commit().ctx("redb: commit")?;
    let seconds = start.elapsed().as_secs_f64();
    Ok(Loaded { db, path, seconds })
}

impl Loaded {
    /// Point lookups by key in one read transaction; each value is checked.
    pub fn point_reads(&mut self, ids: &[u64]) -> Result<f64> {
        let start = Instant::now();
        let tx = self.db.begin_read().ctx("redb: begin_read")?;
        let t = tx.open_table(TABLE).ctx("redb: open_table")?;
        for &id in ids {
            let v = t.get(id).ctx(format_args!("redb: get {id}"))?;
            let ok = v.is_some_and(|v| v.value() == &payload(id)[..]);
            check(ok, "redb: missing or wrong value")?;
        }
        Ok(rate(ids.len() as u64, start.elapsed()))
    }

    /// A full scan in key order; checks the count and that keys ascend.
    pub fn scan(&mut self, n: u64) -> Result<f64> {
        let start = Instant::now();
        let tx = self.db.begin_read().ctx("redb: begin_read")?;
        let t = tx.open_table(TABLE).ctx("redb: open_table")?;
        let (mut count, mut last) = (0u64, None);
        for item in t.iter().ctx("redb: iter")? {
            let (k, v) = item.ctx("redb: scan step")?;
            let k = k.value();
            check(
                last.is_none_or(|l| k > l) && v.value().len() == PAYLOAD_LEN,
                "redb: scan out of order or short value",
            )?;
            last = Some(k);
            count += 1;
        }
        check(count == n, "redb: scan saw the wrong number of records")?;
        Ok(rate(count, start.elapsed()))
    }

    /// Close the database; returns its file's size on disk.
    pub fn close(self) -> Result<u64> {
        drop(self.db);
        Ok(std::fs::metadata(&self.path)
            .ctx(format_args!("redb: size of {}", self.path.display()))?
            .len())
    }
}
