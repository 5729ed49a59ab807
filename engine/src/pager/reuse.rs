//! Which free physical pages a commit may take: never one that may already hold an
//! image sealed with the sequence that commit will write.
//!
//! Why: a read is verified against the (physical page, logical page, sequence) the
//! mapping expects, so a shadow write that is lost or misdirected is caught — the page
//! still holds an older image, of another sequence — *unless* that older image carries
//! the very same triple. That happens when a commit attempt for sequence `S` wrote its
//! shadow pages and then did not become durable, and a later attempt for the same `S`
//! puts the same logical page on the same physical page (the free list hands pages out
//! lowest first, so it usually does). If that later write is then lost, the earlier
//! attempt's image verifies, and a read returns data the file never committed, with no
//! error. An attempt is retried with the same `S` in two ways:
//! - in this session, after a failure before the FCR write (a failed page write, sync or
//!   archival append): the pager keeps the changes and the caller retries;
//! - after a crash: the reopened file's durable sequence is still `S - 1`, and the pages
//!   the crashed attempt wrote (and any a bulk job spilled) are free again.
//!
//! The rule, [`Reuse`]:
//! - the pages an attempt took are *held* — out of the free list — when it fails before
//!   its FCR; they return once a commit succeeds, after which every commit's sequence is
//!   higher than theirs;
//! - until the first commit after the open succeeds, a free page is read before it is
//!   taken, and held instead if it verifies as an image of a sequence at least the one
//!   about to be written. Afterwards no check is needed: an image a crashed attempt left
//!   has a sequence at most the durable one. So the reads cost at most the pages of one
//!   commit per open.
//!
//! (Spilling keeps the same rule within one transaction by its own means: it never
//! writes a logical page twice to one physical page, `spill.rs`.)

use super::{PagerStats, FCR_SLOTS};
use crate::page;
use crate::vfs::VfsFile;
use std::collections::BTreeSet;

/// The free pages held back, and whether free pages must still be checked.
#[derive(Debug, Default)]
pub(super) struct Reuse {
    /// Free pages no commit may take until one succeeds: they may hold an image sealed
    /// with the sequence of the commit to come. Neither free nor referenced.
    pub(super) held: BTreeSet<u32>,
    /// No commit has succeeded since the open: a free page may hold a crashed
    /// attempt's image of the coming sequence, so it is read before it is taken.
    pub(super) check_free: bool,
}

impl Reuse {
    /// For a pager just opened: writable ones check free pages until their first
    /// commit; read-only ones never take any.
    pub(super) fn at_open(read_only: bool) -> Reuse {
        Reuse {
            held: BTreeSet::new(),
            check_free: !read_only,
        }
    }

    /// A commit became durable: every image a failed or crashed attempt left now has a
    /// sequence below the next commit's. Returns the pages held until now, free again.
    pub(super) fn committed(&mut self) -> BTreeSet<u32> {
        self.check_free = false;
        std::mem::take(&mut self.held)
    }
}

/// Where a commit takes its shadow pages from, for the sequence `seq`.
pub(super) struct Alloc<'a> {
    pub(super) free: &'a mut BTreeSet<u32>,
    pub(super) phys_pages: &'a mut u32,
    pub(super) reuse: &'a mut Reuse,
    pub(super) file: &'a dyn VfsFile,
    pub(super) page_size: usize,
    pub(super) seq: u64,
    /// Counts the pages read to check them.
    pub(super) stats: &'a mut PagerStats,
    /// Known-bad engine `reuse-attempted-pages`: take free pages unchecked.
    pub(super) careless: bool,
}

impl Alloc<'_> {
    /// A physical page for a shadow image of sequence `seq`: the lowest free one that
    /// cannot already hold an image of that sequence, or one past the end (a page the
    /// file never had this session, which reads as zeros).
    pub(super) fn take(&mut self) -> u32 {
        let p = loop {
            let Some(p) = self.free.pop_first() else {
                *self.phys_pages += 1;
                break *self.phys_pages - 1;
            };
            if self.reuse.check_free && !self.careless && self.may_hold(p) {
                self.reuse.held.insert(p);
                continue;
            }
            break p;
        };
        debug_assert!(p >= FCR_SLOTS, "physical page {p} is an FCR slot");
        debug_assert!(p < *self.phys_pages);
        p
    }

    /// Whether physical page `p` may hold an image of sequence `seq` or later sealed
    /// for that place. A page that cannot be read counts as one: taking it could only
    /// be wrong, and holding it costs one page until the next commit.
    fn may_hold(&mut self, p: u32) -> bool {
        let mut buf = Vec::new();
        let at = u64::from(p) * self.page_size as u64;
        self.stats.pages_read += 1;
        if self
            .file
            .read_exact_into(&mut buf, self.page_size, at)
            .is_err()
        {
            return true;
        }
        page::checksum_ok(&buf)
            && page::header(&buf).is_some_and(|h| h.physical == p && h.seq >= self.seq)
    }
}
