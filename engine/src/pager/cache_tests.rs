//! The clean-page cache under a working set larger than itself: every read returns
//! the page's current image through heavy churn and commits that change pages, the
//! cache never holds more than its bound, and CLOCK keeps a page read again and again
//! while a scan of many more pages streams through.

use super::{create, Pager, PagerConfig};
use crate::page::spec::FileSpec;
use crate::page::{self, PageType, HEADER_LEN};
use crate::vfs::testing::TestVfs;
use std::path::Path;

const PATH: &str = "/f.btr";
const PAGE: usize = 512;
const CACHE: usize = 8;

fn config() -> PagerConfig {
    PagerConfig::plain(CACHE)
}

/// A data page whose body says `(logical, version)`.
fn image(logical: u32, version: u32) -> Vec<u8> {
    let mut b = page::blank(PAGE, PageType::Data);
    b[HEADER_LEN..HEADER_LEN + 4].copy_from_slice(&logical.to_le_bytes());
    b[HEADER_LEN + 4..HEADER_LEN + 8].copy_from_slice(&version.to_le_bytes());
    b
}

fn marker(b: &[u8]) -> (u32, u32) {
    let word = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
    (word(HEADER_LEN), word(HEADER_LEN + 4))
}

/// A pager over a fresh file of `pages` committed data pages (version 0), and their
/// logical numbers.
fn file_of(vfs: &TestVfs, pages: u32) -> (Pager, Vec<u32>) {
    create(
        vfs,
        Path::new(PATH),
        &FileSpec::unique_u32_key(8, PAGE as u32),
    )
    .unwrap();
    let mut p = Pager::open(vfs, Path::new(PATH), false, config()).unwrap();
    p.begin_op().unwrap();
    let mut logical = Vec::new();
    for _ in 0..pages {
        // The number is known only once allocated: allocate, then write the marker.
        let l = p.alloc(page::blank(PAGE, PageType::Data)).unwrap();
        p.write(l, image(l, 0));
        logical.push(l);
    }
    p.end_op(true);
    p.commit().unwrap();
    (p, logical)
}

#[test]
fn churn_returns_current_pages_within_the_bound() {
    let vfs = TestVfs::new();
    let (mut p, logical) = file_of(&vfs, 64);
    let mut version = vec![0u32; logical.len()];
    // A fixed pseudo-random walk (an LCG), skewed: every third read is one of four
    // hot pages, so both hits and evictions happen throughout.
    let mut x = 12345u64;
    for step in 0..20_000u32 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let r = (x >> 33) as usize;
        let i = if step % 3 == 0 {
            r % 4
        } else {
            r % logical.len()
        };
        let l = logical[i];
        let buf = p.read(l, &[PageType::Data]).unwrap();
        assert_eq!(marker(&buf), (l, version[i]), "step {step}: page {l}");
        assert!(
            p.clean.len() <= CACHE,
            "step {step}: {} cached",
            p.clean.len()
        );
        // Now and then a commit changes a page (cached or not): later reads must
        // see the new image, never the cached old one.
        if step % 97 == 0 {
            version[i] += 1;
            p.begin_op().unwrap();
            p.write(l, image(l, version[i]));
            p.end_op(true);
            p.commit().unwrap();
        }
        if step % 1000 == 0 {
            p.clean.check().unwrap();
        }
    }
    p.clean.check().unwrap();
    // And from disk: a fresh pager reads every page's last version.
    drop(p);
    let mut p = Pager::open(&vfs, Path::new(PATH), false, config()).unwrap();
    for (i, &l) in logical.iter().enumerate() {
        let buf = p.read(l, &[PageType::Data]).unwrap();
        assert_eq!(marker(&buf), (l, version[i]));
    }
}

#[test]
fn a_page_read_again_and_again_survives_a_scan() {
    let vfs = TestVfs::new();
    let (mut p, logical) = file_of(&vfs, 64);
    drop(p);
    p = Pager::open(&vfs, Path::new(PATH), false, config()).unwrap();
    let hot = logical[0];
    p.read(hot, &[PageType::Data]).unwrap();
    let before = p.stats().pages_read;
    // Four passes over the other 63 pages (eight times the cache), the hot page read
    // between every two: it is read from disk never again, the others every time.
    for _ in 0..4 {
        for &l in &logical[1..] {
            p.read(l, &[PageType::Data]).unwrap();
            p.read(hot, &[PageType::Data]).unwrap();
        }
    }
    assert_eq!(p.stats().pages_read - before, 4 * 63);
    p.clean.check().unwrap();
    // Cleared, the cache holds nothing: the hot page is read from disk again.
    p.clean.clear();
    p.clean.check().unwrap();
    let before = p.stats().pages_read;
    p.read(hot, &[PageType::Data]).unwrap();
    assert_eq!(p.stats().pages_read - before, 1);
}
