//! The legacy (5.x) format's crash safety, proven without the simulator: one system
//! transaction over a 10,000-record legacy file is crashed at every mutating I/O call
//! (the `TestVfs` stop tears the call it stops at), then power is lost (each unsynced
//! write keeps a random subset of its 512-byte sectors). Reopened, the file must pass
//! the structure check and hold exactly the records of the transaction's start or its
//! end — never a mix, whatever the in-place overwrites left behind.

mod common;
use common::*;
use engine::file::check::check_file;
use engine::preimage;
use engine::vfs::testing::{Rng, TestVfs};
use engine::{Config, Engine, FileFormat, FileSpec, GetOp, OpenMode, Status, StepOp};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

type State = BTreeSet<Vec<u8>>;

const RECORDS: u32 = 10_000;

fn legacy_spec() -> FileSpec {
    FileSpec {
        format: FileFormat::V5,
        compact_leaves: false,
        slot_serial_bytes: 8,
        ..people_spec(1024)
    }
}

fn config() -> Config {
    Config {
        // Nothing commits until the test flushes: one system transaction.
        operation_bundle_limit: u64::MAX,
        max_dirty_pages: usize::MAX,
        ..Config::default()
    }
}

fn path() -> PathBuf {
    PathBuf::from("/db/f.btr")
}

fn records(e: &mut Engine, h: engine::Handle) -> State {
    let mut s = State::new();
    let mut r = e.step(h, StepOp::First);
    while let Ok(rec) = r {
        s.insert(rec);
        r = e.step(h, StepOp::Next);
    }
    assert_eq!(r.unwrap_err().status, Status::EndOfFile);
    s
}

/// The legacy file with `RECORDS` records, durable and closed; its records.
fn base() -> (TestVfs, State) {
    base_with(RECORDS)
}

/// The legacy file with `n` records, durable and closed; its records.
fn base_with(n: u32) -> (TestVfs, State) {
    let vfs = TestVfs::new();
    let mut e = mem_engine(&vfs, Config::default());
    e.create(&path(), &legacy_spec()).unwrap();
    let h = e.open(&path(), OpenMode::Normal).unwrap();
    for id in 0..n {
        e.insert(h, &person(id, (id % 7) as i16, &format!("n{id}")))
            .unwrap();
    }
    e.flush().unwrap();
    let s = records(&mut e, h);
    e.close(h).unwrap();
    (vfs, s)
}

/// A copy of `base`'s files in a fresh filesystem.
fn copy_of(base: &TestVfs) -> TestVfs {
    let vfs = TestVfs::new();
    for p in [path(), preimage::path_for(&path())] {
        if let Some(bytes) = base.contents(&p) {
            vfs.put(&p, bytes);
        }
    }
    vfs
}

/// The transaction's operations (inserts that split pages, updates, deletes), applied
/// in memory; returns the handle and the records at its end.
fn operations(e: &mut Engine, model: State) -> (engine::Handle, State) {
    operations_with(e, model, RECORDS)
}

/// [`operations`] on a file of `n` records (`base_with(n)`).
fn operations_with(e: &mut Engine, mut model: State, n: u32) -> (engine::Handle, State) {
    let h = e.open(&path(), OpenMode::Normal).unwrap();
    for i in 0..60u32 {
        let id = n + i * 3;
        let r = person(id, 1, &format!("new{id}"));
        e.insert(h, &r).unwrap();
        model.insert(r);
    }
    for id in (0..n).step_by(701) {
        let old = e.get(h, GetOp::Equal, 0, &id.to_le_bytes()).unwrap();
        let mut new = old.clone();
        new[4..6].copy_from_slice(&9i16.to_le_bytes());
        e.update(h, &new).unwrap();
        model.remove(&old);
        model.insert(new);
    }
    for id in (5..n).step_by(643) {
        let old = e.get(h, GetOp::Equal, 0, &id.to_le_bytes()).unwrap();
        e.delete(h).unwrap();
        model.remove(&old);
    }
    (h, model)
}

