//! The page allocation table in memory, and the PAT half of a commit.
//!
//! On disk the PAT is a tree (`page::pat`): FCR → interior PAT pages → leaf PAT pages
//! → mapped pages. In memory the pager keeps the *leaves that exist* (by leaf index,
//! each its full array of entries) and where every PAT page lives (by level and
//! index). A sparse file — a few pages mapped near the top of a 64 GiB logical range —
//! costs the leaves and paths it has, not one entry per logical page: memory is
//! proportional to the leaves holding mapped pages. Everything is loaded on open,
//! not lazily, because open must walk the whole tree anyway: the free-page set is
//! "every physical page nothing reachable from the FCR references", so reclaiming
//! what a crash orphaned needs every PAT page read.
//!
//! Guarantees: [`PatTree::load`] verifies every PAT page against its referrer
//! (physical, level and index, sequence, type, checksum) and refuses (status 2) a
//! physical page referenced twice, an entry past the file's logical pages, or an index
//! too large to address; [`PatTree::plan`] rewrites each changed leaf and every
//! interior page on the path from it to the FCR — and a new top level when the depth
//! grows — into pages the durable FCR does not reference (shadow paging, except in the
//! legacy format, which rewrites in place under pre-imaging). A page whose entries are
//! all unmapped is dropped, not written, so a subtree with nothing mapped costs no
//! page. Nothing changes in memory until [`PatTree::apply`], after the FCR is durable.

use crate::page::fcr::Fcr;
use crate::page::pat::{self, PagePtr};
use crate::page::{self, Expect, PageType};
use crate::status::{Error, Result, Status};
use rangemap::RangeSet;
use std::collections::{BTreeMap, BTreeSet};

/// Free logical pages, as ranges: the holes of a sparse file cost one entry each.
pub(super) type FreeLogical = RangeSet<u32>;

/// The durable mapping, as loaded and as each commit leaves it.
#[derive(Clone, Debug)]
pub(super) struct PatTree {
    per: usize,
    depth: u8,
    /// Entries of every leaf that exists, by leaf index (`per` entries each).
    leaves: BTreeMap<u32, Box<[PagePtr]>>,
    /// Where each PAT page lives, by (level, index); level 0 holds the leaves.
    pages: BTreeMap<(u8, u32), PagePtr>,
}

/// Physical page numbers, as a PAT walk meets them: a bit per page of the file, and
/// the references past its end (damage can name any page number) in a set. Every
/// open walks the whole tree and notes each mapped page: a bitmap, not a search tree.
pub(super) struct PhysicalSet {
    bits: Vec<u64>,
    /// Pages past the file's end that were inserted.
    beyond: BTreeSet<u32>,
    /// The file's page count: the bits cover `0..pages`.
    pages: u32,
    /// The greatest page inserted.
    max: Option<u32>,
}

impl PhysicalSet {
    /// An empty set for a file of `pages` physical pages.
    pub fn new(pages: u32) -> PhysicalSet {
        PhysicalSet {
            bits: vec![0; (pages as usize).div_ceil(64)],
            beyond: BTreeSet::new(),
            pages,
            max: None,
        }
    }

    /// Add `p`; false if it was in the set already.
    pub fn insert(&mut self, p: u32) -> bool {
        let fresh = if p < self.pages {
            let (word, bit) = (&mut self.bits[(p / 64) as usize], 1u64 << (p % 64));
            let fresh = *word & bit == 0;
            *word |= bit;
            fresh
        } else {
            self.beyond.insert(p)
        };
        self.max = self.max.max(Some(p));
        fresh
    }

    pub fn contains(&self, p: u32) -> bool {
        if p < self.pages {
            self.bits[(p / 64) as usize] & (1u64 << (p % 64)) != 0
        } else {
            self.beyond.contains(&p)
        }
    }

    /// The greatest page in the set.
    pub fn last(&self) -> Option<u32> {
        self.max
    }
}

