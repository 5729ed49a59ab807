//! B+trees over logical pages, one per key. Entries are fixed-length byte strings
//! (normalized key + record serial, so unique even for duplicate keys) compared with
//! `memcmp`; leaves map them to record addresses.
//!
//! Shape rules (checked by `-check`): all leaves at the same depth; keys strictly
//! increasing in every node; every entry of a child lies within its parent's
//! separator bounds; an empty tree has root 0; only the root may be an empty leaf…
//! which it never is (the last delete frees it). Deletes remove empty nodes and
//! collapse a root with a single child; nodes are not merged when underfull (a
//! space, not a correctness, trade-off).

mod append;
#[cfg(test)]
mod tests;

use crate::page::node::{
    self, cmp_entries, key_part, LeafChange, LeafRows, Node, NodeView, RecAddr, MAX_ENTRY_LEN,
};
use crate::page::{PageBuf, PageType};
use crate::pager::Pager;
use crate::status::{fail, Result, Status};
use std::borrow::Cow;
use std::cmp::Ordering;
use std::sync::Arc;

/// Deepest tree a walk accepts before declaring the file damaged (a 4-entry fanout
/// reaches 2^64 entries well within it).
pub const MAX_DEPTH: usize = 40;

const NODE_TYPES: &[PageType] = &[PageType::Leaf, PageType::Internal];

/// One key's tree.
#[derive(Clone, Copy, Debug)]
pub struct Tree {
    pub key: usize,
    pub entry_len: usize,
    /// Leaves keep their columns' shared parts once (`FileSpec::compact_leaves`).
    pub compact: bool,
}

/// The tightest separator below a node's entries on an insert's descent (`None` on
/// the leftmost path: nothing bounds it).
#[derive(Clone, Copy)]
struct Lower<'a>(Option<&'a [u8]>);

/// Which entry a seek wants relative to the target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seek {
    /// First entry `>= target`.
    GreaterOrEqual,
    /// First entry `> target`.
    Greater,
    /// Last entry `<= target`.
    LessOrEqual,
    /// Last entry `< target`.
    Less,
}

impl Seek {
    fn forward(self) -> bool {
        matches!(self, Seek::GreaterOrEqual | Seek::Greater)
    }
    fn accepts(self, entry: &[u8], target: &[u8]) -> bool {
        let o = cmp_entries(entry, target);
        match self {
            Seek::GreaterOrEqual => o != Ordering::Less,
            Seek::Greater => o == Ordering::Greater,
            Seek::LessOrEqual => o != Ordering::Greater,
            Seek::Less => o == Ordering::Less,
        }
    }
}

/// An entry found by a seek.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    pub entry: Vec<u8>,
    pub addr: RecAddr,
}

/// Where a seek landed: the leaf's image (shared with the pager, not copied) and the
/// entry's index in it. A cursor keeps one so that Get Next / Previous step within the
/// leaf instead of descending from the root again — valid only as long as the pager's
/// [`ReadToken`](crate::pager::ReadToken) is the one it was read at, which the caller
/// checks. Leaves have no sibling links, so a step off either end of the leaf is `None`
/// and the caller seeks.
#[derive(Clone, Debug)]
pub struct LeafHit {
    leaf: PageBuf,
    index: usize,
    /// Entries in the leaf (as `NodeView::new` found them when the seek read it).
    len: usize,
    entry_len: usize,
    /// How to read the leaf's rows.
    rows: LeafRows,
    /// Where entry `index` lies whole in the leaf (a leaf that shares no part of
    /// its keys and serials); else `None`, and the entry rebuilt in `rebuilt`.
    at: Option<usize>,
    rebuilt: Vec<u8>,
    /// The record address entry `index` points to.
    addr: RecAddr,
}

