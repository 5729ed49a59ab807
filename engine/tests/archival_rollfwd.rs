//! Archival logging, continued: roll-forward onto restored backups (equal frames,
//! `--to`, gaps, crashes, another engine holding the file), its mutants, and a
//! malformed blog.cfg.

mod common;
use common::archival::*;
use common::*;
use engine::archival::{read_log, ArchivalHeader, ArchivalWriter};
use engine::engine::RollOptions;
use engine::file::change::Change;
use engine::vfs::testing::{Rng, TestVfs};
use engine::vfs::Vfs;
use engine::{Config, LogMode, OpenMode, Status};
use std::path::{Path, PathBuf};

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
