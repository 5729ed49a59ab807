//! Create is atomic: a process that dies at any mutating call of a create, followed
//! by a power loss, leaves either no file (and the create can simply be run again) or
//! the complete empty file — never a half-written file under the real name, which
//! would refuse to open (30) and refuse a second create (59). crashfs found the
//! half-written file on `butil -create` before create built the file under a
//! temporary name.

mod common;
use common::*;
use engine::file::check::check_file;
use engine::pager::creating_path;
use engine::vfs::testing::{Rng, TestVfs};
use engine::vfs::Vfs;
use engine::{Config, Engine, OpenMode, Status};
use std::path::Path;
use std::sync::Arc;

fn engine(vfs: &TestVfs) -> Engine {
    Engine::new(
        Arc::new(vfs.clone()),
        Arc::new(engine::clock::ManualClock::new()),
        Config::default(),
    )
}

#[test]
fn a_create_stopped_at_any_call_leaves_no_file_or_a_whole_one() {
    let path = Path::new("/db/f.btr");
    let clean = TestVfs::new();
    engine(&clean)
        .create(path, &people_spec(512))
        .expect("create");
    let total = clean.mutating_calls();
    assert!(
        total >= 4,
        "a create makes at least its page writes and syncs: {total}"
    );
    let (mut absent, mut whole) = (0, 0);
    for k in 0..=total {
        for seed in 0..3 {
            let vfs = TestVfs::new();
            vfs.stop_after(Some(k));
            let done = engine(&vfs).create(path, &people_spec(512));
            vfs.power_loss(&mut Rng::new(seed));
            vfs.stop_after(None);
            if vfs.exists(path).expect("exists") {
                whole += 1;
                let rep = check_file(&vfs, path)
                    .unwrap_or_else(|e| panic!("stop at {k}: the file does not open: {e}"));
                assert!(rep.is_clean(), "stop at {k}: {:?}", rep.problems);
                let mut e = engine(&vfs);
                let h = e.open(path, OpenMode::Normal).expect("open");
                assert_eq!(e.stat(h).expect("stat").records, 0);
            } else {
                absent += 1;
                assert!(
                    done.is_err(),
                    "stop at {k}: create succeeded but the file is gone"
                );
                // The operator's retry works, over whatever temporary was left.
                engine(&vfs)
                    .create(path, &people_spec(512))
                    .unwrap_or_else(|e| panic!("stop at {k}: retry: {e}"));
                assert!(check_file(&vfs, path).expect("opens").is_clean());
            }
        }
    }
    assert!(
        absent > 0 && whole > 0,
        "both outcomes occur: {absent} absent, {whole} whole"
    );
}

#[test]
fn create_refuses_an_existing_file_and_leaves_no_temporary() {
    let path = Path::new("/db/f.btr");
    let vfs = TestVfs::new();
    vfs.put(path, b"not a data file".to_vec());
    let err = engine(&vfs)
        .create(path, &people_spec(512))
        .expect_err("exists");
    assert_eq!(err.status, Status::FileAlreadyExists);
    assert_eq!(
        vfs.contents(path).as_deref(),
        Some(&b"not a data file"[..]),
        "untouched"
    );
    assert!(!vfs.exists(&creating_path(path)).expect("exists"));
}

#[test]
fn a_stale_temporary_from_a_crashed_create_is_overwritten() {
    let path = Path::new("/db/f.btr");
    let vfs = TestVfs::new();
    vfs.put(creating_path(path), vec![0xAB; 3000]);
    engine(&vfs)
        .create(path, &people_spec(512))
        .expect("create over a stale temporary");
    assert!(check_file(&vfs, path).expect("opens").is_clean());
    assert!(!vfs.exists(&creating_path(path)).expect("exists"));
}
