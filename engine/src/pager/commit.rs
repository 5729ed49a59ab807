//! The system transaction of one file: physical I/O, shadow-page allocation, and the
//! commit itself — every changed page (data, index, and the PAT pages on the paths from
//! them to the FCR, planned by `pat.rs`) to a free physical page, sync,
//! the caller's before-FCR hook (the archival log's append, [`Pager::commit_with`]),
//! the FCR into the older slot, sync — and the free-list hand-over after it.
//!
//! Roll-in (`endbu`) is such a commit whose changed pages are the delta's
//! ([`Pager::commit_roll_in`]): their images are *streamed* — each read from the delta
//! into one buffer, sealed, written to its shadow page — so a delta larger than RAM
//! rolls in with memory proportional to its page count, not its bytes. Everything else
//! (shadow targets planned and checked before any write, sync, FCR, free-list
//! hand-over) is the ordinary commit's.
//!
//! Guarantees (checked by assertions in debug builds, unless a known-bad engine is
//! active): no shadow page is a page the durable FCR references; pages a commit
//! releases become free only once its FCR is durable; after every commit, and after a
//! failed one, the pages the durable FCR references and the free list partition the
//! file. A failure before the FCR write gives back the pages the attempt took and keeps
//! the changes for a retry; a failure at or after it poisons the pager.
//!
//! A transaction that spilled (`spill.rs`) first spills what is still pending, then maps
//! the spilled pages where they are; only the PAT pages and the FCR are written here. A
//! failed sync then poisons the pager: the spilled images are nowhere else to retry.

use super::frozen::{Frozen, Latest};
use super::reuse::Alloc;
use super::{Pager, FCR_SLOTS};
use crate::delta::ImageRef;
use crate::page::fcr::{self, Fcr};
use crate::page::pat::PagePtr;
use crate::page::spec::FileFormat;
use crate::page::{self, PageBuf, PageType};
use crate::status::{fail, Error, Result, Status};
use std::collections::{BTreeMap, BTreeSet};

/// One logical page a system transaction changes.
#[derive(Clone, Copy)]
enum Change<'a> {
    Freed,
    /// A new image in memory.
    Image(&'a PageBuf),
    /// Roll-in: the image is in the delta there.
    Delta(ImageRef),
}

impl Pager {
    // ----- physical I/O ---------------------------------------------------------

    /// Write roll-in's streamed shadow pages: each image read from the delta (and
    /// verified by its frame: a damaged one fails the transaction before its FCR),
    /// sealed for its new place and written, through one reused page buffer.
    fn write_streamed(
        &mut self,
        streamed: &[(u32, u32, ImageRef)],
        roll_in: Option<&Frozen>,
        seq: u64,
    ) -> Result<()> {
        let Some(f) = roll_in else {
            debug_assert!(streamed.is_empty());
            return Ok(());
        };
        let mut buf = vec![0u8; self.page_size];
        for &(p, l, at) in streamed {
            f.read_image(l, at, &mut buf)?;
            self.stats.pages_read += 1;
            page::seal(&mut buf, p, l, seq);
            self.write_physical(p, &buf)?;
        }
        Ok(())
    }

    pub(super) fn read_physical(&mut self, physical: u32) -> Result<Vec<u8>> {
        self.read_physical_into(physical, Vec::new())
    }

    /// [`read_physical`](Self::read_physical) into `buf`'s allocation (a page's image
    /// the cache evicted): made a page long, then every byte of it read over — or the
    /// read fails and `buf` is dropped — so nothing of its old contents can be
    /// returned. Saves the allocation and zeroing of a page on every cache miss.
    pub(super) fn read_physical_into(
        &mut self,
        physical: u32,
        mut buf: Vec<u8>,
    ) -> Result<Vec<u8>> {
        if buf.capacity() == 0 {
            // No spare: an allocation of exactly a page, not an empty vector grown
            // through the general reserve path as it is filled.
            buf = Vec::with_capacity(self.page_size);
        }
        let off = u64::from(physical) * self.page_size as u64;
        let file = self.file.as_ref();
        file.read_exact_into(&mut buf, self.page_size, off)
            .map_err(|e| {
                Error::io(
                    &e,
                    format_args!("{}: reading physical page {physical}", self.path.display()),
                )
            })?;
        self.stats.pages_read += 1;
        Ok(buf)
    }

