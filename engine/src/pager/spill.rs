//! Spilling: under dirty-page pressure inside a bulk job, the pending images of a
//! system transaction are written *ahead of its commit* to the physical pages the
//! commit will map them to, and dropped from memory, instead of committing.
//!
//! Why: a bulk job that commits every `max_dirty_pages` makes each commit shadow
//! nearly every leaf in random-order loads; the last commit's shadows and the
//! previous versions coexist until its FCR, and the file keeps that peak as free
//! pages. Spilling keeps memory bounded and the job one system transaction (per
//! file), whose pages are written once per spill round into places no FCR
//! references, so the file ends at about the size one transaction gives.
//!
//! Contract:
//! - A spilled image goes to a page free in the durable state (from the free list, or
//!   a page this transaction spilled before and no longer needs — its *pool*), sealed
//!   with the sequence of the commit to come. Nothing the durable FCR references is
//!   written, so a crash (or a failure) before the commit's FCR leaves the durable
//!   state intact, and the pages spilled are free on the next open, as any shadow
//!   page a crash orphans.
//! - Never twice the same logical page to the same physical page within one
//!   transaction (`written`): every spilled image then carries a (physical, logical,
//!   sequence) triple no other write of the file ever carried, so a write that is
//!   lost or misdirected leaves a page whose header differs from what the mapping
//!   expects — detected on read, as for a commit's shadow pages. (Rewriting a spilled
//!   page in place would leave its older image, which verifies, after such a fault.)
//! - Reads see spilled pages (clean cache, else read and verified at their place). A
//!   spilled page found damaged cannot be rewritten (its image exists nowhere else):
//!   the pager is poisoned and the transaction is lost; the file reopens at its
//!   durable state.
//! - The commit spills what is still pending, maps every spilled page, syncs and
//!   writes its FCR. A failed sync there poisons the pager too: the spilled pages'
//!   durability is unknown (Linux marks the pages it could not write clean) and
//!   they cannot be written again.
//! - The write-ahead rule (DESIGN: the log is durable up to a transaction's changes
//!   before it writes data pages) is kept where it matters: a spilled page is reachable
//!   only once the commit's FCR is written, and the engine's commits sync the log
//!   first (`flush_all`, `close`); before that a crash leaves the spilled pages orphans.
//! - Only plain 6.x files spill: not legacy ones (in-place pre-imaging), not frozen
//!   ones (their transactions go to the delta), not inside an operation or under a
//!   user transaction. The engine spills only in bulk jobs, and never archived files
//!   (their archival log frames are built from the pending pages).
//!
//! Memory the pager keeps for a spilling transaction: one map entry per logical page
//! spilled (its place), the pool (about one page per spill round), and one pair per
//! spill write (`written`, 8 bytes and a set node) — proportional to the pages the job
//! writes, not to the bytes of its records.

use super::Pager;
use crate::page::spec::FileFormat;
use crate::page::{self, Expect, PageBuf, PageType};
use crate::status::{fail, Result, Status};
use std::collections::{BTreeMap, BTreeSet};

/// Pool pages tried for a logical page before a fresh free page is taken (a pool page
/// that once held the same logical page is skipped).
const POOL_PROBES: usize = 8;

/// Every page type a spilled image can have: spilled pages are pending data and index
/// pages (PAT pages are planned at the commit, never pending).
const SPILLED_TYPES: &[PageType] = &[PageType::Data, PageType::Leaf, PageType::Internal];

/// The spilled state of the pending system transaction.
#[derive(Default)]
pub(super) struct Spill {
    /// Logical page → the physical page holding its spilled image (sealed with the
    /// next commit's sequence). A logical page also in `dirty` has a newer image there.
    pub(super) at: BTreeMap<u32, u32>,
    /// Physical pages this transaction spilled to and no longer needs: referenced by no
    /// FCR, reusable by this transaction for a logical page they never held, free
    /// after its commit.
    pub(super) pool: BTreeSet<u32>,
    /// (physical, logical) pairs this transaction wrote (`pair`).
    written: BTreeSet<u64>,
}

fn pair(physical: u32, logical: u32) -> u64 {
    (u64::from(physical) << 32) | u64::from(logical)
}

impl Spill {
    pub(super) fn is_empty(&self) -> bool {
        self.at.is_empty() && self.pool.is_empty()
    }

    /// Physical pages the transaction holds: neither referenced by the durable FCR nor
    /// free.
    pub(super) fn held(&self) -> impl Iterator<Item = u32> + '_ {
        self.at.values().chain(self.pool.iter()).copied()
    }
}