impl LeafHit {
    /// Entry `index` of the leaf `leaf`, which `view` reads.
    fn new(leaf: PageBuf, view: &NodeView, index: usize) -> LeafHit {
        let rows = view.rows();
        let mut rebuilt = Vec::new();
        if rows.entry_at(0).is_none() {
            rebuilt.resize(view.entry_len(), 0);
            rows.fill_shared(&leaf, &mut rebuilt);
        }
        let mut hit = LeafHit {
            len: view.len(),
            entry_len: view.entry_len(),
            leaf,
            index,
            rows,
            at: None,
            rebuilt,
            addr: RecAddr { page: 0, slot: 0 },
        };
        hit.load_entry();
        hit
    }

    /// Find entry `index` and its address in the leaf: where the entry lies whole,
    /// or rebuilt (no allocation once `rebuilt` has its length). A scan steps once a
    /// record.
    fn load_entry(&mut self) {
        debug_assert!(self.index < self.len);
        debug_assert!(NodeView::new(&self.leaf, self.entry_len).is_ok_and(|v| v.len() == self.len));
        self.at = self.rows.entry_at(self.index);
        if self.at.is_none() {
            self.rows
                .fill_row(&self.leaf, self.index, &mut self.rebuilt);
        }
        self.addr = self.rows.addr(&self.leaf, self.index);
    }

    /// The index entry (normalized key + serial).
    pub fn entry(&self) -> &[u8] {
        match self.at {
            Some(at) => &self.leaf[at..at + self.entry_len],
            None => &self.rebuilt,
        }
    }

    /// The record the entry points to.
    pub fn addr(&self) -> RecAddr {
        self.addr
    }

    /// Move to the next (`forward`) or previous entry of the same leaf; `false`, and
    /// no move, at the leaf's end.
    pub fn step(&mut self, forward: bool) -> bool {
        let n = self.len;
        match forward {
            true if self.index + 1 < n => self.index += 1,
            false if self.index > 0 => self.index -= 1,
            _ => return false,
        }
        self.load_entry();
        true
    }

    /// As a [`Found`] (copies the entry).
    pub fn found(&self) -> Found {
        Found {
            entry: self.entry().to_vec(),
            addr: self.addr(),
        }
    }
}

impl Tree {
    fn root(&self, pager: &Pager) -> u32 {
        pager.state().roots[self.key]
    }

    fn store(&self, pager: &mut Pager, page: u32, node: &Node) {
        pager.write(
            page,
            node.encode(pager.page_size(), self.entry_len, self.compact),
        );
    }

    /// Find the entry `seek` selects relative to `target`.
    pub fn seek(&self, pager: &mut Pager, target: &[u8], seek: Seek) -> Result<Option<Found>> {
        Ok(self.seek_leaf(pager, target, seek)?.map(|hit| hit.found()))
    }

    /// [`seek`](Self::seek), answering with the leaf and index instead of a copy of
    /// the entry.
    pub fn seek_leaf(
        &self,
        pager: &mut Pager,
        target: &[u8],
        seek: Seek,
    ) -> Result<Option<LeafHit>> {
        let root = self.root(pager);
        if root == 0 {
            return Ok(None);
        }
        self.seek_in(pager, root, target, seek, 0)
    }

