//! The pager: page allocation table, shadow paging and system transactions. This is
//! the only layer that knows about crash safety; everything above reads and writes
//! *logical* pages and never syncs.
//!
//! Contract:
//! - Between commits, changed logical pages live in memory (`dirty`). A commit (one
//!   system transaction for this file) writes every changed page — data, index and the
//!   PAT pages that map them — to *free physical pages*, syncs, writes the FCR into the
//!   slot not holding the current one with `seq + 1`, and syncs again. The FCR write is
//!   the commit point; a crash before it leaves the previous commit intact because no
//!   page the durable FCR references was touched.
//! - Physical pages freed by a commit become reusable only after that commit's FCR is
//!   durable. On open, every physical page no FCR-reachable structure references is
//!   free: pages orphaned by a crash are reclaimed by construction.
//! - Every read is verified against the referrer's expectation (physical and logical
//!   number, writing sequence, type, checksum): damage is reported as status 2.
//! - Operations are atomic in memory: `begin_op`/`end_op(false)` undoes every page and
//!   state change of a failed operation.
//! - A user transaction holding the file (`begin_txn`/`end_txn`) keeps the
//!   before-image of every page and of the file state it changes. Its changes are
//!   applied in place, so its owner sees them; everyone else reads through the
//!   before-images (`set_view_before_txn`), and a commit never runs while one is open,
//!   so no system transaction carries part of a user transaction.
//! - A failure before the FCR write leaves the file usable (the commit can be retried);
//!   a failure at or after it leaves the on-disk state unknown, so the pager refuses
//!   further work (status 2) until the file is reopened.

mod open;

use crate::page::fcr::{Fcr, FileState};
use crate::page::pat::{self, PagePtr};
use crate::page::spec::FileSpec;
use crate::page::{self, Expect, PageBuf, PageType};
use crate::status::{fail, Error, Result, Status};
use crate::vfs::VfsFile;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

pub use open::create;

/// Physical pages holding the two FCR slots.
pub const FCR_SLOTS: u32 = 2;

/// Tunables the engine passes down.
#[derive(Clone, Debug)]
pub struct PagerConfig {
    /// Verified committed pages kept in memory.
    pub clean_cache_pages: usize,
    #[cfg(feature = "mutants")]
    pub mutant: Option<crate::mutant::Mutant>,
}

impl PagerConfig {
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

mod frozen;

/// Counters for statistics and benchmarks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PagerStats {
    pub commits: u64,
    pub pages_written: u64,
    pub syncs: u64,
    pub pages_read: u64,
}

/// Before-images: for each logical page changed, its `dirty` entry before the first
/// change (`None`: it was not dirty, i.e. its committed image applied), plus the file
/// state and free logical pages. Used per operation (undo on failure) and per user
/// transaction (abort, and what other clients read).
#[derive(Clone)]
struct Undo {
    pages: BTreeMap<u32, Option<Option<PageBuf>>>,
    state: FileState,
    free_logical: BTreeSet<u32>,
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
    /// The durable mapping, indexed by logical page.
    pat: Vec<PagePtr>,
    /// Current state: the durable one plus every operation applied since.
    state: FileState,
    /// Logical pages changed since the last commit (`None`: freed).
    dirty: BTreeMap<u32, Option<PageBuf>>,
    /// Verified images of committed pages.
    clean: HashMap<u32, PageBuf>,
    free_phys: BTreeSet<u32>,
    /// Physical pages the file spans (allocated or free).
    phys_pages: u32,
    free_logical: BTreeSet<u32>,
    undo: Option<Undo>,
    /// Before-images of the user transaction holding this file, if any.
    txn: Option<Undo>,
    /// Whether reads see the file as it was before that transaction (callers other
    /// than its owner).
    view_before_txn: bool,
    poisoned: Option<String>,
    stats: PagerStats,
    /// Continuous operations: the data file is frozen, commits go to the delta.
    frozen: Option<frozen::Frozen>,
}

