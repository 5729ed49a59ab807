//! A data file: records plus one B+tree per key over a pager. Each public mutation is
//! one atomic operation (all its page changes kept, or all undone) and keeps every
//! index in step with the records. Key rules (duplicates, modifiable) are enforced
//! here; positioning is the engine's business.

use super::key;
use super::records;
use super::spec::FileSpec;
use crate::btree::{Found, LeafHit, Seek, Tree};
use crate::file::change::Change;
use crate::page::data::Layout;
use crate::page::node::RecAddr;
use crate::page::PageBuf;
use crate::pager::{Pager, PagerConfig};
use crate::status::{fail, Result, Status};
use crate::vfs::Vfs;
use std::path::Path;

/// What [`DataFile::insert_batch`] did.
pub struct Placed {
    /// Each record's address and serial, in the batch's order.
    pub records: Vec<(RecAddr, u64)>,
    /// Logical pages the batch changed (or allocated): each one held an image of its
    /// own for the batch, and one that was pending already a before-image besides.
    pub pages: usize,
}

/// An open data file.
pub struct DataFile {
    pub(crate) pager: Pager,
    pub(crate) layout: Layout,
    pub(crate) trees: Vec<Tree>,
}

impl DataFile {
    pub fn open(vfs: &dyn Vfs, path: &Path, read_only: bool, cfg: PagerConfig) -> Result<DataFile> {
        let pager = Pager::open(vfs, path, read_only, cfg)?;
        let spec = pager.spec();
        #[cfg_attr(not(feature = "mutants"), allow(unused_mut))]
        let Some(mut layout) = Layout::of(spec) else {
            return fail(
                Status::IoError,
                format!("{}: record length does not fit", path.display()),
            );
        };
        #[cfg(feature = "mutants")]
        {
            layout.wraps = pager.mutant_on(crate::mutant::Mutant::NarrowSerialWraps);
        }
        let trees = spec
            .keys
            .iter()
            .enumerate()
            .map(|(k, ks)| Tree {
                key: k,
                entry_len: ks.length() + key::SERIAL_LEN,
                compact: spec.compact_leaves,
            })
            .collect();
        Ok(DataFile {
            pager,
            layout,
            trees,
        })
    }

    pub fn spec(&self) -> &FileSpec {
        self.pager.spec()
    }

    pub fn record_count(&self) -> u64 {
        self.pager.state().record_count
    }

