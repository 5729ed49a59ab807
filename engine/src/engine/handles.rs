//! Files and handles: Create (14), Open (0), Close (1), Stat (15), and the
//! bookkeeping of which files are open and which handles (position blocks) each has.
//!
//! A file is open at most once per engine, however many handles use it. The first
//! open loads it (when opened writable and archived, opening and reconciling its
//! archival log — `archive.rs`; continuing continuous operations or finishing a
//! roll-in from its delta; and, when opened writable in a log mode, rolling it forward
//! from the transaction log);
//! later opens share it; the close of its last handle commits its pending changes and
//! releases it.
//!
//! What it guarantees:
//! - Every handle refers to an open file, and a file's handle count is the number of
//!   handles on it (at least one: a file without handles is closed).
//! - An exclusive open is refused if the file is open at all, and any open of a file
//!   open exclusively is refused (88); a file loaded read-only takes only read-only
//!   handles (88).
//! - The last handle of a file a user transaction holds cannot be closed (36): end or
//!   abort the transaction first.
//! - A failed open changes nothing; a close whose final system transaction fails
//!   still closes the file, and says so.
//! - Every access through a handle sees the file as its client should: as it was
//!   before another client's open transaction, or with its own.

use super::archive::Archive;
use super::cursor::{Cursor, Position};
use super::reads::Kept;
use super::{Engine, OpenMode};
use crate::file::datafile::DataFile;
use crate::file::spec::FileSpec;
use crate::pager;
use crate::status::{fail, Error, Result, Status};
use std::path::{Path, PathBuf};

/// A position block: one client's open of a file, with its current position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Handle(pub(super) u32);

/// A client (Btrieve's client ID): the unit that owns a user transaction. Every
/// handle belongs to one; [`Engine::open`] uses [`Client::DEFAULT`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Client(pub u32);

impl Client {
    pub const DEFAULT: Client = Client(0);
}

/// A file open in the engine, shared by all its handles.
pub(super) struct OpenFile {
    pub(super) path: PathBuf,
    pub(super) df: DataFile,
    /// How many handles have it open.
    pub(super) handles: usize,
    /// Opened exclusively (its one handle's mode is `Exclusive`).
    pub(super) exclusive: bool,
    /// The client whose user transaction has changed this file, if one is open.
    pub(super) txn_owner: Option<Client>,
    /// The file's archival log, if `blog.cfg` archives it and it is open for writing.
    pub(super) archive: Option<Archive>,
}

/// What Stat (15) reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileStat {
    pub spec: FileSpec,
    pub records: u64,
    /// Physical pages the file spans.
    pub pages: u32,
    /// Sequence of the last durable system transaction.
    pub durable_seq: u64,
    /// Records per data page.
    pub records_per_page: usize,
    /// Transaction-log LSN the file's durable state includes (0: never logged).
    pub applied_lsn: u64,
}

impl Engine {
    /// Create (14) a new data file. Fails with 59 if it exists.
    pub fn create(&mut self, path: &Path, spec: &FileSpec) -> Result<()> {
        pager::create(self.vfs.as_ref(), path, spec)
    }

    /// Open (0) a file for the default client, returning a new position block.
    pub fn open(&mut self, path: &Path, mode: OpenMode) -> Result<Handle> {
        self.open_as(Client::DEFAULT, path, mode)
    }

    /// Open (0) a file for `client`, returning a new position block.
    pub fn open_as(&mut self, client: Client, path: &Path, mode: OpenMode) -> Result<Handle> {
        let r = self.open_handle(client, path, mode);
        self.check_bookkeeping();
        r
    }

    /// The work of [`open_as`](Self::open_as), whose caller checks the bookkeeping.
    fn open_handle(&mut self, client: Client, path: &Path, mode: OpenMode) -> Result<Handle> {
        let existing = self
            .files
            .iter()
            .find(|(_, f)| f.path == path)
            .map(|(&id, _)| id);
        let id = match existing {
            Some(id) => {
                let f = &self.files[&id];
                if f.exclusive || mode == OpenMode::Exclusive {
                    return fail(
                        Status::IncompatibleMode,
                        format!("{} is open exclusively (or already open)", path.display()),
                    );
                }
                if f.df.pager.is_read_only() && mode != OpenMode::ReadOnly {
                    return fail(
                        Status::IncompatibleMode,
                        format!(
                            "{} is already open read-only in this engine",
                            path.display()
                        ),
                    );
                }
                id
            }
            None => {
                let writable = mode != OpenMode::ReadOnly;
                // blog.cfg as it is now: an edited one counts from this open.
                let log = match writable {
                    true => self.archival_log_of(path)?,
                    false => None,
                };
                let mut df = self.open_data_file(path, mode == OpenMode::ReadOnly)?;
                let archive = match self.prepare_opened(path, &log, &mut df, writable) {
                    Ok(archive) => archive,
                    Err(e) => {
                        // Its commits (a roll-in, a roll-forward) may have failed.
                        self.closing_data_file(path, &df);
                        return Err(e);
                    }
                };
                let id = self.next_file;
                self.next_file += 1;
                self.files.insert(
                    id,
                    OpenFile {
                        path: path.to_path_buf(),
                        df,
                        handles: 0,
                        exclusive: mode == OpenMode::Exclusive,
                        txn_owner: None,
                        archive,
                    },
                );
                id
            }
        };
        if let Some(f) = self.files.get_mut(&id) {
            f.handles += 1;
        }
        let h = Handle(self.next_handle);
        self.next_handle += 1;
        self.cursors.insert(
            h,
            Cursor {
                file: id,
                client,
                mode,
                key: 0,
                pos: Position::None,
                kept: Kept::default(),
            },
        );
        Ok(h)
    }

