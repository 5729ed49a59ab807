//! The transaction log through the engine: when End is durable in each mode, the
//! write-ahead rule, roll-forward on open (and only on open), incomplete transactions
//! discarded, idempotence.

mod common;
use common::*;
use engine::txlog::frame::frame_len;
use engine::vfs::testing::{Faults, TestVfs};
use engine::{Client, Config, Engine, GetOp, Handle, LogMode, OpenMode, Status};
use std::path::{Path, PathBuf};

const A: Client = Client(1);
const X: &str = "/d/x.btr";
const Y: &str = "/d/y.btr";

fn config(mode: LogMode) -> Config {
    Config {
        log_mode: mode,
        log_dir: PathBuf::from("/log"),
        log_segment_size: 64 << 10,
        ..Config::default()
    }
}

fn engine(vfs: &TestVfs, mode: LogMode) -> Engine {
    mem_engine(vfs, config(mode))
}

fn ids(e: &mut Engine, h: Handle) -> Vec<u32> {
    let mut out = Vec::new();
    let mut r = e.get(h, GetOp::First, 0, &[]);
    while let Ok(rec) = r {
        out.push(u32::from_le_bytes([rec[0], rec[1], rec[2], rec[3]]));
        r = e.get(h, GetOp::Next, 0, &[]);
    }
    out
}

fn setup(vfs: &TestVfs, mode: LogMode) -> (Engine, Handle, Handle) {
    setup_with(vfs, config(mode))
}

/// Files X and Y created and opened by client A, on an engine with `config`.
fn setup_with(vfs: &TestVfs, config: Config) -> (Engine, Handle, Handle) {
    let mut e = mem_engine(vfs, config);
    e.create(Path::new(X), &people_spec(1024)).unwrap();
    e.create(Path::new(Y), &people_spec(1024)).unwrap();
    let hx = e.open_as(A, Path::new(X), OpenMode::Normal).unwrap();
    let hy = e.open_as(A, Path::new(Y), OpenMode::Normal).unwrap();
    (e, hx, hy)
}

/// A transfer: one record into each file, in one transaction.
fn transfer(e: &mut Engine, hx: Handle, hy: Handle, id: u32) {
    e.begin_transaction(A).unwrap();
    e.insert(hx, &person(id, 0, &format!("x{id}"))).unwrap();
    e.insert(hy, &person(id, 0, &format!("y{id}"))).unwrap();
    e.end_transaction(A).unwrap();
}

#[test]
fn durability_syncs_at_end_logging_at_the_writer_step() {
    let vfs = TestVfs::new();
    let (mut e, hx, hy) = setup(&vfs, LogMode::Durability);
    transfer(&mut e, hx, hy, 1);
    assert!(e.log_durable_lsn() > e.last_commit_lsn());
    // A single operation is a transaction of its own, durable at return too.
    e.insert(hx, &person(2, 0, "single")).unwrap();
    assert!(e.log_durable_lsn() > e.last_commit_lsn());

    let vfs = TestVfs::new();
    let (mut e, hx, hy) = setup(&vfs, LogMode::Logging);
    transfer(&mut e, hx, hy, 1);
    assert!(e.last_commit_lsn() > 0);
    assert!(e.log_durable_lsn() <= e.last_commit_lsn());
    e.background_step().unwrap();
    assert!(e.log_durable_lsn() > e.last_commit_lsn());
    // Write-ahead: a system transaction first makes the log durable.
    transfer(&mut e, hx, hy, 2);
    assert!(e.log_durable_lsn() <= e.last_commit_lsn());
    e.flush().unwrap();
    assert!(e.log_durable_lsn() > e.last_commit_lsn());
}

/// `log_syncs` counts the log syncs made (the bench's commits per sync divides by it):
/// a system transaction whose log records are already durable makes none, and counts
/// none.
#[test]
fn a_system_transaction_after_a_durable_log_counts_no_log_sync() {
    for mode in [LogMode::Durability, LogMode::Logging] {
        let vfs = TestVfs::new();
        let (mut e, hx, hy) = setup(&vfs, mode);
        let before = e.stats().log_syncs;
        transfer(&mut e, hx, hy, 1);
        e.background_step().unwrap();
        assert_eq!(
            e.stats().log_syncs,
            before + 1,
            "{mode:?}: one sync made it durable"
        );
        assert_eq!(e.log_durable_lsn(), e.last_commit_lsn() + 1, "{mode:?}");
        e.flush().unwrap();
        assert_eq!(
            e.stats().log_syncs,
            before + 1,
            "{mode:?}: a flush synced nothing"
        );
        // Where the log is behind, the write-ahead sync is made and counted.
        transfer(&mut e, hx, hy, 2);
        let s = e.stats().log_syncs;
        e.flush().unwrap();
        let made = u64::from(mode == LogMode::Logging);
        assert_eq!(e.stats().log_syncs, s + made, "{mode:?}");
        assert!(e.log_durable_lsn() > e.last_commit_lsn());
    }
}

