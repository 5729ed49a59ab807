//! Archival logging through the engine's API on the test filesystem: the append before
//! every FCR (proven at every crash point), what a writable open does with a file and
//! its log, roll-forward onto a restored backup, and the exclusion of continuous
//! operations.

mod common;
use common::*;
use engine::archival::{probe_log, read_log, ArchivalHeader, ArchivalWriter, LogProbe};
use engine::engine::{RollForward, RollOptions};
use engine::file::change::Change;
use engine::vfs::testing::{Rng, TestVfs};
use engine::vfs::Vfs;
use engine::{Client, Config, Engine, LogMode, OpenMode, Status, StepOp};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

type Records = BTreeSet<Vec<u8>>;

const ROOT: &str = "/r";
const DATA: &str = "/r/db/a.btr";
const LOG: &str = "/r/db/a.log";
const CFG: &str = "/r/blog/blog.cfg";
/// Where a backup copy is restored for roll-forward (the log names the file `a.btr`).
const RESTORED: &str = "/restore/a.btr";

fn config() -> Config {
    Config {
        operation_bundle_limit: 4,
        blog_root: Some(PathBuf::from(ROOT)),
        ..Config::default()
    }
}

fn engine(vfs: &TestVfs) -> Engine {
    mem_engine(vfs, config())
}

/// blog.cfg archiving `/db/a.btr`, and the empty data file (FCR sequence 1).
fn setup(vfs: &TestVfs) {
    vfs.put(CFG, b"/db/a.btr\n".to_vec());
    engine(vfs)
        .create(Path::new(DATA), &people_spec(512))
        .unwrap();
}

/// A file's records and durable FCR sequence, read through a read-only open.
fn read(vfs: &TestVfs, path: &str) -> (Records, u64) {
    let mut e = engine(vfs);
    let h = e
        .open(Path::new(path), OpenMode::ReadOnly)
        .unwrap_or_else(|err| panic!("read-only open of {path}: {err}"));
    let seq = e.stat(h).unwrap().durable_seq;
    let mut out = Records::new();
    let mut r = e.step(h, StepOp::First);
    while let Ok(rec) = r {
        out.insert(rec);
        r = e.step(h, StepOp::Next);
    }
    assert_eq!(r.unwrap_err().status, Status::EndOfFile);
    e.close(h).unwrap();
    (out, seq)
}

/// Inserts, updates, deletes, an aborted and an ended transaction, flushes — through
/// one writable open of `DATA`, ids from `from`. Errors are ignored (a stopped
/// filesystem fails every call after the stop).
fn work(e: &mut Engine, from: u32, steps: u32) {
    let c = Client(1);
    let Ok(h) = e.open_as(c, Path::new(DATA), OpenMode::Normal) else {
        return;
    };
    for i in from..from + steps {
        let _ = e.insert(h, &person(i, (i % 3) as i16, &format!("n{i}")));
        match i % 7 {
            2 if e.step(h, StepOp::First).is_ok() => {
                let _ = e.delete(h);
            }
            3 => {
                if let Ok(mut r) = e.step(h, StepOp::Last) {
                    r[4] ^= 1;
                    let _ = e.update(h, &r);
                }
            }
            4 => {
                let _ = e.begin_transaction(c);
                let _ = e.insert(h, &person(10_000 + i, 1, &format!("t{i}")));
                let _ = e.abort_transaction(c);
            }
            5 => {
                let _ = e.begin_transaction(c);
                let _ = e.insert(h, &person(20_000 + i, 1, &format!("u{i}")));
                let _ = e.insert(h, &person(30_000 + i, 2, &format!("v{i}")));
                let _ = e.end_transaction(c);
            }
            6 => {
                let _ = e.flush();
            }
            _ => {}
        }
    }
    let _ = e.close(h);
}

fn roll(vfs: &TestVfs, path: &str, to: Option<u64>) -> engine::Result<RollForward> {
    engine(vfs).roll_forward_archive(
        Path::new(path),
        RollOptions {
            log: Some(PathBuf::from(LOG)),
            to,
            dump: None,
        },
    )
}

