//! Keel's side of every workload, through the public engine API on `StdVfs` and
//! `StdClock` — the same stack `butil` runs on.
//!
//! Commit workloads use the default `Config` (as a server would) with the log in the
//! bench directory and the clean-page cache set to `Sizes::cache_bytes` (the same
//! bytes SQLite and redb are given; changed pages awaiting a system transaction, up to
//! `max_dirty_pages`, are held beside it, as SQLite's and redb's write sets are); the
//! bulk load uses `engine::bulk`'s configuration and
//! `engine::bulk::load_sequential`, exactly what `butil -load` runs (log mode Off,
//! butil's default). The flush-commit rows (6.x against legacy 5.x) run with the log
//! Off, so each commit is the data file's own system transaction, and count syncs at
//! the `Vfs`.

use crate::common::{
    self, check, check_record, rate, record, timed_loop, Ctx, Order, Result, Sizes,
};
use engine::bulk::{bulk_config, load_sequential, Progress};
use engine::host::StdClock;
use engine::shared::SharedEngine;
use engine::vfs::{OpenMode as VfsOpenMode, StdVfs, Vfs, VfsFile};
use engine::{
    Client, Config, Engine, FileFormat, FileSpec, GetOp, Handle, KeySpec, KeyType, LogMode,
    OpenMode, Segment, Status,
};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The benchmark's file: 100-byte records, one unique unsigned 8-byte key at offset 0,
/// 4 KiB pages, index leaves with shared parts (`compactleaves=y`), slot serials of
/// `sizes.serial_bytes` bytes (`serialbytes=`).
pub fn spec(sizes: &Sizes) -> FileSpec {
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
        compact_leaves: true,
        slot_serial_bytes: sizes.serial_bytes,
    }
}

/// `config` with its clean-page cache holding `sizes.cache_bytes` of the benchmark's
/// 4 KiB pages.
fn with_cache(config: Config, sizes: &Sizes) -> Config {
    let pages = sizes.cache_bytes / u64::from(spec(sizes).page_size);
    Config {
        clean_cache_pages: usize::try_from(pages).unwrap_or(usize::MAX).max(1),
        ..config
    }
}

fn engine_with(config: Config, sizes: &Sizes) -> Engine {
    Engine::new(
        Arc::new(StdVfs),
        Arc::new(StdClock::new()),
        with_cache(config, sizes),
    )
}

/// A server-like engine: default `Config`, this log mode, its log in `log_dir`.
fn server_engine(log_mode: LogMode, log_dir: PathBuf, sizes: &Sizes) -> Engine {
    engine_with(
        Config {
            log_mode,
            log_dir,
            ..Config::default()
        },
        sizes,
    )
}

/// The log directory `name` in `dir`, emptied: every run of a row starts a fresh data
/// file, and an earlier run's log would be replayed into it at open.
fn fresh_log(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    let _ = std::fs::remove_dir_all(&p);
    p
}

/// A fresh data file `name` in `dir` (an earlier one removed) and an engine with a
/// handle on it.
fn fresh(
    dir: &Path,
    name: &str,
    mut e: Engine,
    sizes: &Sizes,
) -> Result<(Engine, Handle, PathBuf)> {
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    e.create(&path, &spec(sizes))
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
    let e = server_engine(mode, fresh_log(dir, &format!("{name}.log")), sizes);
    let (mut e, h, _) = fresh(dir, &format!("{name}.dat"), e, sizes)?;
    for i in 0..sizes.warm_commits {
        e.insert(h, &record(WARM_BASE + i))
            .ctx("Keel: warm-up commit")?;
    }
    let (n, d) = timed_loop(
        sizes.commit_count,
        Duration::from_secs_f64(sizes.commit_seconds),
        |i| e.insert(h, &record(i)).ctx("Keel: single-record commit"),
    )?;
    let per_sync = commits_per_sync(&e);
    e.close(h).ctx("Keel: closing the commit file")?;
    Ok((rate(n, d), per_sync))
}

