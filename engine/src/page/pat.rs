//! Page Allocation Table pages: a dense array of (physical page, writing sequence)
//! entries, indexed by logical page number. Physical page 0 (an FCR slot) means
//! "not mapped". Carrying the expected sequence in the referrer is what lets a read
//! detect a stale page (a lost or misdirected write), not only a torn one.

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

/// Decode every entry of a (verified) PAT page.
pub fn decode(buf: &[u8]) -> Vec<PagePtr> {
    (0..entries_per_page(buf.len()))
        .map(|i| {
            let at = HEADER_LEN + i * ENTRY_LEN;
            PagePtr {
                physical: get_u32(buf, at),
                seq: get_u64(buf, at + 4),
            }
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
