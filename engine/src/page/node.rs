//! B+tree node pages. Every entry of one key's tree has the same length: the key's
//! normalized bytes followed by the record's 8-byte serial, which makes entries
//! unique even for duplicate keys. Leaves map entries to record addresses; internal
//! nodes hold a leftmost child and (separator, child) pairs where the child holds
//! entries `>=` its separator.
//!
//! A leaf stores its entries as rows of four columns — key, serial, the address's
//! page and its slot — and may keep each column's *shared part* once for the whole
//! leaf: the key's and the serial's common leading bytes, the page's and the slot's
//! common high-order bytes. A row holds only what is left of each column, so every
//! row of a leaf has the same width and entry `i` is still found by one
//! multiplication. A file made with `compact_leaves` writes every leaf with the
//! longest shared parts its entries have (a 1M-record ascending load: about 7 bytes
//! a row instead of 28); other files write none, which is the layout leaves had
//! before shared parts existed (their four shared lengths, where an internal node
//! keeps its leftmost child, were always 0). Readers take both.

use super::bytes::{get_u16, get_u32, put_u16, put_u32};
use super::spec::MAX_KEY_LENGTH;
use super::{PageType, HEADER_LEN};
use crate::status::{fail, Result, Status};

const COUNT_AT: usize = HEADER_LEN;
const KEYLEN_AT: usize = HEADER_LEN + 2;
/// Internal nodes: the leftmost child.
const LEFTMOST_AT: usize = HEADER_LEN + 4;
/// Leaves: the four columns' shared lengths (key, serial, page, slot), one byte each.
const SHARED_AT: usize = HEADER_LEN + 4;
const ENTRIES_AT: usize = HEADER_LEN + 8;
/// Leaf value: record address (u32 logical page + u16 slot).
const LEAF_VALUE_LEN: usize = 6;
/// Internal value: child logical page.
const CHILD_LEN: usize = 4;
/// Length of the record serial that ends every entry (`file::key` builds entries;
/// the B-tree's unique check compares what comes before it).
pub const SERIAL_LEN: usize = 8;
/// Longest entry of any tree (a key of [`MAX_KEY_LENGTH`] bytes and its serial): a
/// leaf's entry is rebuilt in a [`Scratch`] of this size.
pub const MAX_ENTRY_LEN: usize = MAX_KEY_LENGTH + SERIAL_LEN;

/// Room to rebuild one entry of a leaf whose columns share parts.
pub type Scratch = [u8; MAX_ENTRY_LEN];

/// An entry's key part: its normalized key, without the serial.
pub fn key_part(entry: &[u8]) -> &[u8] {
    &entry[..entry.len() - SERIAL_LEN]
}

/// Entries' order: byte-wise, exactly `<[u8]>::cmp`, but 8 bytes at a time as
/// big-endian words. Entries are short (a normalized key and an 8-byte serial), and a
/// descent compares a dozen or more of them; for such lengths the C library's
/// `memcmp`, which `<[u8]>::cmp` calls, costs more in its call and dispatch than in
/// comparing.
#[inline]
pub fn cmp_entries(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    let n = a.len().min(b.len());
    let (mut wa, mut wb) = (a[..n].chunks_exact(8), b[..n].chunks_exact(8));
    for (x, y) in (&mut wa).zip(&mut wb) {
        // Both chunks are 8 bytes long (chunks_exact), so these conversions hold.
        let x = u64::from_be_bytes(x.try_into().unwrap_or_default());
        let y = u64::from_be_bytes(y.try_into().unwrap_or_default());
        if x != y {
            return x.cmp(&y);
        }
    }
    for (x, y) in wa.remainder().iter().zip(wb.remainder()) {
        if x != y {
            return x.cmp(y);
        }
    }
    a.len().cmp(&b.len())
}

/// Fewest entries a node must hold for splits to work.
pub const MIN_FANOUT: usize = 4;

/// Where a record lives: data page and slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecAddr {
    pub page: u32,
    pub slot: u16,
}

/// A decoded node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub leaf: bool,
    /// Internal nodes only: child for entries below the first separator.
    pub leftmost: u32,
    pub keys: Vec<Vec<u8>>,
    /// Leaves: `RecAddr` packed as `page << 16 | slot`; internal: child page.
    pub vals: Vec<u64>,
}

impl RecAddr {
    pub fn pack(self) -> u64 {
        (u64::from(self.page) << 16) | u64::from(self.slot)
    }
    pub fn unpack(v: u64) -> RecAddr {
        RecAddr {
            page: (v >> 16) as u32,
            slot: v as u16,
        }
    }
}

/// Most entries a node holds when nothing is shared (every internal node; a leaf of
/// a file without `compact_leaves`; any leaf at worst).
pub fn capacity(page_size: usize, entry_len: usize, leaf: bool) -> usize {
    let v = if leaf { LEAF_VALUE_LEN } else { CHILD_LEN };
    page_size.saturating_sub(ENTRIES_AT) / (entry_len + v)
}

/// The shared lengths of a leaf's four columns: key, serial, page, slot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Shared([usize; 4]);

impl Shared {
    /// Bytes the shared parts take (once per leaf).
    fn total(&self) -> usize {
        self.0.iter().sum()
    }

    /// A row's width in a tree of `entry_len`-byte entries.
    fn row(&self, entry_len: usize) -> usize {
        entry_len + LEAF_VALUE_LEN - self.total()
    }

