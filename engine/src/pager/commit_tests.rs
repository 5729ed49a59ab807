//! Tests of the system transaction (`commit.rs`): the before-FCR hook's place in the
//! write order, a failed hook's retry, and what `Pager::update` changes in place.

use super::super::{create, Pager, PagerConfig};
use crate::page::spec::FileSpec;
use crate::page::{self, PageType};
use crate::status::{Error, Status};
use crate::vfs::testing::TestVfs;
use std::path::Path;

const PS: usize = 512;

fn open(vfs: &TestVfs) -> Pager {
    let spec = FileSpec::unique_u32_key(8, PS as u32);
    create(vfs, Path::new("/f.btr"), &spec).unwrap();
    reopen(vfs)
}

/// Open the file `open` made, as it is on `vfs` now.
fn reopen(vfs: &TestVfs) -> Pager {
    let cfg = PagerConfig {
        clean_cache_pages: 16,
        failed_fcr_seq: None,
        #[cfg(feature = "mutants")]
        mutant: None,
    };
    Pager::open(vfs, Path::new("/f.btr"), false, cfg).unwrap()
}

/// The highest FCR sequence either slot holds on disk now.
fn newest_fcr(vfs: &TestVfs) -> u64 {
    let b = vfs.contents("/f.btr").unwrap();
    (0..2)
        .map(|slot| page::header(&b[slot * PS..(slot + 1) * PS]).unwrap().seq)
        .max()
        .unwrap_or(0)
}

fn change(p: &mut Pager) {
    p.begin_op().unwrap();
    p.alloc(page::blank(PS, PageType::Data)).unwrap();
    p.end_op(true);
}

#[test]
fn the_hook_runs_before_the_fcr_is_written_and_is_told_its_sequence_and_lsn() {
    let vfs = TestVfs::new();
    let mut p = open(&vfs);
    change(&mut p);
    p.set_applied_lsn(7);
    let mut seen = Vec::new();
    let wrote = p
        .commit_with(false, &mut |seq, lsn| {
            // No slot holds the new FCR yet.
            seen.push((seq, lsn, newest_fcr(&vfs), vfs.mutating_calls()));
            Ok(())
        })
        .unwrap();
    assert!(wrote);
    let (seq, lsn, before, calls) = seen[0];
    assert_eq!((seq, lsn, before), (2, 7, 1));
    // Two calls after the hook: the FCR write and its sync.
    assert_eq!(vfs.mutating_calls(), calls + 2);
    assert_eq!((newest_fcr(&vfs), p.durable_seq()), (2, 2));
    // Nothing pending: no transaction, no hook — unless forced.
    let mut ran = 0;
    let mut count = |_, _| {
        ran += 1;
        Ok(())
    };
    assert!(!p.commit_with(false, &mut count).unwrap());
    assert!(p.commit_with(true, &mut count).unwrap());
    assert_eq!((ran, p.durable_seq(), newest_fcr(&vfs)), (1, 3, 3));
}

#[test]
fn a_failed_hook_fails_the_transaction_before_its_fcr_and_it_can_be_retried() {
    let vfs = TestVfs::new();
    let mut p = open(&vfs);
    change(&mut p);
    let err = p
        .commit_with(false, &mut |_, _| {
            Err(Error::new(Status::DiskFull, "the log is full"))
        })
        .unwrap_err();
    assert_eq!(err.status, Status::DiskFull);
    assert_eq!((p.durable_seq(), newest_fcr(&vfs)), (1, 1));
    assert!(p.has_changes());
    change(&mut p);
    assert!(p
        .commit_with(false, &mut |seq, _| {
            assert_eq!(seq, 2);
            Ok(())
        })
        .unwrap());
    assert_eq!(p.durable_seq(), 2);
}

const DATA: &[PageType] = &[PageType::Data];

/// `Pager::update` changes a dirty page in place only when nothing else holds its image:
/// an image a reader holds (as a cursor keeps its leaf) never changes under it, an
/// aborted operation takes every change back (its undo kept the before-image), and a
/// kept one reaches the file.
#[test]
fn update_is_in_place_only_for_an_unshared_dirty_page_and_undo_still_restores() {
    let vfs = TestVfs::new();
    let mut p = open(&vfs);
    p.begin_op().unwrap();
    let l = p.alloc(page::blank(PS, PageType::Data)).unwrap();
    p.end_op(true);
    p.commit().unwrap();
    let committed = p.read(l, DATA).unwrap();

    p.begin_op().unwrap();
    p.update(l, DATA, |b| b[100] = 1).unwrap();
    let held = p.read(l, DATA).unwrap();
    p.update(l, DATA, |b| b[101] = 2).unwrap();
    assert_eq!(
        (held[100], held[101]),
        (1, 0),
        "a held image changed under its reader"
    );
    drop(held);
    let before = std::sync::Arc::as_ptr(&p.read(l, DATA).unwrap());
    p.update(l, DATA, |b| b[102] = 3).unwrap();
    let after = p.read(l, DATA).unwrap();
    assert_eq!(
        std::sync::Arc::as_ptr(&after),
        before,
        "an unshared dirty page was copied"
    );
    assert_eq!((after[100], after[101], after[102]), (1, 2, 3));
    drop(after);
    p.end_op(false);
    assert_eq!(
        p.read(l, DATA).unwrap()[..],
        committed[..],
        "the aborted operation's changes stayed"
    );
    assert_eq!((committed[100], committed[101], committed[102]), (0, 0, 0));

    p.begin_op().unwrap();
    p.update(l, DATA, |b| b[100] = 7).unwrap();
    p.update(l, DATA, |b| b[101] = 8).unwrap();
    p.end_op(true);
    p.commit().unwrap();
    drop(p);
    let mut p = reopen(&vfs);
    let b = p.read(l, DATA).unwrap();
    assert_eq!(
        (b[100], b[101]),
        (7, 8),
        "a kept operation's updates were lost"
    );
}
