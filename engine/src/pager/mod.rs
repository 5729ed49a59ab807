//! The pager: page allocation table, shadow paging and system transactions. This is
//! the only layer that knows about crash safety; everything above reads and writes
//! *logical* pages and never syncs.
//!
//! Contract:
//! - Between commits, changed logical pages live in memory (`dirty`). A commit (one
//!   system transaction for this file) writes every changed page — data, index, the
//!   leaf PAT pages that map them and every interior PAT page on the path from those
//!   to the FCR (`pat.rs`) — to *free physical pages*, syncs, writes the FCR into the
//!   slot not holding the current one with `seq + 1`, and syncs again. The FCR write is
//!   the commit point; a crash before it leaves the previous commit intact because no
//!   page the durable FCR references was touched. A caller's hook may run between the
//!   page sync and the FCR write (`commit_with`): the engine appends the transaction
//!   to the file's archival log there, and a failed hook fails the commit before its
//!   FCR, as a failed sync does.
//! - Physical pages freed by a commit become reusable only after that commit's FCR is
//!   durable. On open, every physical page no FCR-reachable structure references is
//!   free: pages orphaned by a crash are reclaimed by construction. No commit takes a
//!   page that may already hold an image of its own sequence, left by a failed or
//!   crashed attempt (`reuse.rs`).
//! - Every read is verified against the referrer's expectation (physical and logical
//!   number, writing sequence, type, checksum): damage is reported as status 2.
//! - Operations are atomic in memory: `begin_op`/`end_op(false)` undoes every page and
//!   state change of a failed operation.
//! - A user transaction holding the file (`begin_txn`/`end_txn`) keeps the
//!   before-image of every page and of the file state it changes. Its changes are
//!   applied in place, so its owner sees them; everyone else reads through the
//!   before-images (`set_view_before_txn`), and a commit never runs while one is open,
//!   so no system transaction carries part of a user transaction.
//! - Every change to what a read could return — a page written, allocated or freed,
//!   the file state changed, an operation or transaction undone, a transaction begun
//!   or ended, a commit, a freeze, a delta attached or rolled in — bumps the change
//!   epoch, so a caller that keeps a page image between calls (a cursor's leaf) can
//!   tell in O(1), by [`Pager::read_token`], whether the image is still what a read
//!   through the same view would give.
//! - Under dirty-page pressure a bulk job may instead *spill* (`spill.rs`): pending
//!   images go ahead of the commit to pages no FCR references, and leave memory; the
//!   commit then maps them. A crash before its FCR leaves the durable state as it was.
//! - A failure before the FCR write leaves the file usable (the commit can be retried);
//!   a failure at or after it leaves the on-disk state unknown, so the pager refuses
//!   further work (status 2) until the file is reopened.

use crate::page::fcr::{Fcr, FileState};
use crate::page::spec::FileSpec;
use crate::page::{self, Expect, PageBuf, PageType};
use crate::status::{fail, Result, Status};
use crate::vfs::VfsFile;
use cache::CleanCache;
use pat::{FreeLogical, PatTree};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

pub use open::{create, creating_path, live_fcr_seq};

/// Physical pages holding the two FCR slots.
pub const FCR_SLOTS: u32 = 2;

/// Tunables the engine passes down.
#[derive(Clone, Debug)]
pub struct PagerConfig {
    /// Verified committed pages kept in memory.
    pub clean_cache_pages: usize,
    /// The sequence of a control record this process wrote to the file, whose write or
    /// sync then failed ([`Pager::failed_fcr_seq`] of the pager that wrote it): it may
    /// sit in the OS cache only, never to be durable, so the open makes it durable in
    /// its own slot before touching the other (`open.rs`).
    pub failed_fcr_seq: Option<u64>,
    #[cfg(feature = "mutants")]
    pub mutant: Option<crate::mutant::Mutant>,
}