impl Pager {
    /// Can this file's pending pages be spilled now (module doc)?
    pub fn can_spill(&self) -> bool {
        self.poisoned.is_none()
            && !self.read_only
            && self.frozen.is_none()
            && self.txn.is_none()
            && self.undo.is_none()
            && self.durable.spec.format != FileFormat::V5
    }

    /// Pages spilled so far in the pending system transaction.
    pub fn spilled_pages(&self) -> usize {
        self.spill.at.len()
    }

    /// Write every pending page image ahead of the commit to its place and drop it
    /// from memory (module doc). Returns how many were written; 0 when the file cannot
    /// spill. On an error the page it failed on (and those after it) stay pending in
    /// memory, those before it are spilled: nothing durable changed, and a commit (or
    /// another spill) writes them again.
    pub fn spill(&mut self) -> Result<usize> {
        self.check_usable()?;
        if !self.can_spill() {
            return Ok(0);
        }
        self.changed();
        let seq = self.durable.seq + 1;
        let pending: Vec<(u32, PageBuf)> = self
            .dirty
            .iter()
            .filter_map(|(&l, e)| e.as_ref().map(|b| (l, b.clone())))
            .collect();
        let mut n = 0;
        for (l, img) in pending {
            let p = self.spill_place(l);
            let mut buf = Vec::clone(&img);
            page::seal(&mut buf, p, l, seq);
            // Taken before the write: if it fails, whatever reached `p` is an image of
            // `l` at `seq`, and `p` must never hold `l` again in this transaction.
            self.spill.written.insert(pair(p, l));
            if let Err(e) = self.write_physical(p, &buf) {
                self.spill.pool.insert(p);
                return Err(e.during("writing pending pages ahead of their commit"));
            }
            if let Some(old) = self.spill.at.insert(l, p) {
                self.spill.pool.insert(old);
            }
            self.dirty.remove(&l);
            self.cache_clean(l, PageBuf::new(buf));
            n += 1;
        }
        self.stats.pages_spilled += n as u64;
        Ok(n)
    }

    /// Where `l`'s image goes: a pool page that never held `l` in this transaction, or
    /// a page free in the durable state.
    fn spill_place(&mut self, l: u32) -> u32 {
        if mutant!(self.config, SpillOverDurable) && !self.spill.at.contains_key(&l) {
            // Wrong: the image goes over the page the durable FCR maps `l` to; a crash
            // before the commit leaves that page neither its old image nor committed.
            let old = self.pat.get(l);
            if old.is_mapped() {
                return old.physical;
            }
        }
        let reusable = self
            .spill
            .pool
            .iter()
            .take(POOL_PROBES)
            .copied()
            .find(|&p| !self.spill.written.contains(&pair(p, l)));
        match reusable {
            Some(p) => {
                self.spill.pool.remove(&p);
                p
            }
            None => self.alloc_physical(),
        }
    }

    /// Read `logical`'s spilled image from `physical` (a clean-cache miss), verified
    /// against the place and the pending sequence. Damage poisons the pager: the image
    /// exists nowhere else, so the transaction cannot be finished.
    pub(super) fn read_spilled(
        &mut self,
        logical: u32,
        physical: u32,
        types: &'static [PageType],
    ) -> Result<PageBuf> {
        let spare = self.clean.take_spare();
        let buf = self.read_physical_into(physical, spare)?;
        if !mutant!(self.config, SkipChecksum) {
            let want = Expect {
                physical,
                logical,
                seq: self.durable.seq + 1,
                types: SPILLED_TYPES,
            };
            if let Err(e) = page::verify(&buf, &want, &format_args!("{}", self.path.display())) {
                self.poisoned = Some(format!(
                    "a page written ahead of the pending system transaction's commit is \
                     damaged ({e}), so that transaction is lost"
                ));
                return Err(e);
            }
        }
        if !page::type_of(&buf).is_some_and(|t| types.contains(&t)) {
            return fail(
                Status::IoError,
                format!(
                    "{}: logical page {logical} has the wrong type",
                    self.path.display()
                ),
            );
        }
        let buf = PageBuf::new(buf);
        self.cache_clean(logical, buf.clone());
        Ok(buf)
    }

    /// After a commit's FCR is durable: the spilled pages are committed (mapped), the
    /// pool is free.
    pub(super) fn spill_committed(&mut self) {
        let spill = std::mem::take(&mut self.spill);
        self.free_phys.extend(spill.pool);
    }
}
