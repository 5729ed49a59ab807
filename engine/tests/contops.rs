//! Continuous operations through the engine: startbu's all-or-nothing refusals, the
//! frozen data file (never written, a copy is the startbu instant), reads through the
//! delta, endbu roll-in, resuming after a restart, and killing the deltas.

mod common;
use common::*;
use engine::delta::delta_path;
use engine::vfs::testing::TestVfs;
use engine::vfs::Vfs;
use engine::{Config, Engine, GetOp, Handle, OpenMode, Status};
use std::path::{Path, PathBuf};

const X: &str = "/d/x.btr";
const Y: &str = "/d/y.btr";

fn set() -> Vec<PathBuf> {
    vec![PathBuf::from(X), PathBuf::from(Y)]
}

fn ids(e: &mut Engine, h: Handle) -> Vec<u32> {
    let mut out = Vec::new();
    let mut r = e.get(h, GetOp::First, 0, &[]);
    while let Ok(rec) = r {
        out.push(u32::from_le_bytes([rec[0], rec[1], rec[2], rec[3]]));
        r = e.get(h, GetOp::Next, 0, &[]);
    }
    assert_eq!(r.unwrap_err().status, Status::EndOfFile);
    out
}

fn setup(vfs: &TestVfs) -> (Engine, Handle, Handle) {
    let mut e = mem_engine(vfs, Config::default());
    e.create(Path::new(X), &people_spec(512)).unwrap();
    e.create(Path::new(Y), &people_spec(512)).unwrap();
    let hx = e.open(Path::new(X), OpenMode::Normal).unwrap();
    let hy = e.open(Path::new(Y), OpenMode::Normal).unwrap();
    for id in 0..40 {
        e.insert(hx, &person(id, 0, &format!("x{id}"))).unwrap();
        e.insert(hy, &person(id, 0, &format!("y{id}"))).unwrap();
    }
    (e, hx, hy)
}

/// What a plain file copy of `path` holds, opened on its own by a fresh engine.
fn copy_holds(vfs: &TestVfs, path: &str) -> Vec<u32> {
    let copy = TestVfs::new();
    copy.put(path, vfs.contents(Path::new(path)).unwrap());
    let rep = engine::file::check::check_file(&copy, Path::new(path)).unwrap();
    assert!(rep.is_clean(), "{path} copy: {:?}", rep.problems);
    let mut e = mem_engine(&copy, Config::default());
    let h = e.open(Path::new(path), OpenMode::ReadOnly).unwrap();
    ids(&mut e, h)
}

#[test]
fn frozen_files_are_never_written_and_a_copy_is_the_startbu_instant() {
    let vfs = TestVfs::new();
    let (mut e, hx, hy) = setup(&vfs);
    // Pending changes are part of the instant: startbu commits them first.
    e.start_backup(&set()).unwrap();
    assert!(e.in_backup(Path::new(X)) && e.in_backup(Path::new(Y)));
    let frozen = (
        vfs.contents(Path::new(X)).unwrap(),
        vfs.contents(Path::new(Y)).unwrap(),
    );
    for p in [X, Y] {
        assert!(vfs.exists(&delta_path(Path::new(p)).unwrap()).unwrap());
    }
    // Applications keep working at full function.
    for id in 40..300 {
        e.insert(hx, &person(id, 1, &format!("x{id}"))).unwrap();
    }
    for id in 0u32..20 {
        e.get(hy, GetOp::Equal, 0, &id.to_le_bytes()).unwrap();
        e.delete(hy).unwrap();
    }
    e.get(hx, GetOp::Equal, 0, &5u32.to_le_bytes()).unwrap();
    e.update(hx, &person(5, 7, "five")).unwrap();
    e.flush().unwrap();
    assert_eq!(ids(&mut e, hx), (0..300).collect::<Vec<_>>());
    assert_eq!(ids(&mut e, hy), (20..40).collect::<Vec<_>>());
    assert_eq!(
        e.get(hx, GetOp::Equal, 0, &5u32.to_le_bytes()).unwrap(),
        person(5, 7, "five")
    );
    // The data files did not change by one byte; copies are the startbu instant.
    assert_eq!(vfs.contents(Path::new(X)).unwrap(), frozen.0);
    assert_eq!(vfs.contents(Path::new(Y)).unwrap(), frozen.1);
    assert_eq!(copy_holds(&vfs, X), (0..40).collect::<Vec<_>>());
    assert_eq!(copy_holds(&vfs, Y), (0..40).collect::<Vec<_>>());

    // endbu rolls the deltas in and removes them.
    e.end_backup(&set()).unwrap();
    assert!(!e.in_backup(Path::new(X)));
    for p in [X, Y] {
        assert!(!vfs.exists(&delta_path(Path::new(p)).unwrap()).unwrap());
    }
    assert_eq!(copy_holds(&vfs, X), (0..300).collect::<Vec<_>>());
    assert_eq!(copy_holds(&vfs, Y), (20..40).collect::<Vec<_>>());
    // And the file goes on as usual.
    e.insert(hx, &person(999, 0, "after")).unwrap();
    e.close(hx).unwrap();
    e.close(hy).unwrap();
    assert_eq!(copy_holds(&vfs, X).len(), 301);
}

