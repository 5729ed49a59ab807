//! Tests of the system transaction (`commit.rs`): the before-FCR hook's place in the
//! write order, a failed hook's retry, what `Pager::update` changes in place, and that
//! the debug builds' shadow-paging and free-list assertions do fail when broken.

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
    let cfg = PagerConfig::plain(16);
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

/// Run `check` and return its panic message (`None`: it did not panic).
#[cfg(debug_assertions)]
fn panic_of(check: impl FnOnce()) -> Option<String> {
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(check)).err()?;
    Some(match caught.downcast::<String>() {
        Ok(s) => *s,
        Err(other) => other
            .downcast::<&str>()
            .map_or_else(|_| "(not a string)".into(), |s| (*s).to_string()),
    })
}

/// A committed file of a few pages, and one physical page its durable FCR references.
#[cfg(debug_assertions)]
fn committed(vfs: &TestVfs) -> (Pager, u32) {
    let mut p = open(vfs);
    for _ in 0..3 {
        change(&mut p);
        p.commit().unwrap();
    }
    let referenced = p.pat.mapped().next().unwrap().1.physical;
    (p, referenced)
}

/// The debug builds' shadow-paging assertion is a real check: it passes every commit
/// of the suites, so a test must show it fails when a shadow page would overwrite a
/// page the durable FCR references (mutation testing made it a no-op unnoticed).
#[cfg(debug_assertions)]
#[test]
fn the_shadow_target_check_fails_on_a_page_the_durable_fcr_references() {
    let vfs = TestVfs::new();
    let (p, referenced) = committed(&vfs);
    let free: Vec<u32> = p.free_phys.iter().copied().collect();
    assert_eq!(
        panic_of(|| p.debug_check_shadow_targets(free.into_iter())),
        None
    );
    let why = panic_of(|| p.debug_check_shadow_targets([referenced].into_iter()))
        .expect("a shadow page over a durable one passed the check");
    assert!(
        why.contains(&format!("overwrite physical page {referenced}")),
        "{why}"
    );
}

/// Likewise the free-list partition assertion: a page both free and referenced, or a
/// page neither, fails it.
#[cfg(debug_assertions)]
#[test]
fn the_free_partition_check_fails_on_a_page_both_free_and_referenced_or_neither() {
    let vfs = TestVfs::new();
    let (mut p, referenced) = committed(&vfs);
    assert!(
        !p.free_phys.is_empty(),
        "three commits freed their old pages"
    );
    assert_eq!(panic_of(|| p.debug_check_free_partition()), None);

    p.free_phys.insert(referenced);
    let why = panic_of(|| p.debug_check_free_partition()).expect("free and referenced");
    assert!(why.contains("both free and referenced"), "{why}");
    p.free_phys.remove(&referenced);

    let lost = p.free_phys.pop_first().unwrap();
    let why = panic_of(|| p.debug_check_free_partition()).expect("neither");
    assert!(why.contains("do not cover"), "{why}");
    p.free_phys.insert(lost);
    assert_eq!(panic_of(|| p.debug_check_free_partition()), None);
}

/// The next file sync fails as Linux's does: the unsynced writes stay readable but
/// are marked clean, never to be written by a later sync.
fn fail_next_sync(vfs: &TestVfs) {
    vfs.set_faults(crate::vfs::testing::Faults {
        fail_sync_in: Some(0),
        failed_sync_keeps_cache: true,
        ..Default::default()
    });
}

/// A failed sync before the FCR: the transaction's changes are kept and a retry
/// commits them — durably, as a power loss right after shows (its shadow pages go to
/// fresh places, not to the ones the failed sync left clean unwritten). But once pages
/// were spilled ahead of the commit, the same failure loses the transaction: their
/// images exist nowhere else, and the failed sync may have marked them clean
/// unwritten, so no retry can make them durable. The pager refuses until reopened, and
/// the file reopens at its durable state.
#[test]
fn a_failed_sync_before_the_fcr_keeps_the_changes_for_a_retry_unless_pages_were_spilled() {
    let mut rng = crate::vfs::testing::Rng::new(5);
    // Nothing spilled: retried, and durable.
    let vfs = TestVfs::new();
    let mut p = open(&vfs);
    change(&mut p);
    p.commit().unwrap();
    change(&mut p);
    fail_next_sync(&vfs);
    let e = p.commit().expect_err("the sync before the FCR failed");
    assert_eq!(e.status, Status::IoError, "{e}");
    assert!(
        p.commit().expect("the retry"),
        "the retry wrote the changes"
    );
    drop(p);
    vfs.power_loss(&mut rng);
    let mut p = reopen(&vfs);
    assert_eq!(
        p.logical_in_use(),
        vec![1, 2],
        "the retried commit is durable"
    );
    for l in [1, 2] {
        p.read(l, &[PageType::Data])
            .expect("a committed page reads back");
    }

    // Spilled: the transaction is lost, the durable state kept.
    let vfs = TestVfs::new();
    let mut p = open(&vfs);
    change(&mut p);
    p.commit().unwrap();
    for _ in 0..3 {
        change(&mut p);
    }
    assert_eq!(p.spill().unwrap(), 3, "the pending pages spilled");
    fail_next_sync(&vfs);
    let e = p.commit().expect_err("the sync before the FCR failed");
    assert_eq!(e.status, Status::IoError, "{e}");
    let e = p
        .commit()
        .expect_err("a retry after spilled pages' sync failed");
    assert!(e.to_string().contains("could be retried"), "{e}");
    drop(p);
    vfs.power_loss(&mut rng);
    let mut p = reopen(&vfs);
    assert_eq!(
        p.logical_in_use(),
        vec![1],
        "the durable state, nothing more"
    );
    p.read(1, &[PageType::Data]).expect("the committed page");
}