/// Ids the warm-up commits use: far above any id a timed run uses.
const WARM_BASE: u64 = 1 << 40;

/// What one run of system-transaction commits measured.
pub struct FlushCommits {
    pub commits_per_second: f64,
    /// Syncs (of files and directories, data file and `.PRE` alike) per commit, counted
    /// at the `Vfs`: the cost the format's crash protocol adds to each commit.
    pub syncs_per_commit: f64,
}

/// Single-record commits with no log (mode Off): each commit is `insert` then `flush`,
/// one durable system transaction of the data file in `format` — shadow paging (6.x)
/// or in-place overwrites under pre-imaging (legacy 5.x). Same records and file as
/// [`commits_single`]; what differs is only how the data file itself commits.
pub fn commits_flushed(dir: &Path, sizes: &Sizes, format: FileFormat) -> Result<FlushCommits> {
    let name = match format {
        FileFormat::V6 => "flush-v6",
        FileFormat::V5 => "flush-v5",
    };
    let counter = Arc::new(CountingVfs::default());
    let mut e = Engine::new(
        counter.clone(),
        Arc::new(StdClock::new()),
        with_cache(
            Config {
                log_mode: LogMode::Off,
                log_dir: fresh_log(dir, &format!("{name}.log")),
                ..Config::default()
            },
            sizes,
        ),
    );
    let path = dir.join(format!("{name}.dat"));
    let _ = std::fs::remove_file(&path);
    e.create(
        &path,
        &FileSpec {
            format,
            ..spec(sizes)
        },
    )
    .ctx(format_args!("Keel: creating {}", path.display()))?;
    let h = e
        .open(&path, OpenMode::Normal)
        .ctx(format_args!("Keel: opening {}", path.display()))?;
    for i in 0..sizes.warm_commits {
        e.insert(h, &record(WARM_BASE + i)).ctx("Keel: insert")?;
        e.flush().ctx("Keel: warm-up flush")?;
    }
    // Count only the timed commits: creation, open and the warm-up sync too.
    let before = counter.syncs();
    let (n, d) = timed_loop(
        sizes.commit_count,
        Duration::from_secs_f64(sizes.commit_seconds),
        |i| {
            e.insert(h, &record(i)).ctx("Keel: insert")?;
            e.flush().ctx("Keel: flush (the commit)")
        },
    )?;
    let syncs = counter.syncs() - before;
    e.close(h).ctx("Keel: closing the flush-commit file")?;
    Ok(FlushCommits {
        commits_per_second: rate(n, d),
        syncs_per_commit: syncs as f64 / n.max(1) as f64,
    })
}

/// `StdVfs` counting every file and directory sync: the engine counts log syncs only,
/// and a legacy commit's cost is chiefly its data-file and `.PRE` syncs.
#[derive(Default)]
struct CountingVfs {
    syncs: Arc<AtomicU64>,
}

impl CountingVfs {
    fn syncs(&self) -> u64 {
        self.syncs.load(Ordering::Relaxed)
    }
}

struct CountingFile {
    inner: Box<dyn VfsFile>,
    syncs: Arc<AtomicU64>,
}

impl VfsFile for CountingFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        self.inner.read_at(buf, offset)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> std::io::Result<()> {
        self.inner.write_at(buf, offset)
    }
    fn read_durable_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<Option<usize>> {
        self.inner.read_durable_at(buf, offset)
    }
    fn sync(&self) -> std::io::Result<()> {
        self.syncs.fetch_add(1, Ordering::Relaxed);
        self.inner.sync()
    }
    fn set_len(&self, len: u64) -> std::io::Result<()> {
        self.inner.set_len(len)
    }
    fn len(&self) -> std::io::Result<u64> {
        self.inner.len()
    }
    fn try_lock_exclusive(&self) -> std::io::Result<()> {
        self.inner.try_lock_exclusive()
    }
}