/// Whether every durable FCR of `DATA` is covered by its log: the file's sequence is
/// the log's base or some frame's, and no frame is beyond the file's sequence + 1.
/// `None` if so, else what is wrong.
fn uncovered(vfs: &TestVfs) -> Option<String> {
    let (_, f) = read(vfs, DATA);
    match probe_log(vfs, Path::new(LOG)).unwrap() {
        LogProbe::Absent | LogProbe::Interrupted => {
            (f != 1).then(|| format!("the file is at {f} and has no log"))
        }
        LogProbe::Present => {
            let (scan, entries) = match read_log(vfs, Path::new(LOG)) {
                Ok(x) => x,
                Err(e) => return Some(format!("the log does not read: {e}")),
            };
            let covered = scan.header.base_fcr_seq == f || entries.iter().any(|e| e.fcr_seq == f);
            let ahead = entries.iter().any(|e| e.fcr_seq > f + 1);
            (!covered || ahead).then(|| {
                format!(
                    "the file is at {f}; the log (base {}) has frames for {:?}",
                    scan.header.base_fcr_seq,
                    entries.iter().map(|e| e.fcr_seq).collect::<Vec<_>>()
                )
            })
        }
    }
}

/// Stop the workload at every mutating call (then lose power), and for each: is every
/// durable FCR covered by a frame; does the file open for writing; and does its
/// backup (taken before the workload) rolled forward from the log hold exactly what
/// the file holds? Returns the crash points where a check failed.
fn crash_sweep(config: Config) -> Vec<String> {
    let run = |stop: Option<u64>| {
        let vfs = TestVfs::new();
        setup(&vfs);
        let backup = vfs.contents(DATA).unwrap();
        let start = vfs.mutating_calls();
        vfs.stop_after(stop);
        let mut e = mem_engine(&vfs, config.clone());
        work(&mut e, 0, 40);
        drop(e);
        (vfs, backup, start)
    };
    let (clean, _, start) = run(None);
    let total = clean.mutating_calls() - start;
    assert!(total > 100, "workload too small: {total} calls");
    let mut failures = Vec::new();
    for k in 0..=total {
        let (vfs, backup, _) = run(Some(k));
        vfs.stop_after(None);
        vfs.power_loss(&mut Rng::new(k));
        if let Some(why) = uncovered(&vfs) {
            failures.push(format!("stop at call {k}: {why}"));
            continue;
        }
        // The writable open applies a frame the FCR had not reached.
        let mut e = mem_engine(&vfs, config.clone());
        match e.open(Path::new(DATA), OpenMode::Normal) {
            Ok(h) => e.close(h).unwrap(),
            Err(err) => {
                failures.push(format!("stop at call {k}: writable open: {err}"));
                continue;
            }
        }
        drop(e);
        let (want, seq) = read(&vfs, DATA);
        vfs.put(RESTORED, backup);
        match roll(&vfs, RESTORED, None) {
            Ok(r) if r.seq == seq => {}
            Ok(r) => failures.push(format!(
                "stop at call {k}: rolled forward to {}, the file is at {seq}",
                r.seq
            )),
            Err(err) => failures.push(format!("stop at call {k}: roll-forward: {err}")),
        }
        if read(&vfs, RESTORED).0 != want {
            failures.push(format!(
                "stop at call {k}: the rolled-forward backup differs from the file"
            ));
        }
    }
    failures
}

#[test]
fn every_crash_point_leaves_each_durable_fcr_covered_and_the_backup_restorable() {
    let failures = crash_sweep(config());
    assert!(failures.is_empty(), "{failures:#?}");
}

#[cfg(feature = "mutants")]
#[test]
fn the_crash_sweep_catches_an_archive_written_after_the_fcr_or_not_synced() {
    use engine::mutant::Mutant;
    for m in [Mutant::ArchiveAfterFcr, Mutant::ArchiveWithoutSync] {
        let failures = crash_sweep(Config {
            mutant: Some(m),
            ..config()
        });
        assert!(!failures.is_empty(), "{} went unnoticed", m.name());
    }
}