    fn seek_in(
        &self,
        pager: &mut Pager,
        page: u32,
        target: &[u8],
        seek: Seek,
        depth: usize,
    ) -> Result<Option<LeafHit>> {
        if depth > MAX_DEPTH {
            return fail(Status::IoError, "index deeper than any valid tree (cycle?)");
        }
        let buf = pager.read(page, NODE_TYPES)?;
        let node = NodeView::new(&buf, self.entry_len)?;
        if node.leaf {
            // Entries are strictly increasing: the first accepted (forward) follows
            // every entry below (or at) the target; the last accepted (backward)
            // precedes every entry at (or above) it.
            let below = |strict: bool| {
                node.partition_point(|k| match cmp_entries(k, target) {
                    Ordering::Less => true,
                    Ordering::Equal => !strict,
                    Ordering::Greater => false,
                })
            };
            let hit = match seek {
                Seek::GreaterOrEqual => Some(below(true)),
                Seek::Greater => Some(below(false)),
                Seek::LessOrEqual => below(false).checked_sub(1),
                Seek::Less => below(true).checked_sub(1),
            }
            .filter(|&i| i < node.len());
            debug_assert!(
                hit.is_none_or(|i| seek.accepts(node.entry(i, &mut [0; MAX_ENTRY_LEN]), target))
            );
            return Ok(hit.map(|index| LeafHit::new(buf.clone(), &node, index)));
        }
        // Child c holds entries >= separator c - 1.
        let c = node.partition_point(|k| cmp_entries(k, target) != Ordering::Greater);
        // The child holding `target` first, then its neighbours in seek direction:
        // any entry there is beyond `target` in that direction, so their extreme wins.
        if seek.forward() {
            for i in c..=node.len() {
                let child = node.child(i);
                if let Some(f) = self.seek_in(pager, child, target, seek, depth + 1)? {
                    return Ok(Some(f));
                }
            }
        } else {
            for i in (0..=c).rev() {
                let child = node.child(i);
                if let Some(f) = self.seek_in(pager, child, target, seek, depth + 1)? {
                    return Ok(Some(f));
                }
            }
        }
        Ok(None)
    }

    /// First entry of the tree.
    pub fn first(&self, pager: &mut Pager) -> Result<Option<Found>> {
        Ok(self.first_leaf(pager)?.map(|hit| hit.found()))
    }

    /// Last entry of the tree.
    pub fn last(&self, pager: &mut Pager) -> Result<Option<Found>> {
        Ok(self.last_leaf(pager)?.map(|hit| hit.found()))
    }

    /// [`first`](Self::first), as a leaf and index.
    pub fn first_leaf(&self, pager: &mut Pager) -> Result<Option<LeafHit>> {
        self.seek_leaf(pager, &vec![0u8; self.entry_len], Seek::GreaterOrEqual)
    }

    /// [`last`](Self::last), as a leaf and index.
    pub fn last_leaf(&self, pager: &mut Pager) -> Result<Option<LeafHit>> {
        self.seek_leaf(pager, &vec![0xffu8; self.entry_len], Seek::LessOrEqual)
    }

    /// Insert a new entry (which must not already be present).
    pub fn insert(&self, pager: &mut Pager, entry: &[u8], addr: RecAddr) -> Result<()> {
        self.insert_checked(pager, entry, addr, false)
    }

    /// [`insert`](Self::insert); `unique`: first check, in the same descent, that no
    /// entry has the new entry's key part, and fail with status 5 (nothing changed)
    /// if one does. The entry's serial must be the newest, so that any such entry
    /// sorts just before it.
    pub fn insert_checked(
        &self,
        pager: &mut Pager,
        entry: &[u8],
        addr: RecAddr,
        unique: bool,
    ) -> Result<()> {
        debug_assert_eq!(entry.len(), self.entry_len);
        // A second descent only after a compact leaf was split without the entry
        // (`insert_in`): it then lands at the end or start of a leaf, where a split
        // always has room for it.
        for _ in 0..2 {
            let root = self.root(pager);
            if root == 0 {
                let mut leaf = Node::new_leaf();
                leaf.keys.push(entry.to_vec());
                leaf.vals.push(addr.pack());
                let page =
                    pager.alloc(leaf.encode(pager.page_size(), self.entry_len, self.compact))?;
                pager.state_mut().roots[self.key] = page;
                return Ok(());
            }
            let unique = unique.then_some(Lower(None));
            let mut placed = true;
            if let Some((sep, right)) = self.insert_in(
                pager,
                root,
                entry,
                addr.pack(),
                0,
                true,
                unique,
                &mut placed,
            )? {
                let new_root = Node {
                    leaf: false,
                    leftmost: root,
                    keys: vec![sep],
                    vals: vec![right.into()],
                };
                let page =
                    pager.alloc(new_root.encode(pager.page_size(), self.entry_len, false))?;
                pager.state_mut().roots[self.key] = page;
            }
            if placed {
                return Ok(());
            }
        }
        debug_assert!(false, "an entry at a leaf's edge always fits a split");
        fail(
            Status::IoError,
            "index leaf could not take an entry even after a split",
        )
    }

