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

mod leaf;
#[cfg(test)]
mod tests;
mod view;

pub use leaf::{leaf_bytes, rebuild_leaf, LeafChange, LeafRows, Shared};
use leaf::{shared_of, LeafCols};
pub use view::NodeView;

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
