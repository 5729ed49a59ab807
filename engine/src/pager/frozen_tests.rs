//! `frozen.rs` at the pager's level: the conditions under which a file may be frozen
//! and thawed unused, the delta a crash left half-created, and pages freed while
//! frozen — which must be free again after a reopen reads them from the delta and
//! after the roll-in commits them into the data file. (Mutation testing found each
//! of these decisions unchecked by the engine- and simulator-level suites: inverting
//! them changed no outcome there.)

use super::{create, Pager, PagerConfig};
use crate::delta::delta_path;
use crate::page::spec::FileSpec;
use crate::page::{self, PageType, HEADER_LEN};
use crate::status::Status;
use crate::vfs::testing::TestVfs;
use crate::vfs::Vfs;
use std::path::Path;

const PS: usize = 512;
const PATH: &str = "/f.btr";

fn cfg() -> PagerConfig {
    PagerConfig::plain(16)
}

fn open(vfs: &TestVfs, read_only: bool) -> Pager {
    Pager::open(vfs, Path::new(PATH), read_only, cfg()).expect("open")
}

/// A data page image holding `tag` (the pager does not look inside).
fn image(tag: u64) -> Vec<u8> {
    let mut b = page::blank(PS, PageType::Data);
    b[HEADER_LEN..HEADER_LEN + 8].copy_from_slice(&tag.to_le_bytes());
    b
}

fn tag_of(p: &mut Pager, logical: u32) -> u64 {
    let b = p.read(logical, &[PageType::Data]).expect("read");
    u64::from_le_bytes(b[HEADER_LEN..HEADER_LEN + 8].try_into().expect("8 bytes"))
}

fn delta_exists(vfs: &TestVfs) -> bool {
    let delta = delta_path(Path::new(PATH)).expect("delta path");
    vfs.exists(&delta).expect("exists")
}

/// A new file with logical pages 1..=n committed, page `l` tagged `l`.
fn file_of(vfs: &TestVfs, n: u32) -> Pager {
    create(
        vfs,
        Path::new(PATH),
        &FileSpec::unique_u32_key(8, PS as u32),
    )
    .expect("create");
    let mut p = open(vfs, false);
    p.begin_op().expect("begin");
    for t in 1..=n {
        assert_eq!(p.alloc(image(u64::from(t))).expect("alloc"), t);
    }
    p.end_op(true);
    p.commit().expect("commit");
    p
}

/// Free `pages` as one committed system transaction.
fn free_and_commit(p: &mut Pager, pages: &[u32]) {
    p.begin_op().expect("begin");
    for &l in pages {
        p.free(l);
    }
    p.end_op(true);
    p.commit().expect("commit");
}

/// Allocate as many pages as were freed: a pager that knows what is free hands out
/// exactly those (lowest first) and does not grow the file's logical page count.
fn assert_reuses(p: &mut Pager, freed: &[u32], what: &str) {
    let before = p.state().logical_pages;
    p.begin_op().expect("begin");
    let got: Vec<u32> = (0..freed.len())
        .map(|i| p.alloc(image(900 + i as u64)).expect("alloc"))
        .collect();
    p.end_op(true);
    p.commit().expect("commit");
    assert_eq!(got, freed, "{what}: the pages freed are handed out again");
    assert_eq!(p.state().logical_pages, before, "{what}: no page leaked");
    for (i, &l) in got.iter().enumerate() {
        assert_eq!(tag_of(p, l), 900 + i as u64, "{what}: page {l}");
    }
}

/// Pages the data file maps, freed while frozen, are free again when a reopen reads
/// the delta, and (once more) after the roll-in commits the delta into the data file.
#[test]
fn pages_freed_while_frozen_are_free_again_after_a_reopen_and_after_the_roll_in() {
    let vfs = TestVfs::new();
    let mut p = file_of(&vfs, 20);
    p.freeze(&vfs, 1).expect("freeze");
    free_and_commit(&mut p, &[4, 9, 15]);
    drop(p);

    // A reopen learns the frees from the delta alone.
    let mut p = open(&vfs, false);
    p.attach_delta(&vfs).expect("attach");
    assert!(p.is_frozen());
    assert_eq!(p.logical_in_use().len(), 17);
    assert_reuses(&mut p, &[4, 9, 15], "reopened through the delta");

    // Free more while frozen, then roll in within the same session.
    free_and_commit(&mut p, &[2, 11]);
    p.roll_in(&vfs).expect("roll in");
    assert!(!p.is_frozen() && !delta_exists(&vfs));
    assert_reuses(&mut p, &[2, 11], "rolled in");
    drop(p);

    let mut p = open(&vfs, false);
    p.attach_delta(&vfs).expect("attach");
    // Each reused page holds what its reuse wrote (tags 900 on, in the order freed).
    let reused = [(4, 900), (9, 901), (15, 902), (2, 900), (11, 901)];
    let want: Vec<u64> = (1..=20u32)
        .map(|l| match reused.iter().find(|&&(r, _)| r == l) {
            Some(&(_, tag)) => tag,
            None => u64::from(l),
        })
        .collect();
    let got: Vec<u64> = (1..=20).map(|l| tag_of(&mut p, l)).collect();
    assert_eq!(got, want, "the file after the roll-in and a reopen");
    p.debug_check_free_partition();
}

