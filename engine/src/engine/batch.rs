//! Inserting many records at once (`bulk::load_sequential`, `bulk::convert`):
//! [`Engine::insert_all`] leaves the files, the handle and the log as that many
//! Inserts (2) one after another would, for a fraction of the work.
//!
//! How: the records go in batches — [`BATCH_RECORDS`] first, then each as large as
//! the pages the one before changed allow ([`next_batch`]). A batch is one operation of
//! the data file (`DataFile::insert_batch`: one undo for the batch, each data page
//! filled once, each key's entries in key order, appended to the rightmost leaf when
//! beyond the tree's last), then one transaction of the log (log modes: the batch's
//! inserts, in order, with one commit record — roll-forward redoes them as Inserts),
//! then counted toward the next system transaction as that many operations (so the
//! bundle limits, dirty-page pressure included, commit between batches as they
//! would between Inserts). A batch that fails is undone whole and replayed one
//! Insert at a time, so a failure (a duplicate key: 5; a full disk…) stops at the
//! same record, with the same status, and the records before it inserted, exactly as
//! one Insert at a time would.
//!
//! Dirty-page pressure (`max_dirty_pages`) between batches does not commit: the
//! pending pages of every file that can are *spilled* — written ahead of their commit
//! to pages no FCR references, and dropped from memory (`pager/spill.rs`) — so a job's
//! memory for pages stays bounded by `max_dirty_pages` plus a batch while it runs as
//! one system transaction per file, committed by the other bundle limits or at its
//! end. One transaction instead of one per `max_dirty_pages` is what keeps a
//! random-order load's file near the size its pages need: each commit shadows every
//! page it changes, and the previous versions stay until its FCR. Archived files do
//! not batch (below) and so never spill; frozen and legacy files do not spill.
//!
//! What a crash leaves: system transactions commit only between batches, so the
//! file's durable state is the file before the call plus a prefix of whole batches
//! (log Off), or — in a log mode — roll-forward also redoes every batch whose log
//! transaction was durable: a prefix of the records in batch steps. Never part of a
//! batch, never a record without its index entries. Spilling only makes the commit
//! points fewer (pages spilled and not yet committed are free after a crash), so the
//! prefixes a crash leaves (log Off) are fewer too: in a job nothing else commits, the
//! file before the call or all of it. In a log mode the file's applied LSN moves only
//! at a commit, so the log keeps every batch of the job until its commit, and a crash
//! rolls the whole job forward from the log.
//!
//! Where a batch is not the same as Inserts, records go one Insert at a time: the
//! handle's client has a user transaction open (its changes are held and logged at
//! End), the file is locked by one, or the file is archived (its archival log frames
//! are sized for single changes).

use super::cursor::Position;
use super::{Engine, Handle, OpenMode};
use crate::file::change::Change;
use crate::file::datafile::Placed;
use crate::file::key;
use crate::mutant::Mutant;
use crate::status::Result;
use std::path::PathBuf;

/// Records in a bulk job's first batch ([`Engine::insert_all`]); each later batch is
/// sized by the pages the one before changed ([`next_batch`]).
pub const BATCH_RECORDS: usize = 2048;
/// The fewest and the most records [`next_batch`] gives a batch.
pub const MIN_BATCH_RECORDS: usize = 64;
pub const MAX_BATCH_RECORDS: usize = 65536;

/// The size of the batch after one of `batch` records that changed `pages` pages,
/// where a batch should change at most `max_pages` (the engine's `max_dirty_pages`):
/// half as many records when it changed more, twice as many when it changed at most
/// half as many, within [`MIN_BATCH_RECORDS`]..=[`MAX_BATCH_RECORDS`].
///
/// Why: a batch's cost is mostly its first change of each page — a page pending
/// already is copied for the batch's undo, one written ahead (spilled) is copied back
/// out of the cache — and a batch's memory is its pages and those copies. Once a
/// random-order load's tree has fewer leaves than a batch has records, nearly every
/// leaf is changed by every batch: with batches of 2,048 records, a load of 1M records
/// (100 bytes, one 8-byte key, 4 KiB pages: about 8,000 leaves at the end) copied 0.94
/// pages a record. Batches that grow while they change fewer than `max_pages` pages
/// spread those copies over more records, and memory stays within about
/// `max_pages` for the batch plus as many before-images, on top of the pending pages
/// that `max_dirty_pages` bounds between batches.
pub fn next_batch(batch: usize, pages: usize, max_pages: usize) -> usize {
    let max_pages = max_pages.max(1);
    let next = if pages > max_pages {
        batch / 2
    } else if pages <= max_pages / 2 {
        batch.saturating_mul(2)
    } else {
        batch
    };
    next.clamp(MIN_BATCH_RECORDS, MAX_BATCH_RECORDS)
}