/// Once the log has failed, a change is refused *before* it is applied: no client
/// sees an insert, update or delete that could not be logged, and the file keeps
/// what it had.
#[test]
fn after_a_log_failure_a_refused_change_is_not_applied() {
    let vfs = TestVfs::new();
    let (mut e, hx, _) = setup(&vfs, LogMode::Durability);
    e.insert(hx, &person(1, 0, "one")).unwrap();
    vfs.set_faults(Faults {
        fail_sync_in: Some(0),
        ..Faults::default()
    });
    // The failed sync: this insert's outcome is for recovery to decide.
    assert!(e.insert(hx, &person(2, 0, "two")).is_err());
    vfs.set_faults(Faults::default());
    let refused = e.insert(hx, &person(3, 0, "three")).unwrap_err();
    assert_eq!(refused.status, Status::IoError, "{refused}");
    assert!(
        e.get(hx, GetOp::Equal, 0, &3u32.to_le_bytes()).is_err(),
        "a refused insert is visible"
    );
    let one = e.get(hx, GetOp::Equal, 0, &1u32.to_le_bytes()).unwrap();
    assert!(e.update(hx, &person(1, 0, "changed")).is_err());
    assert!(e.delete(hx).is_err());
    assert_eq!(
        e.get(hx, GetOp::Equal, 0, &1u32.to_le_bytes()).unwrap(),
        one,
        "a refused update or delete changed the record"
    );
}

/// The log segments on disk.
fn segments(vfs: &TestVfs) -> usize {
    (1..=64u32)
        .filter(|n| vfs.contents(format!("/log/{n:08X}.LOG")).is_some())
        .count()
}

/// After a crash, once every file the log names is rolled forward (what `butil
/// -recoverlog` does), recycling removes the segments none of them needs, and says how
/// many it removed.
#[test]
fn recycling_after_roll_forward_removes_and_counts_the_segments_no_file_needs() {
    let vfs = TestVfs::new();
    let config = Config {
        log_segment_size: 4096,
        ..config(LogMode::Durability)
    };
    let (mut e, hx, hy) = setup_with(&vfs, config.clone());
    e.flush().unwrap();
    for id in 1..=60 {
        transfer(&mut e, hx, hy, id);
    }
    drop(e); // before any system transaction: the files need the whole log
    let before = segments(&vfs);
    assert!(before >= 4, "the test needs several segments: {before}");
    let mut e = mem_engine(&vfs, config);
    e.open(Path::new(X), OpenMode::Normal).unwrap();
    // Y not yet rolled forward: it needs everything, nothing may go.
    assert_eq!(e.recycle_log_now().unwrap(), 0);
    assert_eq!(segments(&vfs), before);
    e.open(Path::new(Y), OpenMode::Normal).unwrap();
    let removed = e.recycle_log_now().unwrap();
    assert_eq!(
        removed,
        (before - 1) as u64,
        "all but the segment being written"
    );
    assert_eq!(segments(&vfs), 1);
}

#[test]
fn off_mode_writes_no_log() {
    let vfs = TestVfs::new();
    let (mut e, hx, hy) = setup(&vfs, LogMode::Off);
    transfer(&mut e, hx, hy, 1);
    e.flush().unwrap();
    assert_eq!(e.last_commit_lsn(), 0);
    assert!(vfs.contents(Path::new("/log/00000001.LOG")).is_none());
}

#[test]
fn roll_forward_happens_on_open_only() {
    let vfs = TestVfs::new();
    let (mut e, hx, hy) = setup(&vfs, LogMode::Durability);
    e.flush().unwrap();
    let before = (
        vfs.contents(Path::new(X)).unwrap(),
        vfs.contents(Path::new(Y)).unwrap(),
    );
    for id in 1..=20 {
        transfer(&mut e, hx, hy, id);
    }
    // The engine dies before any system transaction: the data files are as before,
    // the log holds twenty committed transfers.
    drop(e);
    assert_eq!(vfs.contents(Path::new(X)).unwrap(), before.0);
    let mut e = engine(&vfs, LogMode::Durability);
    // Restarting the engine alone rolls nothing forward.
    assert_eq!(vfs.contents(Path::new(X)).unwrap(), before.0);
    let hx = e.open(Path::new(X), OpenMode::Normal).unwrap();
    assert_eq!(ids(&mut e, hx), (1..=20).collect::<Vec<_>>());
    // The roll-forward is durable before the open returns: the file alone has it.
    assert_ne!(vfs.contents(Path::new(X)).unwrap(), before.0);
    assert_eq!(vfs.contents(Path::new(Y)).unwrap(), before.1);
    let hy = e.open(Path::new(Y), OpenMode::Normal).unwrap();
    assert_eq!(ids(&mut e, hy), (1..=20).collect::<Vec<_>>());
    // Updates and deletes replay too, and a second roll-forward applies nothing twice.
    e.get(hx, GetOp::Equal, 0, &5u32.to_le_bytes()).unwrap();
    e.update(hx, &person(5, 9, "five")).unwrap();
    e.get(hx, GetOp::Equal, 0, &6u32.to_le_bytes()).unwrap();
    e.delete(hx).unwrap();
    drop(e);
    for _ in 0..2 {
        let mut e = engine(&vfs, LogMode::Durability);
        let hx = e.open(Path::new(X), OpenMode::Normal).unwrap();
        let want: Vec<u32> = (1..=20).filter(|&i| i != 6).collect();
        assert_eq!(ids(&mut e, hx), want);
        assert_eq!(
            e.get(hx, GetOp::Equal, 0, &5u32.to_le_bytes()).unwrap(),
            person(5, 9, "five")
        );
        e.close(hx).unwrap();
    }
    let rep = engine::file::check::check_file(&vfs, Path::new(X)).unwrap();
    assert!(rep.is_clean(), "{:?}", rep.problems);
}