    /// After the FCR written to `slot` failed its write or sync: write the durable FCR
    /// (the other slot's, the last commit's) over it, sealed for `slot`, and sync.
    /// The failed transaction was never acknowledged, so going back is allowed; a
    /// power loss during this write leaves the other slot's copy. Returns whether it
    /// took: then both slots hold the durable FCR on disk and in the OS cache, and
    /// whichever process opens the file next reads it, not the failed one that a
    /// failed sync may have left readable but never durable (an open that copied
    /// that one over the other slot could leave no control record at all). If it did
    /// not take, only this process knows ([`Pager::failed_fcr_seq`]).
    fn undo_failed_fcr(&mut self, slot: u32) -> bool {
        let mut buf = self.durable.encode();
        page::seal(&mut buf, slot, slot, self.durable.seq);
        self.write_physical(slot, &buf)
            .and_then(|()| self.sync())
            .is_ok()
    }

    pub(super) fn write_physical(&mut self, physical: u32, buf: &[u8]) -> Result<()> {
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

    pub(super) fn sync(&mut self) -> Result<()> {
        self.stats.syncs += 1;
        let mut result = self.file.sync();
        if let Err(e) = result {
            if mutant!(self.config, RetryFsyncAfterFailure) {
                // Wrong: a sync that succeeds after a failed one proves nothing — the
                // kernel may have marked the pages it could not write clean.
                self.stats.syncs += 1;
                result = self.file.sync().map_err(|_| e);
            } else {
                result = Err(e);
            }
        }
        result.map_err(|e| Error::io(&e, format_args!("{}: sync", self.path.display())))
    }

    /// A physical page for a shadow image: a free one, or one past the end. Never an
    /// FCR slot, and (unless a known-bad engine reuses pages early) never a page the
    /// durable FCR still references — the shadow-paging rule.
    /// A physical page for a shadow image of the coming commit (`reuse.rs`).
    pub(super) fn alloc_physical(&mut self) -> u32 {
        self.allocator().take()
    }

    /// Where the coming commit (sequence `durable.seq + 1`) takes its shadow pages.
    fn allocator(&mut self) -> Alloc<'_> {
        Alloc {
            free: &mut self.free_phys,
            phys_pages: &mut self.phys_pages,
            reuse: &mut self.reuse,
            file: self.file.as_ref(),
            page_size: self.page_size,
            seq: self.durable.seq + 1,
            stats: &mut self.stats,
            careless: mutant!(self.config, ReuseAttemptedPages),
        }
    }

    /// The physical pages the durable FCR references (PAT pages and mapped pages) past
    /// the FCR slots. Linear: for assertions only.
    fn durable_references(&self) -> Vec<u32> {
        let pat_pages = self.pat.pages().map(|(_, p)| p);
        let referenced = pat_pages.chain(self.pat.mapped().map(|(_, p)| p));
        referenced
            // (Past the slots implies mapped: an unmapped pointer is physical 0.)
            .filter(|p| p.physical >= FCR_SLOTS)
            .map(|p| p.physical)
            .collect()
    }