impl Vfs for CountingVfs {
    fn open(&self, path: &Path, mode: VfsOpenMode) -> std::io::Result<Box<dyn VfsFile>> {
        Ok(Box::new(CountingFile {
            inner: StdVfs.open(path, mode)?,
            syncs: self.syncs.clone(),
        }))
    }
    fn remove(&self, path: &Path) -> std::io::Result<()> {
        StdVfs.remove(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        StdVfs.rename(from, to)
    }
    fn exists(&self, path: &Path) -> std::io::Result<bool> {
        StdVfs.exists(path)
    }
    fn list_dir(&self, dir: &Path) -> std::io::Result<Vec<String>> {
        StdVfs.list_dir(dir)
    }
    fn sync_dir(&self, dir: &Path) -> std::io::Result<()> {
        self.syncs.fetch_add(1, Ordering::Relaxed);
        StdVfs.sync_dir(dir)
    }
    fn create_dir_all(&self, dir: &Path) -> std::io::Result<()> {
        StdVfs.create_dir_all(dir)
    }
}

fn commits_per_sync(e: &Engine) -> f64 {
    let s = e.stats();
    s.log_commits as f64 / s.log_syncs.max(1) as f64
}

/// `Config::commit_delay` of the concurrent row (the single-client rows keep the
/// default, zero). A cap, not a sleep: a would-be leader waits only while another
/// client is on its way to its End, and starts the sync as soon as the last one has
/// appended, so the cap is reached only when a client is slow to come back (a
/// descheduled thread on a loaded machine). Measured on the 2-core development
/// machine, 8 clients, medians of 5: caps of 0.2, 1 and 5 ms gave 7.6, 7.7 and 7.8
/// commits per sync, the 5 ms cap the best rate; a PostgreSQL-style fixed sleep of
/// 0.2-1 ms grouped as well but lost throughput as the sleep grew.
/// (`runner::COMMIT8_NOTE` prints it: keep the two in step.)
pub const COMMIT8_DELAY: Duration = Duration::from_millis(5);

/// What the concurrent run measured.
pub struct Concurrent {
    pub commits_per_second: f64,
    pub commits_per_sync: f64,
}

/// `sizes.clients` threads on one Durability-mode engine ([`COMMIT8_DELAY`]), each its
/// own client and handle, each committing one record per user transaction (Begin,
/// Insert, End) in its own id range.
///
/// A transaction locks the file it changes until End; `SharedEngine::transaction`
/// runs Begin, Insert and End under one hold of the engine lock, so clients never meet
/// each other's locks, and only the durability wait (the log sync) overlaps.
pub fn commits_concurrent(dir: &Path, sizes: &Sizes) -> Result<Concurrent> {
    let e = engine_with(
        Config {
            log_mode: LogMode::Durability,
            log_dir: fresh_log(dir, "commit8.log"),
            commit_delay: COMMIT8_DELAY,
            ..Config::default()
        },
        sizes,
    );
    let (mut e, h0, path) = fresh(dir, "commit8.dat", e, sizes)?;
    for i in 0..sizes.warm_commits {
        e.insert(h0, &record(WARM_BASE + i))
            .ctx("Keel: warm-up commit")?;
    }
    e.close(h0).ctx("Keel: closing after create")?;
    let (c0, s0) = (e.stats().log_commits, e.stats().log_syncs);
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
            .map(|t| {
                t.join().unwrap_or_else(|_| {
                    Err(common::BenchError("a Keel client thread panicked".into()))
                })
            })
            .collect()
    });
    let elapsed = start.elapsed();
    let mut commits = 0;
    for r in per_thread {
        commits += r?;
    }
    let e = shared.into_inner();
    // The timed commits only (the warm-up's commits and syncs are subtracted).
    let s = e.stats();
    let (c, y) = (s.log_commits - c0, s.log_syncs - s0);
    Ok(Concurrent {
        commits_per_second: rate(commits, elapsed),
        commits_per_sync: c as f64 / y.max(1) as f64,
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

/// The data file a load in `order` writes.
fn load_path(dir: &Path, order: Order) -> PathBuf {
    dir.join(format!("load-{}.dat", order.name()))
}

/// What a load measured.
pub struct Loaded {
    pub seconds: f64,
    /// The data file's size after the load (log Off: there is no log).
    pub bytes: u64,
}

/// Bulk-load `n` records in `order`: the sequential file's bytes are built in memory
/// first (not timed, but resident: they count in the row's peak RSS), then
/// `engine::bulk::load_sequential` — parse, insert each, flush (a durable system
/// transaction) — is timed. The file is closed afterwards, untimed.
pub fn load(dir: &Path, n: u64, order: Order, sizes: &Sizes) -> Result<Loaded> {
    let mut seq = Vec::with_capacity(n as usize * (common::RECORD_LEN + 6));
    for id in order.ids(n) {
        engine::formats::write_record(&mut seq, &record(id));
    }
    engine::formats::write_end(&mut seq);
    let path = load_path(dir, order);
    let name = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let e = engine_with(bulk_config(LogMode::Off, fresh_log(dir, "load.log")), sizes);
    let (mut engine, handle, path) = fresh(dir, &name, e, sizes)?;
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
    drop(seq);
    engine.close(handle).ctx("Keel: closing the loaded file")?;
    let bytes = std::fs::metadata(&path)
        .ctx(format_args!("Keel: size of {}", path.display()))?
        .len();
    Ok(Loaded { seconds, bytes })
}

/// The ascending load's file, reopened for the read rows.
pub struct Reader {
    engine: Engine,
    handle: Handle,
}

pub fn open_loaded(dir: &Path, sizes: &Sizes) -> Result<Reader> {
    let path = load_path(dir, Order::Ascending);
    let mut engine = engine_with(bulk_config(LogMode::Off, dir.join("load.log")), sizes);
    let handle = engine
        .open(&path, OpenMode::Normal)
        .ctx(format_args!("Keel: opening {}", path.display()))?;
    Ok(Reader { engine, handle })
}

impl Reader {
    /// Point lookups by key (Get Equal on key 0); each record's bytes are checked.
    /// Records come into one reused buffer (`get_into`), as SQLite's and redb's rows
    /// are read in place.
    pub fn point_reads(&mut self, ids: &[u64]) -> Result<f64> {
        let mut rec = Vec::new();
        let start = Instant::now();
        for &id in ids {
            self.engine
                .get_into(self.handle, GetOp::Equal, 0, &id.to_le_bytes(), &mut rec)
                .ctx(format_args!("Keel: Get Equal {id}"))?;
            check_record(&rec, id, "Keel")?;
        }
        Ok(rate(ids.len() as u64, start.elapsed()))
    }

    /// A full scan in key order (Get First, then Get Next to end of file, into one
    /// reused buffer); checks the count, that ids ascend, and every record's bytes.
    /// Returns records/s.
    pub fn scan(&mut self, n: u64) -> Result<f64> {
        let mut rec = Vec::new();
        let start = Instant::now();
        self.engine
            .get_into(self.handle, GetOp::First, 0, &[], &mut rec)
            .ctx("Keel: Get First")?;
        // Ids are 0..n ascending: the count-th record must be id `count`.
        check_record(&rec, 0, "Keel scan")?;
        let mut count = 1;
        loop {
            match self
                .engine
                .get_into(self.handle, GetOp::Next, 0, &[], &mut rec)
            {
                Ok(()) => {}
                Err(e) if e.status == Status::EndOfFile => break,
                Err(e) => return Err(e).ctx("Keel: Get Next"),
            };
            check_record(&rec, count, "Keel scan")?;
            count += 1;
        }
        check(count == n, "Keel: scan saw the wrong number of records")?;
        Ok(rate(count, start.elapsed()))
    }
}

/// The roll-in row's data file (its delta beside it).
fn roll_in_path(dir: &Path) -> PathBuf {
    dir.join("rollin.dat")
}

/// An engine for the roll-in row: log Off, large system transactions (so the delta
/// is mostly one image per page rather than many versions of the rightmost leaf).
fn roll_in_engine(sizes: &Sizes) -> Engine {
    engine_with(
        Config {
            log_mode: LogMode::Off,
            operation_bundle_limit: 100_000,
            ..Config::default()
        },
        sizes,
    )
}

/// Records the roll-in row's delta holds (written by `make_delta`, checked by
/// `roll_in`).
fn roll_in_count_path(dir: &Path) -> PathBuf {
    dir.join("rollin.count")
}

/// Untimed setup of the roll-in row: a fresh file, `startbu`, then ascending inserts
/// (committed to the delta) until the delta holds `sizes.delta_mib` MiB; closed.
/// Returns the delta's bytes.
pub fn make_delta(dir: &Path, sizes: &Sizes) -> Result<u64> {
    let path = roll_in_path(dir);
    let delta = engine::delta::delta_path(&path).ctx("Keel: the delta's name")?;
    let _ = std::fs::remove_file(&delta);
    let (mut e, h, path) = fresh(dir, "rollin.dat", roll_in_engine(sizes), sizes)?;
    e.start_backup(std::slice::from_ref(&path))
        .ctx("Keel: startbu")?;
    let want = sizes.delta_mib << 20;
    let mut id = 0u64;
    let delta_len = || std::fs::metadata(&delta).map(|m| m.len()).unwrap_or(0);
    while delta_len() < want {
        for _ in 0..20_000 {
            e.insert(h, &record(id))
                .ctx("Keel: insert into the frozen file")?;
            id += 1;
        }
    }
    e.close(h).ctx("Keel: closing the frozen file")?;
    std::fs::write(roll_in_count_path(dir), id.to_string()).ctx("Keel: writing the count")?;
    Ok(delta_len())
}

/// What the roll-in row measured.
pub struct RolledIn {
    pub seconds: f64,
    /// The delta's size before the roll-in, MiB.
    pub mib: f64,
}

/// The roll-in row: `endbu` on `make_delta`'s file (the engine opens it, attaching
/// the delta, and rolls it in), timed; then, untimed, the delta must be gone and the
/// file must hold every record (its last id is the count − 1). The files are removed.
pub fn roll_in(dir: &Path, sizes: &Sizes) -> Result<RolledIn> {
    let path = roll_in_path(dir);
    let delta = engine::delta::delta_path(&path).ctx("Keel: the delta's name")?;
    let bytes = std::fs::metadata(&delta)
        .ctx(format_args!("Keel: size of {}", delta.display()))?
        .len();
    let count: u64 = std::fs::read_to_string(roll_in_count_path(dir))
        .ctx("Keel: reading the count")?
        .trim()
        .parse()
        .map_err(|e| common::BenchError(format!("Keel: the count: {e}")))?;
    let mut e = roll_in_engine(sizes);
    let start = Instant::now();
    e.end_backup(std::slice::from_ref(&path))
        .ctx("Keel: endbu")?;
    let seconds = start.elapsed().as_secs_f64();
    check(!delta.exists(), "Keel: the delta remains after endbu")?;
    let h = e.open(&path, OpenMode::Normal).ctx("Keel: reopening")?;
    let mut rec = Vec::new();
    e.get_into(h, GetOp::Last, 0, &[], &mut rec)
        .ctx("Keel: Get Last")?;
    check_record(&rec, count - 1, "Keel roll-in")?;
    e.close(h).ctx("Keel: closing")?;
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(roll_in_count_path(dir));
    Ok(RolledIn {
        seconds,
        mib: bytes as f64 / f64::from(1u32 << 20),
    })
}
