//! B+tree node pages. Every entry of one key's tree has the same length: the key's
//! normalized bytes followed by the record's 8-byte serial, which makes entries
//! unique even for duplicate keys. Leaves map entries to record addresses; internal
//! nodes hold a leftmost child and (separator, child) pairs where the child holds
//! entries `>=` its separator.

use super::bytes::{get_u16, get_u32, put_u16, put_u32};
use super::{PageType, HEADER_LEN};
use crate::status::{fail, Result, Status};

const COUNT_AT: usize = HEADER_LEN;
const KEYLEN_AT: usize = HEADER_LEN + 2;
const LEFTMOST_AT: usize = HEADER_LEN + 4;
const ENTRIES_AT: usize = HEADER_LEN + 8;
/// Leaf value: record address (u32 logical page + u16 slot).
const LEAF_VALUE_LEN: usize = 6;
/// Internal value: child logical page.
const CHILD_LEN: usize = 4;
/// Length of the record serial that ends every entry (`file::key` builds entries;
/// the B-tree's unique check compares what comes before it).
pub const SERIAL_LEN: usize = 8;

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

/// Most entries a node holds.
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

    /// Encode into an unsealed page buffer.
    pub fn encode(&self, page_size: usize, entry_len: usize) -> Vec<u8> {
        let ty = if self.leaf {
            PageType::Leaf
        } else {
            PageType::Internal
        };
        let mut b = super::blank(page_size, ty);
        debug_assert!(self.keys.len() <= capacity(page_size, entry_len, self.leaf));
        debug_assert_eq!(self.keys.len(), self.vals.len());
        put_u16(&mut b, COUNT_AT, self.keys.len() as u16);
        put_u16(&mut b, KEYLEN_AT, entry_len as u16);
        put_u32(&mut b, LEFTMOST_AT, self.leftmost);
        let mut at = ENTRIES_AT;
        for (k, &v) in self.keys.iter().zip(&self.vals) {
            debug_assert_eq!(k.len(), entry_len);
            b[at..at + entry_len].copy_from_slice(k);
            at += entry_len;
            put_val(&mut b, at, self.leaf, v);
            at += if self.leaf { LEAF_VALUE_LEN } else { CHILD_LEN };
        }
        b
    }

    /// Decode a verified node page of a tree whose entries are `entry_len` bytes.
    pub fn decode(b: &[u8], entry_len: usize) -> Result<Node> {
        let v = NodeView::new(b, entry_len)?;
        Ok(Node {
            leaf: v.leaf,
            leftmost: v.leftmost(),
            keys: (0..v.len()).map(|i| v.key(i).to_vec()).collect(),
            vals: (0..v.len()).map(|i| v.val(i)).collect(),
        })
    }
}

/// Insert `key` → `val` as entry `at` of a node page, in place: the entries from
/// `at` on move up one slot. The caller has checked the page has room (a node that
/// must split is rebuilt through [`Node`] instead) and that `at` keeps the order.
pub fn insert_in_place(b: &mut [u8], entry_len: usize, at: usize, key: &[u8], val: u64) {
    let leaf = super::type_of(b) == Some(PageType::Leaf);
    let n = get_u16(b, COUNT_AT) as usize;
    debug_assert!(n < capacity(b.len(), entry_len, leaf) && at <= n);
    debug_assert_eq!(key.len(), entry_len);
    let slot = entry_len + if leaf { LEAF_VALUE_LEN } else { CHILD_LEN };
    let start = ENTRIES_AT + at * slot;
    b.copy_within(start..ENTRIES_AT + n * slot, start + slot);
    b[start..start + entry_len].copy_from_slice(key);
    put_val(b, start + entry_len, leaf, val);
    put_u16(b, COUNT_AT, (n + 1) as u16);
}

/// Remove entry `at` of a node page, in place: the entries after it move down one
/// slot and the freed slot is zeroed (as an encoded node's unused space is).
pub fn remove_in_place(b: &mut [u8], entry_len: usize, at: usize) {
    let leaf = super::type_of(b) == Some(PageType::Leaf);
    let n = get_u16(b, COUNT_AT) as usize;
    debug_assert!(at < n);
    let slot = entry_len + if leaf { LEAF_VALUE_LEN } else { CHILD_LEN };
    let start = ENTRIES_AT + at * slot;
    let end = ENTRIES_AT + n * slot;
    b.copy_within(start + slot..end, start);
    b[end - slot..end].fill(0);
    put_u16(b, COUNT_AT, (n - 1) as u16);
}

/// Set an internal node's leftmost child, in place.
pub fn set_leftmost(b: &mut [u8], child: u32) {
    put_u32(b, LEFTMOST_AT, child);
}

fn put_val(b: &mut [u8], at: usize, leaf: bool, val: u64) {
    if leaf {
        let a = RecAddr::unpack(val);
        put_u32(b, at, a.page);
        put_u16(b, at + 4, a.slot);
    } else {
        put_u32(b, at, val as u32);
    }
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
}