/// The log of a file that lived through `work`, its frames' FCR sequences in order.
fn frame_seqs(vfs: &TestVfs) -> Vec<u64> {
    let (_, entries) = read_log(vfs, Path::new(LOG)).unwrap();
    entries.iter().map(|e| e.fcr_seq).collect()
}

#[test]
fn every_system_transaction_is_one_frame_with_the_committed_changes() {
    let vfs = TestVfs::new();
    setup(&vfs);
    let mut e = engine(&vfs);
    let c = Client(1);
    let h = e.open_as(c, Path::new(DATA), OpenMode::Normal).unwrap();
    assert_eq!(e.open_archival_log(Path::new(DATA)), Some(Path::new(LOG)));
    e.insert(h, &person(1, 0, "one")).unwrap();
    e.flush().unwrap();
    // An aborted transaction leaves nothing; an ended one joins the next frame.
    e.begin_transaction(c).unwrap();
    e.insert(h, &person(2, 0, "two")).unwrap();
    e.abort_transaction(c).unwrap();
    e.begin_transaction(c).unwrap();
    e.insert(h, &person(3, 0, "three")).unwrap();
    e.end_transaction(c).unwrap();
    e.flush().unwrap();
    e.flush().unwrap(); // nothing pending: no transaction, no frame
    e.close(h).unwrap();
    let (scan, entries) = read_log(&vfs, Path::new(LOG)).unwrap();
    assert_eq!(scan.header.base_fcr_seq, 1);
    assert_eq!(
        entries.iter().map(|e| e.fcr_seq).collect::<Vec<_>>(),
        [2, 3]
    );
    assert_eq!(
        entries[0].changes,
        [Change::Insert {
            serial: 1,
            record: person(1, 0, "one")
        }]
    );
    // The aborted insert took serial 2 and gave it back.
    assert_eq!(
        entries[1].changes,
        [Change::Insert {
            serial: 2,
            record: person(3, 0, "three")
        }]
    );
    assert_eq!(read(&vfs, DATA).1, 3);
    // A read-only open reads no blog.cfg and appends nothing.
    let mut e = engine(&vfs);
    let h = e.open(Path::new(DATA), OpenMode::ReadOnly).unwrap();
    assert_eq!(e.open_archival_log(Path::new(DATA)), None);
    e.close(h).unwrap();
    assert_eq!(frame_seqs(&vfs), [2, 3]);
}

#[test]
fn a_failed_append_fails_the_system_transaction_before_its_fcr_and_is_retried() {
    let vfs = TestVfs::new();
    setup(&vfs);
    let mut e = engine(&vfs);
    let h = e.open(Path::new(DATA), OpenMode::Normal).unwrap();
    e.insert(h, &person(1, 0, "one")).unwrap();
    // The data file's page sync goes through; the log's sync fails, its frame left in
    // the cache (as Linux may leave a page it could not write).
    vfs.crash_sync_in(Some(1));
    let err = e.flush().unwrap_err();
    assert_eq!(err.status, Status::IoError, "{err}");
    assert_eq!(
        read_log_len(&vfs),
        1,
        "the failed frame is still in the cache"
    );
    assert_eq!(
        e.stat(h).unwrap().durable_seq,
        1,
        "no FCR without its frame"
    );
    // The next system transaction reopens the log and logs the transaction again,
    // with what joined it, under the same sequence.
    e.insert(h, &person(2, 0, "two")).unwrap();
    e.flush().unwrap();
    assert_eq!(e.stat(h).unwrap().durable_seq, 2);
    e.close(h).unwrap();
    let (_, entries) = read_log(&vfs, Path::new(LOG)).unwrap();
    assert_eq!(
        entries.iter().map(|e| e.fcr_seq).collect::<Vec<_>>(),
        [2, 2]
    );
    assert_eq!(entries[1].changes.len(), 2);
    // Roll-forward takes the last of the two.
    vfs.put(RESTORED, initial_file());
    let r = roll(&vfs, RESTORED, None).unwrap();
    assert_eq!((r.applied, r.superseded, r.seq), (1, 1, 2));
    assert_eq!(read(&vfs, RESTORED).0, read(&vfs, DATA).0);
}