    fn atomically<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        self.pager.begin_op()?;
        let r = f(self);
        self.pager.end_op(r.is_ok());
        r
    }

    fn check_length(&self, record: &[u8]) -> Result<()> {
        let rl = self.spec().record_length as usize;
        match Status::for_record_length(record.len(), rl) {
            Some(status) => fail(
                status,
                format!(
                    "record is {} bytes; this file's records are {rl}",
                    record.len()
                ),
            ),
            None => Ok(()),
        }
    }

    /// Is a record with this normalized key value present (other than `except`)?
    fn key_taken(&mut self, k: usize, normalized: &[u8], except: Option<u64>) -> Result<bool> {
        // Sized for the serial too: extending a copy of exactly the key reallocated it.
        let mut target = Vec::with_capacity(normalized.len() + key::SERIAL_LEN);
        target.extend_from_slice(normalized);
        target.extend_from_slice(&[0u8; key::SERIAL_LEN]);
        let tree = self.trees[k];
        let Some(f) = tree.seek(&mut self.pager, &target, Seek::GreaterOrEqual)? else {
            return Ok(false);
        };
        if key::key_part(&f.entry) != normalized {
            return Ok(false);
        }
        let serial = serial_of(&f.entry);
        Ok(except != Some(serial))
    }

    /// Insert a record; returns its address and serial.
    pub fn insert(&mut self, record: &[u8]) -> Result<(RecAddr, u64)> {
        self.check_length(record)?;
        self.atomically(|df| {
            let spec = df.spec().clone();
            for (k, ks) in spec.keys.iter().enumerate() {
                if !ks.duplicates {
                    let nk = key::normalize(ks, &key::raw_key(ks, record));
                    if df.key_taken(k, &nk, None)? {
                        return fail(
                            Status::DuplicateKeyValue,
                            format!("key {k} already holds this value"),
                        );
                    }
                }
            }
            let serial = df.pager.state().next_serial;
            df.pager.state_mut().next_serial += 1;
            let at = records::insert(&mut df.pager, &df.layout, serial, record)?;
            for (k, ks) in spec.keys.iter().enumerate() {
                df.trees[k].insert(&mut df.pager, &key::entry(ks, record, serial), at)?;
            }
            df.pager.state_mut().record_count += 1;
            Ok((at, serial))
        })
    }

    /// Insert `records` in order as ONE operation, for bulk loads: the file ends as
    /// that many [`insert`](Self::insert)s one after the other would leave it (same
    /// serials, same data slots, same index entries), but each data page is filled
    /// and written once, each key's entries go in key order (appended to the rightmost
    /// leaf when beyond the last), and there is one undo for the lot, not one per
    /// record. All or nothing: if any record would fail (a unique key taken, by the
    /// file or by an earlier record of the batch: status 5), nothing is inserted —
    /// the caller wanting the records before the failing one inserted replays the
    /// batch one record at a time. Returns each record's address and serial, and how
    /// many pages the batch changed.
    pub fn insert_batch<R: AsRef<[u8]>>(&mut self, records: &[R]) -> Result<Placed> {
        for r in records {
            self.check_length(r.as_ref())?;
        }
        self.atomically(|df| {
            let spec = df.spec().clone();
            let n = records.len() as u64;
            let first = df.pager.state().next_serial;
            df.pager.state_mut().next_serial += n;
            let addrs = records::insert_batch(&mut df.pager, &df.layout, first, records)?;
            for (k, ks) in spec.keys.iter().enumerate() {
                let mut entries: Vec<_> = records
                    .iter()
                    .zip(first..)
                    .zip(&addrs)
                    .map(|((r, serial), &at)| (key::entry(ks, r.as_ref(), serial), at))
                    .collect();
                df.trees[k].insert_batch(&mut df.pager, &mut entries, !ks.duplicates)?;
            }
            df.pager.state_mut().record_count += n;
            Ok(Placed {
                records: addrs.into_iter().zip(first..).collect(),
                pages: df.pager.op_pages(),
            })
        })
    }

    /// Replace the record at `at` (which must still be the one with `serial`).
    /// Returns the old image (the transaction log records it).
    pub fn update(&mut self, at: RecAddr, serial: u64, record: &[u8]) -> Result<Vec<u8>> {
        self.check_length(record)?;
        self.atomically(|df| {
            df.check_live(at, serial)?;
            let (_, old) = records::read(&mut df.pager, &df.layout, at)?;
            let spec = df.spec().clone();
            for (k, ks) in spec.keys.iter().enumerate() {
                let (o, n) = (key::raw_key(ks, &old), key::raw_key(ks, record));
                if o == n {
                    continue;
                }
                if !ks.modifiable {
                    return fail(
                        Status::KeyNotModifiable,
                        format!("key {k} is not modifiable and the update changes it"),
                    );
                }
                if !ks.duplicates && df.key_taken(k, &key::normalize(ks, &n), Some(serial))? {
                    return fail(
                        Status::DuplicateKeyValue,
                        format!("key {k} already holds this value"),
                    );
                }
            }
            for (k, ks) in spec.keys.iter().enumerate() {
                let (oe, ne) = (key::entry(ks, &old, serial), key::entry(ks, record, serial));
                if oe != ne {
                    df.trees[k].delete(&mut df.pager, &oe)?;
                    df.trees[k].insert(&mut df.pager, &ne, at)?;
                }
            }
            records::replace(&mut df.pager, &df.layout, at, record)?;
            Ok(old)
        })
    }

    /// Delete the record at `at` (which must still be the one with `serial`).
    /// Returns the old image.
    pub fn delete(&mut self, at: RecAddr, serial: u64) -> Result<Vec<u8>> {
        self.atomically(|df| {
            df.check_live(at, serial)?;
            let (_, old) = records::read(&mut df.pager, &df.layout, at)?;
            let spec = df.spec().clone();
            for (k, ks) in spec.keys.iter().enumerate() {
                df.trees[k].delete(&mut df.pager, &key::entry(ks, &old, serial))?;
            }
            records::remove(&mut df.pager, &df.layout, at)?;
            let st = df.pager.state_mut();
            st.record_count = st.record_count.saturating_sub(1);
            Ok(old)
        })
    }

    /// Where the record with `serial` and (old) image `image` is, found through key 0.
    fn locate(&mut self, serial: u64, image: &[u8]) -> Result<RecAddr> {
        let ks = self.spec().keys[0].clone();
        if image.len() != self.spec().record_length as usize {
            return fail(
                Status::IoError,
                "roll-forward: a logged record image has the wrong length for this file",
            );
        }
        let target = key::entry(&ks, image, serial);
        match self.trees[0].seek(&mut self.pager, &target, Seek::GreaterOrEqual)? {
            Some(f) if f.entry == target => Ok(f.addr),
            _ => fail(
                Status::IoError,
                format!(
                    "roll-forward: record serial {serial} named by the transaction log is not                      in the file; the log and the file disagree"
                ),
            ),
        }
    }

    /// Apply one logged change (roll-forward). The file must be exactly at the state
    /// the change was made on, so an insert must get the logged serial.
    pub fn redo(&mut self, change: &Change) -> Result<()> {
        match change {
            Change::Insert { serial, record } => {
                let (_, got) = self.insert(record)?;
                if got != *serial {
                    return fail(
                        Status::IoError,
                        format!(
                            "roll-forward: insert got serial {got}, the log says {serial}; \
                             the log and the file disagree"
                        ),
                    );
                }
                Ok(())
            }
            Change::Update { serial, old, new } => {
                let at = self.locate(*serial, old)?;
                self.update(at, *serial, new).map(|_| ())
            }
            Change::Delete { serial, old } => {
                let at = self.locate(*serial, old)?;
                self.delete(at, *serial).map(|_| ())
            }
        }
    }

    fn check_live(&mut self, at: RecAddr, serial: u64) -> Result<()> {
        if records::is_live(&mut self.pager, &self.layout, at, serial)? {
            Ok(())
        } else {
            fail(
                Status::Conflict,
                "the record was changed or deleted by another client since it was read",
            )
        }
    }

    /// Read the record at an address: (serial, bytes).
    pub fn fetch(&mut self, at: RecAddr) -> Result<(u64, Vec<u8>)> {
        records::read(&mut self.pager, &self.layout, at)
    }

    /// Seek key `k`'s index.
    pub fn seek(&mut self, k: usize, target: &[u8], how: Seek) -> Result<Option<Found>> {
        self.trees[k].seek(&mut self.pager, target, how)
    }

    /// [`seek`](Self::seek), as a leaf and index (what a cursor keeps).
    pub fn seek_leaf(&mut self, k: usize, target: &[u8], how: Seek) -> Result<Option<LeafHit>> {
        self.trees[k].seek_leaf(&mut self.pager, target, how)
    }

    pub fn first_leaf(&mut self, k: usize) -> Result<Option<LeafHit>> {
        self.trees[k].first_leaf(&mut self.pager)
    }

    pub fn last_leaf(&mut self, k: usize) -> Result<Option<LeafHit>> {
        self.trees[k].last_leaf(&mut self.pager)
    }

    /// A data page's shared image (see [`records::data_page`]).
    pub fn data_page(&mut self, page: u32) -> Result<PageBuf> {
        records::data_page(&mut self.pager, page)
    }

    pub fn first(&mut self, k: usize) -> Result<Option<Found>> {
        self.trees[k].first(&mut self.pager)
    }

    pub fn last(&mut self, k: usize) -> Result<Option<Found>> {
        self.trees[k].last(&mut self.pager)
    }

    /// Next record in physical order at or after `from`.
    pub fn next_physical(&mut self, from: RecAddr) -> Result<Option<RecAddr>> {
        records::next_physical(&mut self.pager, &self.layout, from)
    }

    /// Previous record in physical order at or before `from`.
    pub fn prev_physical(&mut self, from: RecAddr) -> Result<Option<RecAddr>> {
        records::prev_physical(&mut self.pager, &self.layout, from)
    }

    pub fn slots_per_page(&self) -> usize {
        self.layout.slots
    }
}

/// The serial suffix of an index entry.
pub fn serial_of(entry: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&entry[entry.len() - key::SERIAL_LEN..]);
    u64::from_be_bytes(b)
}
