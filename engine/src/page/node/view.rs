//! Node pages read in place ([`NodeView`]): the header checked once, then entries,
//! addresses and binary searches straight from the page's bytes.

use super::*;

/// A verified node page read in place: no copy, no allocation. Seeks (every read
/// by key, and the descent of every insert and delete) only look at a node, so they
/// read it through this instead of decoding it.
#[derive(Clone, Copy, Debug)]
pub struct NodeView<'a> {
    pub(super) b: &'a [u8],
    pub leaf: bool,
    pub(super) n: usize,
    pub(super) entry_len: usize,
    /// Leaves: how to read the rows (internal nodes: rows of entry and child, as
    /// a leaf that shares nothing).
    pub(super) rows: LeafRows,
}

impl<'a> NodeView<'a> {
    /// Check the node's header against the tree (type, entry length, shared lengths
    /// within their columns, rows within the page), so every entry index below
    /// [`len`](Self::len) is in bounds.
    pub fn new(b: &'a [u8], entry_len: usize) -> Result<NodeView<'a>> {
        let leaf = match crate::page::type_of(b) {
            Some(PageType::Leaf) => true,
            Some(PageType::Internal) => false,
            _ => return fail(Status::IoError, "index page has the wrong page type"),
        };
        if b.len() < ENTRIES_AT || get_u16(b, KEYLEN_AT) as usize != entry_len {
            return fail(
                Status::IoError,
                "index page belongs to a key of another length",
            );
        }
        if !(SERIAL_LEN < entry_len && entry_len <= MAX_ENTRY_LEN) {
            return fail(Status::IoError, "index entry length out of range");
        }
        let n = get_u16(b, COUNT_AT) as usize;
        let cols = if leaf {
            let shared = shared_of(b);
            let widths = [entry_len - SERIAL_LEN, SERIAL_LEN, 4, 2];
            if shared.0.iter().zip(widths).any(|(&p, w)| p > w) {
                return fail(
                    Status::IoError,
                    "index leaf shares more of a column than the column holds",
                );
            }
            let cols = LeafCols::new(entry_len, shared);
            // Rows of no width hold one entry at most: entries are distinct.
            if shared.leaf_bytes(entry_len, n) > b.len() || (cols.row == 0 && n > 1) {
                return fail(
                    Status::IoError,
                    "index page entry count exceeds its capacity",
                );
            }
            cols
        } else {
            if n > capacity(b.len(), entry_len, false) {
                return fail(
                    Status::IoError,
                    "index page entry count exceeds its capacity",
                );
            }
            LeafCols {
                klen: entry_len - SERIAL_LEN,
                shared: Shared::default(),
                rows_at: ENTRIES_AT,
                row: entry_len + CHILD_LEN,
                addr_off: entry_len,
            }
        };
        Ok(NodeView {
            b,
            leaf,
            n,
            entry_len,
            rows: LeafRows::of(b, cols),
        })
    }

    /// The view of a leaf image that [`new`](Self::new) verified earlier and found
    /// `n` entries in, without checking its header again: for an image kept between
    /// reads (shared images are never changed in place, so what `new` verified still
    /// holds).
    pub fn kept_leaf(b: &'a [u8], entry_len: usize, n: usize) -> NodeView<'a> {
        debug_assert!(NodeView::new(b, entry_len).is_ok_and(|v| v.leaf && v.n == n));
        NodeView {
            b,
            leaf: true,
            n,
            entry_len,
            rows: LeafRows::of(b, LeafCols::new(entry_len, shared_of(b))),
        }
    }

    /// The length of the tree's entries.
    pub fn entry_len(&self) -> usize {
        self.entry_len
    }

    /// Number of entries (separators, for an internal node).
    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Separator `i` of an internal node, in the page itself. (A leaf's entries may
    /// be split between its shared parts and its rows: [`entry`](Self::entry).)
    pub fn key(&self, i: usize) -> &'a [u8] {
        debug_assert!(!self.leaf, "a leaf's entries are read with `entry`");
        let at = ENTRIES_AT + i * self.rows.cols.row;
        &self.b[at..at + self.entry_len]
    }

    /// Entry `i` (a separator, for an internal node): in the page itself when no
    /// part of the key or serial is shared, else rebuilt in `scratch`.
    pub fn entry<'s>(&'s self, i: usize, scratch: &'s mut Scratch) -> &'s [u8] {
        if let Some(at) = self.rows.entry_at(i) {
            return &self.b[at..at + self.entry_len];
        }
        let e = &mut scratch[..self.entry_len];
        self.rows.fill_shared(self.b, e);
        self.rows.fill_row(self.b, i, e);
        e
    }

    /// Value `i`: a packed [`RecAddr`] (leaf) or a child page (internal).
    pub fn val(&self, i: usize) -> u64 {
        let c = &self.rows.cols;
        if !self.leaf {
            return u64::from(get_u32(self.b, c.rows_at + i * c.row + self.entry_len));
        }
        self.rows.addr(self.b, i).pack()
    }

    /// A leaf's reader, to keep beside the leaf's image (a cursor's) and read its
    /// rows without looking at its header again.
    pub fn rows(&self) -> LeafRows {
        debug_assert!(self.leaf);
        self.rows
    }

    /// Whether the entries are strictly increasing. The entries of a leaf share
    /// their shared parts, so their order is that of what each row holds of its key
    /// and serial (in that order, at the row's start): compared in place.
    pub fn strictly_increasing(&self) -> bool {
        let c = &self.rows.cols;
        let width = c.addr_off;
        (1..self.n).all(|i| {
            let at = c.rows_at + i * c.row;
            cmp_entries(
                &self.b[at - c.row..at - c.row + width],
                &self.b[at..at + width],
            )
            .is_lt()
        })
    }

    /// Call `f` with each of a leaf's entries in order and the record address it
    /// points to (the structure check visits every entry of every index after each
    /// recovery): one scratch for the whole walk.
    pub fn for_each_entry(&self, mut f: impl FnMut(&[u8], RecAddr)) {
        debug_assert!(self.leaf);
        let r = &self.rows;
        if r.entry_at(0).is_some() {
            for i in 0..self.n {
                let at = r.cols.rows_at + i * r.cols.row;
                f(&self.b[at..at + self.entry_len], r.addr(self.b, i));
            }
            return;
        }
        let mut scratch = [0; MAX_ENTRY_LEN];
        let e = &mut scratch[..self.entry_len];
        r.fill_shared(self.b, e);
        for i in 0..self.n {
            r.fill_row(self.b, i, e);
            f(e, r.addr(self.b, i));
        }
    }

    /// Whether `key` → `val` can go in this node's page by
    /// [`insert_in_place`]: there is room for one more entry (row) and, for a leaf
    /// of a `compact` tree, the entry has the leaf's shared parts — so they stay the
    /// longest its entries have (an empty leaf is rebuilt, to take the entry's).
    pub fn fits_in_place(&self, key: &[u8], val: u64, compact: bool) -> bool {
        if !self.leaf {
            return self.n < capacity(self.b.len(), self.entry_len, false);
        }
        if compact && self.n == 0 {
            return false;
        }
        self.has_room() && self.rows.cols.shares(self.b, key, val)
    }

    /// Whether removing entry `at` of a leaf in place ([`remove_in_place`]) leaves
    /// it with the longest shared parts its other entries have — the one encoding
    /// of them, as [`rebuild_leaf`] would write it. It does unless a column's shared
    /// part could grow: unless every other row agrees on that column's next byte
    /// (the first its rows hold of the key and serial, the last — high-order — of
    /// the page and slot). Rows are read in place, and a typical leaf shows each
    /// column's disagreement within its first few rows.
    pub fn removal_keeps_shares(&self, at: usize) -> bool {
        debug_assert!(self.leaf && at < self.n);
        let c = &self.rows.cols;
        let [pk, ps, pp, pl] = c.shared.0;
        let kr = c.klen - pk;
        let page_end = c.addr_off + 4 - pp;
        // Each column's next byte within a row, if its rows hold any of it.
        let next = [
            (kr > 0).then_some(0),
            (ps < SERIAL_LEN).then_some(kr),
            (pp < 4).then(|| page_end - 1),
            (pl < 2).then(|| page_end + 2 - pl - 1),
        ];
        let mut first: [Option<u8>; 4] = [None; 4];
        let mut differs = next.map(|n| n.is_none());
        for i in (0..self.n).filter(|&i| i != at) {
            let row = &self.b[c.rows_at + i * c.row..c.rows_at + (i + 1) * c.row];
            for j in 0..4 {
                if let (Some(off), false) = (next[j], differs[j]) {
                    match first[j] {
                        None => first[j] = Some(row[off]),
                        Some(x) => differs[j] = x != row[off],
                    }
                }
            }
            if differs.iter().all(|&d| d) {
                return true;
            }
        }
        false
    }

    /// Whether a leaf's page has room for one more row of its width.
    pub fn has_room(&self) -> bool {
        self.rows.cols.rows_at + (self.n + 1) * self.rows.cols.row <= self.b.len()
    }

    /// Internal nodes: the child for entries below the first separator.
    pub fn leftmost(&self) -> u32 {
        get_u32(self.b, LEFTMOST_AT)
    }

    /// Internal nodes: child `c` in key order (0 is the leftmost; child `c > 0` holds
    /// entries `>=` separator `c - 1`).
    pub fn child(&self, c: usize) -> u32 {
        if c == 0 {
            self.leftmost()
        } else {
            self.val(c - 1) as u32
        }
    }

    /// The number of entries for which `pred` holds, given that it holds for a
    /// prefix of them (binary search; entries are strictly increasing).
    pub fn partition_point(&self, pred: impl Fn(&[u8]) -> bool) -> usize {
        let r = &self.rows;
        let (e, at) = (self.entry_len, |i: usize| r.cols.rows_at + i * r.cols.row);
        if r.entry_at(0).is_some() {
            return search(self.n, |i| pred(&self.b[at(i)..at(i) + e]));
        }
        // Rows hold part of each entry: the rest, shared, written once.
        let mut scratch = [0; MAX_ENTRY_LEN];
        let entry = &mut scratch[..e];
        r.fill_shared(self.b, entry);
        search(self.n, |i| {
            r.fill_row(self.b, i, entry);
            pred(entry)
        })
    }
}

/// The number of indexes below `n` for which `pred` holds, given that it holds for
/// a prefix of them (binary search).
fn search(n: usize, mut pred: impl FnMut(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if pred(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}