    /// Make a data file just opened ready for use: its archival log first (whatever
    /// commits from here on is logged), then continue continuous operations or finish
    /// a roll-in, then roll it forward from the transaction log — before anything else
    /// reads the file. Returns its archival log writer, if archived.
    fn prepare_opened(
        &mut self,
        path: &Path,
        log: &Option<PathBuf>,
        df: &mut DataFile,
        writable: bool,
    ) -> Result<Option<Archive>> {
        let mut archive = match log {
            Some(log) => Some(self.open_archive(path, log, df)?),
            None => None,
        };
        df.pager.attach_delta(self.vfs.as_ref())?;
        if writable && self.logging() {
            self.roll_forward(path, df, archive.as_mut())?;
        }
        Ok(archive)
    }

    /// Close (1) a handle. Closing a file's last handle commits its pending changes and
    /// releases it; if that commit fails the file is closed anyway and the error says
    /// the changes since its last durable commit are lost.
    pub fn close(&mut self, h: Handle) -> Result<()> {
        let r = self.close_handle(h);
        self.check_bookkeeping();
        r
    }

    /// The work of [`close`](Self::close), whose caller checks the bookkeeping.
    fn close_handle(&mut self, h: Handle) -> Result<()> {
        let (c, f) = self.parts(h)?;
        if f.handles == 1 && f.txn_owner.is_some() {
            return fail(
                Status::TransactionError,
                format!(
                    "{} was changed in client {}'s open transaction; end or abort it before \
                     closing the file",
                    f.path.display(),
                    c.client.0
                ),
            );
        }
        let Some(c) = self.cursors.remove(&h) else {
            return fail(Status::FileNotOpen, "close: the handle is not open");
        };
        let Some(f) = self.files.get_mut(&c.file) else {
            return fail(Status::FileNotOpen, "close: the file is not open");
        };
        f.handles -= 1;
        if f.handles > 0 {
            return Ok(());
        }
        let vfs = self.vfs.clone();
        let result = match self.sync_log() {
            Ok(()) => match self.files.get_mut(&c.file) {
                Some(f) => Self::commit_file(vfs.as_ref(), f, &mut self.stats, &mut self.counters),
                None => Ok(()),
            },
            Err(e) => Err(e),
        };
        if let Some(f) = self.files.remove(&c.file) {
            self.closed_applied
                .insert(f.path.clone(), f.df.pager.data_file_applied_lsn());
            self.closing_data_file(&f.path, &f.df);
        }
        if self.files.values().all(|f| !f.df.pager.has_changes()) {
            self.pending_ops = 0;
            self.bundle_since = None;
        }
        result.map_err(|e| e.during("file closed, but its last system transaction failed"))
    }

    /// The handle's cursor (3 if the handle is not open).
    pub(super) fn cursor(&self, h: Handle) -> Result<&Cursor> {
        self.cursors
            .get(&h)
            .ok_or_else(|| Error::new(Status::FileNotOpen, "the handle is not open"))
    }

    /// The handle's cursor and its file, the file set to show what the handle's client
    /// should see (3 if the handle is not open).
    pub(super) fn parts(&mut self, h: Handle) -> Result<(&mut Cursor, &mut OpenFile)> {
        let c = self
            .cursors
            .get_mut(&h)
            .ok_or_else(|| Error::new(Status::FileNotOpen, "the handle is not open"))?;
        let f = self
            .files
            .get_mut(&c.file)
            .ok_or_else(|| Error::new(Status::FileNotOpen, "the file is not open"))?;
        // Everyone but a transaction's owner sees the file as it was before it.
        f.df.pager
            .set_view_before_txn(f.txn_owner.is_some_and(|o| o != c.client));
        Ok((c, f))
    }

    /// Stat (15).
    pub fn stat(&mut self, h: Handle) -> Result<FileStat> {
        let (_, f) = self.parts(h)?;
        Ok(Self::file_stat(f))
    }
}
