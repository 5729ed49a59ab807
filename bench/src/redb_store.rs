//! redb's side: `TableDefinition<u64, &[u8]>` with the 92-byte payload as the value
//! (the same key and payload bytes as Keel's 100-byte record), the cache set to
//! `Sizes::cache_bytes` (`Builder::set_cache_size`; redb's default is 1 GiB). Durable
//! rows commit with `Durability::Immediate` (synced before `commit` returns); the
//! Logging-mode counterpart is `Durability::None` (not persisted until a later
//! Immediate commit: a crash may lose the latest commits, never part of one). Named
//! `redb_store` so it does not shadow the `redb` crate.

use crate::common::{
    check, check_value, payload, rate, timed_loop, BenchError, Ctx, Order, Result, Sizes,
};
use redb::{Builder, Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TABLE: TableDefinition<u64, &[u8]> = TableDefinition::new("t");
/// Ids the warm-up commits use: far above any id a timed run uses.
const WARM_BASE: u64 = 1 << 40;

fn builder(sizes: &Sizes) -> Builder {
    let mut b = Builder::new();
    b.set_cache_size(usize::try_from(sizes.cache_bytes).unwrap_or(usize::MAX));
    b
}

/// A fresh database at `path` (an earlier one removed).
fn create(path: &Path, sizes: &Sizes) -> Result<Database> {
    let _ = std::fs::remove_file(path);
    builder(sizes)
        .create(path)
        .ctx(format_args!("redb: creating {}", path.display()))
}

/// Insert one record in its own write transaction and commit it with `durability`.
fn commit_one(db: &Database, id: u64, durability: Durability) -> Result<()> {
    let mut tx = db.begin_write().ctx("redb: begin_write")?;
    tx.set_durability(durability).ctx("redb: set_durability")?;
    {
        let mut t = tx.open_table(TABLE).ctx("redb: open_table")?;
        t.insert(id, &payload(id)[..]).ctx("redb: insert")?;
    }
    tx.commit().ctx("redb: commit")
}

fn warm(db: &Database, sizes: &Sizes) -> Result<()> {
    for i in 0..sizes.warm_commits {
        commit_one(db, WARM_BASE + i, Durability::Immediate)?;
    }
    Ok(())
}

/// Single-client commits: one write transaction per record, committed `durability`.
pub fn commits_single(dir: &Path, sizes: &Sizes, durability: Durability) -> Result<f64> {
    let db = create(&dir.join("commit1.redb"), sizes)?;
    warm(&db, sizes)?;
    let (n, d) = timed_loop(
        sizes.commit_count,
        Duration::from_secs_f64(sizes.commit_seconds),
        |i| commit_one(&db, i, durability),
    )?;
    Ok(rate(n, d))
}

/// `sizes.clients` threads sharing one `Database`, each a durable write transaction per
/// record in its own id range (redb serialises write transactions: `begin_write`
/// blocks, no sleeping retries).
pub fn commits_concurrent(dir: &Path, sizes: &Sizes) -> Result<f64> {
    let db = Arc::new(create(&dir.join("commit8.redb"), sizes)?);
    warm(&db, sizes)?;
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
                        commit_one(&db, first + done, Durability::Immediate)?;
                        done += 1;
                    }
                    Ok(done)
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| {
                t.join()
                    .unwrap_or_else(|_| Err(BenchError("a redb client thread panicked".into())))
            })
            .collect()
    });
    let elapsed = start.elapsed();
    let mut commits = 0;
    for r in results {
        commits += r?;
    }
    Ok(rate(commits, elapsed))
}

fn load_path(dir: &Path, order: Order) -> PathBuf {
    dir.join(format!("load-{}.redb", order.name()))
}

/// What a load measured.
pub struct Loaded {
    pub seconds: f64,
    /// The database file's size after the load.
    pub bytes: u64,
}

/// Bulk-load `n` records in `order` in one write transaction; the commit (synced) is
/// inside the timing, closing is not.
pub fn load(dir: &Path, n: u64, order: Order, sizes: &Sizes) -> Result<Loaded> {
    let path = load_path(dir, order);
    let db = create(&path, sizes)?;
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
    drop(db);
    let bytes = std::fs::metadata(&path)
        .ctx(format_args!("redb: size of {}", path.display()))?
        .len();
    Ok(Loaded { seconds, bytes })
}

/// The ascending load's database, reopened for the read rows.
pub struct Reader {
    db: Database,
}

pub fn open_loaded(dir: &Path, sizes: &Sizes) -> Result<Reader> {
    let path = load_path(dir, Order::Ascending);
    let db = builder(sizes)
        .open(&path)
        .ctx(format_args!("redb: opening {}", path.display()))?;
    Ok(Reader { db })
}

impl Reader {
    /// Point lookups by key in one read transaction; each value's bytes are checked.
    pub fn point_reads(&mut self, ids: &[u64]) -> Result<f64> {
        let start = Instant::now();
        let tx = self.db.begin_read().ctx("redb: begin_read")?;
        let t = tx.open_table(TABLE).ctx("redb: open_table")?;
        for &id in ids {
            let v = t.get(id).ctx(format_args!("redb: get {id}"))?;
            let v = v.ok_or_else(|| BenchError(format!("redb: record {id} is missing")))?;
            check_value(id, id, v.value(), "redb")?;
        }
        Ok(rate(ids.len() as u64, start.elapsed()))
    }

    /// A full scan in key order; checks the count, that keys ascend, and every value's
    /// bytes.
    pub fn scan(&mut self, n: u64) -> Result<f64> {
        let start = Instant::now();
        let tx = self.db.begin_read().ctx("redb: begin_read")?;
        let t = tx.open_table(TABLE).ctx("redb: open_table")?;
        let mut count = 0u64;
        for item in t.iter().ctx("redb: iter")? {
            let (k, v) = item.ctx("redb: scan step")?;
            // Ids are 0..n ascending: the count-th entry must be id `count`.
            check_value(k.value(), count, v.value(), "redb scan")?;
            count += 1;
        }
        check(count == n, "redb: scan saw the wrong number of records")?;
        Ok(rate(count, start.elapsed()))
    }
}