fn read_log_len(vfs: &TestVfs) -> usize {
    read_log(vfs, Path::new(LOG)).unwrap().1.len()
}

/// The bytes of an empty data file at FCR sequence 1 (as `setup` creates it).
fn initial_file() -> Vec<u8> {
    let vfs = TestVfs::new();
    setup(&vfs);
    vfs.contents(DATA).unwrap()
}

/// `setup`, then `work` in `rounds` writable opens of 20 steps each; returns the data
/// file's bytes, records and sequence after each round (index 0: before any).
fn history(vfs: &TestVfs, rounds: u32) -> Vec<(Vec<u8>, Records, u64)> {
    setup(vfs);
    let snap = |vfs: &TestVfs| {
        let (r, s) = read(vfs, DATA);
        (vfs.contents(DATA).unwrap(), r, s)
    };
    let mut out = vec![snap(vfs)];
    for round in 0..rounds {
        let mut e = engine(vfs);
        work(&mut e, round * 100, 20);
        out.push(snap(vfs));
    }
    out
}

#[test]
fn a_restored_backup_is_refused_until_rolled_forward_then_rolls_forward_exactly() {
    let vfs = TestVfs::new();
    let h = history(&vfs, 3);
    let (backup, _, bseq) = h[1].clone();
    let (_, last, lseq) = h[3].clone();
    assert!(lseq > bseq + 1, "{bseq} {lseq}");
    // The disk dies; the backup is restored in the file's place.
    vfs.put(DATA, backup);
    let mut e = engine(&vfs);
    let err = e.open(Path::new(DATA), OpenMode::Normal).unwrap_err();
    assert_eq!(err.status, Status::OperationNotAllowed, "{err}");
    assert!(
        err.context
            .contains("roll it forward first: butil -rollfwd"),
        "{err}"
    );
    // Reading it is fine.
    assert_eq!(read(&vfs, DATA).1, bseq);
    drop(e);
    // Roll-forward, through blog.cfg's log this time.
    let r = engine(&vfs)
        .roll_forward_archive(Path::new(DATA), RollOptions::default())
        .unwrap();
    assert_eq!((r.from_seq, r.seq), (bseq, lseq));
    assert_eq!(r.applied, lseq - bseq);
    assert_eq!(read(&vfs, DATA), (last.clone(), lseq));
    engine::file::check::check_file(&vfs, Path::new(DATA))
        .map(|rep| assert!(rep.is_clean(), "{:?}", rep.problems))
        .unwrap();
    // Twice is harmless; and the file now opens for writing and goes on logging.
    let again = roll(&vfs, DATA, None).unwrap();
    assert_eq!((again.applied, again.seq), (0, lseq));
    let mut e = engine(&vfs);
    work(&mut e, 900, 10);
    assert!(read(&vfs, DATA).1 > lseq);
    assert_eq!(*frame_seqs(&vfs).last().unwrap(), read(&vfs, DATA).1);
}

#[test]
fn a_backup_one_transaction_behind_catches_up_at_its_writable_open() {
    let vfs = TestVfs::new();
    setup(&vfs);
    let mut e = engine(&vfs);
    let h = e.open(Path::new(DATA), OpenMode::Normal).unwrap();
    e.insert(h, &person(1, 0, "one")).unwrap();
    e.flush().unwrap();
    let backup = vfs.contents(DATA).unwrap();
    e.insert(h, &person(2, 0, "two")).unwrap();
    e.close(h).unwrap();
    let (want, seq) = read(&vfs, DATA);
    assert_eq!(seq, 3);
    vfs.put(DATA, backup);
    let frames = frame_seqs(&vfs);
    let mut e = engine(&vfs);
    let h = e.open(Path::new(DATA), OpenMode::Normal).unwrap();
    assert_eq!(e.stat(h).unwrap().durable_seq, 3);
    e.close(h).unwrap();
    assert_eq!(read(&vfs, DATA).0, want);
    // The frame was applied, not logged again.
    assert_eq!(frame_seqs(&vfs), frames);
}

