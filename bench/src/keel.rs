//! Keel's side of every workload, through the public engine API on `StdVfs` and
//! `StdClock` — the same stack `butil` runs on.
//!
//! Commit workloads use the default `Config` (as a server would) with the log in the
//! bench directory; the bulk load uses `engine::bulk`'s configuration and
//! `engine::bulk::load_sequential`, exactly what `butil -load` runs (log mode Off,
//! butil's default).

use crate::common::{self, check, id_of, rate, record, timed_loop, Ctx, Order, Result, Sizes};
use engine::shared::SharedEngine;
/// What the concurrent row says about how Keel ran it.
pub const SHARED_NOTE: &str = "Keel: engine::shared::SharedEngine, each commit one \
     transaction(Begin, Insert, End) under the lock, the log sync with the lock released \
     (group commit)";
use engine::bulk::{bulk_config, load_sequential, Progress};
use engine::host::StdClock;
use engine::vfs::StdVfs;
use engine::{
    Client, Config, Engine, FileSpec, GetOp, Handle, KeySpec, KeyType, LogMode, OpenMode, Segment,
    Status,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The benchmark's file: 100-byte records, one unique unsigned 8-byte key at offset 0,
/// 4 KiB pages.
pub fn spec() -> FileSpec {
    FileSpec {
        record_length: common::RECORD_LEN as u16,
        page_size: 4096,
        keys: vec![KeySpec {
            segments: vec![Segment {
                offset: 0,
                length: common::KEY_LEN as u16,
                key_type: KeyType::Unsigned,
                descending: false,
            }],
            duplicates: false,
            modifiable: false,
        }],
        format: engine::FileFormat::V6,
    }
}

fn engine_with(config: Config) -> Engine {
    Engine::new(Arc::new(StdVfs), Arc::new(StdClock::new()), config)
}

/// A server-like engine: default `Config`, this log mode, its log in `log_dir`.
fn server_engine(log_mode: LogMode, log_dir: PathBuf) -> Engine {
    engine_with(Config {
        log_mode,
        log_dir,
        ..Config::default()
    })
}

/// A fresh data file `name` in `dir` and an engine with a handle on it.
fn fresh(dir: &Path, name: &str, mut e: Engine) -> Result<(Engine, Handle, PathBuf)> {
    let path = dir.join(name);
    e.create(&path, &spec())
        .ctx(format_args!("Keel: creating {}", path.display()))?;
    let h = e
        .open(&path, OpenMode::Normal)
        .ctx(format_args!("Keel: opening {}", path.display()))?;
    Ok((e, h, path))
}

/// Single-client commits: each `insert` outside a transaction is one commit; in
/// Durability mode the engine syncs the log before it returns (`log_change` →
/// `durable_if_required`), in Logging mode it does not. Returns (commits/s, commits
/// per log sync).
pub fn commits_single(dir: &Path, sizes: &Sizes, mode: LogMode) -> Result<(f64, f64)> {
    let name = format!("commit1-{}", mode.name());
    let e = server_engine(mode, dir.join(format!("{name}.log")));
    let (mut e, h, _) = fresh(dir, &format!("{name}.dat"), e)?;
    let (n, d) = timed_loop(
        sizes.commit_count,
        Duration::from_secs_f64(sizes.commit_seconds),
        |i| e.insert(h, &record(i)).ctx("Keel: single-record commit"),
    )?;
    let per_sync = commits_per_sync(&e);
    e.close(h).ctx("Keel: closing the commit file")?;
    Ok((rate(n, d), per_sync))
}

fn commits_per_sync(e: &Engine) -> f64 {
    let s = e.stats();
    s.log_commits as f64 / s.log_syncs.max(1) as f64
}

/// What the concurrent run measured.
pub struct Concurrent {
    pub commits_per_second: f64,
    pub commits_per_sync: f64,
}

/// `sizes.clients` threads on one Durability-mode engine, each its own client and
/// handle, each committing one record per user transaction (Begin, Insert, End) in its
/// own id range.
///
/// A transaction locks the file it changes until End; `SharedEngine::transaction`
/// runs Begin, Insert and End under one hold of the engine lock, so clients never meet
/// each other's locks, and only the durability wait (the log sync) overlaps.
pub fn commits_concurrent(dir: &Path, sizes: &Sizes) -> Result<Concurrent> {
    let e = server_engine(LogMode::Durability, dir.join("commit8.log"));
    let (mut e, h0, path) = fresh(dir, "commit8.dat", e)?;
    e.close(h0).ctx("Keel: closing after create")?;
    let shared = SharedEngine::new(e);
    let deadline = Instant::now() + Duration::from_secs_f64(sizes.concurrent_seconds);
    let start = Instant::now();
    let per_thread: Vec<Result<u64>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..sizes.clients)
            .map(|k| {
                let (shared, path) = (&shared, &path);
                s.spawn(move || client_loop(shared, path, k, sizes, deadline))
            })
            .collect();
        handles
            .into_iter()
            .map(|t| t.join().expect("a Keel client thread panicked"))
            .collect()
    });
    let elapsed = start.elapsed();
    let mut commits = 0;
    for r in per_thread {
        commits += r?;
    }
    let e = shared.into_inner();
    Ok(Concurrent {
        commits_per_second: rate(commits, elapsed),
        commits_per_sync: commits_per_sync(&e),
    })
}