/// Open the file for writing (which restores an interrupted transaction's originals;
/// a read-only open would refuse such a file), read every record, close, and check the
/// structure.
fn reopen(vfs: &TestVfs) -> State {
    let mut e = mem_engine(vfs, Config::default());
    let h = e
        .open(&path(), OpenMode::Normal)
        .unwrap_or_else(|err| panic!("reopen: {err}"));
    let got = records(&mut e, h);
    e.close(h).unwrap();
    let rep = check_file(vfs, &path()).expect("structure check opens the file");
    assert!(rep.is_clean(), "{:?}", rep.problems);
    got
}

#[test]
fn a_legacy_transaction_crashed_at_every_io_call_reopens_at_its_start_or_end() {
    let (base, start) = base();
    // A clean run counts the transaction's mutating calls.
    let vfs = copy_of(&base);
    let mut e = mem_engine(&vfs, config());
    let (_, end) = operations(&mut e, start.clone());
    let before = vfs.mutating_calls();
    e.flush().unwrap();
    let total = vfs.mutating_calls() - before;
    drop(e);
    assert_eq!(reopen(&vfs), end);
    assert!(total >= 40, "one transaction is only {total} calls");
    eprintln!("one system transaction: {total} mutating calls");

    let mut outcomes = [0u32; 2];
    for k in 0..=total {
        for seed in 0..2u64 {
            let vfs = copy_of(&base);
            let mut e = mem_engine(&vfs, config());
            let _ = operations(&mut e, start.clone());
            vfs.stop_after(Some(k));
            let flushed = e.flush();
            drop(e);
            vfs.power_loss(&mut Rng::new(seed * 1000 + k));
            vfs.stop_after(None);
            let got = reopen(&vfs);
            if got == start {
                assert!(
                    flushed.is_err(),
                    "crash at call {k}/{total}: an acknowledged transaction was undone"
                );
                outcomes[0] += 1;
            } else if got == end {
                outcomes[1] += 1;
            } else {
                panic!(
                    "crash at call {k} of {total} (seed {seed}): {} records, neither the \
                     transaction's start ({}) nor its end ({})",
                    got.len(),
                    start.len(),
                    end.len()
                );
            }
        }
    }
    // The crash points reach both outcomes.
    assert!(outcomes[0] > 0 && outcomes[1] > 0, "{outcomes:?}");
}

/// A process crash in a legacy transaction, then a power loss anywhere in the
/// writable open that recovers it: the file reopens at the transaction's start or end.
/// The power loss may leave torn sectors holding garbage. The orders in that open
/// that matter, each once wrong (sim seeds in brackets):
/// - a set found armed is made durable before it is restored: after a crash at the
///   arming sync the header may sit only in the OS cache, and a power loss that took
///   it back would leave the restore's torn writes with nothing to redo them (54876);
/// - a restored set is voided before the FCR is copied into its other slot, whose
///   original the set holds: restored again later, it would overwrite the only whole
///   copy of the live FCR if the copy's rewrite of the live slot was torn (56467);
/// - a set that is not restored (the live FCR is the transaction's own, perhaps only in
///   the OS cache) is voided only after that FCR is durable (20718);
/// - the open syncs before it writes a control record or a pre-image header into the
///   other slot: the current one may not be durable yet, and the other slot holds the
///   last one that is (found by this test).
#[test]
fn a_power_loss_in_the_open_after_a_crashed_legacy_transaction_keeps_start_or_end() {
    const N: u32 = 1_500;
    let (base, start) = base_with(N);
    let vfs = copy_of(&base);
    let mut e = mem_engine(&vfs, config());
    let (_, end) = operations_with(&mut e, start.clone(), N);
    let before = vfs.mutating_calls();
    e.flush().unwrap();
    let total = vfs.mutating_calls() - before;
    drop(e);
    // The process dies at call `k` of the transaction (the OS keeps what it wrote),
    // then the power fails at call `j` of the open that recovers it (or never).
    let crashed = |k: u64, j: Option<u64>, seed: u64| {
        let vfs = copy_of(&base);
        let mut e = mem_engine(&vfs, config());
        let _ = operations_with(&mut e, start.clone(), N);
        vfs.stop_after(Some(k));
        let _ = e.flush();
        drop(e);
        vfs.stop_after(j);
        let at = vfs.mutating_calls();
        let opened = mem_engine(&vfs, Config::default()).open(&path(), OpenMode::Normal);
        let calls = vfs.mutating_calls() - at;
        drop(opened);
        vfs.power_loss_garbling(&mut Rng::new(seed));
        vfs.stop_after(None);
        (vfs, calls)
    };
    let mut cases = 0;
    // The first calls of the transaction (its pre-images and their arming) and the
    // last (its in-place pages, their sync, the FCR and its sync, the void header).
    let first = 0..6.min(total);
    let last = total.saturating_sub(8)..=total;
    for k in first.chain(last) {
        let (_, calls) = crashed(k, None, 0);
        // Eight power losses each (which unsynced sectors survive, and which are
        // left garbage, is seeded).
        for (j, seed) in (0..=calls).flat_map(|j| (0..8).map(move |s| (j, s))) {
            let (vfs, _) = crashed(k, Some(j), seed * 7919 + j);
            let got = reopen(&vfs);
            assert!(
                got == start || got == end,
                "transaction crashed at call {k}/{total}, its open at {j}/{calls} (seed \
                 {seed}): {} records, neither start ({}) nor end ({})",
                got.len(),
                start.len(),
                end.len()
            );
            cases += 1;
        }
    }
    assert!(cases > 40, "{cases} cases");
}