#[test]
fn a_crash_between_the_frame_and_its_fcr_is_completed_by_the_next_writable_open() {
    // Find the stop that leaves the log one frame ahead of the file.
    for k in 0.. {
        let vfs = TestVfs::new();
        setup(&vfs);
        let mut e = engine(&vfs);
        let h = e.open(Path::new(DATA), OpenMode::Normal).unwrap();
        e.insert(h, &person(1, 0, "one")).unwrap();
        vfs.stop_after(Some(k));
        if e.flush().is_ok() {
            panic!("no stop left the log one frame ahead");
        }
        drop(e);
        vfs.stop_after(None);
        let (records, seq) = read(&vfs, DATA);
        if frame_seqs(&vfs) != [seq + 1] {
            continue;
        }
        assert!(records.is_empty());
        let mut e = engine(&vfs);
        let h = e.open(Path::new(DATA), OpenMode::Normal).unwrap();
        assert_eq!(e.stat(h).unwrap().durable_seq, seq + 1);
        e.close(h).unwrap();
        assert_eq!(read(&vfs, DATA).0.len(), 1);
        assert_eq!(frame_seqs(&vfs), [seq + 1]);
        return;
    }
}

#[test]
fn a_log_missing_frames_is_refused_naming_the_first_missing_sequence() {
    let vfs = TestVfs::new();
    setup(&vfs);
    let mut e = engine(&vfs);
    work(&mut e, 0, 8);
    let logged = read(&vfs, DATA).1;
    // The file changes while blog.cfg does not name it.
    vfs.put(CFG, b"# nothing archived\n".to_vec());
    work(&mut e, 100, 8);
    assert!(read(&vfs, DATA).1 > logged);
    vfs.put(CFG, b"/db/a.btr\n".to_vec());
    let err = e.open(Path::new(DATA), OpenMode::Normal).unwrap_err();
    assert_eq!(err.status, Status::IoError, "{err}");
    assert!(
        err.context
            .contains(&format!("the log is missing sequence {}", logged + 1)),
        "{err}"
    );
    // Moving the log away starts a new one at the file's sequence.
    vfs.rename(Path::new(LOG), Path::new("/r/db/a.old"))
        .unwrap();
    let h = e.open(Path::new(DATA), OpenMode::Normal).unwrap();
    e.close(h).unwrap();
    let (scan, _) = read_log(&vfs, Path::new(LOG)).unwrap();
    assert_eq!(scan.header.base_fcr_seq, read(&vfs, DATA).1);
}

#[test]
fn a_backup_older_than_its_log_is_refused_by_open_and_by_roll_forward() {
    let vfs = TestVfs::new();
    setup(&vfs);
    let old = vfs.contents(DATA).unwrap();
    vfs.put(CFG, Vec::new());
    let mut e = engine(&vfs);
    work(&mut e, 0, 8);
    vfs.put(CFG, b"/db/a.btr\n".to_vec());
    work(&mut e, 100, 8);
    let (scan, _) = read_log(&vfs, Path::new(LOG)).unwrap();
    assert!(scan.header.base_fcr_seq > 1);
    vfs.put(DATA, old);
    let err = e.open(Path::new(DATA), OpenMode::Normal).unwrap_err();
    assert_eq!(err.status, Status::OperationNotAllowed, "{err}");
    assert!(err.context.contains("begins after sequence"), "{err}");
    let err = roll(&vfs, DATA, None).unwrap_err();
    assert_eq!(err.status, Status::OperationNotAllowed, "{err}");
    assert!(err.context.contains("missing sequence 2"), "{err}");
    assert_eq!(read(&vfs, DATA).1, 1, "nothing applied");
}

#[test]
fn a_backup_older_than_an_empty_log_is_refused_by_roll_forward() {
    let vfs = TestVfs::new();
    setup(&vfs);
    let old = vfs.contents(DATA).unwrap();
    vfs.put(CFG, Vec::new());
    let mut e = engine(&vfs);
    work(&mut e, 0, 8);
    // The file joins blog.cfg; its log is made at its sequence and holds no frame yet.
    vfs.put(CFG, b"/db/a.btr\n".to_vec());
    let h = e.open(Path::new(DATA), OpenMode::Normal).unwrap();
    e.close(h).unwrap();
    drop(e);
    let (scan, entries) = read_log(&vfs, Path::new(LOG)).unwrap();
    assert!(entries.is_empty() && scan.header.base_fcr_seq > 1);
    vfs.put(DATA, old);
    let err = roll(&vfs, DATA, None).unwrap_err();
    assert_eq!(err.status, Status::OperationNotAllowed, "{err}");
    assert!(err.context.contains("begins after sequence"), "{err}");
    assert_eq!(read(&vfs, DATA).1, 1, "nothing applied");
}