#[test]
fn continuous_operations_survive_a_restart_and_endbu_finishes() {
    let vfs = TestVfs::new();
    let (mut e, hx, _) = setup(&vfs);
    e.start_backup(&set()).unwrap();
    for id in 40..100 {
        e.insert(hx, &person(id, 1, &format!("x{id}"))).unwrap();
    }
    e.flush().unwrap();
    drop(e); // the process ends; the deltas say "active"
    let mut e = mem_engine(&vfs, Config::default());
    let hx = e.open(Path::new(X), OpenMode::Normal).unwrap();
    assert!(e.in_backup(Path::new(X)), "opening continues contops");
    assert_eq!(ids(&mut e, hx), (0..100).collect::<Vec<_>>());
    e.insert(hx, &person(100, 0, "x100")).unwrap();
    // endbu on a file this engine has not opened works too.
    e.end_backup(&set()).unwrap();
    e.close(hx).unwrap();
    assert_eq!(copy_holds(&vfs, X), (0..101).collect::<Vec<_>>());
    assert_eq!(copy_holds(&vfs, Y), (0..40).collect::<Vec<_>>());
    for p in [X, Y] {
        assert!(!vfs.exists(&delta_path(Path::new(p)).unwrap()).unwrap());
    }
}

#[test]
fn killing_the_deltas_gives_the_startbu_instant() {
    let vfs = TestVfs::new();
    let (mut e, hx, _) = setup(&vfs);
    e.start_backup(&set()).unwrap();
    for id in 40..100 {
        e.insert(hx, &person(id, 1, &format!("x{id}"))).unwrap();
    }
    e.flush().unwrap();
    drop(e);
    for p in [X, Y] {
        engine::delta::remove_delta(&vfs, &delta_path(Path::new(p)).unwrap()).unwrap();
    }
    let mut e = mem_engine(&vfs, Config::default());
    let hx = e.open(Path::new(X), OpenMode::Normal).unwrap();
    assert!(!e.in_backup(Path::new(X)));
    assert_eq!(ids(&mut e, hx), (0..40).collect::<Vec<_>>());
}

/// killbu refuses a file whose startbu-instant control record rotted on disk after
/// startbu synced it: the file would read as the commit before the instant, and
/// removing the delta would silently lose what startbu committed. Rotting the other
/// (older) slot instead is harmless: killbu then returns the file to the instant.
#[test]
fn killbu_refuses_a_file_no_longer_at_its_startbu_instant() {
    let refused: Vec<bool> = [0usize, 1]
        .into_iter()
        .map(|slot| {
            let vfs = TestVfs::new();
            let (mut e, hx, _) = setup(&vfs);
            for id in 40..50 {
                e.insert(hx, &person(id, 1, &format!("x{id}"))).unwrap();
            }
            // Pending inserts go into startbu's own commit: the instant holds 0..50.
            e.start_backup(&set()).unwrap();
            for id in 50..60 {
                e.insert(hx, &person(id, 1, &format!("x{id}"))).unwrap();
            }
            e.flush().unwrap();
            drop(e);
            let mut bytes = vfs.contents(X).unwrap();
            bytes[slot * 512 + 100] ^= 0x5a; // inside the control record, past its header
            vfs.put(X, bytes);
            let r = engine::contops::killbu::killbu(
                &vfs,
                &set(),
                engine::contops::killbu::IfAbsent::Refuse,
            );
            let delta = delta_path(Path::new(X)).unwrap();
            match r {
                Err(err) => {
                    assert_eq!(err.status, Status::IoError, "{err}");
                    assert!(err.to_string().contains("startbu instant"), "{err}");
                    assert!(vfs.exists(&delta).unwrap(), "the delta is kept as evidence");
                    // Opening the file reports the same damage rather than an older state.
                    let mut e = mem_engine(&vfs, Config::default());
                    let st = e.open(Path::new(X), OpenMode::Normal).unwrap_err().status;
                    assert_eq!(st, Status::IoError);
                    true
                }
                Ok(_) => {
                    assert!(!vfs.exists(&delta).unwrap());
                    let mut e = mem_engine(&vfs, Config::default());
                    let hx = e.open(Path::new(X), OpenMode::Normal).unwrap();
                    assert_eq!(ids(&mut e, hx), (0..50).collect::<Vec<_>>());
                    false
                }
            }
        })
        .collect();
    // Exactly one slot holds the instant's control record.
    assert_eq!(refused.iter().filter(|&&r| r).count(), 1, "{refused:?}");
}