#[test]
fn a_foreign_pre_file_is_reported_never_applied_and_another_files_is_refused() {
    let vfs = TestVfs::new();
    let mut e = mem_engine(&vfs, Config::default());
    let spec = FileSpec {
        format: FileFormat::V5,
        compact_leaves: false,
        slot_serial_bytes: 8,
        ..people_spec(512)
    };
    let hdr = Path::new("/db/INVOICE.HDR");
    let det = Path::new("/db/INVOICE.DET");
    e.create(hdr, &spec).unwrap();
    e.create(det, &spec).unwrap();
    let h = e.open(hdr, OpenMode::Normal).unwrap();
    e.insert(h, &person(1, 1, "a")).unwrap();
    e.flush().unwrap();
    // INVOICE.PRE now belongs to INVOICE.HDR: INVOICE.DET is refused while it exists.
    let err = e.open(det, OpenMode::Normal).unwrap_err();
    assert_eq!(err.status, Status::PreImageOpenError, "{err}");
    assert!(err.to_string().contains("INVOICE.HDR"), "{err}");
    e.close(h).unwrap();
    assert_eq!(
        e.open(det, OpenMode::Normal).unwrap_err().status,
        Status::PreImageOpenError
    );

    // Something else at NAME.PRE: status 2, and the file is not touched.
    let pre = preimage::path_for(hdr);
    let before = vfs.contents(hdr).unwrap();
    vfs.put(&pre, vec![0x5A; 3000]);
    let err = e.open(hdr, OpenMode::Normal).unwrap_err();
    assert_eq!(err.status, Status::IoError, "{err}");
    assert_eq!(vfs.contents(hdr).unwrap(), before);
    assert_eq!(vfs.contents(&pre).unwrap(), vec![0x5A; 3000]);
}

#[test]
fn a_failed_legacy_transaction_writes_the_originals_back_and_can_be_retried() {
    let (base, start) = base();
    let vfs = copy_of(&base);
    let mut e = mem_engine(&vfs, config());
    let (h, end) = operations(&mut e, start.clone());
    // Fail the data file's sync (after the `.PRE` syncs): the pager writes the
    // originals back; the file on disk is the start, and a retry commits the end.
    vfs.set_faults(engine::vfs::testing::Faults {
        fail_sync_in: Some(2),
        ..Default::default()
    });
    assert_eq!(e.flush().unwrap_err().status, Status::IoError);
    let other = copy_of(&vfs);
    assert_eq!(reopen(&other), start);
    e.flush().unwrap();
    assert_eq!(records(&mut e, h), end);
    e.close(h).unwrap();
    assert_eq!(reopen(&vfs), end);
}