/// A log for `DATA` at base 1 written by hand: frames `(fcr_seq, applied_lsn,
/// changes)`.
fn hand_log(vfs: &TestVfs, frames: &[(u64, u64, Vec<Change>)]) {
    let header = ArchivalHeader::for_data_file(Path::new(DATA), 1, 77).unwrap();
    let mut w = ArchivalWriter::create(vfs, Path::new(LOG), header).unwrap();
    for (seq, lsn, changes) in frames {
        w.append(*seq, *lsn, changes).unwrap();
    }
}

fn ins(serial: u64, id: u32) -> Change {
    Change::Insert {
        serial,
        record: person(id, 0, &format!("p{id}")),
    }
}

#[test]
fn roll_forward_takes_the_last_of_equal_frames_stops_at_to_and_at_a_gap() {
    let vfs = TestVfs::new();
    setup(&vfs);
    hand_log(
        &vfs,
        &[
            (2, 5, vec![ins(1, 10)]),
            (2, 6, vec![ins(1, 11)]), // supersedes the frame before
            (3, 6, vec![]),
            (4, 9, vec![ins(2, 12), ins(3, 13)]),
            (6, 12, vec![ins(4, 14)]), // 5 is missing
        ],
    );
    let ids = |vfs: &TestVfs, p: &str| -> Vec<u32> {
        read(vfs, p)
            .0
            .iter()
            .map(|r| u32::from_le_bytes(r[..4].try_into().unwrap()))
            .collect()
    };
    // Point in time: up to sequence 3.
    let r = roll(&vfs, DATA, Some(3)).unwrap();
    assert_eq!(
        (r.seq, r.applied, r.superseded, r.applied_lsn),
        (3, 2, 1, 6)
    );
    assert!(r.stopped_at_to);
    assert_eq!(ids(&vfs, DATA), [11]);
    // On to the gap: stops naming 5, the file left at 4.
    let err = roll(&vfs, DATA, None).unwrap_err();
    assert_eq!(err.status, Status::IoError, "{err}");
    assert!(err.context.contains("missing FCR sequence 5"), "{err}");
    assert!(err.context.contains("left at FCR sequence 4"), "{err}");
    assert_eq!(read(&vfs, DATA).1, 4);
    assert_eq!(ids(&vfs, DATA), [11, 12, 13]);
    // Again: the same stop, nothing changed.
    let err = roll(&vfs, DATA, None).unwrap_err();
    assert!(err.context.contains("missing FCR sequence 5"), "{err}");
    assert_eq!(read(&vfs, DATA).1, 4);
    let mut e = engine(&vfs);
    let h = e.open(Path::new(DATA), OpenMode::ReadOnly).unwrap();
    assert_eq!(e.stat(h).unwrap().applied_lsn, 9);
}

#[cfg(feature = "mutants")]
#[test]
fn the_roll_forward_mutants_break_what_they_name() {
    use engine::mutant::Mutant;
    let roll_as = |vfs: &TestVfs, m: Mutant| {
        mem_engine(
            vfs,
            Config {
                mutant: Some(m),
                ..config()
            },
        )
        .roll_forward_archive(
            Path::new(DATA),
            RollOptions {
                log: Some(PathBuf::from(LOG)),
                ..RollOptions::default()
            },
        )
    };
    let vfs = TestVfs::new();
    setup(&vfs);
    hand_log(&vfs, &[(2, 0, vec![ins(1, 10)]), (4, 0, vec![ins(2, 12)])]);
    // A correct engine stops at the gap; this one goes on and reports success.
    assert!(roll(&vfs, DATA, None).is_err());
    let r = roll_as(&vfs, Mutant::RollfwdIgnoresGap).unwrap();
    assert_eq!(r.applied, 1);
    // Applying what the file already holds again does not go unnoticed either.
    let vfs = TestVfs::new();
    setup(&vfs);
    hand_log(&vfs, &[(2, 0, vec![ins(1, 10)])]);
    roll(&vfs, DATA, None).unwrap();
    assert!(roll_as(&vfs, Mutant::RollfwdSkipsSeqCheck).is_err());
}

