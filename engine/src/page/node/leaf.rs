//! A leaf's columns and their shared parts: how long each shared part is for a set
//! of entries, where rows lie, how a leaf is rebuilt with one entry more or less
//! without decoding it, and the reader a cursor keeps beside a leaf
//! (`engine/FORMAT.md`, "Leaf rows").

use super::*;

/// The shared lengths of a leaf's four columns: key, serial, page, slot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Shared(pub(super) [usize; 4]);

impl Shared {
    /// Bytes the shared parts take (once per leaf).
    pub(super) fn total(&self) -> usize {
        self.0.iter().sum()
    }

    /// A row's width in a tree of `entry_len`-byte entries.
    pub(super) fn row(&self, entry_len: usize) -> usize {
        entry_len + LEAF_VALUE_LEN - self.total()
    }

    /// The longest shared parts of a leaf holding `keys` → `vals`: the key's and the
    /// serial's common prefixes over every entry (not just the first and last key's,
    /// so that any list of entries encodes to itself, in order or not); the page's
    /// and slot's high-order bytes in which no value differs from the first.
    pub(super) fn of(keys: &[impl AsRef<[u8]>], vals: &[u64]) -> Shared {
        let mut s = Sharing::default();
        for (k, &v) in keys.iter().zip(vals) {
            s.add(k.as_ref(), v);
        }
        s.shared()
    }

    /// Bytes a leaf of `n` rows with these shared parts takes.
    pub(super) fn leaf_bytes(&self, entry_len: usize, n: usize) -> usize {
        ENTRIES_AT + self.total() + n * self.row(entry_len)
    }
}

/// [`Shared::of`] over entries seen one at a time (a leaf rebuilt from its page
/// without decoding it): the first entry, and how much of it every entry since
/// has in common.
pub(super) struct Sharing {
    pub(super) first: Scratch,
    pub(super) klen: usize,
    a0: RecAddr,
    pub(super) pk: usize,
    pub(super) ps: usize,
    /// The page and slot bits in which some entry differs from the first.
    pub(super) dp: u32,
    pub(super) ds: u16,
    pub(super) n: usize,
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
    pub(super) fn add(&mut self, entry: &[u8], val: u64) {
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

    pub(super) fn shared(&self) -> Shared {
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

pub(super) fn common_prefix(a: &[u8], b: &[u8]) -> usize {
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

/// A leaf's column geometry: the key length, the shared lengths, where the rows
/// start, their width, and where the address lies in a row.
#[derive(Clone, Copy, Debug)]
pub(super) struct LeafCols {
    pub(super) klen: usize,
    pub(super) shared: Shared,
    pub(super) rows_at: usize,
    pub(super) row: usize,
    pub(super) addr_off: usize,
}

impl LeafCols {
    pub(super) fn new(entry_len: usize, shared: Shared) -> LeafCols {
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
    pub(super) fn write_header(&self, b: &mut [u8], k0: &[u8], v0: u64) {
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
    pub(super) fn write_row(&self, b: &mut [u8], i: usize, key: &[u8], val: u64) {
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
    pub(super) fn shared_with(&self, b: &[u8], key: &[u8], val: u64) -> Shared {
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
    pub(super) fn shares(&self, b: &[u8], key: &[u8], val: u64) -> bool {
        self.shared_with(b, key, val) == self.shared
    }
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
    let mut b = crate::page::blank(view.b.len(), PageType::Leaf);
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

/// The shared lengths a leaf page records (not checked: [`NodeView::new`] does).
pub(super) fn shared_of(b: &[u8]) -> Shared {
    Shared(std::array::from_fn(|j| usize::from(b[SHARED_AT + j])))
}

/// How to read a verified leaf's rows: its geometry and its shared address parts,
/// read once (a cursor keeps one beside the leaf it stands in and steps through the
/// rows with it). Every method takes the leaf's own image.
#[derive(Clone, Copy, Debug)]
pub struct LeafRows {
    pub(super) cols: LeafCols,
    /// The page's and slot's shared high-order bytes, in place (the rest 0).
    pub(super) page_hi: u32,
    pub(super) slot_hi: u16,
}

impl LeafRows {
    pub(super) fn of(b: &[u8], cols: LeafCols) -> LeafRows {
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