    /// The shadow-paging rule, before a commit writes anything: no shadow page is a page
    /// the durable FCR references (debug builds; not under a known-bad engine).
    fn debug_check_shadow_targets(&self, writes: impl Iterator<Item = u32>) {
        if !cfg!(debug_assertions) || self.config.any_mutant() {
            return;
        }
        let durable: BTreeSet<u32> = self.durable_references().into_iter().collect();
        for p in writes {
            assert!(
                !durable.contains(&p),
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
    pub(super) fn debug_check_free_partition(&self) {
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
        // The pending transaction's spilled pages and its pool (`spill.rs`): neither
        // referenced nor free until its commit.
        for p in self.spill.held() {
            assert!(
                seen.insert(p),
                "{}: spilled physical page {p} is also referenced or spilled twice",
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
        // Free pages held back from the coming commit (`reuse.rs`): neither.
        for &h in &self.reuse.held {
            assert!(
                !seen.contains(&h) && !self.free_phys.contains(&h),
                "{}: held physical page {h} is also free or referenced",
                self.path.display()
            );
        }
        let total = self.phys_pages.saturating_sub(FCR_SLOTS) as usize;
        assert_eq!(
            seen.len() + self.free_phys.len() + self.reuse.held.len(),
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
        self.commit_hooked(None, false, None)
    }

    /// Roll-in's system transaction: commit every page of the delta `f` (the frozen
    /// state taken out of the pager; nothing else pending) into the data file. The
    /// images are streamed from the delta, one page buffer at a time; the mapping, the
    /// PAT pages and the FCR are the ordinary commit's. Runs even if the state did not
    /// change, whenever the delta names a page, so that roll-in is a pure function of
    /// the delta.
    pub(super) fn commit_roll_in(&mut self, f: &Frozen) -> Result<bool> {
        debug_assert!(self.frozen.is_none() && self.dirty.is_empty());
        debug_assert!(self.spill.is_empty(), "roll-in with spilled pages pending");
        debug_assert!(self.durable.spec.format != FileFormat::V5);
        self.commit_hooked(None, !f.pages.is_empty(), Some(f))
    }

    /// [`commit`](Self::commit), running `before_fcr` between the synced shadow pages
    /// and the FCR write with the FCR sequence and applied LSN the transaction brings
    /// the file to. The engine appends the transaction to the file's archival log there
    /// (the pager cannot know that log: it lies above this layer), so a durable FCR is
    /// always covered by a durable frame. An error from `before_fcr` fails the system
    /// transaction as a failed data sync does: the FCR is not written, the pages taken
    /// are given back and the changes kept for a retry. With `force`, a transaction
    /// runs even with nothing pending (it writes only the FCR, one sequence on):
    /// roll-forward from an archival log uses it so that a frame without changes still
    /// brings the file to the frame's FCR sequence. A frozen file cannot take a hook:
    /// its transactions go to the delta, which no archival log can describe (status 88).
    pub fn commit_with(
        &mut self,
        force: bool,
        before_fcr: &mut dyn FnMut(u64, u64) -> Result<()>,
    ) -> Result<bool> {
        self.commit_hooked(Some(before_fcr), force, None)
    }

    fn commit_hooked(
        &mut self,
        before_fcr: Option<&mut dyn FnMut(u64, u64) -> Result<()>>,
        force: bool,
        roll_in: Option<&Frozen>,
    ) -> Result<bool> {
        self.check_usable()?;
        // A commit remaps pages, replaces clean images, may write to the delta or be
        // undone, and may poison the pager: whatever a reader kept is stale.
        self.changed();
        debug_assert!(self.undo.is_none(), "commit inside an operation");
        if self.txn.is_some() {
            // The file's pending changes include an open user transaction's: they
            // wait until it ends (a commit now would make part of it durable).
            return Ok(false);
        }
        if self.frozen.is_some() {
            if before_fcr.is_some() {
                return fail(
                    Status::IncompatibleMode,
                    format!(
                        "{} is in continuous operations and archived: its system \
                         transactions go to its delta, which its archival log cannot \
                         describe",
                        self.path.display()
                    ),
                );
            }
            return self.commit_to_delta();
        }
        if !force && !self.has_changes() {
            return Ok(false);
        }
        if !self.spill.is_empty() {
            // A transaction that spilled writes what is still pending the same way
            // first (`spill.rs`): into its pool, not onto more fresh pages.
            debug_assert!(roll_in.is_none());
            if let Err(e) = self.spill() {
                return Err(e.during("system transaction failed"));
            }
        }
        let saved_free = self.free_phys.clone();
        let saved_phys = self.phys_pages;
        match self.commit_inner(before_fcr, roll_in) {
            Ok(()) => Ok(true),
            // `lost`: the FCR was written (the outcome is unknown), or pages written
            // ahead of the commit may not be durable (`spill.rs`): no retry can help.
            Err((err, lost)) => {
                if lost {
                    self.poisoned = Some(err.to_string());
                } else {
                    // Nothing the durable FCR references was touched: keep the changes
                    // for a retry. The pages this attempt took (and any it appended)
                    // are free, but may hold its images, sealed with the sequence the
                    // retry will write: held back until a commit succeeds (`reuse.rs`).
                    let taken: Vec<u32> = saved_free.difference(&self.free_phys).copied().collect();
                    self.free_phys = saved_free;
                    // Known-bad: the retry may take them again, for the same sequence.
                    let careless = mutant!(self.config, ReuseAttemptedPages);
                    if !careless {
                        for p in &taken {
                            self.free_phys.remove(p);
                        }
                        self.reuse.held.extend(taken);
                    }
                    if self.durable.spec.format == FileFormat::V5 {
                        // A legacy transaction that failed was undone: the file was cut
                        // back to its old length, so the pages it appended are gone.
                        self.phys_pages = saved_phys;
                    } else if careless {
                        self.free_phys.extend(saved_phys..self.phys_pages);
                    } else {
                        self.reuse.held.extend(saved_phys..self.phys_pages);
                    }
                    self.debug_check_free_partition();
                }
                Err(err.during("system transaction failed"))
            }
        }
    }

    fn commit_inner(
        &mut self,
        mut before_fcr: Option<&mut dyn FnMut(u64, u64) -> Result<()>>,
        roll_in: Option<&Frozen>,
    ) -> Result<(), (Error, bool)> {
        let seq = self.durable.seq + 1;
        // The legacy format overwrites pages in place (under pre-imaging, `legacy.rs`).
        let legacy = self.durable.spec.format == FileFormat::V5;
        let phys_before = self.phys_pages;
        let mut changes: BTreeMap<u32, PagePtr> = BTreeMap::new();
        let mut released: Vec<u32> = Vec::new();
        let mut writes: Vec<(u32, Vec<u8>)> = Vec::with_capacity(self.dirty.len() + 2);
        // Roll-in's pages: (physical, logical, where the image is in the delta),
        // written one at a time below; never all in memory.
        let mut streamed: Vec<(u32, u32, ImageRef)> = Vec::new();
        let dirty = std::mem::take(&mut self.dirty);
        // What this transaction changes: the pending pages, or (roll-in) the delta's.
        let changed = || -> Box<dyn Iterator<Item = (u32, Change<'_>)> + '_> {
            match roll_in {
                None => Box::new(
                    dirty
                        .iter()
                        .map(|(&l, e)| (l, e.as_ref().map_or(Change::Freed, Change::Image))),
                ),
                Some(f) => Box::new(f.pages.iter().map(|(&l, e)| {
                    let c = match e {
                        Latest::At(at) => Change::Delta(*at),
                        Latest::Freed => Change::Freed,
                        Latest::Held(img) => Change::Image(img),
                    };
                    (l, c)
                })),
            }
        };

        if mutant!(self.config, ReuseFreedEarly) {
            for (l, _) in changed() {
                let old = self.pat.get(l);
                if old.is_mapped() {
                    self.free_phys.insert(old.physical);
                }
            }
        }
        for (l, entry) in changed() {
            let old = self.pat.get(l);
            // A page spilled earlier in this transaction and changed since: its
            // spilled page (never referenced by an FCR) is free after the commit.
            if let Some(&spilled) = self.spill.at.get(&l) {
                released.push(spilled);
            }
            match entry {
                Change::Freed => {
                    if old.is_mapped() {
                        released.push(old.physical);
                    }
                    changes.insert(l, PagePtr::NONE);
                }
                Change::Image(_) | Change::Delta(_) => {
                    let in_place =
                        (legacy || mutant!(self.config, OverwriteInPlace)) && old.is_mapped();
                    let p = if in_place {
                        old.physical
                    } else {
                        self.alloc_physical()
                    };
                    if old.is_mapped() && !in_place {
                        released.push(old.physical);
                    }
                    changes.insert(l, PagePtr { physical: p, seq });
                    match entry {
                        Change::Image(img) => {
                            let mut buf = Vec::clone(img);
                            page::seal(&mut buf, p, l, seq);
                            writes.push((p, buf));
                        }
                        Change::Delta(at) => streamed.push((p, l, at)),
                        Change::Freed => {}
                    }
                }
            }
        }
        // Spilled pages (`spill.rs`) are at their places already: mapped there now,
        // their durable pages released.
        for (&l, &p) in &self.spill.at {
            if dirty.contains_key(&l) {
                continue;
            }
            let old = self.pat.get(l);
            if old.is_mapped() && old.physical != p {
                released.push(old.physical);
            }
            changes.insert(l, PagePtr { physical: p, seq });
        }
        // PAT pages: every leaf covering a changed entry and every interior page on
        // the path from it to the FCR (and a new top level if the depth grows).
        let top_cap = fcr::pat_capacity(&self.durable.spec);
        let mut plan = {
            let n = self.state.logical_pages;
            let mut pages = Alloc {
                free: &mut self.free_phys,
                phys_pages: &mut self.phys_pages,
                reuse: &mut self.reuse,
                file: self.file.as_ref(),
                page_size: self.page_size,
                seq,
                stats: &mut self.stats,
                careless: mutant!(self.config, ReuseAttemptedPages),
            };
            let mut alloc = || pages.take();
            self.pat.plan(
                &changes,
                n,
                top_cap,
                seq,
                self.page_size,
                legacy,
                &mut alloc,
            )
        };
        released.append(&mut plan.released);
        writes.append(&mut plan.writes);
        writes.sort_by_key(|w| w.0);
        debug_assert!(
            !legacy || streamed.is_empty(),
            "a legacy file is never frozen"
        );
        if !legacy {
            let targets = writes.iter().map(|w| w.0);
            let spilled = self.spill.at.values().copied();
            let targets = targets.chain(streamed.iter().map(|s| s.0)).chain(spilled);
            self.debug_check_shadow_targets(targets);
        }
        let fcr = Fcr {
            seq,
            spec: self.durable.spec.clone(),
            state: self.state.clone(),
            pat_depth: plan.depth,
            pat: plan.top.clone(),
        };
        let slot = (seq % u64::from(FCR_SLOTS)) as u32;
        let mut fcr_buf = fcr.encode();
        page::seal(&mut fcr_buf, slot, slot, seq);

        let restore_dirty = |this: &mut Pager, e: Error| {
            this.dirty = dirty.clone();
            (e, false)
        };
        let applied_lsn = self.state.applied_lsn;
        let archive_late = mutant!(self.config, ArchiveAfterFcr);
        if legacy {
            let io = (seq, applied_lsn);
            self.write_in_place(&writes, slot, &fcr_buf, io, phys_before, &mut before_fcr)
                .map_err(|(e, unknown)| {
                    if !unknown {
                        self.dirty = dirty.clone();
                    }
                    (e, unknown)
                })?;
        } else if mutant!(self.config, FcrBeforeShadowPages) {
            if let Some(hook) = before_fcr.as_mut().filter(|_| !archive_late) {
                if let Err(e) = hook(seq, applied_lsn) {
                    return Err(restore_dirty(self, e));
                }
            }
            self.write_physical(slot, &fcr_buf).map_err(|e| (e, true))?;
            self.sync().map_err(|e| (e, true))?;
            for (p, buf) in &writes {
                self.write_physical(*p, buf).map_err(|e| (e, true))?;
            }
            self.write_streamed(&streamed, roll_in, seq)
                .map_err(|e| (e, true))?;
            self.sync().map_err(|e| (e, true))?;
        } else {
            for (p, buf) in &writes {
                if let Err(e) = self.write_physical(*p, buf) {
                    return Err(restore_dirty(self, e));
                }
            }
            if let Err(e) = self.write_streamed(&streamed, roll_in, seq) {
                return Err(restore_dirty(self, e));
            }
            if !mutant!(self.config, SkipSyncBeforeFcr) {
                if let Err(e) = self.sync() {
                    if !self.spill.is_empty() {
                        // The spilled pages' durability is now unknown (a failed sync
                        // may have marked them clean unwritten) and their images are
                        // nowhere else to write again: the transaction is lost.
                        return Err((e, true));
                    }
                    return Err(restore_dirty(self, e));
                }
            }
            // The archival log's frame for this transaction, synced, before the FCR
            // that makes the transaction durable: a durable FCR is always covered.
            if let Some(hook) = before_fcr.as_mut().filter(|_| !archive_late) {
                if let Err(e) = hook(seq, applied_lsn) {
                    return Err(restore_dirty(self, e));
                }
            }
            // From here a failure leaves the FCR's durability unknown: under Linux's
            // policy a failed sync marks it clean unwritten, readable but never
            // durable, while the other slot holds the only durable FCR. The next open
            // must not copy over that one first (`open.rs`).
            let fcr_written = self
                .write_physical(slot, &fcr_buf)
                .and_then(|()| self.sync());
            if let Err(e) = fcr_written {
                self.failed_fcr_seq = Some(seq);
                if !mutant!(self.config, CopyOverLastDurableFcr) && self.undo_failed_fcr(slot) {
                    self.failed_fcr_seq = None;
                }
                return Err((e, true));
            }
        }
        if let Some(hook) = before_fcr.as_mut().filter(|_| archive_late && !legacy) {
            // Wrong: the FCR is durable before the frame that covers it; a crash (or a
            // failed append) here leaves a committed transaction the log never holds.
            hook(seq, applied_lsn).map_err(|e| (e, true))?;
        }

        // Durable. The pages this commit released are now free; the new images are
        // the committed ones.
        debug_assert!(
            self.config.any_mutant() || released.iter().all(|r| !self.free_phys.contains(r)),
            "a released page was already free (freed twice)"
        );
        self.free_phys.extend(released);
        self.free_phys.append(&mut self.reuse.committed());
        self.spill_committed();
        for (l, _) in changed() {
            self.clean.remove(&l);
        }
        for (_, buf) in writes {
            let is_pat = matches!(
                page::type_of(&buf),
                Some(PageType::Pat | PageType::PatInterior)
            );
            if let Some(h) = page::header(&buf).filter(|_| !is_pat) {
                if self.clean.len() < self.config.clean_cache_pages {
                    self.clean.insert(h.logical, PageBuf::new(buf));
                }
            }
        }
        self.pat.apply(plan);
        self.durable = fcr;
        self.stats.commits += 1;
        debug_assert!(self.dirty.is_empty());
        self.debug_check_free_partition();
        Ok(())
    }
}

#[cfg(test)]
#[path = "commit_tests.rs"]
mod tests;
