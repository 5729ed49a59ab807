//! Position blocks at work: where a handle stands ([`Position`]) and the record
//! operations that use and move it — Insert (2), Update (3), Delete (4), the Gets
//! (5–13) on a key, and the Steps in physical order.
//!
//! Positioning rules it guarantees:
//! - A new handle has no position; a Get puts it on an index entry of the key it used
//!   (which becomes the handle's key for Insert), a Step on a record in physical
//!   order. A Get or Step that fails leaves the position as it was.
//! - Insert makes the new record current on the handle's key; Update keeps the
//!   position (on the updated entry); Delete leaves it where the record was, off any
//!   record, so Next / Previous continue from there.
//! - A logical position is always on the handle's key (`Position::Logical { key }`
//!   equals `Cursor::key`): Get Next / Previous on another key is status 7.
//!
//! The reads (Gets and Steps) live in `reads.rs`, with what a cursor keeps between
//! them.
//!
//! A change is refused on a read-only handle (46), needs a healthy log (log modes), locks
//! the file for the handle's client's transaction if one is open, is applied in
//! memory atomically and visible to every handle at once, is recorded for the file's
//! archival log if it is archived, then is logged and counted towards the next system
//! transaction.

use super::reads::Kept;
use super::{Client, Engine, Handle, OpenFile, OpenMode};
use crate::file::change::Change;
use crate::file::datafile::serial_of;
use crate::file::key;
use crate::page::node::RecAddr;
use crate::status::{fail, Result, Status};

/// Where a handle stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Position {
    None,
    /// On (or, after a delete, just where) an index entry of `key`.
    Logical {
        key: usize,
        entry: Vec<u8>,
        addr: RecAddr,
        on_record: bool,
    },
    /// On a record in physical order.
    Physical {
        addr: RecAddr,
        serial: u64,
        on_record: bool,
    },
}

/// One handle's state: the file it has open, its client and open mode, its key for
/// currency and its position.
pub(super) struct Cursor {
    pub(super) file: u32,
    pub(super) client: Client,
    pub(super) mode: OpenMode,
    /// Key used for currency by Insert (the last key a Get used).
    pub(super) key: usize,
    pub(super) pos: Position,
    /// What the last read kept (its leaf and data page) to continue from there.
    pub(super) kept: Kept,
}

impl Engine {
    // ----- modifications --------------------------------------------------------------

    fn writable(c: &Cursor) -> Result<()> {
        if c.mode == OpenMode::ReadOnly {
            return fail(Status::AccessDenied, "the file was opened read-only");
        }
        Ok(())
    }

    /// Insert (2). The new record becomes the current one on the handle's key.
    pub fn insert(&mut self, h: Handle, record: &[u8]) -> Result<()> {
        if self.poison_spread() {
            // Wrong: a fault on another file failed an insert, and every file refuses.
            return fail(Status::IoError, "engine poisoned (known-bad engine)");
        }
        let r = self.insert_unpoisoned(h, record);
        self.note_poison(&r);
        r
    }

    fn insert_unpoisoned(&mut self, h: Handle, record: &[u8]) -> Result<()> {
        Self::writable(self.cursor(h)?)?;
        if self.spurious_insert_error() {
            // Wrong: a healthy disk, and the insert fails anyway.
            return fail(Status::IoError, "spurious I/O error (known-bad engine)");
        }
        self.log_ready()?;
        self.enlist(h)?;
        let (c, f) = self.parts(h)?;
        Self::archive_room(f, Self::change_bound(f))?;
        let (addr, serial) = f.df.insert(record)?;
        let change = Change::Insert {
            serial,
            record: record.to_vec(),
        };
        if let Some(a) = f.archive.as_mut() {
            a.record(&change);
        }
        let ks = &f.df.spec().keys[c.key];
        c.pos = Position::Logical {
            key: c.key,
            entry: key::entry(ks, record, serial),
            addr,
            on_record: true,
        };
        self.log_change(h, change)?;
        self.after_modification(h);
        Ok(())
    }

    /// The most body bytes one change to `f` takes in an archival log frame (an
    /// update: a serial and two images of the record length).
    fn change_bound(f: &OpenFile) -> usize {
        8 + 2 * (4 + usize::from(f.df.spec().record_length))
    }

    /// The current record's address and serial, for Update and Delete.
    fn current(c: &Cursor) -> Result<(RecAddr, u64)> {
        match &c.pos {
            Position::Logical {
                entry,
                addr,
                on_record: true,
                ..
            } => Ok((*addr, serial_of(entry))),
            Position::Physical {
                addr,
                serial,
                on_record: true,
            } => Ok((*addr, *serial)),
            _ => fail(
                Status::InvalidPositioning,
                "there is no current record: use a Get or Step first",
            ),
        }
    }

    /// The insertion serial of the current record (after a Get or Step). A key's
    /// duplicates are ordered by it, so a job that rebuilds a file (`bulk::convert`)
    /// inserts in serial order to keep every key's order of duplicates.
    pub fn current_serial(&mut self, h: Handle) -> Result<u64> {
        let (c, _) = self.parts(h)?;
        Self::current(c).map(|(_, serial)| serial)
    }

    /// Update (3) the current record.
    pub fn update(&mut self, h: Handle, record: &[u8]) -> Result<()> {
        Self::writable(self.cursor(h)?)?;
        self.log_ready()?;
        self.enlist(h)?;
        let (c, f) = self.parts(h)?;
        let (addr, serial) = Self::current(c)?;
        Self::archive_room(f, Self::change_bound(f))?;
        let old = f.df.update(addr, serial, record)?;
        let change = Change::Update {
            serial,
            old,
            new: record.to_vec(),
        };
        if let Some(a) = f.archive.as_mut() {
            a.record(&change);
        }
        if let Position::Logical { key: k, entry, .. } = &mut c.pos {
            *entry = key::entry(&f.df.spec().keys[*k], record, serial);
        }
        self.log_change(h, change)?;
        self.after_modification(h);
        Ok(())
    }

    /// Delete (4) the current record. The position stays where the record was, so Get
    /// Next / Get Previous continue from there.
    pub fn delete(&mut self, h: Handle) -> Result<()> {
        Self::writable(self.cursor(h)?)?;
        self.log_ready()?;
        self.enlist(h)?;
        let (c, f) = self.parts(h)?;
        let (addr, serial) = Self::current(c)?;
        Self::archive_room(f, Self::change_bound(f))?;
        let old = f.df.delete(addr, serial)?;
        let change = Change::Delete { serial, old };
        if let Some(a) = f.archive.as_mut() {
            a.record(&change);
        }
        match &mut c.pos {
            Position::Logical { on_record, .. } | Position::Physical { on_record, .. } => {
                *on_record = false
            }
            Position::None => {}
        }
        self.log_change(h, change)?;
        self.after_modification(h);
        Ok(())
    }
}