/// `startbu` freezes a file only at its durable state: never read-only, never with
/// changes pending, never inside a user transaction. A refusal leaves no delta.
#[test]
fn a_file_is_frozen_only_writable_with_nothing_pending_and_no_transaction() {
    let vfs = TestVfs::new();
    drop(file_of(&vfs, 3));

    let mut ro = open(&vfs, true);
    let e = ro.freeze(&vfs, 1).expect_err("read-only");
    assert_eq!(e.status, Status::OperationNotAllowed, "{e}");
    assert!(!ro.is_frozen() && !delta_exists(&vfs), "read-only");
    drop(ro);

    let mut p = open(&vfs, false);
    p.begin_op().expect("begin");
    p.write(2, image(77));
    p.end_op(true);
    let e = p.freeze(&vfs, 1).expect_err("pending");
    assert_eq!(e.status, Status::OperationNotAllowed, "{e}");
    assert!(!p.is_frozen() && !delta_exists(&vfs), "changes pending");
    p.commit().expect("commit");

    p.begin_txn().expect("txn");
    let e = p.freeze(&vfs, 1).expect_err("transaction");
    assert_eq!(e.status, Status::OperationNotAllowed, "{e}");
    assert!(
        !p.is_frozen() && !delta_exists(&vfs),
        "inside a transaction"
    );
    p.end_txn(false);

    p.freeze(&vfs, 1).expect("freeze at the durable state");
    assert!(p.is_frozen() && delta_exists(&vfs));
    let e = p.freeze(&vfs, 2).expect_err("twice");
    assert_eq!(e.status, Status::IncompatibleMode, "{e}");
}

/// Undoing a `startbu` (another file of its set failed) removes the delta only while
/// nothing was committed to it — not after a commit that changed the file's state,
/// and not after one that rewrote a page in place and left the state as it was.
#[test]
fn a_freeze_is_undone_only_while_its_delta_holds_nothing() {
    let vfs = TestVfs::new();
    let mut p = file_of(&vfs, 3);
    p.freeze(&vfs, 1).expect("freeze");
    p.unfreeze_unused(&vfs).expect("fresh freeze undone");
    assert!(!p.is_frozen() && !delta_exists(&vfs));

    // A page rewritten in place: the delta holds it, the file state is unchanged.
    p.freeze(&vfs, 2).expect("freeze");
    let state = p.state().clone();
    p.begin_op().expect("begin");
    p.write(2, image(55));
    p.end_op(true);
    p.commit().expect("commit to the delta");
    assert_eq!(*p.state(), state, "a rewrite in place keeps the state");
    let e = p.unfreeze_unused(&vfs).expect_err("a page committed");
    assert_eq!(e.status, Status::OperationNotAllowed, "{e}");
    assert!(p.is_frozen() && delta_exists(&vfs));
    p.roll_in(&vfs).expect("roll in");
    assert_eq!(tag_of(&mut p, 2), 55);

    // A commit that changes the state (a page added).
    p.freeze(&vfs, 3).expect("freeze");
    p.begin_op().expect("begin");
    let l = p.alloc(image(66)).expect("alloc");
    p.end_op(true);
    p.commit().expect("commit to the delta");
    let e = p.unfreeze_unused(&vfs).expect_err("the state changed");
    assert_eq!(e.status, Status::OperationNotAllowed, "{e}");
    assert!(p.is_frozen() && delta_exists(&vfs));
    drop(p);
    let mut p = open(&vfs, false);
    p.attach_delta(&vfs).expect("attach");
    assert_eq!(
        tag_of(&mut p, l),
        66,
        "the delta kept what was committed to it"
    );
}

/// A delta whose creation a crash cut short (a torn header, nothing after it) was
/// never in use: a writable open removes it; a read-only open changes nothing on
/// disk and ignores it. Either way the file is not frozen.
#[test]
fn a_half_created_delta_is_removed_by_a_writable_open_and_left_by_a_read_only_one() {
    let delta = delta_path(Path::new(PATH)).expect("delta path");
    for torn in [vec![], vec![0u8; 100], vec![0xA5; 512]] {
        let vfs = TestVfs::new();
        drop(file_of(&vfs, 3));
        vfs.put(&delta, torn.clone());

        let mut ro = open(&vfs, true);
        ro.attach_delta(&vfs).expect("read-only attach");
        assert!(!ro.is_frozen());
        assert_eq!(tag_of(&mut ro, 3), 3);
        drop(ro);
        assert_eq!(
            vfs.contents(&delta),
            Some(torn.clone()),
            "a read-only open leaves the half-created delta of {} bytes",
            torn.len()
        );

        let mut p = open(&vfs, false);
        p.attach_delta(&vfs).expect("writable attach");
        assert!(!p.is_frozen());
        assert!(
            !delta_exists(&vfs),
            "a writable open removes the half-created delta of {} bytes",
            torn.len()
        );
        p.freeze(&vfs, 1).expect("startbu again");
        assert!(p.is_frozen());
    }
}