/// What a commit writes for the PAT, and the tree it leaves once durable.
pub(super) struct PatPlan {
    /// Sealed PAT page images and where they go.
    pub writes: Vec<(u32, Vec<u8>)>,
    /// Physical pages of PAT pages the commit replaces or drops.
    pub released: Vec<u32>,
    /// The FCR's new top-level pointers and depth.
    pub top: Vec<PagePtr>,
    pub depth: u8,
    leaves: BTreeMap<u32, Box<[PagePtr]>>,
    pages: BTreeMap<(u8, u32), PagePtr>,
}

fn damaged(path: &std::path::Path, why: String) -> Error {
    Error::new(Status::IoError, format!("{}: {why}", path.display()))
}

impl PatTree {
    /// Read and verify every PAT page reachable from `fcr`, noting each physical page
    /// it references (PAT pages and mapped pages) in `referenced`, which refuses any
    /// page met twice. `read` puts a page's raw bytes into the buffer it is given —
    /// one buffer for the whole walk, `buf` (whatever it holds is never used; a caller
    /// with a page buffer passes it, saving another allocation and zeroing per open),
    /// so `read` must make it a page long and read over every byte, or fail.
    pub fn load(
        fcr: &Fcr,
        path: &std::path::Path,
        referenced: &mut PhysicalSet,
        read: &mut dyn FnMut(u32, &mut Vec<u8>) -> Result<()>,
        buf: &mut Vec<u8>,
    ) -> Result<PatTree> {
        let ps = fcr.spec.page_size as usize;
        let mut tree = PatTree {
            per: pat::entries_per_page(ps),
            depth: fcr.pat_depth,
            leaves: BTreeMap::new(),
            pages: BTreeMap::new(),
        };
        let top = tree.depth - 1;
        for (i, &ptr) in fcr.pat.iter().enumerate() {
            if ptr.is_mapped() {
                tree.visit(top, i as u64, ptr, fcr, path, referenced, read, buf)?;
            }
        }
        Ok(tree)
    }

    #[allow(clippy::too_many_arguments)]
    fn visit(
        &mut self,
        level: u8,
        index: u64,
        ptr: PagePtr,
        fcr: &Fcr,
        path: &std::path::Path,
        referenced: &mut PhysicalSet,
        read: &mut dyn FnMut(u32, &mut Vec<u8>) -> Result<()>,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        // Formatted only for an error: every open visits every PAT page.
        let what = || format!("PAT page {index} of level {level}");
        // Past the last logical page's leaf (or its ancestors) nothing may exist; this
        // also keeps the index inside the header's field.
        let covers = pat::capacity(1, self.per, level + 1);
        if index.saturating_mul(covers) >= u64::from(fcr.state.logical_pages) {
            return Err(damaged(
                path,
                format!("{} lies past the file's last page", what()),
            ));
        }
        let index = index as u32;
        if !referenced.insert(ptr.physical) {
            return Err(damaged(
                path,
                format!("{} shares physical page {}", what(), ptr.physical),
            ));
        }
        read(ptr.physical, buf)?;
        let want = Expect {
            physical: ptr.physical,
            logical: pat::page_id(level, index),
            seq: ptr.seq,
            types: if level == 0 {
                &[PageType::Pat]
            } else {
                &[PageType::PatInterior]
            },
        };
        page::verify(
            buf,
            &want,
            &format_args!("{}: PAT page {index} of level {level}", path.display()),
        )?;
        let entries = pat::decode(buf);
        self.pages.insert((level, index), ptr);
        let first = u64::from(index) * self.per as u64;
        if level > 0 {
            for (j, &e) in entries.iter().enumerate() {
                if e.is_mapped() {
                    let below = level - 1;
                    self.visit(below, first + j as u64, e, fcr, path, referenced, read, buf)?;
                }
            }
            return Ok(());
        }
        for (j, e) in entries.iter().enumerate() {
            let l = first + j as u64;
            if !e.is_mapped() {
                continue;
            }
            if l == 0 || l >= u64::from(fcr.state.logical_pages) {
                return Err(damaged(
                    path,
                    format!("the PAT maps logical page {l}, outside the file"),
                ));
            }
            if !referenced.insert(e.physical) {
                return Err(damaged(
                    path,
                    format!(
                        "physical page {} is mapped twice (logical page {l})",
                        e.physical
                    ),
                ));
            }
        }
        self.leaves.insert(index, entries.into_boxed_slice());
        Ok(())
    }