/// How a bulk job cuts its records into batches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Batches {
    /// Every batch this many records (the last one fewer); 1 is Insert by Insert
    /// through the batch path.
    Fixed(usize),
    /// The first batch `first` records, each later one sized by [`next_batch`] from
    /// the pages the one before changed ([`Engine::insert_all`]: from
    /// [`BATCH_RECORDS`]).
    ByPages { first: usize },
}

impl Engine {
    /// Insert (2) every record of `records` through `h`, in order, as that many
    /// Inserts would — the same records, serials, data slots, index entries, position
    /// (on the last record) and statuses; in a log mode the same changes, a batch to a
    /// log transaction — in batches sized by [`next_batch`] (module doc). `inserted`
    /// counts the records inserted, also when it fails: then the records before the
    /// failing one are in and the error is that Insert's (but for a failed log write
    /// after a batch was applied: its records count, and the log's error is returned).
    pub fn insert_all<R: AsRef<[u8]>>(
        &mut self,
        h: Handle,
        records: &[R],
        inserted: &mut u64,
    ) -> Result<()> {
        self.insert_batched(
            h,
            records,
            Batches::ByPages {
                first: BATCH_RECORDS,
            },
            inserted,
        )
    }

    /// [`insert_all`](Self::insert_all) with the batches `batches` says (tests and
    /// the simulator vary them).
    pub fn insert_batched<R: AsRef<[u8]>>(
        &mut self,
        h: Handle,
        records: &[R],
        batches: Batches,
        inserted: &mut u64,
    ) -> Result<()> {
        if !self.batch_applies(h)? {
            return self.insert_each(h, records, inserted);
        }
        let torn = self.mutant(Mutant::BulkBatchTorn);
        let mut batch = match batches {
            Batches::Fixed(n) => n,
            Batches::ByPages { first } => first,
        }
        .max(1);
        let mut rest = records;
        while !rest.is_empty() {
            let (whole, tail) = rest.split_at(batch.min(rest.len()));
            rest = tail;
            // The mutant splits each batch in two: a system transaction (and, in a log
            // mode, a log transaction) may then end between its halves.
            let (a, b) = whole.split_at(if torn { whole.len() / 2 } else { 0 });
            let mut pages = Some(0);
            for chunk in [a, b] {
                if chunk.is_empty() {
                    continue;
                }
                let changed = self.insert_chunk(h, chunk, inserted)?;
                pages = pages.zip(changed).map(|(p, c)| p + c);
            }
            // A batch replayed Insert by Insert says nothing of the next one's pages.
            if let (Batches::ByPages { .. }, Some(pages)) = (batches, pages) {
                batch = next_batch(batch, pages, self.config.max_dirty_pages);
            }
        }
        Ok(())
    }

