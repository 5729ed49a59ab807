//! Looking at a file by its path, whether or not this engine has it open: Stat (15)
//! and the structure check, and which files the engine holds.
//!
//! Why by path: an engine holds an exclusive OS lock on every file it loads, so while
//! an application has a file open no other process can open it to look at it. The
//! admin endpoint (`crate::admin`) answers those questions inside the engine that holds
//! the file, through its own open file; a file this engine does not hold is opened for
//! the purpose and closed after, as `butil` always did.

use super::handles::OpenFile;
use super::{Engine, FileStat, OpenMode};
use crate::file::check::{check, check_file, CheckReport};
use crate::status::{fail, Result, Status};
use std::path::{Path, PathBuf};

impl Engine {
    /// Stat (15) of `path`: through the open file if this engine has it (as a client
    /// outside any transaction sees it), else by a read-only open and close.
    pub fn stat_path(&mut self, path: &Path) -> Result<FileStat> {
        if let Some(f) = self.files.values_mut().find(|f| f.path == path) {
            // The admin is not a transaction's owner: it sees the file as before one.
            f.df.pager.set_view_before_txn(f.txn_owner.is_some());
            return Ok(Self::file_stat(f));
        }
        let h = self.open(path, OpenMode::ReadOnly)?;
        let stat = self.stat(h);
        let closed = self.close(h);
        let stat = stat?;
        closed?;
        Ok(stat)
    }

    /// What Stat reports for an open file.
    pub(super) fn file_stat(f: &OpenFile) -> FileStat {
        let p = &f.df.pager;
        FileStat {
            spec: p.spec().clone(),
            records: p.state().record_count,
            pages: p.physical_pages(),
            durable_seq: p.durable_seq(),
            records_per_page: f.df.slots_per_page(),
            applied_lsn: p.durable_applied_lsn(),
        }
    }

    /// The structure check of `path` (`butil -check`). A file this engine has open is
    /// checked through its open data file after everything pending is committed, so
    /// what is checked is what is durable; a file a user transaction holds is refused
    /// (85) because its pages are mid-change. A file not open here is opened read-only
    /// for the check ([`check_file`]).
    pub fn check_path(&mut self, path: &Path) -> Result<CheckReport> {
        let Some(id) = self
            .files
            .iter()
            .find(|(_, f)| f.path == path)
            .map(|(&id, _)| id)
        else {
            return check_file(self.vfs.as_ref(), path);
        };
        if self.files.get(&id).is_some_and(|f| f.txn_owner.is_some()) {
            return fail(
                Status::FileInUse,
                format!(
                    "{}: a user transaction holds the file; check it after the transaction \
                     ends",
                    path.display()
                ),
            );
        }
        self.flush_all(false)
            .map_err(|e| e.during("committing pending changes before the check"))?;
        match self.files.get_mut(&id) {
            Some(f) => {
                f.df.pager.set_view_before_txn(false);
                Ok(check(&mut f.df))
            }
            None => fail(Status::FileNotOpen, "the file closed during the check"),
        }
    }

    /// The paths of the files this engine has loaded; with `writable_only`, only those
    /// loaded for writing (the ones whose lock keeps every other process out).
    pub fn open_paths(&self, writable_only: bool) -> Vec<PathBuf> {
        self.files
            .values()
            .filter(|f| !writable_only || !f.df.pager.is_read_only())
            .map(|f| f.path.clone())
            .collect()
    }

    /// Does this engine have `path` loaded?
    pub fn is_open(&self, path: &Path) -> bool {
        self.files.values().any(|f| f.path == path)
    }
}
