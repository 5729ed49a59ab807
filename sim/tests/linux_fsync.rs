//! Regressions for Linux fsync semantics (`SyncFailure::Linux`): after a failed sync the
//! kernel has marked the unwritten pages clean, so what the engine reads back may never
//! have reached the disk, and a later sync — finding nothing dirty — succeeds without
//! writing it. An engine that reopens after such a failure must write again what it
//! builds on before it syncs. (The simulator seeds that found these are the shrunk
//! cases `corpora/seeds/seed-{7,1264,4066,4989}.json`.)

use engine::clock::ManualClock;
use engine::vfs::{OpenMode as VfsOpenMode, Vfs, VfsFile};
use engine::{Config, Engine, GetOp, LogMode, OpenMode};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use sim::vfs::{Fault, FaultConfig, SimVfs, SyncFailure};
use sim::workload;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Every sync fails, Linux-style.
fn failing_syncs() -> FaultConfig {
    FaultConfig {
        sync_error: Fault::on(1.0),
        sync_failure: SyncFailure::Linux,
        ..FaultConfig::none()
    }
}

/// A power loss keeps nothing unsynced.
fn lose_unsynced() -> FaultConfig {
    FaultConfig {
        lost_unsynced_write: Fault::on(1.0),
        lost_dir_op: Fault::on(1.0),
        ..FaultConfig::none()
    }
}

/// `SimVfs` that fails exactly one chosen sync of the files with one extension,
/// Linux-style: `arm(n)` fails the `n`-th sync of such a file from now.
#[derive(Clone)]
struct OneFailedSync {
    sim: SimVfs,
    extension: &'static str,
    countdown: Arc<AtomicU64>,
}

impl OneFailedSync {
    fn new(sim: SimVfs, extension: &'static str) -> OneFailedSync {
        OneFailedSync {
            sim,
            extension,
            countdown: Arc::new(AtomicU64::new(0)),
        }
    }

    fn arm(&self, n: u64) {
        self.countdown.store(n, Ordering::SeqCst);
    }
}

struct GateFile {
    inner: Box<dyn VfsFile>,
    gate: Option<OneFailedSync>,
}

impl VfsFile for GateFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.inner.read_at(buf, offset)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.inner.write_at(buf, offset)
    }
    fn read_durable_at(&self, buf: &mut [u8], offset: u64) -> io::Result<Option<usize>> {
        self.inner.read_durable_at(buf, offset)
    }
    fn sync(&self) -> io::Result<()> {
        let Some(g) = &self.gate else {
            return self.inner.sync();
        };
        let due = g
            .countdown
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok_and(|n| n == 1);
        if !due {
            return self.inner.sync();
        }
        let before = g.sim.config();
        g.sim.set_config(failing_syncs());
        let r = self.inner.sync();
        g.sim.set_config(before);
        assert!(r.is_err(), "the armed sync must fail");
        r
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
    fn try_lock_exclusive(&self) -> io::Result<()> {
        self.inner.try_lock_exclusive()
    }
}

impl Vfs for OneFailedSync {
    fn open(&self, path: &Path, mode: VfsOpenMode) -> io::Result<Box<dyn VfsFile>> {
        let inner = self.sim.open(path, mode)?;
        let gated = path.extension().is_some_and(|e| e == self.extension);
        Ok(Box::new(GateFile {
            inner,
            gate: gated.then(|| self.clone()),
        }))
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        self.sim.remove(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.sim.rename(from, to)
    }
    fn exists(&self, path: &Path) -> io::Result<bool> {
        self.sim.exists(path)
    }
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.sim.list_dir(dir)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.sim.sync_dir(dir)
    }
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.sim.create_dir_all(dir)
    }
}

fn engine(vfs: Arc<dyn Vfs>, log_mode: LogMode) -> Engine {
    Engine::new(
        vfs,
        Arc::new(ManualClock::new()),
        Config {
            log_mode,
            log_dir: PathBuf::from("/log"),
            log_segment_size: 64 << 10,
            // Only flushes commit (the clock never moves), so the tests know which
            // syncs a flush makes.
            operation_bundle_limit: 1 << 20,
            max_dirty_pages: 1 << 20,
            ..Config::default()
        },
    )
}

/// Record `id`, with a tag unique to it.
fn record(id: u32) -> Vec<u8> {
    let mut r = workload::record(id, &mut ChaCha8Rng::seed_from_u64(u64::from(id)));
    r[6..18].copy_from_slice(format!("i{id:011}").as_bytes());
    r
}

/// The ids of every record, in key-0 order.
fn ids(e: &mut Engine, h: engine::Handle) -> Vec<u32> {
    let mut out = Vec::new();
    let mut next = e.get(h, GetOp::First, 0, &[]);
    while let Ok(r) = next {
        out.push(workload::id_of(&r));
        next = e.get(h, GetOp::Next, 0, &[]);
    }
    out
}