#[test]
fn startbu_refuses_and_puts_no_file_into_contops() {
    let vfs = TestVfs::new();
    let (mut e, _, _) = setup(&vfs);
    vfs.put("/d/junk.btr", b"not a data file at all".to_vec());
    e.create(Path::new("/d/INVOICE.HDR"), &people_spec(512))
        .unwrap();
    e.create(Path::new("/d/INVOICE.DET"), &people_spec(512))
        .unwrap();
    e.create(Path::new("/d/z.btr"), &people_spec(512)).unwrap();
    vfs.put("/d/z.^^^", b"leftover".to_vec());
    let cases: Vec<(Vec<&str>, Status)> = vec![
        (vec![X, "/d/missing.btr"], Status::FileNotFound),
        (vec![X, "/d/junk.btr"], Status::NotABtrieveFile),
        (vec![X, "/d/*.btr"], Status::InvalidFileName),
        (vec![X, Y, X], Status::IncompatibleMode),
        (
            vec![X, "/d/INVOICE.HDR", "/d/INVOICE.DET"],
            Status::IncompatibleMode,
        ),
        (vec![X, "/d/z.btr"], Status::IncompatibleMode),
        (vec![], Status::InvalidFileName),
    ];
    for (paths, want) in cases {
        let paths: Vec<PathBuf> = paths.iter().map(PathBuf::from).collect();
        let refusals = e.check_backup_set(&paths);
        assert!(
            refusals.iter().any(|r| r.status == want),
            "{paths:?}: {refusals:?}"
        );
        let err = e.start_backup(&paths).unwrap_err();
        assert!(
            err.context
                .contains("no file was put into continuous operations"),
            "{err}"
        );
        for p in [X, Y, "/d/INVOICE.HDR", "/d/INVOICE.DET"] {
            assert!(!e.in_backup(Path::new(p)), "{p} entered contops");
            assert!(
                !vfs.exists(&delta_path(Path::new(p)).unwrap()).unwrap(),
                "{p} has a delta after a refused startbu {paths:?}"
            );
        }
    }
    // Already in continuous operations: refused the second time.
    e.start_backup(&[PathBuf::from(X)]).unwrap();
    let refusals = e.check_backup_set(&[PathBuf::from(X)]);
    assert_eq!(refusals.len(), 1);
    assert_eq!(refusals[0].status, Status::IncompatibleMode);
}

/// startbu on an empty file, one insert, close and reopen (the insert committed to
/// the delta, the data file has no page for it), then every key must find the record
/// and the check (through the delta) must count it. Written while chasing sim seed
/// 551, whose cause turned out to be a lying-disk fault, not this path.
#[test]
fn a_reopened_frozen_file_reads_its_delta_on_every_key() {
    let vfs = TestVfs::new();
    let mut e = mem_engine(&vfs, Config::default());
    e.create(Path::new(X), &people_spec(512)).unwrap();
    e.start_backup(&[PathBuf::from(X)]).unwrap();
    let h = e.open(Path::new(X), OpenMode::Normal).unwrap();
    e.insert(h, &person(7, 3, "seven")).unwrap();
    e.close(h).unwrap();
    let h = e.open(Path::new(X), OpenMode::Normal).unwrap();
    for k in 0..3 {
        let got = e.get(h, GetOp::First, k, &[]);
        assert_eq!(got.ok(), Some(person(7, 3, "seven")), "key {k}");
    }
    let rep = engine::file::check::check_file(&vfs, Path::new(X));
    assert!(rep.is_err(), "the file is open (locked)");
    e.close(h).unwrap();
    let rep = engine::file::check::check_file(&vfs, Path::new(X)).unwrap();
    assert!(rep.is_clean(), "{:?}", rep.problems);
    assert_eq!(rep.records, 1);
}