impl<'a> NodeView<'a> {
    /// Check the node's header against the tree (type, entry length, count within
    /// capacity), so every entry index below [`len`](Self::len) is in bounds.
    pub fn new(b: &'a [u8], entry_len: usize) -> Result<NodeView<'a>> {
        let leaf = match super::type_of(b) {
            Some(PageType::Leaf) => true,
            Some(PageType::Internal) => false,
            _ => return fail(Status::IoError, "index page has the wrong page type"),
        };
        let n = get_u16(b, COUNT_AT) as usize;
        if get_u16(b, KEYLEN_AT) as usize != entry_len {
            return fail(
                Status::IoError,
                "index page belongs to a key of another length",
            );
        }
        if n > capacity(b.len(), entry_len, leaf) {
            return fail(
                Status::IoError,
                "index page entry count exceeds its capacity",
            );
        }
        Ok(NodeView {
            b,
            leaf,
            n,
            entry_len,
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
        }
    }

    /// Number of entries (separators, for an internal node).
    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    fn slot_len(&self) -> usize {
        self.entry_len + if self.leaf { LEAF_VALUE_LEN } else { CHILD_LEN }
    }

    /// Entry `i` (a separator, for an internal node).
    pub fn key(&self, i: usize) -> &'a [u8] {
        let at = ENTRIES_AT + i * self.slot_len();
        &self.b[at..at + self.entry_len]
    }

    /// Value `i`: a packed [`RecAddr`] (leaf) or a child page (internal).
    pub fn val(&self, i: usize) -> u64 {
        let at = ENTRIES_AT + i * self.slot_len() + self.entry_len;
        if self.leaf {
            RecAddr {
                page: get_u32(self.b, at),
                slot: get_u16(self.b, at + 4),
            }
            .pack()
        } else {
            u64::from(get_u32(self.b, at))
        }
    }

    /// A leaf's entries in order, each with the record address it points to: the
    /// entries' region is sliced once and walked slot by slot, where [`key`](Self::key)
    /// and [`val`](Self::val) per index each recompute the offset and check bounds —
    /// the structure check visits every entry of every index after each recovery.
    pub fn leaf_entries(&self) -> impl Iterator<Item = (&'a [u8], RecAddr)> + 'a {
        debug_assert!(self.leaf);
        let (slot, entry_len) = (self.slot_len(), self.entry_len);
        // `new` checked the count against the capacity: the region is in the page.
        self.b[ENTRIES_AT..ENTRIES_AT + self.n * slot]
            .chunks_exact(slot)
            .map(move |s| {
                let (key, val) = s.split_at(entry_len);
                let addr = RecAddr {
                    page: get_u32(val, 0),
                    slot: get_u16(val, 4),
                };
                (key, addr)
            })
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
        let (mut lo, mut hi) = (0, self.n);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if pred(self.key(mid)) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
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

    #[test]
    fn round_trip() {
        let e = 12;
        let mut n = Node::new_leaf();
        for i in 0..capacity(512, e, true) {
            n.keys.push(vec![i as u8; e]);
            n.vals.push(
                RecAddr {
                    page: i as u32 + 1,
                    slot: 3,
                }
                .pack(),
            );
        }
        let b = n.encode(512, e);
        assert_eq!(Node::decode(&b, e).unwrap(), n);
        // The in-place walk gives what key and val give per index.
        let v = NodeView::new(&b, e).unwrap();
        let walked: Vec<_> = v.leaf_entries().collect();
        let indexed: Vec<_> = (0..v.len())
            .map(|i| (v.key(i), RecAddr::unpack(v.val(i))))
            .collect();
        assert_eq!(walked, indexed);
        assert_eq!(walked.len(), n.keys.len());
        let m = Node {
            leaf: false,
            leftmost: 9,
            keys: vec![vec![1; e]],
            vals: vec![10],
        };
        assert_eq!(Node::decode(&m.encode(1024, e), e).unwrap(), m);
        assert_eq!(m.children(), vec![9, 10]);
    }

    /// In-place insert and remove give byte for byte the page that decoding,
    /// editing the `Node` and encoding again gives (leaf and internal).
    #[test]
    fn in_place_edits_match_rebuilding() {
        let e = 6;
        for leaf in [true, false] {
            let mut n = if leaf {
                Node::new_leaf()
            } else {
                Node {
                    leaf: false,
                    leftmost: 77,
                    keys: Vec::new(),
                    vals: Vec::new(),
                }
            };
            let mut b = n.encode(512, e);
            let cap = capacity(512, e, leaf);
            // Insert keys 0, 2, 4, ... then odd ones between them, at their places.
            let order: Vec<u8> = (0..cap as u8).map(|i| (i * 2) % (cap as u8 | 1)).collect();
            for (j, &k) in order.iter().enumerate() {
                let key = vec![k; e];
                let at = n.keys.partition_point(|x| x < &key);
                if n.keys.get(at) == Some(&key) {
                    continue;
                }
                let val = if leaf {
                    (u64::from(k) << 16) | 5
                } else {
                    u64::from(k) + 1000
                };
                n.keys.insert(at, key.clone());
                n.vals.insert(at, val);
                insert_in_place(&mut b, e, at, &key, val);
                assert_eq!(b, n.encode(512, e), "insert {j}");
            }
            while !n.keys.is_empty() {
                let at = n.keys.len() / 3;
                n.keys.remove(at);
                n.vals.remove(at);
                remove_in_place(&mut b, e, at);
                assert_eq!(b, n.encode(512, e));
            }
            if !leaf {
                set_leftmost(&mut b, 5);
                n.leftmost = 5;
                assert_eq!(b, n.encode(512, e));
            }
        }
    }
}