    /// Insert below `page`; returns the separator and new right sibling on a split.
    /// `rightmost`: `page` is the last node of its level (every step of the descent
    /// took the last child), so an entry at its end is beyond every entry in the tree.
    /// `unique`: check the key part is free first (`insert_checked`), knowing the
    /// tightest separator below `page`'s entries. `placed` is cleared if the entry
    /// went nowhere: a compact leaf neither half of whose split could take it was
    /// split without it (the split is returned as usual), and the caller must
    /// descend again.
    #[allow(clippy::too_many_arguments)]
    fn insert_in(
        &self,
        pager: &mut Pager,
        page: u32,
        entry: &[u8],
        val: u64,
        depth: usize,
        rightmost: bool,
        unique: Option<Lower>,
        placed: &mut bool,
    ) -> Result<Option<(Vec<u8>, u32)>> {
        if depth > MAX_DEPTH {
            return fail(Status::IoError, "index deeper than any valid tree (cycle?)");
        }
        let buf = pager.read(page, NODE_TYPES)?;
        let view = NodeView::new(&buf, self.entry_len)?;
        let (key, val) = if view.leaf {
            if let Some(lower) = unique {
                self.check_free(pager, &view, entry, lower)?;
            }
            // The caller's entry, borrowed: no allocation unless the leaf splits.
            (Cow::Borrowed(entry), val)
        } else {
            let c = view.partition_point(|k| cmp_entries(k, entry).is_le());
            let last = rightmost && c == view.len();
            let lower = unique.map(|l| {
                if c > 0 {
                    Lower(Some(view.key(c - 1)))
                } else {
                    l
                }
            });
            match self.insert_in(
                pager,
                view.child(c),
                entry,
                val,
                depth + 1,
                last,
                lower,
                placed,
            )? {
                None => return Ok(None),
                Some((sep, right)) => (Cow::Owned(sep), u64::from(right)),
            }
        };
        let at = view.partition_point(|k| cmp_entries(k, &key).is_lt());
        if at < view.len() && cmp_entries(view.entry(at, &mut [0; MAX_ENTRY_LEN]), &key).is_eq() {
            return fail(
                Status::IoError,
                "index already holds this entry (damaged index)",
            );
        }
        // The known-bad `compact-insert-ignores-shares`: a row goes in wherever there
        // is room for it, whether or not the entry has the leaf's shared parts.
        #[cfg(feature = "mutants")]
        let careless = self.compact
            && view.leaf
            && view.len() >= 2
            && view.has_room()
            && pager.mutant_on(crate::mutant::Mutant::CompactInsertIgnoresShares);
        #[cfg(not(feature = "mutants"))]
        let careless = false;
        if careless || view.fits_in_place(&key, val, self.compact) {
            // Room: shift the entries in the page itself (no decode, no re-encode) —
            // in the pager's own image when it can (our copy let go first).
            drop(buf);
            let len = self.entry_len;
            pager.update(page, NODE_TYPES, |b| {
                #[cfg(feature = "mutants")]
                if careless {
                    return node::insert_ignoring_shares(b, len, at, &key, val);
                }
                node::insert_in_place(b, len, at, &key, val)
            })?;
            return Ok(None);
        }
        if view.leaf && self.compact {
            // A compact leaf whose shared parts the entry shortens: rebuilt whole,
            // if that fits.
            let change = LeafChange::Insert { at, key: &key, val };
            if let Some(rebuilt) = node::rebuild_leaf(&view, change, true) {
                drop(buf);
                pager.write(page, rebuilt);
                return Ok(None);
            }
        }
        let mut node = Node::decode(&buf, self.entry_len)?;
        node.keys.insert(at, key.into_owned());
        node.vals.insert(at, val);
        let ps = pager.page_size();
        debug_assert!(node.encoded_len(self.entry_len, self.compact) > ps);
        // Split in half — unless the new entry went to the very end of the last node of
        // its level, as every entry of an ascending load does: then the left node stays full and the right one
        // starts with the least that keeps a node valid (one entry; an internal node
        // its separator plus one), so sorted loads fill pages instead of leaving each
        // half empty (SQLite's "quick balance" idea). Leaves copy the first right key
        // up; internal nodes move it up and its child becomes the right node's
        // leftmost.
        let n = node.keys.len();
        let preferred = if rightmost && at + 1 == n {
            if node.leaf {
                n - 1
            } else {
                n - 2
            }
        } else {
            n / 2
        };
        // A compact leaf's halves need not fit where a count says: the split nearest
        // the preferred one at which both do. If none does (the entry, in the middle,
        // shares too little with either half), split the leaf's own entries where
        // the entry goes, and have the caller descend again.
        let mid = if !(node.leaf && self.compact) {
            preferred
        } else if let Some(s) = self.compact_split(&node, preferred, ps) {
            s
        } else {
            debug_assert!(0 < at && at + 1 < n);
            node.keys.remove(at);
            node.vals.remove(at);
            *placed = false;
            at
        };
        let mut rkeys = node.keys.split_off(mid);
        let mut rvals = node.vals.split_off(mid);
        let (sep, right) = if node.leaf {
            (
                rkeys[0].clone(),
                Node {
                    leaf: true,
                    leftmost: 0,
                    keys: rkeys,
                    vals: rvals,
                },
            )
        } else {
            let sep = rkeys.remove(0);
            let leftmost = rvals.remove(0) as u32;
            (
                sep,
                Node {
                    leaf: false,
                    leftmost,
                    keys: rkeys,
                    vals: rvals,
                },
            )
        };
        self.store(pager, page, &node);
        let rpage = pager.alloc(right.encode(ps, self.entry_len, self.compact))?;
        Ok(Some((sep, rpage)))
    }