    /// The longest shared parts of a leaf holding `keys` → `vals`: the key's and the
    /// serial's common prefixes over every entry (not just the first and last key's,
    /// so that any list of entries encodes to itself, in order or not); the page's
    /// and slot's high-order bytes in which no value differs from the first.
    fn of(keys: &[impl AsRef<[u8]>], vals: &[u64]) -> Shared {
        let mut s = Sharing::default();
        for (k, &v) in keys.iter().zip(vals) {
            s.add(k.as_ref(), v);
        }
        s.shared()
    }

    /// Bytes a leaf of `n` rows with these shared parts takes.
    fn leaf_bytes(&self, entry_len: usize, n: usize) -> usize {
        ENTRIES_AT + self.total() + n * self.row(entry_len)
    }
}

/// [`Shared::of`] over entries seen one at a time (a leaf rebuilt from its page
/// without decoding it): the first entry, and how much of it every entry since
/// has in common.
struct Sharing {
    first: Scratch,
    klen: usize,
    a0: RecAddr,
    pk: usize,
    ps: usize,
    /// The page and slot bits in which some entry differs from the first.
    dp: u32,
    ds: u16,
    n: usize,
}

impl Default for Sharing {
    fn default() -> Sharing {
        Sharing {
            first: [0; MAX_ENTRY_LEN],
            klen: 0,
            a0: RecAddr { page: 0, slot: 0 },
            pk: 0,
            ps: 0,
            dp: 0,
            ds: 0,
            n: 0,
        }
    }
}

impl Sharing {
    fn add(&mut self, entry: &[u8], val: u64) {
        let a = RecAddr::unpack(val);
        if self.n == 0 {
            self.first[..entry.len()].copy_from_slice(entry);
            self.klen = entry.len() - SERIAL_LEN;
            (self.a0, self.pk, self.ps) = (a, self.klen, SERIAL_LEN);
        } else {
            let (k, f) = (self.klen, &self.first);
            self.pk = common_prefix(&f[..self.pk], &entry[..k]);
            self.ps = common_prefix(&f[k..k + self.ps], &entry[k..]);
            self.dp |= a.page ^ self.a0.page;
            self.ds |= a.slot ^ self.a0.slot;
        }
        self.n += 1;
    }

    fn shared(&self) -> Shared {
        if self.n == 0 {
            return Shared::default();
        }
        Shared([
            self.pk,
            self.ps,
            self.dp.leading_zeros() as usize / 8,
            self.ds.leading_zeros() as usize / 8,
        ])
    }
}

fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Bytes the leaf holding `keys` → `vals` takes: with the longest shared parts
/// (`compact`) or none.
pub fn leaf_bytes(
    keys: &[impl AsRef<[u8]>],
    vals: &[u64],
    entry_len: usize,
    compact: bool,
) -> usize {
    let shared = if compact {
        Shared::of(keys, vals)
    } else {
        Shared::default()
    };
    shared.leaf_bytes(entry_len, keys.len())
}

impl Node {
    pub fn new_leaf() -> Node {
        Node {
            leaf: true,
            leftmost: 0,
            keys: Vec::new(),
            vals: Vec::new(),
        }
    }

    /// Child pages of an internal node, in key order.
    pub fn children(&self) -> Vec<u32> {
        let mut c = vec![self.leftmost];
        c.extend(self.vals.iter().map(|&v| v as u32));
        c
    }

    /// Bytes this node takes when encoded (`compact`: a leaf with shared parts).
    pub fn encoded_len(&self, entry_len: usize, compact: bool) -> usize {
        if self.leaf {
            leaf_bytes(&self.keys, &self.vals, entry_len, compact)
        } else {
            ENTRIES_AT + self.keys.len() * (entry_len + CHILD_LEN)
        }
    }

    /// Encode into an unsealed page buffer; `compact`: a leaf keeps its columns'
    /// longest shared parts once (internal nodes ignore it). The node must fit
    /// ([`encoded_len`](Self::encoded_len) at most `page_size`).
    pub fn encode(&self, page_size: usize, entry_len: usize, compact: bool) -> Vec<u8> {
        let ty = if self.leaf {
            PageType::Leaf
        } else {
            PageType::Internal
        };
        let mut b = super::blank(page_size, ty);
        debug_assert!(self.encoded_len(entry_len, compact) <= page_size);
        debug_assert_eq!(self.keys.len(), self.vals.len());
        put_u16(&mut b, COUNT_AT, self.keys.len() as u16);
        put_u16(&mut b, KEYLEN_AT, entry_len as u16);
        if self.leaf {
            let shared = if compact {
                Shared::of(&self.keys, &self.vals)
            } else {
                Shared::default()
            };
            let cols = LeafCols::new(entry_len, shared);
            if let (Some(k0), Some(&v0)) = (self.keys.first(), self.vals.first()) {
                cols.write_header(&mut b, k0, v0);
            }
            for (i, (k, &v)) in self.keys.iter().zip(&self.vals).enumerate() {
                debug_assert_eq!(k.len(), entry_len);
                cols.write_row(&mut b, i, k, v);
            }
            return b;
        }
        put_u32(&mut b, LEFTMOST_AT, self.leftmost);
        let mut at = ENTRIES_AT;
        for (k, &v) in self.keys.iter().zip(&self.vals) {
            debug_assert_eq!(k.len(), entry_len);
            b[at..at + entry_len].copy_from_slice(k);
            at += entry_len;
            put_u32(&mut b, at, v as u32);
            at += CHILD_LEN;
        }
        b
    }

