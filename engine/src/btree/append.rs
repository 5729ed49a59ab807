//! Batch insertion for bulk loads ([`Tree::insert_batch`]): a batch's entries are put
//! in key order; those beyond the tree's last entry — every entry of an ascending load
//! — are appended to the rightmost leaf by an [`Appender`], which descends once per
//! batch and writes each node it fills once, and the others take one [`Tree::insert`]
//! each, in key order.
//!
//! The result is a tree the shape rules of the module above hold for: the appender
//! splits as `insert` does for an entry at the end of the last node of its level (the
//! left node stays full; the right one starts with the new entry, or for an internal
//! node with its last separator plus the new one), so a sorted load fills its leaves.
//! Nothing here is undone on failure: the caller runs a batch as one operation of the
//! pager (`begin_op`/`end_op`), which undoes all of it.

use super::{Tree, MAX_DEPTH, NODE_TYPES};
use crate::page::node::{self, cmp_entries, key_part, Node, NodeView, RecAddr, MAX_ENTRY_LEN};
use crate::pager::Pager;
use crate::status::{fail, Result, Status};
use std::borrow::Cow;
use std::sync::Arc;

impl Tree {
    /// Insert every entry of `entries` (none present in the tree, all distinct: each
    /// ends with a new record's serial). `unique`: the key takes no duplicates — if two
    /// entries, or an entry and the tree, share a key value, fail with status 5 after
    /// changing any number of pages (the caller undoes the batch).
    pub fn insert_batch(
        &self,
        pager: &mut Pager,
        entries: &mut [(Vec<u8>, RecAddr)],
        unique: bool,
    ) -> Result<()> {
        if !entries.windows(2).all(|w| w[0].0 < w[1].0) {
            entries.sort_unstable_by(|a, b| cmp_entries(&a.0, &b.0));
        }
        debug_assert!(entries.iter().all(|(e, _)| e.len() == self.entry_len));
        debug_assert!(entries.windows(2).all(|w| w[0].0 != w[1].0));
        if unique
            && entries
                .windows(2)
                .any(|w| key_part(&w[0].0) == key_part(&w[1].0))
        {
            return self.duplicate();
        }
        let last = self.last(pager)?.map(|f| f.entry);
        // Entries above the tree's last go at the end of the rightmost leaf.
        let split = last
            .as_deref()
            .map_or(0, |l| entries.partition_point(|(e, _)| e.as_slice() < l));
        let (inside, beyond) = entries.split_at(split);
        for (e, addr) in inside {
            self.insert_checked(pager, e, *addr, unique)?;
        }
        let Some(((first, _), _)) = beyond.split_first() else {
            return Ok(());
        };
        if unique
            && last
                .as_deref()
                .is_some_and(|l| key_part(l) == key_part(first))
        {
            return self.duplicate();
        }
        let mut app = Appender::open(*self, pager)?;
        for (e, addr) in beyond {
            app.push(pager, e, addr.pack())?;
        }
        app.finish(pager);
        Ok(())
    }

    fn duplicate(&self) -> Result<()> {
        fail(
            Status::DuplicateKeyValue,
            format!("key {} already holds this value", self.key),
        )
    }
}

/// The rightmost path of a tree (root first), each node held as an owned page image
/// while entries are appended after the tree's last one; a node is written to the
/// pager when it fills (it is never touched again) and the rest by [`finish`].
///
/// [`finish`]: Appender::finish
pub struct Appender {
    tree: Tree,
    /// (logical page, image, changed) from the root down to the rightmost leaf; empty
    /// for an empty tree.
    path: Vec<(u32, Vec<u8>, bool)>,
}

impl Appender {
    /// Descend the rightmost path of `tree`.
    pub fn open(tree: Tree, pager: &mut Pager) -> Result<Appender> {
        let mut path = Vec::new();
        let mut page = tree.root(pager);
        while page != 0 {
            if path.len() > MAX_DEPTH {
                return fail(Status::IoError, "index deeper than any valid tree (cycle?)");
            }
            let buf = Arc::unwrap_or_clone(pager.read(page, NODE_TYPES)?);
            let next = {
                let v = NodeView::new(&buf, tree.entry_len)?;
                if v.leaf {
                    0
                } else {
                    v.child(v.len())
                }
            };
            path.push((page, buf, false));
            page = next;
        }
        Ok(Appender { tree, path })
    }