    /// Where to split an over-full compact leaf: the point nearest `preferred` at
    /// which both halves fit a page, if any. A half's size only grows with its
    /// entries (each one adds a row, and its shared parts can only shorten), so the
    /// points where the left half fits end where those where the right half fits
    /// have begun: two binary searches.
    fn compact_split(&self, node: &Node, preferred: usize, ps: usize) -> Option<usize> {
        let (k, v, e) = (&node.keys, &node.vals, self.entry_len);
        let n = k.len();
        let fits = |a: usize, b: usize| node::leaf_bytes(&k[a..b], &v[a..b], e, true) <= ps;
        // Both halves hold at least one entry: split points 1..n. The first at which
        // the right half fits (n: none)…
        let (mut lo, mut hi) = (1, n);
        while lo < hi {
            let m = lo + (hi - lo) / 2;
            if fits(m, n) {
                hi = m;
            } else {
                lo = m + 1;
            }
        }
        let first = lo;
        // …and the last at which the left half does (0: none).
        let (mut lo, mut hi) = (1, n);
        while lo < hi {
            let m = lo + (hi - lo) / 2;
            if fits(0, m) {
                lo = m + 1;
            } else {
                hi = m;
            }
        }
        let last = lo - 1;
        (first < n && last >= 1 && first <= last).then(|| preferred.clamp(first, last))
    }