    /// Decode a verified node page of a tree whose entries are `entry_len` bytes.
    pub fn decode(b: &[u8], entry_len: usize) -> Result<Node> {
        let v = NodeView::new(b, entry_len)?;
        let mut scratch = [0; MAX_ENTRY_LEN];
        Ok(Node {
            leaf: v.leaf,
            leftmost: if v.leaf { 0 } else { v.leftmost() },
            keys: (0..v.len())
                .map(|i| v.entry(i, &mut scratch).to_vec())
                .collect(),
            vals: (0..v.len()).map(|i| v.val(i)).collect(),
        })
    }
}

/// A leaf's column geometry: the key length, the shared lengths, where the rows
/// start, their width, and where the address lies in a row.
#[derive(Clone, Copy, Debug)]
struct LeafCols {
    klen: usize,
    shared: Shared,
    rows_at: usize,
    row: usize,
    addr_off: usize,
}

impl LeafCols {
    fn new(entry_len: usize, shared: Shared) -> LeafCols {
        let [pk, ps, ..] = shared.0;
        let klen = entry_len - SERIAL_LEN;
        LeafCols {
            klen,
            shared,
            rows_at: ENTRIES_AT + shared.total(),
            row: shared.row(entry_len),
            addr_off: klen - pk + SERIAL_LEN - ps,
        }
    }