    /// Append `entry` → `val` (a packed record address), which must be greater than
    /// every entry of the tree.
    pub fn push(&mut self, pager: &mut Pager, entry: &[u8], val: u64) -> Result<()> {
        let (ps, len, compact) = (pager.page_size(), self.tree.entry_len, self.tree.compact);
        if self.path.is_empty() {
            let leaf = Node {
                leaf: true,
                leftmost: 0,
                keys: vec![entry.to_vec()],
                vals: vec![val],
            }
            .encode(ps, len, compact);
            let page = pager.alloc(leaf.clone())?;
            pager.state_mut().roots[self.tree.key] = page;
            self.path.push((page, leaf, false));
            return Ok(());
        }
        let (mut key, mut val) = (Cow::Borrowed(entry), val);
        let mut level = self.path.len() - 1;
        loop {
            let is_leaf = level + 1 == self.path.len();
            let (page, buf, changed) = &mut self.path[level];
            let (n, in_place, rebuilt) = {
                let v = NodeView::new(buf, len)?;
                debug_assert_eq!(v.leaf, is_leaf, "rightmost path mixes leaves and nodes");
                debug_assert!(
                    v.is_empty() || v.entry(v.len() - 1, &mut [0; MAX_ENTRY_LEN]) < key.as_ref(),
                    "append out of order"
                );
                let in_place = v.fits_in_place(&key, val, compact);
                // A compact leaf the entry shortens a shared part of: rebuilt with
                // it, if that fits.
                let change = node::LeafChange::Insert {
                    at: v.len(),
                    key: &key,
                    val,
                };
                let rebuilt = (!in_place && is_leaf && compact)
                    .then(|| node::rebuild_leaf(&v, change, true))
                    .flatten();
                (v.len(), in_place, rebuilt)
            };
            if in_place {
                node::insert_in_place(buf, len, n, &key, val);
                *changed = true;
                return Ok(());
            }
            if let Some(rebuilt) = rebuilt {
                *buf = rebuilt;
                *changed = true;
                return Ok(());
            }
            // The node is full and stays so (every later entry goes right of it): a
            // new right sibling takes the entry, as `insert` splits at the end of the
            // last node of a level. A leaf's separator is the new entry (copied up);
            // an internal node gives its last separator (moved up) and that child.
            let (sep, right) = if is_leaf {
                let right = Node {
                    leaf: true,
                    leftmost: 0,
                    keys: vec![key.to_vec()],
                    vals: vec![val],
                };
                (key.into_owned(), right)
            } else {
                let (last_sep, last_child) = {
                    let v = NodeView::new(buf, len)?;
                    (v.key(n - 1).to_vec(), v.val(n - 1))
                };
                node::remove_in_place(buf, len, n - 1);
                let right = Node {
                    leaf: false,
                    leftmost: last_child as u32,
                    keys: vec![key.into_owned()],
                    vals: vec![val],
                };
                (last_sep, right)
            };
            let right = right.encode(ps, len, compact);
            let right_page = pager.alloc(right.clone())?;
            let left = std::mem::replace(buf, right);
            let left_page = std::mem::replace(page, right_page);
            *changed = false;
            pager.write(left_page, left);
            if level == 0 {
                let root = Node {
                    leaf: false,
                    leftmost: left_page,
                    keys: vec![sep],
                    vals: vec![u64::from(right_page)],
                }
                .encode(ps, len, false);
                let root_page = pager.alloc(root.clone())?;
                pager.state_mut().roots[self.tree.key] = root_page;
                self.path.insert(0, (root_page, root, false));
                return Ok(());
            }
            (key, val) = (Cow::Owned(sep), u64::from(right_page));
            level -= 1;
        }
    }

    /// Write every node of the path changed since it was read or allocated.
    pub fn finish(self, pager: &mut Pager) {
        for (page, buf, changed) in self.path {
            if changed {
                pager.write(page, buf);
            }
        }
    }
}