#[test]
fn a_roll_forward_crashed_anywhere_is_finished_by_running_it_again() {
    let vfs = TestVfs::new();
    let h = history(&vfs, 2);
    let (backup, _, bseq) = h[0].clone();
    let (_, want, lseq) = h[2].clone();
    let log = vfs.contents(LOG).unwrap();
    let fresh = || {
        let v = TestVfs::new();
        v.put(LOG, log.clone());
        v.put(RESTORED, backup.clone());
        v
    };
    let v = fresh();
    let start = v.mutating_calls();
    roll(&v, RESTORED, None).unwrap();
    let total = v.mutating_calls() - start;
    assert!(total > 10, "{total}");
    for k in 0..total {
        let v = fresh();
        v.stop_after(Some(k));
        assert!(roll(&v, RESTORED, None).is_err(), "stop at {k}");
        v.stop_after(None);
        v.power_loss(&mut Rng::new(k));
        let (_, mid) = read(&v, RESTORED);
        assert!((bseq..=lseq).contains(&mid), "stop at {k}: {mid}");
        let r = roll(&v, RESTORED, None).unwrap_or_else(|e| panic!("stop at {k}: {e}"));
        assert_eq!(r.seq, lseq, "stop at {k}");
        assert_eq!(read(&v, RESTORED), (want.clone(), lseq), "stop at {k}");
    }
}

#[test]
fn roll_forward_of_a_file_another_engine_holds_is_status_85() {
    let vfs = TestVfs::new();
    let _ = history(&vfs, 1);
    let mut holder = engine(&vfs);
    let h = holder.open(Path::new(DATA), OpenMode::Normal).unwrap();
    let err = roll(&vfs, DATA, None).unwrap_err();
    assert_eq!(err.status, Status::FileInUse, "{err}");
    // The same engine is refused too.
    let err = holder
        .roll_forward_archive(Path::new(DATA), RollOptions::default())
        .unwrap_err();
    assert_eq!(err.status, Status::FileInUse, "{err}");
    holder.close(h).unwrap();
}

#[test]
fn a_malformed_blog_cfg_fails_a_writable_open_with_its_status_and_line() {
    let vfs = TestVfs::new();
    setup(&vfs);
    for (text, status, at) in [
        (
            "# ok\n/db/a.btr= /logs/a.log\n",
            Status::IncorrectDescriptor,
            "line 2, column",
        ),
        (
            "/db/a.btr\n/db/a.btr\n",
            Status::IncorrectDescriptor,
            "line 2",
        ),
        ("db/a.btr\n", Status::InvalidFileName, "line 1, column 1"),
    ] {
        vfs.put(CFG, text.as_bytes().to_vec());
        let mut e = engine(&vfs);
        let err = e.open(Path::new(DATA), OpenMode::Normal).unwrap_err();
        assert_eq!(err.status, status, "{text:?}: {err}");
        assert!(err.context.contains(at), "{text:?}: {err}");
        assert!(err.context.contains(CFG), "{text:?}: {err}");
        // Read-only opens do not read it.
        let h = e.open(Path::new(DATA), OpenMode::ReadOnly).unwrap();
        e.close(h).unwrap();
    }
    // Mended, it is read again at the next open.
    vfs.put(CFG, b"/db/a.btr=/logs/\n".to_vec());
    let mut e = engine(&vfs);
    let h = e.open(Path::new(DATA), OpenMode::Normal).unwrap();
    assert_eq!(
        e.open_archival_log(Path::new(DATA)),
        Some(Path::new("/r/logs/a.log"))
    );
    e.close(h).unwrap();
}