/// One concurrent client: returns its commits.
fn client_loop(
    shared: &SharedEngine,
    path: &Path,
    k: u64,
    sizes: &Sizes,
    deadline: Instant,
) -> Result<u64> {
    let c = Client(k as u32 + 1);
    let h = shared
        .with(|e| e.open_as(c, path, OpenMode::Normal))
        .ctx(format_args!("Keel: client {} opening", c.0))?;
    let first = k * sizes.commits_per_client;
    let mut done = 0;
    while done < sizes.commits_per_client && Instant::now() < deadline {
        let rec = record(first + done);
        // Begin, Insert and End in one hold of the lock: no other client ever meets
        // this transaction's file lock (status 85); the sync that makes the End
        // durable runs with the lock released and covers every End appended meanwhile.
        shared
            .transaction(c, |e| e.insert(h, &rec))
            .ctx(format_args!("Keel: client {} transaction", c.0))?;
        done += 1;
    }
    shared
        .with(|e| e.close(h))
        .ctx(format_args!("Keel: client {} closing", c.0))?;
    Ok(done)
}

/// A loaded file with its engine and handle still open, for the read workloads.
pub struct Loaded {
    engine: Engine,
    handle: Handle,
    path: PathBuf,
    /// Seconds the load took.
    pub seconds: f64,
}

/// Bulk-load `n` records in `order`: the sequential file's bytes are built in memory
/// first (not timed), then `engine::bulk::load_sequential` — parse, insert each, flush
/// (a durable system transaction) — is timed.
pub fn load(dir: &Path, n: u64, order: Order) -> Result<Loaded> {
    let mut seq = Vec::with_capacity(n as usize * (common::RECORD_LEN + 6));
    for id in order.ids(n) {
        engine::formats::write_record(&mut seq, &record(id));
    }
    engine::formats::write_end(&mut seq);
    let name = format!("load-{}.dat", order.name());
    let e = engine_with(bulk_config(LogMode::Off, dir.join("load.log")));
    let (mut engine, handle, path) = fresh(dir, &name, e)?;
    let seqfile = dir.join(format!("load-{}.seq (in memory)", order.name()));
    let mut progress = Progress::default();
    let start = Instant::now();
    load_sequential(&mut engine, handle, &seq, &seqfile, &path, &mut progress).ctx("Keel: load")?;
    let seconds = start.elapsed().as_secs_f64();
    if progress.inserted != n {
        return Err(common::BenchError(format!(
            "Keel: loaded {} records, expected {n}",
            progress.inserted
        )));
    }
    Ok(Loaded {
        engine,
        handle,
        path,
        seconds,
    })
}

impl Loaded {
    /// Point lookups by key (Get Equal on key 0); each result's id is checked.
    pub fn point_reads(&mut self, ids: &[u64]) -> Result<f64> {
        let start = Instant::now();
        for &id in ids {
            let rec = self
                .engine
                .get(self.handle, GetOp::Equal, 0, &id.to_le_bytes())
                .ctx(format_args!("Keel: Get Equal {id}"))?;
            check(id_of(&rec) == id, "Keel: Get Equal returned another record")?;
        }
        Ok(rate(ids.len() as u64, start.elapsed()))
    }

    /// A full scan in key order (Get First, then Get Next to end of file); checks the
    /// count and that ids ascend. Returns records/s.
    pub fn scan(&mut self, n: u64) -> Result<f64> {
        let start = Instant::now();
        let mut rec = self
            .engine
            .get(self.handle, GetOp::First, 0, &[])
            .ctx("Keel: Get First")?;
        let mut count = 1;
        let mut last = id_of(&rec);
        loop {
            match self.engine.get(self.handle, GetOp::Next, 0, &[]) {
                Ok(r) => rec = r,
                Err(e) if e.status == Status::EndOfFile => break,
                Err(e) => return Err(e).ctx("Keel: Get Next"),
            }
            let id = id_of(&rec);
            check(id > last, "Keel: scan out of key order")?;
            last = id;
            count += 1;
        }
        check(count == n, "Keel: scan saw the wrong number of records")?;
        Ok(rate(count, start.elapsed()))
    }

    /// Close the file; returns its size in bytes on disk.
    pub fn close(mut self) -> Result<u64> {
        self.engine
            .close(self.handle)
            .ctx("Keel: closing the loaded file")?;
        let len = std::fs::metadata(&self.path)
            .ctx(format_args!("Keel: size of {}", self.path.display()))?
            .len();
        Ok(len)
    }
}