#[test]
fn an_incomplete_transaction_is_discarded() {
    let vfs = TestVfs::new();
    let (mut e, hx, hy) = setup(&vfs, LogMode::Durability);
    transfer(&mut e, hx, hy, 1);
    transfer(&mut e, hx, hy, 2);
    drop(e);
    // Cut the last commit record off: transfer 2's changes remain, uncommitted.
    let seg = Path::new("/log/00000001.LOG");
    let mut bytes = vfs.contents(seg).unwrap();
    let end = engine::txlog::read_log(&vfs, Path::new("/log"))
        .unwrap()
        .segments[0]
        .valid_len as usize;
    let commit = frame_len(12);
    bytes[end - commit..end].fill(0); // the segment is preallocated: zeros follow
    vfs.put(seg, bytes);
    let mut e = engine(&vfs, LogMode::Durability);
    for p in [X, Y] {
        let h = e.open(Path::new(p), OpenMode::Normal).unwrap();
        assert_eq!(ids(&mut e, h), vec![1], "{p}");
    }
    // The log continues after the discarded tail, and new work rolls forward.
    let hx = e.open_as(A, Path::new(X), OpenMode::Normal).unwrap();
    let hy = e.open_as(A, Path::new(Y), OpenMode::Normal).unwrap();
    transfer(&mut e, hx, hy, 3);
    drop(e);
    let mut e = engine(&vfs, LogMode::Durability);
    for p in [X, Y] {
        let h = e.open(Path::new(p), OpenMode::Normal).unwrap();
        assert_eq!(ids(&mut e, h), vec![1, 3], "{p}");
    }
}

#[test]
fn an_aborted_transaction_is_not_logged() {
    let vfs = TestVfs::new();
    let (mut e, hx, hy) = setup(&vfs, LogMode::Durability);
    e.begin_transaction(A).unwrap();
    e.insert(hx, &person(1, 0, "a")).unwrap();
    e.insert(hy, &person(1, 0, "b")).unwrap();
    e.abort_transaction(A).unwrap();
    transfer(&mut e, hx, hy, 2);
    drop(e);
    let mut e = engine(&vfs, LogMode::Durability);
    for p in [X, Y] {
        let h = e.open(Path::new(p), OpenMode::Normal).unwrap();
        assert_eq!(ids(&mut e, h), vec![2], "{p}");
    }
}

/// Group commit: several clients' Ends appended, then one sync acknowledges them all.
#[test]
fn one_sync_acknowledges_every_waiting_end() {
    let vfs = TestVfs::new();
    let mut e = engine(&vfs, LogMode::Durability);
    e.create(Path::new(X), &people_spec(1024)).unwrap();
    let clients: Vec<Client> = (1..=4).map(Client).collect();
    let hs: Vec<Handle> = clients
        .iter()
        .map(|&c| e.open_as(c, Path::new(X), OpenMode::Normal).unwrap())
        .collect();
    let mut lsns = Vec::new();
    for (i, (&c, &h)) in clients.iter().zip(&hs).enumerate() {
        e.begin_transaction(c).unwrap();
        e.insert(h, &person(i as u32, 0, &format!("c{i}"))).unwrap();
        lsns.push(e.end_transaction_deferred(c).unwrap());
    }
    let syncs = e.stats().log_syncs;
    assert!(
        lsns.iter().all(|&l| e.log_durable_lsn() <= l),
        "nothing synced yet"
    );
    e.wait_durable(lsns[3]).unwrap();
    assert_eq!(e.stats().log_syncs, syncs + 1);
    for &l in &lsns {
        e.wait_durable(l).unwrap();
        assert!(e.log_durable_lsn() > l);
    }
    assert_eq!(e.stats().log_syncs, syncs + 1, "one sync covered all four");
    drop(e);
    let mut e = engine(&vfs, LogMode::Durability);
    let h = e.open(Path::new(X), OpenMode::Normal).unwrap();
    assert_eq!(ids(&mut e, h), vec![0, 1, 2, 3]);
}