/// Durability mode: a record whose log sync failed is read back by the restarted
/// engine (the data file rolls forward from it) and the records after it vouch for
/// it; the restart must have made it durable, or a power loss leaves the log behind
/// the data file (or with a hole before vouched-for records).
#[test]
fn a_log_record_a_failed_sync_left_in_the_cache_is_made_durable_on_restart() {
    let sim = SimVfs::new(1, FaultConfig::none());
    let vfs: Arc<dyn Vfs> = Arc::new(sim.clone());
    let path = Path::new("/data/f.btr");
    let mut e = engine(vfs.clone(), LogMode::Durability);
    e.create(path, &workload::spec(512)).unwrap();
    let h = e.open(path, OpenMode::Normal).unwrap();
    e.insert(h, &record(1)).unwrap();
    sim.set_config(failing_syncs());
    assert!(e.insert(h, &record(2)).is_err(), "its log sync fails");
    assert!(sim.stats().syncs_failed_linux > 0);
    sim.set_config(FaultConfig::none());
    sim.process_crash();
    drop(e);

    let mut e = engine(vfs.clone(), LogMode::Durability);
    let h = e.open(path, OpenMode::Normal).unwrap();
    e.insert(h, &record(3)).unwrap();
    assert_eq!(ids(&mut e, h), [1, 2, 3], "record 2 was rolled forward");
    sim.set_config(lose_unsynced());
    sim.power_loss();
    drop(e);

    let mut e = engine(vfs, LogMode::Durability);
    let h = e
        .open(path, OpenMode::Normal)
        .unwrap_or_else(|err| panic!("the file must open after the power loss: {err}"));
    assert_eq!(ids(&mut e, h), [1, 2, 3]);
}

/// Log mode Off: a commit's FCR sync fails. The commit writes the durable FCR back over
/// it at once (the failed commit was never acknowledged), so the reopened file — in a
/// new process, the OS cache kept — holds the last acknowledged state, and builds on
/// it: its next commit reuses pages the failed one wrote. If that commit's FCR sync
/// fails too, a power loss must still leave a sound file at that state.
/// (`engine/tests/failed_fcr_sync.rs` covers the undo failing as well.)
#[test]
fn an_fcr_a_failed_sync_left_in_the_cache_is_made_durable_on_open() {
    let sim = SimVfs::new(2, FaultConfig::none());
    let gate = OneFailedSync::new(sim.clone(), "btr");
    let vfs: Arc<dyn Vfs> = Arc::new(gate.clone());
    let path = Path::new("/data/f.btr");
    let mut e = engine(vfs.clone(), LogMode::Off);
    e.create(path, &workload::spec(512)).unwrap();
    let h = e.open(path, OpenMode::Normal).unwrap();
    for id in 0..40 {
        e.insert(h, &record(id)).unwrap();
    }
    e.flush().unwrap();
    for id in 40..60 {
        e.insert(h, &record(id)).unwrap();
    }
    // A commit syncs twice: its shadow pages, then its FCR. Fail the FCR's.
    gate.arm(2);
    assert!(e.flush().is_err());
    sim.process_crash();
    drop(e);

    let mut e = engine(vfs.clone(), LogMode::Off);
    let h = e.open(path, OpenMode::Normal).unwrap();
    assert_eq!(
        ids(&mut e, h),
        (0..40).collect::<Vec<_>>(),
        "the failed commit was undone"
    );
    for id in 0..40u32 {
        e.get(h, GetOp::Equal, 0, &id.to_le_bytes()).unwrap();
        let mut r = record(id);
        r[18] ^= 0xFF;
        e.update(h, &r).unwrap();
    }
    gate.arm(2);
    assert!(e.flush().is_err());
    sim.set_config(lose_unsynced());
    sim.power_loss();
    drop(e);

    let mut e = engine(vfs.clone(), LogMode::Off);
    let h = e
        .open(path, OpenMode::Normal)
        .unwrap_or_else(|err| panic!("the file must open after the power loss: {err}"));
    assert_eq!(ids(&mut e, h), (0..40).collect::<Vec<_>>());
    for id in 0..40u32 {
        let got = e.get(h, GetOp::Equal, 0, &id.to_le_bytes()).unwrap();
        assert_eq!(got, record(id), "id {id}: the first reopen's FCR state");
    }
    e.close(h).unwrap();
    let rep = engine::file::check::check_file(vfs.as_ref(), path).unwrap();
    assert!(rep.is_clean(), "{:?}", rep.problems);
}

/// Continuous operations: a delta append's sync fails; the reopened delta writer
/// continues after the commit it reads, and the next commit vouches for it; the open
/// must have made it durable, or a power loss leaves a hole before that commit.
#[test]
fn a_delta_commit_a_failed_sync_left_in_the_cache_is_made_durable_on_open() {
    let sim = SimVfs::new(3, FaultConfig::none());
    let gate = OneFailedSync::new(sim.clone(), "^^^");
    let vfs: Arc<dyn Vfs> = Arc::new(gate.clone());
    let path = Path::new("/data/f.btr");
    let mut e = engine(vfs.clone(), LogMode::Off);
    e.create(path, &workload::spec(512)).unwrap();
    let h = e.open(path, OpenMode::Normal).unwrap();
    for id in 0..20 {
        e.insert(h, &record(id)).unwrap();
    }
    e.flush().unwrap();
    e.start_backup(&[path.to_path_buf()]).unwrap();
    for id in 20..30 {
        e.insert(h, &record(id)).unwrap();
    }
    gate.arm(1);
    assert!(e.flush().is_err(), "the delta append's sync fails");
    sim.process_crash();
    drop(e);

    let mut e = engine(vfs.clone(), LogMode::Off);
    let h = e.open(path, OpenMode::Normal).unwrap();
    assert_eq!(ids(&mut e, h), (0..30).collect::<Vec<_>>());
    for id in 30..40 {
        e.insert(h, &record(id)).unwrap();
    }
    e.flush().unwrap();
    sim.set_config(lose_unsynced());
    sim.power_loss();
    drop(e);

    let mut e = engine(vfs, LogMode::Off);
    let h = e
        .open(path, OpenMode::Normal)
        .unwrap_or_else(|err| panic!("the file must open after the power loss: {err}"));
    assert_eq!(ids(&mut e, h), (0..40).collect::<Vec<_>>());
}
