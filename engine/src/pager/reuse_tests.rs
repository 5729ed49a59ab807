//! `reuse.rs`: a commit retried with the same sequence — in the same session after a
//! failure before its FCR, or after a crash — must not put a page where the earlier
//! attempt's image of it lies, or a lost write of the retry would leave that image,
//! which verifies, and a read would return data the file never committed.
//!
//! Each test makes the earlier attempt leave its images on disk, commits different
//! data with the same sequence, then loses the retry's write of the changed data page
//! (its bytes put back as they were just before the retry) and reads the page after a
//! reopen: it must be the committed data or an error (the loss detected), never the
//! earlier attempt's.

use super::{create, Pager, PagerConfig};
use crate::page::spec::FileSpec;
use crate::page::{self, PageType};
use crate::status::{Error, Status};
use crate::vfs::testing::TestVfs;
use std::path::Path;

const PS: usize = 512;
const PATH: &str = "/f.btr";
/// Where each image's marker byte goes (past the page header).
const MARK_AT: usize = 100;

/// The pager's configuration: the correct engine, or (`careless`) the known-bad
/// `reuse-attempted-pages`.
fn config(careless: bool) -> PagerConfig {
    #[cfg(not(feature = "mutants"))]
    assert!(!careless, "known-bad engines need the `mutants` feature");
    PagerConfig {
        clean_cache_pages: 16,
        failed_fcr_seq: None,
        #[cfg(feature = "mutants")]
        mutant: careless.then_some(crate::mutant::Mutant::ReuseAttemptedPages),
    }
}

fn reopen(vfs: &TestVfs, careless: bool) -> Pager {
    Pager::open(vfs, Path::new(PATH), false, config(careless)).expect("open")
}

/// A new file with one data page marked `mark`, committed. Returns the pager and the
/// page's logical number.
fn file_with_page(vfs: &TestVfs, mark: u8, careless: bool) -> (Pager, u32) {
    let spec = FileSpec::unique_u32_key(8, PS as u32);
    create(vfs, Path::new(PATH), &spec).expect("create");
    let mut p = reopen(vfs, careless);
    p.begin_op().expect("op");
    let l = p.alloc(image(mark)).expect("alloc");
    p.end_op(true);
    assert!(p.commit().expect("first commit"));
    (p, l)
}

fn image(mark: u8) -> Vec<u8> {
    let mut b = page::blank(PS, PageType::Data);
    b[MARK_AT] = mark;
    b
}

fn set(p: &mut Pager, l: u32, mark: u8) {
    p.begin_op().expect("op");
    p.write(l, image(mark));
    p.end_op(true);
}

/// Commit `l` marked `mark` (the retry), lose that commit's write of `l`'s page, and
/// return what a reopened pager reads there: `Ok(mark)` or the error.
fn retry_and_lose_its_write(vfs: &TestVfs, mut p: Pager, l: u32, mark: u8) -> Result<u8, Error> {
    let careless = p.config.any_mutant();
    let seq = p.durable_seq() + 1;
    set(&mut p, l, mark);
    let before = vfs.contents(PATH).expect("file");
    assert!(p.commit().expect("the retry commits"));
    assert_eq!(p.durable_seq(), seq);
    let at = p
        .mapping()
        .find(|&(m, _)| m == l)
        .map(|(_, ptr)| ptr.physical as usize * PS)
        .expect("mapped");
    drop(p);
    let mut after = vfs.contents(PATH).expect("file");
    let old = before
        .get(at..at + PS)
        .map(<[u8]>::to_vec)
        .unwrap_or(vec![0; PS]);
    after[at..at + PS].copy_from_slice(&old);
    vfs.put(PATH, after);
    let mut p = reopen(vfs, careless);
    let b = p.read(l, &[PageType::Data])?;
    Ok(b[MARK_AT])
}

fn never_the_failed_attempts(read: Result<u8, Error>, committed: u8) {
    match read {
        Ok(m) => assert_eq!(m, committed, "read the failed attempt's image"),
        Err(e) => assert_eq!(e.status, Status::IoError, "{e}"),
    }
}

/// Page `l` marked 2 by an attempt that failed before its FCR (its pages written and
/// synced, its archival append failed), then marked 3 by the retry whose write of
/// `l` is lost: what a reopen reads.
fn retry_in_the_same_session(careless: bool) -> Result<u8, Error> {
    let vfs = TestVfs::new();
    let (mut p, l) = file_with_page(&vfs, 1, careless);
    set(&mut p, l, 2);
    let failed = p.commit_with(false, &mut |_, _| Err(Error::new(Status::DiskFull, "full")));
    assert!(failed.is_err());
    retry_and_lose_its_write(&vfs, p, l, 3)
}

/// The same with a crash instead: the process dies at the attempt's FCR write, and
/// the reopened file commits `l` marked 3, whose write is lost.
fn commit_after_a_crash(careless: bool) -> Result<u8, Error> {
    let vfs = TestVfs::new();
    let (mut p, l) = file_with_page(&vfs, 1, careless);
    set(&mut p, l, 2);
    let died = p.commit_with(false, &mut |_, _| {
        vfs.stop_after(Some(0));
        Ok(())
    });
    assert!(died.is_err());
    drop(p);
    vfs.stop_after(None);
    let p = reopen(&vfs, careless);
    assert_eq!(p.durable_seq(), 2, "the crashed attempt did not commit");
    retry_and_lose_its_write(&vfs, p, l, 3)
}

#[test]
fn a_retry_in_the_same_session_does_not_land_on_the_failed_attempts_pages() {
    never_the_failed_attempts(retry_in_the_same_session(false), 3);
}

#[test]
fn a_commit_after_a_crash_does_not_land_on_the_crashed_attempts_pages() {
    never_the_failed_attempts(commit_after_a_crash(false), 3);
}

/// The known-bad engine shows the hole both tests close: the lost write leaves the
/// earlier attempt's image, which verifies and is read as the page.
#[cfg(feature = "mutants")]
#[test]
fn reuse_attempted_pages_reads_the_earlier_attempts_image() {
    assert_eq!(retry_in_the_same_session(true).expect("verifies"), 2);
    assert_eq!(commit_after_a_crash(true).expect("verifies"), 2);
}

/// The pages held back come back once a commit succeeds, and free pages are read
/// before reuse only until then: a file that loses nothing does not grow.
#[test]
fn held_pages_return_after_a_commit_and_checks_stop() {
    let vfs = TestVfs::new();
    let (mut p, l) = file_with_page(&vfs, 1, false);
    for mark in 2..6 {
        set(&mut p, l, mark);
        assert!(p.commit().expect("commit"));
    }
    let steady = p.physical_pages();
    set(&mut p, l, 9);
    let failed = p.commit_with(false, &mut |_, _| Err(Error::new(Status::DiskFull, "full")));
    assert!(failed.is_err());
    assert!(!p.reuse.held.is_empty(), "the attempt's pages are held");
    assert!(p.commit().expect("retry"));
    assert!(p.reuse.held.is_empty() && !p.reuse.check_free);
    let reads = p.stats().pages_read;
    for mark in 10..20 {
        set(&mut p, l, mark);
        assert!(p.commit().expect("commit"));
    }
    assert_eq!(p.stats().pages_read, reads, "no page read before reuse");
    assert!(
        p.physical_pages() <= steady + 4,
        "{} pages, {steady} before",
        p.physical_pages()
    );
}
