//! Page Allocation Table pages: a dense array of (physical page, writing sequence)
//! entries. Physical page 0 (an FCR slot) means "not mapped" (or "no subtree").
//! Carrying the expected sequence in the referrer is what lets a read detect a stale
//! page (a lost or misdirected write), not only a torn one.
//!
//! The PAT is a tree of `depth` levels (1 ..= [`MAX_DEPTH`], stored in the FCR): the
//! FCR points at the top level's pages; an *interior* PAT page (type `PatInterior`,
//! levels 1 and up) points at `entries_per_page` pages of the level below; a *leaf*
//! PAT page (type `Pat`, level 0) maps `entries_per_page` logical pages. Leaf `i`
//! maps logical pages `i * per ..`; interior page `i` of level `k` covers pages
//! `i * per ..` of level `k - 1`. Depth 1 is exactly the single-level layout of files
//! made before the tree existed (FCR → leaves), which is why they open unchanged.
//! Depth only grows, with the file's logical page count ([`depth_for`]), so the few
//! pointers an FCR has room for reach [`LOGICAL_PAGE_LIMIT`] at every page size.
//! A PAT page's header names its place: logical = [`page_id`]`(level, index)`, so a
//! page of the wrong level or index is caught like any misdirected write.

use super::bytes::{get_u32, get_u64, put_u32, put_u64};
use super::HEADER_LEN;

/// Bytes per entry: u32 physical + u64 sequence.
pub const ENTRY_LEN: usize = 12;

/// One mapping: where a logical page lives and which system transaction wrote it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PagePtr {
    pub physical: u32,
    pub seq: u64,
}

impl PagePtr {
    pub const NONE: PagePtr = PagePtr {
        physical: 0,
        seq: 0,
    };
    pub fn is_mapped(self) -> bool {
        self.physical != 0
    }
}

/// Entries per PAT page.
pub fn entries_per_page(page_size: usize) -> usize {
    (page_size - HEADER_LEN) / ENTRY_LEN
}

/// Most logical pages any file may have (its `logical_pages` count): 2^31, which is
/// 1 TiB of 512-byte pages and 32 TiB of 16 KiB ones — past the 64 GiB every page size
/// must reach — while page numbers, counts and `count + 1` stay well inside `u32`.
pub const LOGICAL_PAGE_LIMIT: u64 = 1 << 31;

/// Most PAT levels. With the smallest page (40 entries a PAT page) and an FCR with
/// room for a single pointer, six levels address 40^6 > [`LOGICAL_PAGE_LIMIT`] pages,
/// so no valid file definition needs more.
pub const MAX_DEPTH: u8 = 6;

/// Bits of a PAT page's header `logical` field that hold its index in its level; the
/// level sits above them. A leaf index is below 2^31 / 40 < 2^26, so this never clips.
const LEVEL_SHIFT: u32 = 28;

/// The header `logical` field of PAT page `index` of `level` (0: leaves). For leaves
/// it is the index alone — the single-level layout's value.
pub fn page_id(level: u8, index: u32) -> u32 {
    debug_assert!(level < MAX_DEPTH && index < 1 << LEVEL_SHIFT);
    (u32::from(level) << LEVEL_SHIFT) | index
}

/// How many logical pages `top` top-level pointers of a tree of `depth` levels map.
pub fn capacity(top: usize, per: usize, depth: u8) -> u64 {
    let mut c = top as u64;
    for _ in 0..depth {
        c = c.saturating_mul(per as u64);
    }
    c
}

/// The fewest levels (at least 1) with which `top` top-level pointers map
/// `logical_pages` logical pages; `None` past [`MAX_DEPTH`].
pub fn depth_for(logical_pages: u64, top: usize, per: usize) -> Option<u8> {
    (1..=MAX_DEPTH).find(|&d| capacity(top, per, d) >= logical_pages)
}

/// Decode every entry of a (verified) PAT page.
pub fn decode(buf: &[u8]) -> Vec<PagePtr> {
    // Entry by entry over the body, so the bounds are checked once, not per field:
    // every open decodes every PAT page.
    let body = &buf[HEADER_LEN..HEADER_LEN + entries_per_page(buf.len()) * ENTRY_LEN];
    body.chunks_exact(ENTRY_LEN)
        .map(|e| PagePtr {
            physical: get_u32(e, 0),
            seq: get_u64(e, 4),
        })
        .collect()
}

/// Encode entries into a PAT page body (missing entries are unmapped).
pub fn encode(buf: &mut [u8], entries: &[PagePtr]) {
    let n = entries_per_page(buf.len());
    debug_assert!(entries.len() <= n);
    for i in 0..n {
        let e = entries.get(i).copied().unwrap_or(PagePtr::NONE);
        let at = HEADER_LEN + i * ENTRY_LEN;
        put_u32(buf, at, e.physical);
        put_u64(buf, at + 4, e.seq);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::page::spec::PAGE_SIZES;

    /// Every page size reaches the limit within [`MAX_DEPTH`] levels even when the FCR
    /// has room for one pointer only, and the limit is at least 64 GiB of pages.
    #[test]
    fn every_page_size_reaches_the_limit_and_64_gib() {
        for ps in PAGE_SIZES {
            let per = entries_per_page(ps as usize);
            assert!(depth_for(LOGICAL_PAGE_LIMIT, 1, per).is_some(), "{ps}");
            assert!(LOGICAL_PAGE_LIMIT * u64::from(ps) >= 64 << 30, "{ps}");
            // Leaf indices fit below the level bits.
            assert!(LOGICAL_PAGE_LIMIT / (per as u64) < 1 << LEVEL_SHIFT);
        }
        assert_eq!(depth_for(1, 1, 40), Some(1));
        assert_eq!(depth_for(40, 1, 40), Some(1));
        assert_eq!(depth_for(41, 1, 40), Some(2));
        assert_eq!(depth_for(80, 2, 40), Some(1));
        assert_eq!(page_id(0, 7), 7);
        assert_ne!(page_id(1, 7), page_id(2, 7));
    }
}
