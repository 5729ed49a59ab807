//! Group sync: a log sync split into *begin* (under the writer), *run* (the slow
//! fsync, needing no writer, so a host can release its lock) and *finish* (back under
//! the writer). Every record written before a sync began is durable once it finishes;
//! records appended meanwhile wait for the next one. This is what lets
//! `engine::shared::SharedEngine` acknowledge many Ends with one sync.
//!
//! Contract with [`LogWriter`]: `durable_lsn` only grows, and only to an LSN whose
//! records a successful sync (or a segment roll's sync) covered; a failed sync fails
//! the writer (nothing it had not synced may be assumed on disk).

use super::writer::{io_error, LogWriter};
use crate::status::Result;
use crate::vfs::VfsFile;
use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

/// A log sync begun by [`LogWriter::begin_sync`], to be run — possibly on another
/// thread, without the writer — and then handed to [`LogWriter::finish_sync`].
pub struct PendingSync {
    file: Arc<dyn VfsFile>,
    path: PathBuf,
    /// Every record below this LSN was written before the sync began.
    upto: u64,
}

impl PendingSync {
    /// Sync the segment: the only slow part, and the part that needs no lock.
    pub fn run(&self) -> io::Result<()> {
        self.file.sync()
    }

    /// The LSN below which this sync makes every record durable.
    pub fn upto(&self) -> u64 {
        self.upto
    }
}

impl fmt::Debug for PendingSync {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingSync")
            .field("path", &self.path)
            .field("upto", &self.upto)
            .finish_non_exhaustive()
    }
}

impl LogWriter {
    /// Write out and sync; returns the durable LSN (every record below it is durable).
    pub fn sync(&mut self) -> Result<u64> {
        match self.begin_sync()? {
            None => Ok(self.durable_lsn),
            Some(pending) => {
                let r = pending.run();
                self.finish_sync(&pending, r)
            }
        }
    }

    /// The first half of [`sync`](Self::sync): write out what is buffered and return
    /// the sync still owed, if any. The caller may run it without holding the writer
    /// (appends and writes may go on meanwhile; the sync covers what was written
    /// before it was begun) and must hand the result to
    /// [`finish_sync`](Self::finish_sync). This is what lets a host group commits:
    /// every End appended while one sync runs is covered by the next.
    pub fn begin_sync(&mut self) -> Result<Option<PendingSync>> {
        self.write_out()?;
        if !self.unsynced {
            // Every written record is in a segment a roll (or a sync) made durable.
            self.durable_lsn = self.written_lsn;
            return Ok(None);
        }
        let path = self
            .segments
            .back()
            .expect("the current segment")
            .path
            .clone();
        Ok(Some(PendingSync {
            file: self.file.clone(),
            path,
            upto: self.written_lsn,
        }))
    }

    /// The second half of [`sync`](Self::sync): record what `pending` made durable
    /// (`result` is what [`PendingSync::run`] returned). A failed sync fails the
    /// writer: the records it covered may or may not be on disk.
    pub fn finish_sync(&mut self, pending: &PendingSync, result: io::Result<()>) -> Result<u64> {
        if let Err(e) = result {
            return Err(self.fail(io_error(&e, "syncing", &pending.path)));
        }
        self.check_usable()?;
        // Records of earlier segments were synced by the roll that closed them, and
        // the synced file held every record below `upto` of its own.
        self.durable_lsn = self.durable_lsn.max(pending.upto);
        if self.durable_lsn >= self.written_lsn {
            self.unsynced = false;
        }
        Ok(self.durable_lsn)
    }
}