    /// Fail with status 5 if the tree holds an entry with `entry`'s key part, `leaf`
    /// being where `entry` goes and `lower` the tightest separator below it. Such an
    /// entry sorts just before `entry` (its serial is older): in the leaf, or — when
    /// `entry` would be the leaf's first — in an earlier leaf, which only a separator
    /// with that key part can precede (then one seek finds it).
    fn check_free(
        &self,
        pager: &mut Pager,
        leaf: &NodeView,
        entry: &[u8],
        lower: Lower,
    ) -> Result<()> {
        let part = key_part(entry);
        let at = leaf.partition_point(|k| cmp_entries(k, entry).is_lt());
        let taken = match (at.checked_sub(1), lower.0) {
            (Some(i), _) => key_part(leaf.entry(i, &mut [0; MAX_ENTRY_LEN])) == part,
            (None, Some(sep)) if key_part(sep) == part => self
                .seek(pager, entry, Seek::Less)?
                .is_some_and(|f| key_part(&f.entry) == part),
            (None, _) => false,
        };
        if taken {
            return fail(
                Status::DuplicateKeyValue,
                format!("key {} already holds this value", self.key),
            );
        }
        Ok(())
    }

    /// Remove an entry; it must be present (absence means a damaged index: status 2).
    pub fn delete(&self, pager: &mut Pager, entry: &[u8]) -> Result<()> {
        let root = self.root(pager);
        if root == 0 {
            return fail(Status::IoError, "index entry missing (damaged index)");
        }
        if self.delete_in(pager, root, entry, 0)? {
            // The root emptied.
            pager.free(root);
            pager.state_mut().roots[self.key] = 0;
            return Ok(());
        }
        // Collapse a root internal node left with a single child.
        let buf = pager.read(root, NODE_TYPES)?;
        let node = NodeView::new(&buf, self.entry_len)?;
        if !node.leaf && node.is_empty() {
            pager.free(root);
            pager.state_mut().roots[self.key] = node.leftmost();
        }
        Ok(())
    }

    /// Delete below `page`; returns whether `page` became empty (and must be
    /// unlinked by its parent).
    fn delete_in(&self, pager: &mut Pager, page: u32, entry: &[u8], depth: usize) -> Result<bool> {
        if depth > MAX_DEPTH {
            return fail(Status::IoError, "index deeper than any valid tree (cycle?)");
        }
        let buf = pager.read(page, NODE_TYPES)?;
        let node = NodeView::new(&buf, self.entry_len)?;
        if node.leaf {
            let at = node.partition_point(|k| cmp_entries(k, entry).is_lt());
            if at == node.len()
                || cmp_entries(node.entry(at, &mut [0; MAX_ENTRY_LEN]), entry).is_ne()
            {
                return fail(Status::IoError, "index entry missing (damaged index)");
            }
            if node.len() == 1 {
                return Ok(true);
            }
            if self.compact && !node.removal_keeps_shares(at) {
                // Rebuilt, not shifted: the rest share longer parts.
                if let Some(rest) = node::rebuild_leaf(&node, LeafChange::Remove(at), true) {
                    drop(buf);
                    pager.write(page, rest);
                    return Ok(false);
                }
            }
            drop(buf);
            let len = self.entry_len;
            pager.update(page, NODE_TYPES, |b| node::remove_in_place(b, len, at))?;
            return Ok(false);
        }
        let (c, n) = (
            node.partition_point(|k| cmp_entries(k, entry).is_le()),
            node.len(),
        );
        let child = node.child(c);
        if !self.delete_in(pager, child, entry, depth + 1)? {
            return Ok(false);
        }
        pager.free(child);
        if c == 0 && n == 0 {
            return Ok(true);
        }
        let new_leftmost = (c == 0).then(|| node.child(1));
        let mut b = Arc::unwrap_or_clone(buf);
        match new_leftmost {
            // The leftmost child went: the first separator's child takes its place.
            Some(l) => {
                node::set_leftmost(&mut b, l);
                node::remove_in_place(&mut b, self.entry_len, 0);
            }
            None => node::remove_in_place(&mut b, self.entry_len, c - 1),
        }
        pager.write(page, b);
        Ok(false)
    }
}
