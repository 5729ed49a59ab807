//! Archival logging through the engine's API on the test filesystem: the append before
//! every FCR (proven at every crash point), what a writable open does with a file and
//! its log, roll-forward onto a restored backup, and the exclusion of continuous
//! operations.

mod common;
use common::archival::*;
use common::*;
use engine::archival::read_log;
use engine::engine::RollOptions;
use engine::file::change::Change;
use engine::vfs::testing::{Rng, TestVfs};
use engine::vfs::Vfs;
use engine::{Client, Config, OpenMode, Status};
use std::path::Path;

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

/// Roll-forward from the transaction log of an archived file commits what it replays
/// as one system transaction — one archival frame — however many logged transactions
/// it replays (it splits only past `ARCHIVE_BUNDLE_BYTES`, far above these).
#[test]
fn a_roll_forward_from_the_transaction_log_is_one_archival_frame() {
    let vfs = TestVfs::new();
    setup(&vfs);
    let logged = Config {
        log_mode: engine::LogMode::Durability,
        log_dir: std::path::PathBuf::from("/log"),
        operation_bundle_limit: 1_000_000,
        ..config()
    };
    let mut e = mem_engine(&vfs, logged.clone());
    let h = e.open(Path::new(DATA), OpenMode::Normal).unwrap();
    for id in 1..=30 {
        e.insert(h, &person(id, 0, &format!("p{id}"))).unwrap();
    }
    drop(e); // thirty logged transactions, no system transaction
    assert_eq!(read(&vfs, DATA).1, 1);
    let mut e = mem_engine(&vfs, logged);
    let h = e.open(Path::new(DATA), OpenMode::Normal).unwrap();
    e.close(h).unwrap();
    let (_, entries) = read_log(&vfs, Path::new(LOG)).unwrap();
    assert_eq!(entries.len(), 1, "one frame");
    assert_eq!((entries[0].fcr_seq, entries[0].changes.len()), (2, 30));
    assert_eq!(read(&vfs, DATA).0.len(), 30);
}