    /// Where logical page `l` lives (`NONE`: unmapped).
    pub fn get(&self, l: u32) -> PagePtr {
        let per = self.per as u32;
        self.leaves
            .get(&(l / per))
            .map_or(PagePtr::NONE, |leaf| leaf[(l % per) as usize])
    }

    /// Every mapped logical page, in order.
    pub fn mapped(&self) -> impl Iterator<Item = (u32, PagePtr)> + '_ {
        let per = self.per as u32;
        self.leaves.iter().flat_map(move |(&i, leaf)| {
            leaf.iter()
                .enumerate()
                .filter(|(_, e)| e.is_mapped())
                .map(move |(j, &e)| (i * per + j as u32, e))
        })
    }

    /// Every mapped logical page in `1..limit`, in order, without repeats. `for_each`
    /// runs one tight loop per leaf, where a `for` loop calls through the flattened
    /// filter per entry.
    pub fn mapped_below(&self, limit: u32) -> Vec<u32> {
        let mut used = Vec::new();
        self.mapped().for_each(|(l, _)| {
            if l != 0 && l < limit {
                used.push(l);
            }
        });
        used
    }

    /// Every PAT page: (level, index) and where it lives.
    pub fn pages(&self) -> impl Iterator<Item = ((u8, u32), PagePtr)> + '_ {
        self.pages.iter().map(|(&k, &p)| (k, p))
    }

    /// The unmapped logical pages below `logical_pages` (page 0 is never used).
    pub fn free_logical(&self, logical_pages: u32) -> FreeLogical {
        let mut free = FreeLogical::new();
        let mut next = 1;
        for (l, _) in self.mapped() {
            if l >= logical_pages {
                break;
            }
            if l > next {
                free.insert(next..l);
            }
            next = next.max(l + 1);
        }
        if logical_pages > next {
            free.insert(next..logical_pages);
        }
        free
    }

    /// Plan the PAT half of commit `seq`: `changes` are the new entries of the logical
    /// pages it changes (`NONE`: unmapped), `logical_pages` the count it commits, and
    /// `top_cap` how many top-level pointers the FCR has room for. `alloc` hands out a
    /// physical page the durable FCR does not reference; with `in_place` (the legacy
    /// format) a PAT page that exists is rewritten where it is instead.
    #[allow(clippy::too_many_arguments)]
    pub fn plan(
        &self,
        changes: &BTreeMap<u32, PagePtr>,
        logical_pages: u32,
        top_cap: usize,
        seq: u64,
        page_size: usize,
        in_place: bool,
        alloc: &mut dyn FnMut() -> u32,
    ) -> PatPlan {
        let per = self.per;
        let needed = pat::depth_for(u64::from(logical_pages), top_cap, per);
        debug_assert!(needed.is_some(), "logical page count past the deepest PAT");
        let depth = self.depth.max(needed.unwrap_or(pat::MAX_DEPTH));
        let mut plan = PatPlan {
            writes: Vec::new(),
            released: Vec::new(),
            top: Vec::new(),
            depth,
            leaves: BTreeMap::new(),
            pages: BTreeMap::new(),
        };
        for (&l, &ptr) in changes {
            let i = l / per as u32;
            let leaf = plan.leaves.entry(i).or_insert_with(|| {
                self.leaves
                    .get(&i)
                    .cloned()
                    .unwrap_or_else(|| vec![PagePtr::NONE; per].into_boxed_slice())
            });
            leaf[l as usize % per] = ptr;
        }
        let mut put = |plan: &mut PatPlan, level: u8, index: u32, entries: &[PagePtr]| {
            let old = self.pages.get(&(level, index)).copied();
            let old = old.unwrap_or(PagePtr::NONE);
            let ptr = if entries.iter().all(|e| !e.is_mapped()) {
                PagePtr::NONE
            } else {
                let physical = if in_place && old.is_mapped() {
                    old.physical
                } else {
                    alloc()
                };
                let kind = if level == 0 {
                    PageType::Pat
                } else {
                    PageType::PatInterior
                };
                let mut buf = page::blank(page_size, kind);
                pat::encode(&mut buf, entries);
                page::seal(&mut buf, physical, pat::page_id(level, index), seq);
                plan.writes.push((physical, buf));
                PagePtr { physical, seq }
            };
            if old.is_mapped() && old.physical != ptr.physical {
                plan.released.push(old.physical);
            }
            plan.pages.insert((level, index), ptr);
        };
        let leaves = std::mem::take(&mut plan.leaves);
        for (&i, entries) in &leaves {
            put(&mut plan, 0, i, entries);
        }
        plan.leaves = leaves;
        // The page at (level, index) as the plan leaves it.
        let now = |plan: &PatPlan, key: (u8, u32)| {
            plan.pages
                .get(&key)
                .or_else(|| self.pages.get(&key))
                .copied()
                .unwrap_or(PagePtr::NONE)
        };
        for level in 1..depth {
            let below = level - 1;
            let in_level = |m: &BTreeMap<(u8, u32), PagePtr>| -> Vec<u32> {
                m.range((below, 0)..=(below, u32::MAX))
                    .map(|(&(_, i), _)| i / per as u32)
                    .collect()
            };
            // Parents of the pages rewritten one level down; on a level the old tree
            // did not have (the depth grew), parents of every page one level down.
            let mut parents: BTreeSet<u32> = in_level(&plan.pages).into_iter().collect();
            if level >= self.depth {
                parents.extend(in_level(&self.pages));
            }
            for p in parents {
                let entries: Vec<PagePtr> = (0..per as u32)
                    .map(|j| now(&plan, (below, p * per as u32 + j)))
                    .collect();
                put(&mut plan, level, p, &entries);
            }
        }
        let top = depth - 1;
        let per_top = pat::capacity(1, per, depth);
        let mut ntop = u64::from(logical_pages).div_ceil(per_top) as usize;
        for m in [&self.pages, &plan.pages] {
            if let Some((&(_, i), _)) = m
                .range((top, 0)..=(top, u32::MAX))
                .rev()
                .find(|(_, p)| p.is_mapped())
            {
                ntop = ntop.max(i as usize + 1);
            }
        }
        debug_assert!(
            ntop <= top_cap,
            "more top-level PAT pages than the FCR holds"
        );
        plan.top = (0..ntop as u32).map(|i| now(&plan, (top, i))).collect();
        plan
    }

    /// How this tree differs from `other` (the same file's tree loaded again), if it
    /// does: for the structure check, which reloads the tree from disk.
    pub fn differs_from(&self, other: &PatTree) -> Option<String> {
        if self.depth != other.depth {
            return Some(format!(
                "PAT depth {} in memory, {} on disk",
                self.depth, other.depth
            ));
        }
        if self.pages != other.pages {
            return Some("the PAT pages on disk are not the ones the pager holds".into());
        }
        if !self.mapped().eq(other.mapped()) {
            return Some("the PAT entries on disk differ from the pager's mapping".into());
        }
        None
    }

    /// Adopt a plan whose FCR is durable.
    pub fn apply(&mut self, plan: PatPlan) {
        for (i, leaf) in plan.leaves {
            if leaf.iter().any(|e| e.is_mapped()) {
                self.leaves.insert(i, leaf);
            } else {
                self.leaves.remove(&i);
            }
        }
        for (k, p) in plan.pages {
            if p.is_mapped() {
                self.pages.insert(k, p);
            } else {
                self.pages.remove(&k);
            }
        }
        self.depth = plan.depth;
    }
}