#[test]
fn continuous_operations_refuse_a_legacy_file() {
    let vfs = TestVfs::new();
    let mut e = mem_engine(&vfs, Config::default());
    e.create(&path(), &legacy_spec()).unwrap();
    let refusals = e.check_backup_set(&[path()]);
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    assert_eq!(refusals[0].status, Status::IncompatibleMode);
    assert!(refusals[0].reason.contains("legacy"), "{refusals:?}");
    let h = e.open(&path(), OpenMode::Normal).unwrap();
    assert_eq!(
        e.start_backup(&[path()]).unwrap_err().status,
        Status::IncompatibleMode
    );
    e.close(h).unwrap();
}

#[test]
fn an_armed_set_of_another_history_is_not_applied_over_a_restored_copy() {
    let (base, start) = base();
    // The operator's backup: a copy of the file as it is now (closed).
    let backup = base.contents(path()).unwrap();
    // Later, one transaction commits, and the next is interrupted after arming its
    // pre-images (the process stops mid-overwrite).
    let vfs = copy_of(&base);
    let mut e = mem_engine(&vfs, config());
    let (h, _) = operations(&mut e, start.clone());
    e.flush().unwrap();
    for id in 0..50 {
        e.insert(h, &person(2 * RECORDS + id, 2, &format!("later{id}")))
            .unwrap();
    }
    vfs.stop_after(Some(6));
    assert!(e.flush().is_err());
    drop(e);
    vfs.stop_after(None);
    // The disk dies: the backup copy is restored over the data file, the `.PRE`
    // (armed for a transaction the copy never saw) left beside it.
    vfs.put(path(), backup);
    assert_eq!(reopen(&vfs), start);
}

#[test]
fn losing_the_void_header_does_not_undo_a_durable_transaction() {
    use engine::preimage::format::{decode_slot, PreState};
    let (base, start) = base();
    let vfs = copy_of(&base);
    let mut e = mem_engine(&vfs, config());
    let (h, end) = operations(&mut e, start);
    e.flush().unwrap();
    // Rot the newest header slot (the void one): the older slot says armed.
    let pre = preimage::path_for(&path());
    let mut b = vfs.contents(&pre).unwrap();
    let slots: Vec<_> = (0..2)
        .map(|i| decode_slot(&b[i * 512..]).unwrap())
        .collect();
    let newest = if slots[0].hseq > slots[1].hseq { 0 } else { 1 };
    assert!(matches!(slots[newest].state, PreState::Void { .. }));
    assert!(matches!(slots[1 - newest].state, PreState::Armed { .. }));
    b[newest * 512 + 100] ^= 0xFF;
    vfs.put(&pre, b);
    e.close(h).unwrap();
    assert_eq!(reopen(&vfs), end);
}

#[test]
fn an_armed_set_claiming_a_longer_file_is_refused_not_zero_extended() {
    let vfs = TestVfs::new();
    let mut e = mem_engine(&vfs, Config::default());
    let spec = FileSpec {
        format: FileFormat::V5,
        compact_leaves: false,
        slot_serial_bytes: 8,
        ..people_spec(512)
    };
    let p = path();
    e.create(&p, &spec).unwrap();
    let h = e.open(&p, OpenMode::Normal).unwrap();
    e.insert(h, &person(1, 1, "a")).unwrap();
    e.flush().unwrap();
    e.close(h).unwrap();
    let before = vfs.contents(&p).unwrap();
    // A sealed header armed for a file far longer than the data file (as damage the
    // checksum misses would leave): opening must not grow the file to that length.
    let mut pre = match preimage::PreImageFile::find(&vfs, &p, false).unwrap() {
        preimage::Found::Ours(pre) => pre,
        _ => panic!("the file has its own .PRE"),
    };
    let claimed = before.len() as u64 + 1000 * 512;
    // For the transaction after the file's last one (the void set's generation is the
    // live FCR's), so the open would restore it.
    let next = pre.generation() + 1;
    pre.arm(next, &[], claimed, true).unwrap();
    drop(pre);
    let err = e.open(&p, OpenMode::Normal).unwrap_err();
    assert_eq!(err.status, Status::IoError, "{err}");
    assert!(err.to_string().contains("damaged"), "{err}");
    assert_eq!(vfs.contents(&p).unwrap(), before);
}
