//! A delta larger than RAM must open, read and roll in: the pager keeps where each
//! delta page's latest image is, never the images. This measures it — a counting
//! global allocator records the peak heap bytes live during open (attaching the
//! delta) + a full scan through it + `endbu` (the streamed roll-in) — for a delta of N
//! pages and one of 8N pages, and asserts the peak grows by much less than a page per
//! extra page (it may grow by the index's bytes a page, see below). Holding the images
//! costs at least a page a page. The files are on a real disk (`StdVfs` in a
//! temporary directory): an in-memory file system would count the files themselves.
//!
//! One test in this binary, so nothing else allocates while it measures.

mod common;
use common::*;
use engine::clock::ManualClock;
use engine::delta::{delta_path, scan_delta};
use engine::vfs::StdVfs;
use engine::{Config, Engine, FileSpec, GetOp, OpenMode, Status};
use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

/// The system allocator, counting the bytes live now and the most live since a reset.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = LIVE.fetch_add(by, Relaxed) + by;
    PEAK.fetch_max(now, Relaxed);
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            grew(l.size());
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        LIVE.fetch_sub(l.size(), Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, l, new) };
        if !q.is_null() {
            if new >= l.size() {
                grew(new - l.size());
            } else {
                LIVE.fetch_sub(l.size() - new, Relaxed);
            }
        }
        q
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// The most heap bytes live while `f` ran, above what was live when it started.
fn peak_during(f: impl FnOnce()) -> usize {
    let base = LIVE.load(Relaxed);
    PEAK.store(base, Relaxed);
    f();
    PEAK.load(Relaxed) - base
}

const PAGE: usize = 4096;

/// Big records, so that few inserts make many pages.
fn spec() -> FileSpec {
    FileSpec {
        record_length: 1000,
        ..people_spec(PAGE as u32)
    }
}

fn record(id: u32) -> Vec<u8> {
    let mut r = person(id, (id % 7) as i16, &format!("r{id}"));
    r.resize(1000, (id % 251) as u8);
    r
}

fn engine(config: Config) -> Engine {
    Engine::new(Arc::new(StdVfs), Arc::new(ManualClock::new()), config)
}

/// Make a file in continuous operations whose delta holds `records` inserts; then,
/// measured: open it, scan every record, close, endbu. Returns (pages the delta
/// names, peak heap bytes of the measured part).
fn measure(dir: &Path, records: u32) -> (usize, usize) {
    let path = dir.join(format!("f{records}.btr"));
    let set = [path.clone()];
    {
        let mut e = engine(Config::default());
        e.create(&path, &spec()).unwrap();
        e.start_backup(&set).unwrap();
        let h = e.open(&path, OpenMode::Normal).unwrap();
        for id in 0..records {
            e.insert(h, &record(id)).unwrap();
        }
        e.close(h).unwrap();
    }
    let delta: PathBuf = delta_path(&path).unwrap();
    let pages = scan_delta(&StdVfs, &delta).unwrap().pages.len();
    let peak = peak_during(|| {
        // A small clean cache: what reads may hold is bounded by it.
        let mut e = engine(Config {
            clean_cache_pages: 16,
            ..Config::default()
        });
        let h = e.open(&path, OpenMode::Normal).unwrap();
        let mut n = 0;
        let mut r = e.get(h, GetOp::First, 0, &[]);
        while let Ok(rec) = r {
            assert_eq!(rec, record(n));
            n += 1;
            r = e.get(h, GetOp::Next, 0, &[]);
        }
        assert_eq!(r.unwrap_err().status, Status::EndOfFile);
        assert_eq!(n, records);
        e.close(h).unwrap();
        e.end_backup(&set).unwrap();
    });
    assert!(!delta.exists(), "the delta remains after endbu");
    let rep = engine::file::check::check_file(&StdVfs, &path).unwrap();
    assert!(rep.is_clean(), "{:?}", rep.problems);
    assert_eq!(rep.records, u64::from(records));
    (pages, peak)
}

#[test]
fn attach_reads_and_roll_in_hold_no_more_for_a_delta_eight_times_larger() {
    let dir = tempfile::tempdir().unwrap();
    let (small_pages, small) = measure(dir.path(), 400);
    let (large_pages, large) = measure(dir.path(), 3200);
    assert!(
        large_pages >= 7 * small_pages,
        "{small_pages} → {large_pages} pages"
    );
    let extra_pages = large_pages - small_pages;
    let per_page = large.saturating_sub(small) / extra_pages;
    eprintln!(
        "peak heap: {small} bytes for {small_pages} delta pages, {large} bytes for \
         {large_pages}: {per_page} bytes per extra page of {PAGE}"
    );
    // What may grow with the pages: the delta's index (in the scan, the writer and the
    // pager), the roll-in's mapping and list of pages to stream, the PAT, and in debug
    // builds the assertions' sets of physical pages — some hundreds of bytes a page
    // together. Holding the images costs at least a page a page.
    assert!(
        per_page < PAGE / 4,
        "the peak grew by {per_page} bytes per extra delta page ({small} bytes for \
         {small_pages} pages, {large} for {large_pages}): page images are being held"
    );
}