    /// The shared lengths (at `SHARED_AT`) and the shared bytes (at `ENTRIES_AT`):
    /// the key's and serial's leading bytes, the page's and slot's trailing
    /// (high-order, little-endian) bytes, all taken from the first entry, `k0` → `v0`.
    fn write_header(&self, b: &mut [u8], k0: &[u8], v0: u64) {
        let [pk, ps, pp, pl] = self.shared.0;
        for (j, &p) in self.shared.0.iter().enumerate() {
            b[SHARED_AT + j] = p as u8;
        }
        let a0 = RecAddr::unpack(v0);
        let mut at = ENTRIES_AT;
        for part in [
            &k0[..pk],
            &k0[self.klen..self.klen + ps],
            &a0.page.to_le_bytes()[4 - pp..],
            &a0.slot.to_le_bytes()[2 - pl..],
        ] {
            b[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
    }

    /// Write row `i`: what the shared parts leave of `key` and `val`.
    fn write_row(&self, b: &mut [u8], i: usize, key: &[u8], val: u64) {
        let [pk, ps, pp, pl] = self.shared.0;
        let a = RecAddr::unpack(val);
        let mut at = self.rows_at + i * self.row;
        for part in [
            &key[pk..self.klen],
            &key[self.klen + ps..],
            &a.page.to_le_bytes()[..4 - pp],
            &a.slot.to_le_bytes()[..2 - pl],
        ] {
            b[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
    }

    /// The shared parts the leaf `b` would have with `key` → `val` added: of each
    /// column's shared part, what the entry has too (the leading bytes of the key
    /// and serial, the high-order bytes of the page and slot). The leaf's longest
    /// shared parts give the longest of the leaf with the entry.
    fn shared_with(&self, b: &[u8], key: &[u8], val: u64) -> Shared {
        let [pk, ps, pp, _] = self.shared.0;
        let a = RecAddr::unpack(val);
        let sh = &b[ENTRIES_AT..self.rows_at];
        let (sk, rest) = sh.split_at(pk);
        let (ss, rest) = rest.split_at(ps);
        let (sp, sl) = rest.split_at(pp);
        // High-order bytes in common: compared from the most significant down.
        let high = |shared: &[u8], le: &[u8]| {
            shared
                .iter()
                .rev()
                .zip(le.iter().rev())
                .take_while(|(x, y)| x == y)
                .count()
        };
        Shared([
            common_prefix(sk, &key[..pk]),
            common_prefix(ss, &key[self.klen..self.klen + ps]),
            high(sp, &a.page.to_le_bytes()),
            high(sl, &a.slot.to_le_bytes()),
        ])
    }

    /// Whether `key` → `val` has every column's shared part of the leaf `b`.
    fn shares(&self, b: &[u8], key: &[u8], val: u64) -> bool {
        self.shared_with(b, key, val) == self.shared
    }
}

/// Insert `key` → `val` as entry `at` of a node page, in place: the entries (rows)
/// from `at` on move up one. The caller has checked with
/// [`NodeView::fits_in_place`] that the page has room and, for a leaf, that the
/// entry has its shared parts (a node that does not is rebuilt through [`Node`]),
/// and that `at` keeps the order.
pub fn insert_in_place(b: &mut [u8], entry_len: usize, at: usize, key: &[u8], val: u64) {
    debug_assert!(
        super::type_of(b) != Some(PageType::Leaf)
            || LeafCols::new(entry_len, shared_of(b)).shares(b, key, val)
    );
    insert_row(b, entry_len, at, key, val);
}

/// The known-bad engine `compact-insert-ignores-shares`: [`insert_in_place`] into a
/// compact leaf whose shared parts the entry lacks — its row keeps only what is left
/// after the leaf's parts, so it reads back as another entry.
#[cfg(feature = "mutants")]
pub fn insert_ignoring_shares(b: &mut [u8], entry_len: usize, at: usize, key: &[u8], val: u64) {
    insert_row(b, entry_len, at, key, val);
}

fn insert_row(b: &mut [u8], entry_len: usize, at: usize, key: &[u8], val: u64) {
    let leaf = super::type_of(b) == Some(PageType::Leaf);
    let n = get_u16(b, COUNT_AT) as usize;
    debug_assert!(at <= n);
    debug_assert_eq!(key.len(), entry_len);
    if leaf {
        let cols = LeafCols::new(entry_len, shared_of(b));
        debug_assert!(cols.rows_at + (n + 1) * cols.row <= b.len());
        let start = cols.rows_at + at * cols.row;
        b.copy_within(start..cols.rows_at + n * cols.row, start + cols.row);
        cols.write_row(b, at, key, val);
    } else {
        debug_assert!(n < capacity(b.len(), entry_len, false));
        let slot = entry_len + CHILD_LEN;
        let start = ENTRIES_AT + at * slot;
        b.copy_within(start..ENTRIES_AT + n * slot, start + slot);
        b[start..start + entry_len].copy_from_slice(key);
        put_u32(b, start + entry_len, val as u32);
    }
    put_u16(b, COUNT_AT, (n + 1) as u16);
}

/// A change [`rebuild_leaf`] makes to a leaf.
#[derive(Clone, Copy, Debug)]
pub enum LeafChange<'k> {
    /// Insert `key` → `val` as entry `at`.
    Insert { at: usize, key: &'k [u8], val: u64 },
    /// Remove entry `at`.
    Remove(usize),
}

/// The leaf page holding `view`'s entries with `change` made, with the longest
/// shared parts (`compact`) or none — read from the page row by row, not decoded
/// into a [`Node`] (an entry that shortens a shared part, a removal that may
/// lengthen one, and every such append of a bulk load rebuild a leaf). `None` if it
/// does not fit the page.
pub fn rebuild_leaf(view: &NodeView, change: LeafChange, compact: bool) -> Option<Vec<u8>> {
    debug_assert!(view.leaf);
    let n = match change {
        LeafChange::Insert { .. } => view.len() + 1,
        LeafChange::Remove(_) => view.len().checked_sub(1)?,
    };
    let entry_len = view.entry_len;
    let rows = &view.rows;
    // Entry `j` of the result: the inserted one, or an old one rebuilt in
    // `entry`, whose shared parts `rows.fill_shared` wrote once.
    let get = |j: usize, entry: &mut [u8]| -> u64 {
        let old = match change {
            LeafChange::Insert { at, val, .. } if j == at => return val,
            LeafChange::Insert { at, .. } if j > at => j - 1,
            LeafChange::Remove(at) if j >= at => j + 1,
            _ => j,
        };
        rows.fill_row(view.b, old, entry);
        rows.addr(view.b, old).pack()
    };
    let mut scratch = [0; MAX_ENTRY_LEN];
    let old = &mut scratch[..entry_len];
    rows.fill_shared(view.b, old);
    let inserted = match change {
        LeafChange::Insert { at, key, .. } => Some((at, key)),
        LeafChange::Remove(_) => None,
    };
    let shared = match (compact, change) {
        (false, _) => Shared::default(),
        // The leaf's shared parts are the longest its entries have: with one more
        // entry, the parts of them the new one has too (no row need be read).
        (true, LeafChange::Insert { key, val, .. }) if !view.is_empty() => {
            view.rows.cols.shared_with(view.b, key, val)
        }
        (true, _) => {
            let mut sharing = Sharing::default();
            for j in 0..n {
                let v = get(j, old);
                let k: &[u8] = match inserted {
                    Some((at, key)) if at == j => key,
                    _ => old,
                };
                sharing.add(k, v);
            }
            sharing.shared()
        }
    };
    if shared.leaf_bytes(entry_len, n) > view.b.len() {
        return None;
    }
    let mut b = super::blank(view.b.len(), PageType::Leaf);
    put_u16(&mut b, COUNT_AT, n as u16);
    put_u16(&mut b, KEYLEN_AT, entry_len as u16);
    let cols = LeafCols::new(entry_len, shared);
    for j in 0..n {
        let v = get(j, old);
        let k: &[u8] = match inserted {
            Some((at, key)) if at == j => key,
            _ => old,
        };
        if j == 0 {
            cols.write_header(&mut b, k, v);
        }
        cols.write_row(&mut b, j, k, v);
    }
    Some(b)
}

/// Remove entry `at` of a node page, in place: the rows after it move down one and
/// the freed row is zeroed (as an encoded node's unused space is). A leaf keeps its
/// shared parts, which may now be shorter than its entries have in common: a file
/// with `compact_leaves` rebuilds the leaf instead (`btree` does), so that every
/// leaf it writes is the one encoding of its entries.
pub fn remove_in_place(b: &mut [u8], entry_len: usize, at: usize) {
    let leaf = super::type_of(b) == Some(PageType::Leaf);
    let n = get_u16(b, COUNT_AT) as usize;
    debug_assert!(at < n);
    let (rows_at, row) = if leaf {
        let cols = LeafCols::new(entry_len, shared_of(b));
        (cols.rows_at, cols.row)
    } else {
        (ENTRIES_AT, entry_len + CHILD_LEN)
    };
    let start = rows_at + at * row;
    let end = rows_at + n * row;
    b.copy_within(start + row..end, start);
    b[end - row..end].fill(0);
    put_u16(b, COUNT_AT, (n - 1) as u16);
}

/// Set an internal node's leftmost child, in place.
pub fn set_leftmost(b: &mut [u8], child: u32) {
    put_u32(b, LEFTMOST_AT, child);
}

/// The shared lengths a leaf page records (not checked: [`NodeView::new`] does).
fn shared_of(b: &[u8]) -> Shared {
    Shared(std::array::from_fn(|j| usize::from(b[SHARED_AT + j])))
}

/// A verified node page read in place: no copy, no allocation. Seeks (every read
/// by key, and the descent of every insert and delete) only look at a node, so they
/// read it through this instead of decoding it.
#[derive(Clone, Copy, Debug)]
pub struct NodeView<'a> {
    b: &'a [u8],
    pub leaf: bool,
    n: usize,
    entry_len: usize,
    /// Leaves: how to read the rows (internal nodes: rows of entry and child, as
    /// a leaf that shares nothing).
    rows: LeafRows,
}

impl<'a> NodeView<'a> {
    /// Check the node's header against the tree (type, entry length, shared lengths
    /// within their columns, rows within the page), so every entry index below
    /// [`len`](Self::len) is in bounds.
    pub fn new(b: &'a [u8], entry_len: usize) -> Result<NodeView<'a>> {
        let leaf = match super::type_of(b) {
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
        let c = &self.rows.cols;
        let [pk, ps, ..] = c.shared.0;
        let at = c.rows_at + i * c.row;
        if pk == 0 && ps == 0 {
            return &self.b[at..at + self.entry_len];
        }
        let e = &mut scratch[..self.entry_len];
        let (kr, sr) = (c.klen - pk, SERIAL_LEN - ps);
        e[..pk].copy_from_slice(&self.b[ENTRIES_AT..ENTRIES_AT + pk]);
        e[pk..c.klen].copy_from_slice(&self.b[at..at + kr]);
        e[c.klen..c.klen + ps].copy_from_slice(&self.b[ENTRIES_AT + pk..ENTRIES_AT + pk + ps]);
        e[c.klen + ps..].copy_from_slice(&self.b[at + kr..at + kr + sr]);
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

/// How to read a verified leaf's rows: its geometry and its shared address parts,
/// read once (a cursor keeps one beside the leaf it stands in and steps through the
/// rows with it). Every method takes the leaf's own image.
#[derive(Clone, Copy, Debug)]
pub struct LeafRows {
    cols: LeafCols,
    /// The page's and slot's shared high-order bytes, in place (the rest 0).
    page_hi: u32,
    slot_hi: u16,
}

impl LeafRows {
    fn of(b: &[u8], cols: LeafCols) -> LeafRows {
        let [pk, ps, pp, pl] = cols.shared.0;
        let shared = &b[ENTRIES_AT + pk + ps..cols.rows_at];
        // The shared bytes are the high-order ones: in place at the top.
        let (mut page, mut slot) = ([0u8; 4], [0u8; 2]);
        for (j, &x) in shared[..pp].iter().enumerate() {
            page[4 - pp + j] = x;
        }
        for (j, &x) in shared[pp..pp + pl].iter().enumerate() {
            slot[2 - pl + j] = x;
        }
        LeafRows {
            cols,
            page_hi: u32::from_le_bytes(page),
            slot_hi: u16::from_le_bytes(slot),
        }
    }

    /// Where entry `i` lies whole in the leaf, when no part of its key or serial is
    /// shared.
    pub fn entry_at(&self, i: usize) -> Option<usize> {
        let [pk, ps, ..] = self.cols.shared.0;
        (pk == 0 && ps == 0).then(|| self.cols.rows_at + i * self.cols.row)
    }

    /// Make `out` (an entry's length) an entry of this leaf but for what rows
    /// hold: the shared parts in place ([`fill_row`](Self::fill_row) then makes it
    /// entry `i`).
    pub fn fill_shared(&self, b: &[u8], out: &mut [u8]) {
        let [pk, ps, ..] = self.cols.shared.0;
        let klen = self.cols.klen;
        out[..pk].copy_from_slice(&b[ENTRIES_AT..ENTRIES_AT + pk]);
        out[klen..klen + ps].copy_from_slice(&b[ENTRIES_AT + pk..ENTRIES_AT + pk + ps]);
    }

    /// Write what row `i` holds of its entry into `out`, which
    /// [`fill_shared`](Self::fill_shared) prepared.
    pub fn fill_row(&self, b: &[u8], i: usize, out: &mut [u8]) {
        let c = &self.cols;
        let [pk, ps, ..] = c.shared.0;
        let at = c.rows_at + i * c.row;
        let kr = c.klen - pk;
        out[pk..c.klen].copy_from_slice(&b[at..at + kr]);
        out[c.klen + ps..].copy_from_slice(&b[at + kr..at + c.addr_off]);
    }

    /// The record address of row `i`.
    pub fn addr(&self, b: &[u8], i: usize) -> RecAddr {
        let c = &self.cols;
        let at = c.rows_at + i * c.row + c.addr_off;
        let [.., pp, pl] = c.shared.0;
        if pp == 0 && pl == 0 {
            // Nothing of the address shared: as it always was laid out.
            return RecAddr {
                page: get_u32(b, at),
                slot: get_u16(b, at + 4),
            };
        }
        // The row's address bytes as one word, where the page has 8 bytes from them
        // on (all but a last row that ends the page): page, then slot, low-order
        // bytes first.
        if let Some(w) = b.get(at..at + 8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(w);
            let word = u64::from_le_bytes(word);
            let (pbits, sbits) = (8 * (4 - pp) as u32, 8 * (2 - pl) as u32);
            // `bits` is at most 32: the mask is the low `bits` bits (none for 0).
            let low = |w: u64, bits: u32| w & ((1u64 << bits) - 1);
            return RecAddr {
                page: self.page_hi | low(word, pbits) as u32,
                slot: self.slot_hi | low(word >> pbits, sbits) as u16,
            };
        }
        let (page, slot) = b[at..at + 6 - pp - pl].split_at(4 - pp);
        let low = |bytes: &[u8]| {
            bytes
                .iter()
                .enumerate()
                .fold(0u32, |v, (j, &x)| v | u32::from(x) << (8 * j))
        };
        RecAddr {
            page: self.page_hi | low(page),
            slot: self.slot_hi | low(slot) as u16,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// `cmp_entries` is `<[u8]>::cmp`: on any lengths (equal or not, words and
        /// tails) and on byte strings that share a long prefix.
        #[test]
        fn cmp_entries_is_slice_order(
            prefix in proptest::collection::vec(any::<u8>(), 0..24),
            a in proptest::collection::vec(any::<u8>(), 0..24),
            b in proptest::collection::vec(any::<u8>(), 0..24),
        ) {
            let a = [prefix.as_slice(), &a].concat();
            let b = [prefix.as_slice(), &b].concat();
            prop_assert_eq!(cmp_entries(&a, &b), a.cmp(&b));
            prop_assert_eq!(cmp_entries(&b, &a), b.cmp(&a));
            prop_assert_eq!(cmp_entries(&a, &a), std::cmp::Ordering::Equal);
        }
    }

    /// A leaf's entries as a test draws them: `n` distinct sorted entries of
    /// `entry_len` bytes whose keys, serials, pages and slots each vary in only their
    /// last `spread` bytes (so that leaves share parts of every length), or anywhere.
    fn arb_leaf(entry_len: usize) -> impl Strategy<Value = (Vec<Vec<u8>>, Vec<u64>)> {
        (0..=entry_len + 6, 0usize..60, any::<u64>()).prop_flat_map(move |(spread, n, base)| {
            let row = (
                proptest::collection::vec(any::<u8>(), entry_len),
                any::<u32>(),
                any::<u16>(),
            );
            proptest::collection::vec(row, n).prop_map(move |rows| {
                // Bytes before the last `spread` of each column come from `base`.
                let fixed = |col: &mut [u8], salt: u8| {
                    let keep = col.len().saturating_sub(spread);
                    for (j, b) in col[..keep].iter_mut().enumerate() {
                        *b = (base >> (8 * (j % 8))) as u8 ^ salt;
                    }
                };
                let mut entries: Vec<(Vec<u8>, u64)> = rows
                    .into_iter()
                    .map(|(mut e, page, slot)| {
                        let klen = entry_len - SERIAL_LEN;
                        fixed(&mut e[..klen], 0);
                        fixed(&mut e[klen..], 0x5a);
                        // Addresses: high-order bytes fixed (little-endian: the last).
                        let (mut p, mut s) = (page.to_be_bytes(), slot.to_be_bytes());
                        fixed(&mut p, 1);
                        fixed(&mut s, 2);
                        let a = RecAddr {
                            page: u32::from_be_bytes(p),
                            slot: u16::from_be_bytes(s),
                        };
                        (e, a.pack())
                    })
                    .collect();
                entries.sort();
                entries.dedup_by(|a, b| a.0 == b.0);
                entries.into_iter().unzip()
            })
        })
    }

    /// The longest shared parts of `keys` → `vals`, computed the slow way: for each
    /// column, the most bytes every entry agrees on with every other.
    fn brute_shared(keys: &[Vec<u8>], vals: &[u64]) -> [usize; 4] {
        if keys.is_empty() {
            return [0; 4];
        }
        let klen = keys[0].len() - SERIAL_LEN;
        let cols: [Vec<Vec<u8>>; 4] = [
            keys.iter().map(|k| k[..klen].to_vec()).collect(),
            keys.iter().map(|k| k[klen..].to_vec()).collect(),
            // The high-order bytes first, as the layout shares them.
            vals.iter()
                .map(|&v| RecAddr::unpack(v).page.to_be_bytes().to_vec())
                .collect(),
            vals.iter()
                .map(|&v| RecAddr::unpack(v).slot.to_be_bytes().to_vec())
                .collect(),
        ];
        cols.map(|c| {
            (0..=c[0].len())
                .rev()
                .find(|&p| c.iter().all(|x| x[..p] == c[0][..p]))
                .unwrap_or(0)
        })
    }

    proptest! {
        /// Any leaf encodes and decodes to itself in both layouts (when it fits), the
        /// view reads every entry and address as decoding does, a compact leaf
        /// records the longest shared parts its entries have and is never larger than
        /// the plain one, and the size `encoded_len` predicts is the bytes used.
        #[test]
        fn leaves_round_trip_in_both_layouts(
            page_size in prop_oneof![Just(512usize), Just(4096)],
            (entry_len, (keys, vals)) in (9usize..40).prop_flat_map(|e| (Just(e), arb_leaf(e))),
        ) {
            let node = Node { leaf: true, leftmost: 0, keys: keys.clone(), vals: vals.clone() };
            let plain = node.encoded_len(entry_len, false);
            let compact = node.encoded_len(entry_len, true);
            prop_assert!(compact <= plain);
            prop_assert_eq!(plain, ENTRIES_AT + keys.len() * (entry_len + LEAF_VALUE_LEN));
            for (layout, len) in [(false, plain), (true, compact)] {
                if len > page_size {
                    continue;
                }
                let b = node.encode(page_size, entry_len, layout);
                prop_assert!(b[len..].iter().all(|&x| x == 0), "bytes past the rows");
                prop_assert_eq!(&Node::decode(&b, entry_len).unwrap(), &node);
                let want = if layout { brute_shared(&keys, &vals) } else { [0; 4] };
                prop_assert_eq!(shared_of(&b).0, want);
                let v = NodeView::new(&b, entry_len).unwrap();
                let mut walked = Vec::new();
                v.for_each_entry(|e, a| walked.push((e.to_vec(), a.pack())));
                let mut scratch = [0; MAX_ENTRY_LEN];
                let indexed: Vec<_> =
                    (0..v.len()).map(|i| (v.entry(i, &mut scratch).to_vec(), v.val(i))).collect();
                prop_assert_eq!(&walked, &indexed);
                let want: Vec<_> = keys.iter().cloned().zip(vals.iter().copied()).collect();
                prop_assert_eq!(walked, want);
                // Binary search over rebuilt entries finds each one.
                for (i, k) in keys.iter().enumerate() {
                    prop_assert_eq!(v.partition_point(|e| e < k.as_slice()), i);
                }
                // In order; and not once two rows trade places.
                prop_assert!(v.strictly_increasing());
                if keys.len() >= 2 {
                    let (at, row) = (v.rows.cols.rows_at, v.rows.cols.row);
                    let mut swapped = b.clone();
                    swapped[at..at + row].copy_from_slice(&b[at + row..at + 2 * row]);
                    swapped[at + row..at + 2 * row].copy_from_slice(&b[at..at + row]);
                    prop_assert!(!NodeView::new(&swapped, entry_len).unwrap().strictly_increasing());
                }
            }
        }

        /// Inserting and removing entries one at a time, in place where
        /// `fits_in_place` allows and by `rebuild_leaf` otherwise, gives a compact leaf
        /// byte for byte the page that encoding its entries gives (the one encoding:
        /// in place keeps the shared parts the longest), and a plain leaf the same;
        /// `fits_in_place` says no exactly when the entry lacks a shared part or
        /// there is no room. Removing in place keeps every entry readable, and gives
        /// the one encoding exactly when `removal_keeps_shares` says it does.
        #[test]
        fn in_place_edits_match_rebuilding(
            compact in any::<bool>(),
            (entry_len, (keys, vals)) in (9usize..24).prop_flat_map(|e| (Just(e), arb_leaf(e))),
            order in any::<u64>(),
        ) {
            let ps = 512;
            let mut node = Node::new_leaf();
            let mut b = node.encode(ps, entry_len, compact);
            // Insert in an order the seed scrambles.
            let mut todo: Vec<usize> = (0..keys.len()).collect();
            let mut x = order | 1;
            for i in (1..todo.len()).rev() {
                x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                todo.swap(i, (x % (i as u64 + 1)) as usize);
            }
            for &j in &todo {
                let (key, val) = (&keys[j], vals[j]);
                let at = node.keys.partition_point(|k| k < key);
                let mut grown = node.clone();
                grown.keys.insert(at, key.clone());
                grown.vals.insert(at, val);
                if grown.encoded_len(entry_len, compact) > ps {
                    break;
                }
                let v = NodeView::new(&b, entry_len).unwrap();
                let in_place = v.fits_in_place(key, val, compact);
                let cols = v.rows.cols;
                if compact && !node.keys.is_empty() {
                    let shares = cols.shares(&b, key, val);
                    let room = cols.rows_at + (node.keys.len() + 1) * cols.row <= ps;
                    prop_assert_eq!(in_place, shares && room);
                }
                if in_place {
                    insert_in_place(&mut b, entry_len, at, key, val);
                } else {
                    let change = LeafChange::Insert { at, key, val };
                    b = rebuild_leaf(&v, change, compact).expect("the grown leaf fits");
                }
                node = grown;
                prop_assert_eq!(&b, &node.encode(ps, entry_len, compact));
            }
            while !node.keys.is_empty() {
                let at = node.keys.len() / 3;
                node.keys.remove(at);
                node.vals.remove(at);
                // Rebuilt: the one encoding; in place: the same entries.
                let v = NodeView::new(&b, entry_len).unwrap();
                let rebuilt = rebuild_leaf(&v, LeafChange::Remove(at), compact).unwrap();
                prop_assert_eq!(&rebuilt, &node.encode(ps, entry_len, compact));
                let keeps = v.removal_keeps_shares(at);
                remove_in_place(&mut b, entry_len, at);
                prop_assert_eq!(&Node::decode(&b, entry_len).unwrap(), &node);
                // In place gives the one encoding exactly when the check says so
                // (a plain leaf shares nothing, so always).
                prop_assert_eq!(keeps || !compact, b == rebuilt, "removal_keeps_shares({})", at);
                b = rebuilt;
            }
        }
    }

    /// Internal nodes: in-place insert and remove give byte for byte the page that
    /// decoding, editing the `Node` and encoding again gives; and a round trip.
    #[test]
    fn internal_nodes_edit_in_place() {
        let e = 10;
        let mut n = Node {
            leaf: false,
            leftmost: 77,
            keys: Vec::new(),
            vals: Vec::new(),
        };
        let mut b = n.encode(512, e, true);
        let cap = capacity(512, e, false);
        let order: Vec<u8> = (0..cap as u8).map(|i| (i * 2) % (cap as u8 | 1)).collect();
        for &k in &order {
            let key = vec![k; e];
            let at = n.keys.partition_point(|x| x < &key);
            if n.keys.get(at) == Some(&key) {
                continue;
            }
            assert!(NodeView::new(&b, e).unwrap().fits_in_place(&key, 0, true));
            n.keys.insert(at, key.clone());
            n.vals.insert(at, u64::from(k) + 1000);
            insert_in_place(&mut b, e, at, &key, u64::from(k) + 1000);
            assert_eq!(b, n.encode(512, e, true));
        }
        assert_eq!(n.keys.len(), cap);
        assert!(!NodeView::new(&b, e)
            .unwrap()
            .fits_in_place(&[0xff; 10], 0, false));
        assert_eq!(Node::decode(&b, e).unwrap(), n);
        assert_eq!(n.children()[0], 77);
        while !n.keys.is_empty() {
            let at = n.keys.len() / 3;
            n.keys.remove(at);
            n.vals.remove(at);
            remove_in_place(&mut b, e, at);
            assert_eq!(b, n.encode(512, e, false));
        }
        set_leftmost(&mut b, 5);
        n.leftmost = 5;
        assert_eq!(b, n.encode(512, e, false));
    }

    /// A leaf whose rows fill its page to the last byte fits: rebuilding one (plain:
    /// 40 + 8 rows of 59 bytes is 512) gives it, and one more row does not.
    #[test]
    fn a_leaf_that_fills_its_page_exactly_fits() {
        let e = 53;
        let n = Node {
            leaf: true,
            leftmost: 0,
            keys: (0..7u8).map(|i| vec![i; e]).collect(),
            vals: (0..7).collect(),
        };
        let b = n.encode(512, e, false);
        let v = NodeView::new(&b, e).unwrap();
        let key = vec![9u8; e];
        let change = LeafChange::Insert {
            at: 7,
            key: &key,
            val: 7,
        };
        let full = rebuild_leaf(&v, change, false).expect("exactly a page");
        let v = NodeView::new(&full, e).unwrap();
        assert_eq!((v.len(), v.has_room()), (8, false));
        let key = vec![10u8; e];
        let change = LeafChange::Insert {
            at: 8,
            key: &key,
            val: 8,
        };
        assert_eq!(rebuild_leaf(&v, change, false), None);
    }

    /// Each column's check of `removal_keeps_shares` on its own: three entries whose
    /// keys and slots differ in the same byte throughout, and whose serials (or pages)
    /// agree on one more byte once the third is gone — only a rebuild gives the
    /// leaf's one encoding then.
    #[test]
    fn a_removal_that_lengthens_one_shared_part_is_seen() {
        let e = 12;
        let entry =
            |key: u32, serial: u64| [key.to_be_bytes().as_slice(), &serial.to_be_bytes()].concat();
        let addr = |page: u32, slot: u16| RecAddr { page, slot }.pack();
        // (serials, pages) of the three entries; the third differs a byte earlier.
        for (serials, pages) in [
            ([0x100, 0x101, 0x200], [7, 7, 7]),
            ([5, 6, 7], [0x100, 0x101, 0x200]),
        ] {
            let n = Node {
                leaf: true,
                leftmost: 0,
                keys: (0..3).map(|i| entry(i + 1, serials[i as usize])).collect(),
                vals: (0..3).map(|i| addr(pages[i], i as u16)).collect(),
            };
            let b = n.encode(512, e, true);
            let v = NodeView::new(&b, e).unwrap();
            assert!(!v.removal_keeps_shares(2), "{serials:?} {pages:?}");
            assert!(v.removal_keeps_shares(1), "{serials:?} {pages:?}");
        }
    }

    /// A leaf written before shared parts existed (its four shared lengths 0, rows of
    /// entry and address back to back) reads as it always did.
    #[test]
    fn plain_leaf_bytes_are_the_old_layout() {
        let e = 12;
        let mut b = super::super::blank(512, PageType::Leaf);
        put_u16(&mut b, COUNT_AT, 2);
        put_u16(&mut b, KEYLEN_AT, e as u16);
        let rows = [([1u8; 12], 7u32, 3u16), ([2u8; 12], 9, 4)];
        for (i, (k, p, s)) in rows.iter().enumerate() {
            let at = ENTRIES_AT + i * (e + 6);
            b[at..at + e].copy_from_slice(k);
            put_u32(&mut b, at + e, *p);
            put_u16(&mut b, at + e + 4, *s);
        }
        let n = Node::decode(&b, e).unwrap();
        assert_eq!(n.keys, vec![vec![1u8; 12], vec![2u8; 12]]);
        assert_eq!(
            n.vals,
            vec![
                RecAddr { page: 7, slot: 3 }.pack(),
                RecAddr { page: 9, slot: 4 }.pack()
            ]
        );
        assert_eq!(n.encode(512, e, false), b);
    }

    /// Decoding refuses a leaf whose shared lengths exceed their columns, whose rows
    /// run past the page, or which claims several entries in rows of no width.
    #[test]
    fn malformed_leaves_are_refused() {
        let e = 12;
        let node = Node {
            leaf: true,
            leftmost: 0,
            keys: vec![vec![1; e], vec![2; e]],
            vals: vec![5, 6],
        };
        let good = node.encode(512, e, true);
        assert!(NodeView::new(&good, e).is_ok());
        for (j, too_long) in [(0, 5), (1, 9), (2, 5), (3, 3)] {
            let mut b = good.clone();
            b[SHARED_AT + j] = too_long;
            assert!(
                NodeView::new(&b, e).is_err(),
                "column {j} shared {too_long}"
            );
        }
        let mut b = good.clone();
        put_u16(&mut b, COUNT_AT, 500);
        assert!(NodeView::new(&b, e).is_err(), "rows past the page");
        // Every column wholly shared: rows of no width, so one entry at most.
        let mut b = good.clone();
        b[SHARED_AT..SHARED_AT + 4].copy_from_slice(&[4, 8, 4, 2]);
        assert!(
            NodeView::new(&b, e).is_err(),
            "two entries in rows of no width"
        );
        put_u16(&mut b, COUNT_AT, 1);
        assert!(NodeView::new(&b, e).is_ok());
        assert!(
            NodeView::new(&good, 8).is_err(),
            "entries no longer than a serial"
        );
    }
}