impl Pager {
    pub fn path(&self) -> &Path {
        &self.path
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
    /// Changes waiting for the next commit? A poisoned pager always says yes: its
    /// in-memory changes can no longer be committed, and reporting "nothing pending"
    /// would let a close succeed while silently dropping acknowledged operations.
    pub fn has_changes(&self) -> bool {
        self.poisoned.is_some() || !self.dirty.is_empty() || self.state != *self.durable_state()
    }

    pub fn dirty_pages(&self) -> usize {
        self.dirty.len()
    }
    pub fn physical_pages(&self) -> u32 {
        self.phys_pages
    }

    fn check_usable(&self) -> Result<()> {
        match &self.poisoned {
            Some(why) => fail(
                Status::IoError,
                format!(
                    "{}: an earlier commit failed after its control record was written ({why}); \
                     close and reopen the file to recover its last durable state",
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

    /// The delta's committed image of `logical` while frozen (`Some(None)`: freed).
    fn frozen_image(&self, logical: u32) -> Option<&Option<PageBuf>> {
        if mutant!(self.config, ReadIgnoresDelta) {
            return None;
        }
        self.frozen.as_ref()?.pages.get(&logical)
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
    /// (a reference count, not a copy); to change it, copy it
    /// (`Arc::unwrap_or_clone`) and [`write`](Self::write) the copy.
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
        if let Some(img) = self.frozen_image(logical) {
            return match img {
                Some(buf) if page::type_of(buf).is_some_and(|t| types.contains(&t)) => {
                    Ok(buf.clone())
                }
                Some(_) => fail(
                    Status::IoError,
                    format!(
                        "{}: logical page {logical} in the delta has the wrong type",
                        self.path.display()
                    ),
                ),
                None => fail(
                    Status::IoError,
                    format!(
                        "{}: logical page {logical} was freed (delta)",
                        self.path.display()
                    ),
                ),
            };
        }
        let Some(&ptr) = self.pat.get(logical as usize).filter(|p| p.is_mapped()) else {
            return fail(
                Status::IoError,
                format!(
                    "{}: reference to unallocated logical page {logical} (damaged index or list)",
                    self.path.display()
                ),
            );
        };
        if let Some(buf) = self.clean.get(&logical) {
            if page::type_of(buf).is_some_and(|t| types.contains(&t)) {
                return Ok(buf.clone());
            }
        }
        let buf = self.read_physical(ptr.physical)?;
        if !mutant!(self.config, SkipChecksum) {
            let want = Expect {
                physical: ptr.physical,
                logical,
                seq: ptr.seq,
                types,
            };
            page::verify(&buf, &want, &format_args!("{}", self.path.display()))?;
        }
        if self.clean.len() >= self.config.clean_cache_pages {
            self.clean.clear();
        }
        let buf = PageBuf::new(buf);
        self.clean.insert(logical, buf.clone());
        Ok(buf)
    }

    /// Replace a logical page's image (written at the next commit).
    pub fn write(&mut self, logical: u32, buf: Vec<u8>) {
        debug_assert_eq!(buf.len(), self.page_size);
        debug_assert!(page::type_of(&buf).is_some());
        debug_assert!(logical != 0 && logical < self.state.logical_pages);
        self.touch(logical);
        self.dirty.insert(logical, Some(PageBuf::new(buf)));
    }

    /// Allocate a logical page number, initialised with `buf`.
    pub fn alloc(&mut self, buf: Vec<u8>) -> Result<u32> {
        let logical = match self.free_logical.pop_first() {
            Some(l) => l,
            None => {
                let l = self.state.logical_pages;
                let max = crate::page::fcr::max_logical_pages(self.spec());
                if u64::from(l) >= max {
                    return fail(
                        Status::FileFull,
                        format!(
                            "{}: all {max} logical pages are in use",
                            self.path.display()
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
        self.touch(logical);
        self.dirty.insert(logical, None);
        self.free_logical.insert(logical);
    }

    /// The type of a logical page if it is mapped (for physical-order scans).
    pub fn page_type(&mut self, logical: u32) -> Result<Option<PageType>> {
        if let Some(e) = self.dirty_entry(logical) {
            return Ok(e.as_ref().and_then(|b| page::type_of(b)));
        }
        if let Some(e) = self.frozen_image(logical) {
            return Ok(e.as_ref().and_then(|b| page::type_of(b)));
        }
        if !self
            .pat
            .get(logical as usize)
            .is_some_and(|p| p.is_mapped())
        {
            return Ok(None);
        }
        let any = &[PageType::Data, PageType::Leaf, PageType::Internal];
        Ok(page::type_of(&self.read(logical, any)?))
    }

    // ----- physical I/O ---------------------------------------------------------

    fn read_physical(&mut self, physical: u32) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; self.page_size];
        let off = u64::from(physical) * self.page_size as u64;
        crate::vfs::read_exact_at(self.file.as_ref(), &mut buf, off).map_err(|e| {
            Error::io(
                &e,
                format_args!("{}: reading physical page {physical}", self.path.display()),
            )
        })?;
        self.stats.pages_read += 1;
        Ok(buf)
    }

    fn write_physical(&mut self, physical: u32, buf: &[u8]) -> Result<()> {
        let off = u64::from(physical) * self.page_size as u64;
        self.file.write_at(buf, off).map_err(|e| {
            Error::io(
                &e,
                format_args!("{}: writing physical page {physical}", self.path.display()),
            )
        })?;
        self.stats.pages_written += 1;
        Ok(())
    }

    fn sync(&mut self) -> Result<()> {
        self.stats.syncs += 1;
        self.file
            .sync()
            .map_err(|e| Error::io(&e, format_args!("{}: sync", self.path.display())))
    }

    /// A physical page for a shadow image: a free one, or one past the end. Never an
    /// FCR slot, and (unless a known-bad engine reuses pages early) never a page the
    /// durable FCR still references — the shadow-paging rule.
    fn alloc_physical(&mut self) -> u32 {
        let p = match self.free_phys.pop_first() {
            Some(p) => p,
            None => {
                let p = self.phys_pages;
                self.phys_pages += 1;
                p
            }
        };
        debug_assert!(p >= FCR_SLOTS, "physical page {p} is an FCR slot");
        debug_assert!(p < self.phys_pages);
        p
    }

    /// The physical pages the durable FCR references (PAT pages and mapped pages) past
    /// the FCR slots. Linear: for assertions only.
    fn durable_references(&self) -> Vec<u32> {
        let referenced = self.durable.pat.iter().chain(self.pat.iter());
        referenced
            .filter(|p| p.is_mapped() && p.physical >= FCR_SLOTS)
            .map(|p| p.physical)
            .collect()
    }

    /// The shadow-paging rule, before a commit writes anything: no shadow page is a page
    /// the durable FCR references (debug builds; not under a known-bad engine).
    fn debug_check_shadow_targets(&self, writes: &[(u32, Vec<u8>)]) {
        if !cfg!(debug_assertions) || self.config.any_mutant() {
            return;
        }
        let durable: BTreeSet<u32> = self.durable_references().into_iter().collect();
        for (p, _) in writes {
            assert!(
                !durable.contains(p),
                "{}: a shadow page would overwrite physical page {p}, which the durable \
                 FCR references",
                self.path.display()
            );
        }
    }

    /// The free-list hand-over's invariant: the physical pages past the FCR slots are
    /// partitioned into those the durable FCR references (PAT pages and mapped pages,
    /// each once) and the free list. Checked after every commit in debug builds (linear
    /// in the file's size); skipped under a known-bad engine, whose whole point is to
    /// break it where only the simulator should notice.
    fn debug_check_free_partition(&self) {
        if !cfg!(debug_assertions) || self.config.any_mutant() {
            return;
        }
        // (Open refuses a file that maps a page twice; a mapping into the FCR slots is
        // caught when that page is read, so it is left out here.)
        let mut seen = BTreeSet::new();
        for p in self.durable_references() {
            assert!(
                seen.insert(p),
                "{}: physical page {p} referenced twice",
                self.path.display()
            );
        }
        for &f in &self.free_phys {
            assert!(
                !seen.contains(&f),
                "{}: physical page {f} is both free and referenced",
                self.path.display()
            );
        }
        let total = self.phys_pages.saturating_sub(FCR_SLOTS) as usize;
        assert_eq!(
            seen.len() + self.free_phys.len(),
            total,
            "{}: referenced and free pages do not cover the file's {} physical pages",
            self.path.display(),
            self.phys_pages
        );
    }

    // ----- system transaction -------------------------------------------------------

    /// Commit every change since the last commit as one system transaction for this
    /// file: shadow pages → sync → FCR → sync. Returns whether anything was written.
    pub fn commit(&mut self) -> Result<bool> {
        self.check_usable()?;
        debug_assert!(self.undo.is_none(), "commit inside an operation");
        if self.txn.is_some() {
            // The file's pending changes include an open user transaction's: they
            // wait until it ends (a commit now would make part of it durable).
            return Ok(false);
        }
        if self.frozen.is_some() {
            return self.commit_to_delta();
        }
        if !self.has_changes() {
            return Ok(false);
        }
        let saved_free = self.free_phys.clone();
        let saved_phys = self.phys_pages;
        match self.commit_inner() {
            Ok(()) => Ok(true),
            Err((err, fcr_written)) => {
                if fcr_written {
                    self.poisoned = Some(err.to_string());
                } else {
                    // Nothing the durable FCR references was touched: give back the
                    // pages this attempt took (and any it appended) and keep the
                    // changes for a retry.
                    self.free_phys = saved_free;
                    self.free_phys.extend(saved_phys..self.phys_pages);
                    self.debug_check_free_partition();
                }
                Err(err.during("system transaction failed"))
            }
        }
    }

    fn commit_inner(&mut self) -> Result<(), (Error, bool)> {
        let seq = self.durable.seq + 1;
        let per = pat::entries_per_page(self.page_size);
        let mut new_pat = self.pat.clone();
        new_pat.resize(self.state.logical_pages as usize, PagePtr::NONE);
        let mut released: Vec<u32> = Vec::new();
        let mut writes: Vec<(u32, Vec<u8>)> = Vec::with_capacity(self.dirty.len() + 2);
        let mut pat_changed: BTreeSet<usize> = BTreeSet::new();
        let dirty = std::mem::take(&mut self.dirty);

        if mutant!(self.config, ReuseFreedEarly) {
            for &l in dirty.keys() {
                if let Some(old) = self.pat.get(l as usize).filter(|p| p.is_mapped()) {
                    self.free_phys.insert(old.physical);
                }
            }
        }
        for (&l, entry) in &dirty {
            let old = self.pat.get(l as usize).copied().unwrap_or(PagePtr::NONE);
            pat_changed.insert(l as usize / per);
            match entry {
                None => {
                    if old.is_mapped() {
                        released.push(old.physical);
                    }
                    new_pat[l as usize] = PagePtr::NONE;
                }
                Some(img) => {
                    let in_place = mutant!(self.config, OverwriteInPlace) && old.is_mapped();
                    let p = if in_place {
                        old.physical
                    } else {
                        self.alloc_physical()
                    };
                    if old.is_mapped() && !in_place {
                        released.push(old.physical);
                    }
                    let mut buf = Vec::clone(img);
                    page::seal(&mut buf, p, l, seq);
                    new_pat[l as usize] = PagePtr { physical: p, seq };
                    writes.push((p, buf));
                }
            }
        }
        // PAT pages: every page covering a changed entry, plus new ones.
        let npat = (self.state.logical_pages as usize).div_ceil(per);
        let mut pat_ptrs = self.durable.pat.clone();
        pat_ptrs.resize(npat, PagePtr::NONE);
        for i in 0..npat {
            if !pat_changed.contains(&i) && pat_ptrs[i].is_mapped() {
                continue;
            }
            let old = pat_ptrs[i];
            let p = self.alloc_physical();
            if old.is_mapped() {
                released.push(old.physical);
            }
            let mut buf = page::blank(self.page_size, PageType::Pat);
            let end = ((i + 1) * per).min(new_pat.len());
            pat::encode(&mut buf, &new_pat[i * per..end]);
            page::seal(&mut buf, p, i as u32, seq);
            pat_ptrs[i] = PagePtr { physical: p, seq };
            writes.push((p, buf));
        }
        writes.sort_by_key(|w| w.0);
        self.debug_check_shadow_targets(&writes);
        let fcr = Fcr {
            seq,
            spec: self.durable.spec.clone(),
            state: self.state.clone(),
            pat: pat_ptrs,
        };
        let slot = (seq % u64::from(FCR_SLOTS)) as u32;
        let mut fcr_buf = fcr.encode();
        page::seal(&mut fcr_buf, slot, slot, seq);

        let restore_dirty = |this: &mut Pager, e: Error| {
            this.dirty = dirty.clone();
            (e, false)
        };
        if mutant!(self.config, FcrBeforeShadowPages) {
            self.write_physical(slot, &fcr_buf).map_err(|e| (e, true))?;
            self.sync().map_err(|e| (e, true))?;
            for (p, buf) in &writes {
                self.write_physical(*p, buf).map_err(|e| (e, true))?;
            }
            self.sync().map_err(|e| (e, true))?;
        } else {
            for (p, buf) in &writes {
                if let Err(e) = self.write_physical(*p, buf) {
                    return Err(restore_dirty(self, e));
                }
            }
            if !mutant!(self.config, SkipSyncBeforeFcr) {
                if let Err(e) = self.sync() {
                    return Err(restore_dirty(self, e));
                }
            }
            self.write_physical(slot, &fcr_buf).map_err(|e| (e, true))?;
            self.sync().map_err(|e| (e, true))?;
        }

        // Durable. The pages this commit released are now free; the new images are
        // the committed ones.
        debug_assert!(
            self.config.any_mutant() || released.iter().all(|r| !self.free_phys.contains(r)),
            "a released page was already free (freed twice)"
        );
        self.free_phys.extend(released);
        for l in dirty.keys() {
            self.clean.remove(l);
        }
        for (_, buf) in writes {
            let is_pat = page::type_of(&buf) == Some(PageType::Pat);
            if let Some(h) = page::header(&buf).filter(|_| !is_pat) {
                if self.clean.len() < self.config.clean_cache_pages {
                    self.clean.insert(h.logical, PageBuf::new(buf));
                }
            }
        }
        self.pat = new_pat;
        self.durable = fcr;
        self.stats.commits += 1;
        debug_assert!(self.dirty.is_empty());
        self.debug_check_free_partition();
        Ok(())
    }
}

/// Read-only views for the structure check.
impl Pager {
    pub(crate) fn mapping(&self) -> &[PagePtr] {
        &self.pat
    }
    pub(crate) fn pat_pages(&self) -> &[PagePtr] {
        &self.durable.pat
    }
    pub(crate) fn free_physical(&self) -> &BTreeSet<u32> {
        &self.free_phys
    }
}
