//! Inserting many records at once (`bulk::load_sequential`, `bulk::convert`):
//! [`Engine::insert_all`] leaves the files, the handle and the log as that many
//! Inserts (2) one after another would, for a fraction of the work.
//!
//! How: the records go in batches of [`BATCH_RECORDS`]. A batch is one operation of
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
use crate::file::key;
use crate::mutant::Mutant;
use crate::status::Result;
use std::path::PathBuf;

/// Records per batch: large enough that a batch's fixed costs (a descent of each
/// key's rightmost path, the undo, a log commit record) vanish per record, small
/// enough that a batch's pages are a small part of `max_dirty_pages`.
pub const BATCH_RECORDS: usize = 2048;

impl Engine {
    /// Insert (2) every record of `records` through `h`, in order, as that many
    /// Inserts would — the same records, serials, data slots, index entries, position
    /// (on the last record) and statuses; in a log mode the same changes, a batch to a
    /// log transaction — in batches of [`BATCH_RECORDS`] (module doc). `inserted`
    /// counts the records inserted, also when it fails: then the records before the
    /// failing one are in and the error is that Insert's (but for a failed log write
    /// after a batch was applied: its records count, and the log's error is returned).
    pub fn insert_all<R: AsRef<[u8]>>(
        &mut self,
        h: Handle,
        records: &[R],
        inserted: &mut u64,
    ) -> Result<()> {
        self.insert_batched(h, records, BATCH_RECORDS, inserted)
    }

    /// [`insert_all`](Self::insert_all) with batches of `batch` records (tests vary
    /// it; 1 is Insert by Insert through the batch path).
    pub fn insert_batched<R: AsRef<[u8]>>(
        &mut self,
        h: Handle,
        records: &[R],
        batch: usize,
        inserted: &mut u64,
    ) -> Result<()> {
        let batch = batch.max(1);
        if !self.batch_applies(h)? {
            return self.insert_each(h, records, inserted);
        }
        let torn = self.mutant(Mutant::BulkBatchTorn);
        for whole in records.chunks(batch) {
            // The mutant splits each batch in two: a system transaction (and, in a log
            // mode, a log transaction) may then end between its halves.
            let (a, b) = whole.split_at(if torn { whole.len() / 2 } else { 0 });
            for chunk in [a, b] {
                if chunk.is_empty() {
                    continue;
                }
                self.insert_chunk(h, chunk, inserted)?;
            }
        }
        Ok(())
    }

    /// One batch of [`insert_batched`](Self::insert_batched): applied whole, logged as
    /// one transaction and counted; or, if it fails, undone and inserted one at a time.
    fn insert_chunk<R: AsRef<[u8]>>(
        &mut self,
        h: Handle,
        chunk: &[R],
        inserted: &mut u64,
    ) -> Result<()> {
        self.log_ready()?;
        let logging = self.logging();
        let (c, f) = self.parts(h)?;
        let Ok(placed) = f.df.insert_batch(chunk) else {
            // Undone whole: Insert by Insert gives the exact outcome (or, if the
            // cause has passed, inserts the chunk).
            return self.insert_each(h, chunk, inserted);
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
        Ok(())
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