    /// One batch of [`insert_batched`](Self::insert_batched): applied whole,
    /// logged as one transaction and counted (returns the pages it changed); or, if it
    /// fails, undone and inserted one at a time (returns `None`).
    fn insert_chunk<R: AsRef<[u8]>>(
        &mut self,
        h: Handle,
        chunk: &[R],
        inserted: &mut u64,
    ) -> Result<Option<usize>> {
        self.log_ready()?;
        let logging = self.logging();
        let (c, f) = self.parts(h)?;
        let Ok(Placed {
            records: placed,
            pages,
        }) = f.df.insert_batch(chunk)
        else {
            // Undone whole: Insert by Insert gives the exact outcome (or, if the
            // cause has passed, inserts the chunk).
            return self.insert_each(h, chunk, inserted).map(|()| None);
        };
        if let (Some(record), Some(&(addr, serial))) = (chunk.last(), placed.last()) {
            let ks = &f.df.spec().keys[c.key];
            c.pos = Position::Logical {
                key: c.key,
                entry: key::entry(ks, record.as_ref(), serial),
                addr,
                on_record: true,
            };
        }
        *inserted += chunk.len() as u64;
        if logging {
            let path = f.path.clone();
            let changes: Vec<_> = chunk
                .iter()
                .zip(&placed)
                .map(|(record, &(_, serial))| {
                    let change = Change::Insert {
                        serial,
                        record: record.as_ref().to_vec(),
                    };
                    (path.clone(), change)
                })
                .collect();
            self.log_batch(&changes)?;
        }
        self.count_batch(chunk.len() as u64);
        Ok(Some(pages))
    }

    /// Append a batch's changes to the log as one transaction (as `log_change` does a
    /// single change outside a user transaction).
    fn log_batch(&mut self, changes: &[(PathBuf, Change)]) -> Result<()> {
        let lsn = match self.log().and_then(|l| l.append(changes)) {
            Ok(lsn) => lsn,
            Err(e) => return Err(self.log_failure(e)),
        };
        self.applied(changes, lsn);
        self.stats.log_commits += 1;
        self.durable_if_required()
    }

    /// Count a batch of `n` committed operations and start a system transaction if
    /// one is due (as `after_modification` does for one).
    fn count_batch(&mut self, n: u64) {
        self.stats.operations += n;
        self.stats.batched_inserts += n;
        self.stats.batches += 1;
        self.pending_ops += n;
        if self.bundle_since.is_none() {
            self.bundle_since = Some(self.clock.now());
        }
        let dirty = self.dirty_pages() as u64;
        self.stats.peak_dirty_pages = self.stats.peak_dirty_pages.max(dirty);
        if self.bundle_due() {
            // Dirty-page pressure alone: spill instead of committing (module doc).
            self.spill_under_pressure();
        }
        if self.bundle_due() {
            // A failed system transaction does not fail the operations (they are
            // applied; the next one retries), as after a single Insert.
            let _ = self.flush_all(false);
        }
    }

    /// Insert by Insert.
    fn insert_each<R: AsRef<[u8]>>(
        &mut self,
        h: Handle,
        records: &[R],
        inserted: &mut u64,
    ) -> Result<()> {
        for r in records {
            self.insert(h, r.as_ref())?;
            *inserted += 1;
        }
        Ok(())
    }

    /// Is a batch the same as Inserts through `h` (module doc)?
    /// A read-only handle goes Insert by Insert too, which refuses it as Insert does.
    fn batch_applies(&mut self, h: Handle) -> Result<bool> {
        let (c, f) = self.parts(h)?;
        let (client, writable) = (c.client, c.mode != OpenMode::ReadOnly);
        let plain = writable && f.txn_owner.is_none() && f.archive.is_none();
        Ok(plain && !self.txns.contains_key(&client))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_batch_halves_above_the_pages_doubles_at_half_and_keeps_its_bounds() {
        assert_eq!(next_batch(2048, 1001, 1000), 1024);
        assert_eq!(next_batch(2048, 1000, 1000), 2048);
        assert_eq!(next_batch(2048, 501, 1000), 2048);
        assert_eq!(next_batch(2048, 500, 1000), 4096);
        assert_eq!(next_batch(MIN_BATCH_RECORDS, 5000, 1000), MIN_BATCH_RECORDS);
        assert_eq!(next_batch(MAX_BATCH_RECORDS, 0, 1000), MAX_BATCH_RECORDS);
        // A size from outside the bounds (a caller's first batch) comes inside.
        assert_eq!(next_batch(3, 0, 1000), MIN_BATCH_RECORDS);
        assert_eq!(next_batch(usize::MAX, 0, 1000), MAX_BATCH_RECORDS);
        // No room at all is room for one page.
        assert_eq!(next_batch(2048, 0, 0), 4096);
        assert_eq!(next_batch(2048, 1, 0), 2048);
        assert_eq!(next_batch(2048, 2, 0), 1024);
    }
}