impl PagerConfig {
    /// A correct engine's pager (no known-bad variant) keeping up to
    /// `clean_cache_pages` verified pages, in a process that knows of no failed
    /// control-record write: what checks, salvage and tests open files with.
    pub fn plain(clean_cache_pages: usize) -> PagerConfig {
        PagerConfig {
            clean_cache_pages,
            failed_fcr_seq: None,
            #[cfg(feature = "mutants")]
            mutant: None,
        }
    }

    #[cfg(feature = "mutants")]
    fn mutant(&self, m: crate::mutant::Mutant) -> bool {
        self.mutant == Some(m)
    }

    /// Whether any known-bad engine is active: the pager's own assertions stand back
    /// then, so that only the simulator's oracle judges the mutant.
    fn any_mutant(&self) -> bool {
        #[cfg(feature = "mutants")]
        let on = self.mutant.is_some();
        #[cfg(not(feature = "mutants"))]
        let on = false;
        on
    }
}

/// Evaluates to whether mutant `$m` is active; always `false` without the feature.
macro_rules! mutant {
    ($cfg:expr, $m:ident) => {{
        #[cfg(feature = "mutants")]
        let on = $cfg.mutant(crate::mutant::Mutant::$m);
        #[cfg(not(feature = "mutants"))]
        let on = false;
        on
    }};
}

mod cache;
#[cfg(test)]
mod cache_tests;
mod commit;
mod frozen;
#[cfg(test)]
mod frozen_tests;
mod legacy;
mod open;
mod pat;
#[cfg(test)]
mod pat_tests;
mod reuse;
#[cfg(test)]
mod reuse_tests;
mod spill;
mod views;

/// Counters for statistics and benchmarks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PagerStats {
    pub commits: u64,
    pub pages_written: u64,
    pub syncs: u64,
    pub pages_read: u64,
    /// Pending page images written ahead of their commit (`spill.rs`).
    pub pages_spilled: u64,
}

/// Before-images: for each logical page changed, its `dirty` entry before the first
/// change (`None`: it was not dirty, i.e. its committed image applied), plus the file
/// state and free logical pages. Used per operation (undo on failure) and per user
/// transaction (abort, and what other clients read).
#[derive(Clone)]
struct Undo {
    pages: BTreeMap<u32, Option<Option<PageBuf>>>,
    state: FileState,
    free_logical: FreeLogical,
}

/// What a kept page image was read at: the pager's change epoch and the view
/// (before another client's transaction or not). Two equal tokens of one pager mean
/// nothing a read returns changed in between — the images a caller kept under the
/// first are what reads would return under the second.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadToken {
    epoch: u64,
    before_txn: bool,
}

/// One open data file's pages.
pub struct Pager {
    file: Box<dyn VfsFile>,
    path: PathBuf,
    page_size: usize,
    read_only: bool,
    config: PagerConfig,
    /// The FCR of the last durable commit.
    durable: Fcr,
    /// The durable mapping (the PAT tree's leaves that exist).
    pat: PatTree,
    /// Current state: the durable one plus every operation applied since.
    state: FileState,
    /// Logical pages changed since the last commit (`None`: freed).
    dirty: BTreeMap<u32, Option<PageBuf>>,
    /// Verified images of committed pages, at most `config.clean_cache_pages`.
    clean: CleanCache,
    free_phys: BTreeSet<u32>,
    /// Physical pages the file spans (allocated or free).
    phys_pages: u32,
    free_logical: FreeLogical,
    undo: Option<Undo>,
    /// Before-images of the user transaction holding this file, if any.
    txn: Option<Undo>,
    /// Whether reads see the file as it was before that transaction (callers other
    /// than its owner).
    view_before_txn: bool,
    poisoned: Option<String>,
    /// The sequence of the control record whose write or sync failed, poisoning the
    /// pager: for the engine to hand the next open of the file (`PagerConfig`).
    failed_fcr_seq: Option<u64>,
    /// Change epoch: bumped by every change to what a read could return (see the
    /// module doc); it never goes back, so a token taken at one epoch is never valid
    /// again once anything changed.
    epoch: u64,
    stats: PagerStats,
    /// Continuous operations: the data file is frozen, commits go to the delta.
    frozen: Option<frozen::Frozen>,
    /// The legacy format's pre-image file (writable legacy files only).
    preimage: Option<crate::preimage::PreImageFile>,
    /// Pending images written ahead of the commit (`spill.rs`).
    spill: spill::Spill,
    /// Free pages a commit may not take yet (`reuse.rs`).
    reuse: reuse::Reuse,
}

