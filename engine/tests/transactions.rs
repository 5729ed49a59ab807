//! User transactions (Begin 19 / End 20 / Abort 21), 6.x exclusive semantics: a
//! transaction locks each file it changes; other clients read the file as it was
//! before the transaction and get status 85 when they try to change it; nothing of an
//! open transaction reaches disk.

mod common;
use common::*;
use engine::vfs::testing::TestVfs;
use engine::{Client, Config, Engine, GetOp, Handle, OpenMode, Status};
use std::path::Path;

const A: Client = Client(1);
const B: Client = Client(2);

fn st<T: std::fmt::Debug>(r: engine::Result<T>) -> Status {
    r.expect_err("expected a status").status
}

fn get(e: &mut Engine, h: Handle, id: u32) -> Result<Vec<u8>, Status> {
    e.get(h, GetOp::Equal, 0, &id.to_le_bytes())
        .map_err(|x| x.status)
}

fn count(e: &mut Engine, h: Handle) -> usize {
    let mut n = 0;
    let mut r = e.get(h, GetOp::First, 0, &[]);
    while r.is_ok() {
        n += 1;
        r = e.get(h, GetOp::Next, 0, &[]);
    }
    assert_eq!(r.unwrap_err().status, Status::EndOfFile);
    n
}

fn setup(vfs: &TestVfs) -> (Engine, [Handle; 4]) {
    let mut e = mem_engine(vfs, Config::default());
    for p in ["/d/x.btr", "/d/y.btr"] {
        e.create(Path::new(p), &people_spec(1024)).unwrap();
    }
    let open = |e: &mut Engine, c, p: &str| e.open_as(c, Path::new(p), OpenMode::Normal).unwrap();
    let hs = [
        open(&mut e, A, "/d/x.btr"),
        open(&mut e, A, "/d/y.btr"),
        open(&mut e, B, "/d/x.btr"),
        open(&mut e, B, "/d/y.btr"),
    ];
    (e, hs)
}

#[test]
fn changes_are_invisible_to_others_until_end() {
    let vfs = TestVfs::new();
    let (mut e, [ax, ay, bx, by]) = setup(&vfs);
    e.insert(bx, &person(1, 0, "one")).unwrap();
    e.begin_transaction(A).unwrap();
    e.insert(ax, &person(2, 0, "two")).unwrap();
    e.insert(ay, &person(3, 0, "three")).unwrap();
    get(&mut e, ax, 1).unwrap();
    e.update(ax, &person(1, 7, "uno")).unwrap();
    // The owner sees its changes; the other client sees neither file's.
    assert_eq!(count(&mut e, ax), 2);
    assert_eq!(get(&mut e, ax, 1).unwrap(), person(1, 7, "uno"));
    assert_eq!(count(&mut e, bx), 1);
    assert_eq!(get(&mut e, bx, 1).unwrap(), person(1, 0, "one"));
    assert_eq!(get(&mut e, bx, 2), Err(Status::KeyValueNotFound));
    assert_eq!(count(&mut e, by), 0);
    // Changing a locked file is refused, never waited for.
    assert_eq!(st(e.insert(bx, &person(9, 0, "nine"))), Status::FileInUse);
    get(&mut e, bx, 1).unwrap();
    assert_eq!(st(e.update(bx, &person(1, 1, "b"))), Status::FileInUse);
    assert_eq!(st(e.delete(bx)), Status::FileInUse);
    e.end_transaction(A).unwrap();
    assert_eq!(count(&mut e, bx), 2);
    assert_eq!(count(&mut e, by), 1);
    assert_eq!(get(&mut e, bx, 1).unwrap(), person(1, 7, "uno"));
    e.insert(bx, &person(9, 0, "nine")).unwrap();
}

#[test]
fn abort_undoes_everything_in_every_file() {
    let vfs = TestVfs::new();
    let (mut e, [ax, ay, bx, _]) = setup(&vfs);
    for i in 0..50 {
        e.insert(ax, &person(i, 0, &format!("n{i}"))).unwrap();
    }
    e.begin_transaction(A).unwrap();
    // Enough change to split pages and allocate new ones.
    for i in 50..300 {
        e.insert(ax, &person(i, 1, &format!("n{i}"))).unwrap();
        e.insert(ay, &person(i, 1, &format!("n{i}"))).unwrap();
    }
    for i in 0..20 {
        get(&mut e, ax, i).unwrap();
        e.delete(ax).unwrap();
    }
    e.abort_transaction(A).unwrap();
    assert_eq!(count(&mut e, ax), 50);
    assert_eq!(count(&mut e, bx), 50);
    assert_eq!(count(&mut e, ay), 0);
    // The file works normally afterwards and stays structurally sound.
    e.insert(bx, &person(500, 0, "after")).unwrap();
    e.flush().unwrap();
    drop(e);
    for p in ["/d/x.btr", "/d/y.btr"] {
        let rep = engine::file::check::check_file(&vfs, Path::new(p)).unwrap();
        assert!(rep.is_clean(), "{p}: {:?}", rep.problems);
    }
}

/// A copy of `path` as it is on `vfs` now, opened read-only by a fresh engine: the
/// record count another process would see.
fn records_on_disk(vfs: &TestVfs, path: &str) -> usize {
    let copy = TestVfs::new();
    copy.put(path, vfs.contents(Path::new(path)).unwrap());
    let mut other = mem_engine(&copy, Config::default());
    let h = other.open(Path::new(path), OpenMode::ReadOnly).unwrap();
    count(&mut other, h)
}

#[test]
fn nothing_of_an_open_transaction_reaches_disk() {
    let vfs = TestVfs::new();
    let (mut e, [ax, _, bx, _]) = setup(&vfs);
    let created = vfs.contents(Path::new("/d/x.btr")).unwrap();
    e.insert(bx, &person(1, 0, "before")).unwrap();
    e.begin_transaction(A).unwrap();
    e.insert(ax, &person(2, 0, "inside")).unwrap();
    // A flush during the transaction must not write the file (not even the change
    // made before the transaction began, which shares its pages).
    e.flush().unwrap();
    assert_eq!(e.commit_counters(Path::new("/d/x.btr")).attempts, 0);
    assert_eq!(vfs.contents(Path::new("/d/x.btr")).unwrap(), created);
    e.end_transaction(A).unwrap();
    e.flush().unwrap();
    assert_eq!(records_on_disk(&vfs, "/d/x.btr"), 2);
}

#[test]
fn transaction_statuses() {
    let vfs = TestVfs::new();
    let (mut e, [ax, _, bx, _]) = setup(&vfs);
    assert_eq!(st(e.end_transaction(A)), Status::EndAbortWithoutBegin);
    assert_eq!(st(e.abort_transaction(A)), Status::EndAbortWithoutBegin);
    e.begin_transaction(A).unwrap();
    assert_eq!(st(e.begin_transaction(A)), Status::TransactionAlreadyActive);
    // Two clients may each have a transaction, on different files.
    e.begin_transaction(B).unwrap();
    e.insert(ax, &person(1, 0, "a")).unwrap();
    assert_eq!(st(e.insert(bx, &person(2, 0, "b"))), Status::FileInUse);
    // The last handle of a file a transaction changed cannot close (36); another can.
    let extra = e
        .open_as(A, Path::new("/d/x.btr"), OpenMode::Normal)
        .unwrap();
    e.close(extra).unwrap();
    e.close(bx).unwrap();
    assert_eq!(st(e.close(ax)), Status::TransactionError);
    e.end_transaction(A).unwrap();
    e.abort_transaction(B).unwrap();
    e.close(ax).unwrap();
}