#[test]
fn archival_logging_and_continuous_operations_exclude_each_other() {
    let vfs = TestVfs::new();
    setup(&vfs);
    let mut e = engine(&vfs);
    let refusals = e.check_backup_set(&[PathBuf::from(DATA)]);
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    assert_eq!(refusals[0].status, Status::IncompatibleMode);
    assert!(
        refusals[0].reason.contains("blog.cfg archives it"),
        "{refusals:?}"
    );
    let err = e.start_backup(&[PathBuf::from(DATA)]).unwrap_err();
    assert_eq!(err.status, Status::IncompatibleMode);
    assert!(err.context.contains(DATA), "{err}");
    // A file put into continuous operations before blog.cfg named it.
    vfs.put(CFG, Vec::new());
    e.start_backup(&[PathBuf::from(DATA)]).unwrap();
    vfs.put(CFG, b"/db/a.btr\n".to_vec());
    let err = e.open(Path::new(DATA), OpenMode::Normal).unwrap_err();
    assert_eq!(err.status, Status::IncompatibleMode, "{err}");
    let err = e.end_backup(&[PathBuf::from(DATA)]).unwrap_err();
    assert_eq!(err.status, Status::IncompatibleMode, "{err}");
    let err = roll(&vfs, DATA, None).unwrap_err();
    assert_eq!(err.status, Status::IncompatibleMode, "{err}");
    // Out of blog.cfg, the backup ends as usual.
    vfs.put(CFG, Vec::new());
    e.end_backup(&[PathBuf::from(DATA)]).unwrap();
}

/// In a log mode, roll-forward leaves the file at the last frame's applied LSN, so a
/// later open replays from the transaction log only what the archive did not hold. A
/// rolled-forward file whose transaction log is gone opens in log mode Off; in a log
/// mode the open is refused, as for any file whose applied LSN is past its log's end.
#[test]
fn roll_forward_and_the_transaction_log() {
    let logged = Config {
        log_mode: LogMode::Durability,
        log_dir: PathBuf::from("/txlog"),
        ..config()
    };
    let vfs = TestVfs::new();
    setup(&vfs);
    let backup = vfs.contents(DATA).unwrap();
    let mut e = mem_engine(&vfs, logged.clone());
    work(&mut e, 0, 30);
    drop(e);
    let (want, seq) = read(&vfs, DATA);
    let lsn = {
        let mut e = engine(&vfs);
        let h = e.open(Path::new(DATA), OpenMode::ReadOnly).unwrap();
        e.stat(h).unwrap().applied_lsn
    };
    assert!(lsn > 0);
    let (_, entries) = read_log(&vfs, Path::new(LOG)).unwrap();
    assert_eq!(entries.last().unwrap().applied_lsn, lsn);
    vfs.put(DATA, backup.clone());
    let r = roll(&vfs, DATA, None).unwrap();
    assert_eq!((r.seq, r.applied_lsn), (seq, lsn));
    // The transaction log still holds every transaction: nothing is applied twice.
    let mut e = mem_engine(&vfs, logged.clone());
    let h = e.open(Path::new(DATA), OpenMode::Normal).unwrap();
    assert_eq!(e.stat(h).unwrap().durable_seq, seq);
    e.close(h).unwrap();
    drop(e);
    assert_eq!(read(&vfs, DATA).0, want);
    // The transaction log is gone (the disk that died held it too).
    vfs.put(DATA, backup);
    roll(&vfs, DATA, None).unwrap();
    for name in vfs.list_dir(Path::new("/txlog")).unwrap() {
        vfs.remove(&Path::new("/txlog").join(name)).unwrap();
    }
    let mut e = mem_engine(&vfs, logged);
    let err = e.open(Path::new(DATA), OpenMode::Normal).unwrap_err();
    assert_eq!(err.status, Status::IoError, "{err}");
    assert!(err.context.contains("beyond the end of the log"), "{err}");
    let mut e = engine(&vfs);
    let h = e.open(Path::new(DATA), OpenMode::Normal).unwrap();
    e.close(h).unwrap();
    assert_eq!(read(&vfs, DATA).0, want);
}