impl Pager {
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// Whether the known-bad engine `m` is active, for the layers above the pager
    /// (the B-tree) that have no configuration of their own.
    #[cfg(feature = "mutants")]
    pub fn mutant_on(&self, m: crate::mutant::Mutant) -> bool {
        self.config.mutant(m)
    }

    pub fn page_size(&self) -> usize {
        self.page_size
    }
    pub fn spec(&self) -> &FileSpec {
        &self.durable.spec
    }
    pub fn state(&self) -> &FileState {
        match &self.txn {
            Some(t) if self.view_before_txn => &t.state,
            _ => &self.state,
        }
    }
    /// Change the in-memory file state (inside an operation).
    pub fn state_mut(&mut self) -> &mut FileState {
        self.changed();
        debug_assert!(self.undo.is_some(), "state changed outside an operation");
        debug_assert!(
            !self.view_before_txn,
            "change through the before-transaction view"
        );
        &mut self.state
    }
    /// Sequence of the last durable commit.
    pub fn durable_seq(&self) -> u64 {
        self.durable.seq
    }
    pub fn stats(&self) -> &PagerStats {
        &self.stats
    }
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }
    /// The sequence of a control record this pager wrote whose write or sync failed
    /// (the pager is poisoned), and which could not be overwritten with the durable one
    /// either (`undo_failed_fcr`): it may be in the OS cache and never durable. The
    /// engine hands it to the file's next open ([`PagerConfig::failed_fcr_seq`]).
    pub fn failed_fcr_seq(&self) -> Option<u64> {
        self.failed_fcr_seq
    }
    /// Changes waiting for the next commit? A poisoned pager always says yes: its
    /// in-memory changes can no longer be committed, and reporting "nothing pending"
    /// would let a close succeed while silently dropping acknowledged operations.
    pub fn has_changes(&self) -> bool {
        self.poisoned.is_some()
            || !self.dirty.is_empty()
            || !self.spill.is_empty()
            || self.state != *self.durable_state()
    }

    pub fn dirty_pages(&self) -> usize {
        self.dirty.len()
    }
    /// Logical pages the operation in progress has changed so far (0 outside one): a
    /// bulk job sizes its batches by what each one touched (`engine/batch.rs`).
    pub fn op_pages(&self) -> usize {
        self.undo.as_ref().map_or(0, |u| u.pages.len())
    }
    pub fn physical_pages(&self) -> u32 {
        self.phys_pages
    }

    fn check_usable(&self) -> Result<()> {
        match &self.poisoned {
            Some(why) => fail(
                Status::IoError,
                format!(
                    "{}: an earlier system transaction failed past the point where it \
                     could be retried ({why}); close and reopen the file to recover its \
                     last durable state",
                    self.path.display()
                ),
            ),
            None => Ok(()),
        }
    }

    // ----- operations -----------------------------------------------------------

    /// Start an operation whose page changes are undone by `end_op(false)`.
    pub fn begin_op(&mut self) -> Result<()> {
        self.check_usable()?;
        if self.read_only {
            return fail(
                Status::AccessDenied,
                format!("{} is open read-only", self.path.display()),
            );
        }
        debug_assert!(self.undo.is_none(), "nested operation");
        if self.view_before_txn {
            return fail(
                Status::FileInUse,
                format!(
                    "{} is locked by another client's transaction; retry after it ends",
                    self.path.display()
                ),
            );
        }
        self.undo = Some(Undo {
            pages: BTreeMap::new(),
            state: self.state.clone(),
            free_logical: self.free_logical.clone(),
        });
        Ok(())
    }

    /// Finish an operation: keep its changes, or undo them all.
    pub fn end_op(&mut self, keep: bool) {
        self.changed();
        let Some(undo) = self.undo.take() else {
            debug_assert!(false, "end_op without begin_op");
            return;
        };
        if keep {
            return;
        }
        self.restore(undo);
    }

    fn restore(&mut self, undo: Undo) {
        for (l, before) in undo.pages {
            match before {
                Some(entry) => self.dirty.insert(l, entry),
                None => self.dirty.remove(&l),
            };
        }
        self.state = undo.state;
        self.free_logical = undo.free_logical;
    }

    fn touch(&mut self, logical: u32) {
        debug_assert!(self.undo.is_some(), "page changed outside an operation");
        for u in [&mut self.undo, &mut self.txn].into_iter().flatten() {
            if let std::collections::btree_map::Entry::Vacant(e) = u.pages.entry(logical) {
                e.insert(self.dirty.get(&logical).cloned());
            }
        }
    }

    // ----- user transactions --------------------------------------------------------

    /// A user transaction takes the file: from now on its changes are kept apart
    /// (before-images) until `end_txn`.
    pub fn begin_txn(&mut self) -> Result<()> {
        self.check_usable()?;
        self.changed();
        debug_assert!(self.txn.is_none() && self.undo.is_none());
        self.txn = Some(Undo {
            pages: BTreeMap::new(),
            state: self.state.clone(),
            free_logical: self.free_logical.clone(),
        });
        Ok(())
    }

    /// End the file's user transaction: keep its changes (they now wait for the next
    /// system transaction like any other) or undo them all.
    pub fn end_txn(&mut self, keep: bool) {
        self.changed();
        debug_assert!(self.undo.is_none(), "transaction ended inside an operation");
        self.view_before_txn = false;
        if let Some(t) = self.txn.take() {
            if !keep {
                self.restore(t);
            }
        }
    }

    /// Record that every logged change up to `lsn` has been applied to this file; it
    /// becomes durable with the next commit, and roll-forward starts after it.
    pub fn set_applied_lsn(&mut self, lsn: u64) {
        self.changed();
        debug_assert!(self.undo.is_none() && self.txn.is_none());
        debug_assert!(
            lsn >= self.state.applied_lsn,
            "applied LSN moves forward only"
        );
        self.state.applied_lsn = lsn;
    }

    /// The applied LSN of the last durable commit (to the delta, while frozen).
    pub fn durable_applied_lsn(&self) -> u64 {
        self.durable_state().applied_lsn
    }

    /// The applied LSN of the data file itself. While frozen it stays at the
    /// `startbu` instant, and the log must be kept from there: deleting the delta
    /// (`killbu`) takes the file back to that instant, and roll-forward must then be
    /// able to bring it up to date again.
    pub fn data_file_applied_lsn(&self) -> u64 {
        self.durable.state.applied_lsn
    }

    /// Is a user transaction holding this file?
    pub fn in_txn(&self) -> bool {
        self.txn.is_some()
    }

    /// Make reads see the file as before its user transaction (for every caller but
    /// the transaction's owner). No effect without a transaction.
    pub fn set_view_before_txn(&mut self, before: bool) {
        self.view_before_txn = before && self.txn.is_some();
    }

    /// The token of what reads return now (epoch and view), or `None` when the pager
    /// is poisoned: then every read fails, and nothing kept may be served instead.
    pub fn read_token(&self) -> Option<ReadToken> {
        if self.poisoned.is_some() {
            return None;
        }
        Some(ReadToken {
            epoch: self.epoch,
            before_txn: self.view_before_txn,
        })
    }

    /// Something a read could return may have changed: no earlier token is valid.
    /// Called at the entry of every `&mut self` method that changes pages, the file
    /// state, the transaction or undo images, the mapping or the delta — before the
    /// change, which is enough since no reader runs inside those methods.
    fn changed(&mut self) {
        self.epoch += 1;
    }

    /// Where the delta's latest committed version of `logical` is while frozen (`None`:
    /// the delta does not name it, the data file's image holds).
    fn frozen_entry(&self, logical: u32) -> Option<&frozen::Latest> {
        if mutant!(self.config, ReadIgnoresDelta) {
            return None;
        }
        self.frozen.as_ref()?.pages.get(&logical)
    }

    /// The delta's image of `logical` at `at`: from the clean cache, or read from the
    /// delta (verified again by its frame) and cached like any committed image — the
    /// cache stays bounded, so reading a frozen file holds no more than reading any
    /// other. Not type-checked: the caller does that.
    fn frozen_read(&mut self, logical: u32, at: crate::delta::ImageRef) -> Result<PageBuf> {
        if let Some(buf) = self.clean.get(&logical) {
            return Ok(buf.clone());
        }
        let mut buf = vec![0u8; self.page_size];
        match &self.frozen {
            Some(f) => f.read_image(logical, at, &mut buf)?,
            None => return fail(Status::IoError, "read from the delta of a file not frozen"),
        }
        self.stats.pages_read += 1;
        let buf = PageBuf::new(buf);
        self.cache_clean(logical, buf.clone());
        Ok(buf)
    }

    /// Keep a verified committed image in the clean cache (bounded: a full cache
    /// evicts a page by CLOCK, see `cache.rs`).
    fn cache_clean(&mut self, logical: u32, buf: PageBuf) {
        self.clean.insert(logical, buf);
    }

    /// The `dirty` entry a reader sees for `logical`: through the transaction's
    /// before-images for non-owners. `None`: not dirty (read the committed image).
    fn dirty_entry(&self, logical: u32) -> Option<&Option<PageBuf>> {
        if self.view_before_txn {
            if let Some(t) = &self.txn {
                if let Some(before) = t.pages.get(&logical) {
                    return before.as_ref();
                }
            }
        }
        self.dirty.get(&logical)
    }

    // ----- logical pages ----------------------------------------------------------

    /// Read a logical page (its current image, committed or not). The image is shared
    /// (a reference count, not a copy); to change it, [`update`](Self::update) it (or
    /// copy it, `Arc::unwrap_or_clone`, and [`write`](Self::write) the copy).
    pub fn read(&mut self, logical: u32, types: &'static [PageType]) -> Result<PageBuf> {
        self.check_usable()?;
        if let Some(entry) = self.dirty_entry(logical) {
            return match entry {
                Some(buf) if page::type_of(buf).is_some_and(|t| types.contains(&t)) => {
                    Ok(buf.clone())
                }
                Some(_) => fail(
                    Status::IoError,
                    format!(
                        "{}: logical page {logical} has the wrong type",
                        self.path.display()
                    ),
                ),
                None => fail(
                    Status::IoError,
                    format!("{}: logical page {logical} was freed", self.path.display()),
                ),
            };
        }
        let frozen = match self.frozen_entry(logical) {
            None => None,
            Some(frozen::Latest::Freed) => {
                return fail(
                    Status::IoError,
                    format!(
                        "{}: logical page {logical} was freed (delta)",
                        self.path.display()
                    ),
                )
            }
            Some(frozen::Latest::Held(buf)) => Some(buf.clone()),
            Some(frozen::Latest::At(at)) => {
                let at = *at;
                Some(self.frozen_read(logical, at)?)
            }
        };
        if let Some(buf) = frozen {
            return match page::type_of(&buf) {
                Some(t) if types.contains(&t) => Ok(buf),
                _ => fail(
                    Status::IoError,
                    format!(
                        "{}: logical page {logical} in the delta has the wrong type",
                        self.path.display()
                    ),
                ),
            };
        }
        // The cache first: it holds only committed images of mapped pages (a commit
        // drops every page it changes) and spilled images, so a hit needs no walk of
        // the mapping.
        if let Some(buf) = self.clean.get(&logical) {
            debug_assert!(
                self.config.any_mutant()
                    || self.pat.get(logical).is_mapped()
                    || self.spill.at.contains_key(&logical),
                "cached unmapped page"
            );
            if page::type_of(buf).is_some_and(|t| types.contains(&t)) {
                return Ok(buf.clone());
            }
        }
        if let Some(&physical) = self.spill.at.get(&logical) {
            return self.read_spilled(logical, physical, types);
        }
        let ptr = self.pat.get(logical);
        if !ptr.is_mapped() {
            return fail(
                Status::IoError,
                format!(
                    "{}: reference to unallocated logical page {logical} (damaged index or list)",
                    self.path.display()
                ),
            );
        }
        let spare = self.clean.take_spare();
        let buf = self.read_physical_into(ptr.physical, spare)?;
        if !mutant!(self.config, SkipChecksum) {
            let want = Expect {
                physical: ptr.physical,
                logical,
                seq: ptr.seq,
                types,
            };
            page::verify(&buf, &want, &format_args!("{}", self.path.display()))?;
        }
        let buf = PageBuf::new(buf);
        self.cache_clean(logical, buf.clone());
        Ok(buf)
    }

    /// Replace a logical page's image (written at the next commit).
    pub fn write(&mut self, logical: u32, buf: Vec<u8>) {
        debug_assert_eq!(buf.len(), self.page_size);
        debug_assert!(page::type_of(&buf).is_some());
        debug_assert!(logical != 0 && logical < self.state.logical_pages);
        self.changed();
        self.touch(logical);
        self.dirty.insert(logical, Some(PageBuf::new(buf)));
    }

    /// Change logical page `logical` (of one of `types`) with `f`: [`read`](Self::read),
    /// copy, change, [`write`](Self::write) — without the copy when the page is
    /// already dirty and nothing else holds its image. The operation's undo (and a
    /// user transaction's) takes its before-image first (`touch`), so only the first
    /// change of a page in an operation copies it; every later one (a bulk job's
    /// inserts into the same leaf, an operation's several changes) shifts bytes in
    /// place rather than allocating, copying and freeing a page.
    pub fn update<R>(
        &mut self,
        logical: u32,
        types: &'static [PageType],
        f: impl FnOnce(&mut Vec<u8>) -> R,
    ) -> Result<R> {
        debug_assert!(
            !self.view_before_txn,
            "a page changed by a client that sees the file as before the transaction"
        );
        let current = self.read(logical, types)?;
        self.changed();
        self.touch(logical);
        let r = match self.dirty.get_mut(&logical) {
            Some(Some(buf)) if PageBuf::ptr_eq(buf, &current) => {
                drop(current);
                f(PageBuf::make_mut(buf))
            }
            _ => {
                let mut buf = PageBuf::unwrap_or_clone(current);
                let r = f(&mut buf);
                self.dirty.insert(logical, Some(PageBuf::new(buf)));
                r
            }
        };
        debug_assert!(
            self.dirty
                .get(&logical)
                .and_then(|b| b.as_deref())
                .is_some_and(|b| b.len() == self.page_size && page::type_of(b).is_some()),
            "an update left page {logical} the wrong size or type"
        );
        Ok(r)
    }

    /// Allocate a logical page number, initialised with `buf`.
    pub fn alloc(&mut self, buf: Vec<u8>) -> Result<u32> {
        self.changed();
        let logical = match self.free_logical.first().map(|r| r.start) {
            Some(l) => {
                self.free_logical.remove(l..l + 1);
                l
            }
            None => {
                let l = self.state.logical_pages;
                let max = crate::page::fcr::max_logical_pages(self.spec());
                if u64::from(l) >= max {
                    return fail(
                        Status::FileFull,
                        format!(
                            "{}: all {max} logical pages are in use (the most a file \
                             can address; {} bytes of {}-byte pages)",
                            self.path.display(),
                            max * self.page_size as u64,
                            self.page_size
                        ),
                    );
                }
                self.state.logical_pages += 1;
                l
            }
        };
        self.write(logical, buf);
        Ok(logical)
    }

    /// Free a logical page (its physical page is released by the next commit).
    pub fn free(&mut self, logical: u32) {
        debug_assert!(logical != 0 && logical < self.state.logical_pages);
        self.changed();
        self.touch(logical);
        self.dirty.insert(logical, None);
        self.free_logical.insert(logical..logical + 1);
    }

    /// Test-only: move the logical page counter up to `to` without mapping anything,
    /// as if the file had grown there, so tests reach the top of a 64 GiB logical
    /// range without writing it. Neither the pages skipped nor those free below are
    /// handed out again in this session (the next allocation lands at `to`); a reopen
    /// finds them unmapped, so free, like any unmapped page.
    #[cfg(any(test, feature = "testing"))]
    pub fn skip_logical_pages_for_test(&mut self, to: u32) {
        debug_assert!(self.undo.is_none() && self.txn.is_none());
        debug_assert!(u64::from(to) <= crate::page::fcr::max_logical_pages(self.spec()));
        self.changed();
        self.state.logical_pages = self.state.logical_pages.max(to);
        self.free_logical = FreeLogical::new();
    }

    /// Every logical page in use as readers see it (the committed mapping, the delta
    /// while frozen, and changes not yet committed), in order. Proportional to the
    /// pages in use, not to the logical page count: a sparse file's holes cost nothing.
    pub fn logical_in_use(&self) -> Vec<u32> {
        let limit = self.state().logical_pages;
        let pending = !self.dirty.is_empty() || !self.spill.at.is_empty();
        if !pending && self.frozen.is_none() && self.txn.is_none() {
            // The committed mapping alone (a file just opened, as the structure check
            // and recovery see it): no set to build.
            return self.pat.mapped_below(limit);
        }
        let mut used: BTreeSet<u32> = self.pat.mapped().map(|(l, _)| l).collect();
        used.extend(self.spill.at.keys());
        if let Some(f) = &self.frozen {
            for (&l, e) in &f.pages {
                match e {
                    frozen::Latest::Freed => used.remove(&l),
                    _ => used.insert(l),
                };
            }
        }
        let mut overlay = |l: u32, entry: Option<&Option<PageBuf>>| {
            match entry {
                Some(Some(_)) => used.insert(l),
                Some(None) => used.remove(&l),
                None => false,
            };
        };
        let txn_pages = self.txn.iter().flat_map(|t| t.pages.keys());
        for &l in self.dirty.keys().chain(txn_pages) {
            overlay(l, self.dirty_entry(l));
        }
        used.retain(|&l| l != 0 && l < limit);
        used.into_iter().collect()
    }

    /// The type of a logical page if it is mapped (for physical-order scans).
    pub fn page_type(&mut self, logical: u32) -> Result<Option<PageType>> {
        if let Some(e) = self.dirty_entry(logical) {
            return Ok(e.as_ref().and_then(|b| page::type_of(b)));
        }
        match self.frozen_entry(logical) {
            None => {}
            Some(frozen::Latest::Freed) => return Ok(None),
            Some(frozen::Latest::Held(b)) => return Ok(page::type_of(b)),
            Some(frozen::Latest::At(at)) => {
                let at = *at;
                return Ok(page::type_of(&self.frozen_read(logical, at)?));
            }
        }
        if !self.pat.get(logical).is_mapped() && !self.spill.at.contains_key(&logical) {
            return Ok(None);
        }
        let any = &[PageType::Data, PageType::Leaf, PageType::Internal];
        Ok(page::type_of(&self.read(logical, any)?))
    }
}
