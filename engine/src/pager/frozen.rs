//! Continuous operations in the pager: a *frozen* data file is never written; each
//! system transaction appends the changed pages and the new file state to the file's
//! delta (`NAME.^^^`) and syncs it, and reads take the delta's latest committed image
//! of a page before the data file's. Roll-in (`endbu`) marks the delta *ending*,
//! commits every delta page into the data file as one ordinary shadow-paged system
//! transaction, then removes the delta — so a crash at any point leaves either the
//! delta (and the next open, or `endbu`, finishes the roll-in) or the finished file.
//!
//! Contract with `pager/mod.rs`: while `frozen` is set, `commit` goes to
//! [`Pager::commit_to_delta`], the durable state is the delta's, and the data file's
//! FCR, PAT and free physical pages stay exactly as at `startbu`.
//!
//! Memory: a delta may be larger than RAM, so the pager never holds its images. It
//! keeps, per logical page, *where* the latest committed image is ([`Latest`]), as the
//! scan and the writer know it; a read takes that one image from the delta (verified
//! again: a frame that rotted since the scan is status 2, never served) through the
//! ordinary, bounded clean cache, and roll-in streams the images one at a time into
//! the data file (`commit.rs`). So memory grows with the pages the backup changed,
//! not with the delta's bytes.

use super::Pager;
use crate::delta::{
    delta_path, probe_delta, read_image, remove_delta, scan_delta_as, DeltaHeader, DeltaProbe,
    DeltaState, DeltaWriter, ImageRef, PageImage,
};
use crate::page::fcr::FileState;
use crate::page::PageBuf;
use crate::status::{fail, Error, Result, Status};
use crate::vfs::{Vfs, VfsFile};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The latest committed version of one logical page of a frozen file.
#[derive(Clone, Debug)]
pub(crate) enum Latest {
    /// Its image is in the delta there; read on demand.
    At(ImageRef),
    /// Freed.
    Freed,
    /// An image held in memory. Only the known-bad `rollin-incomplete` makes these
    /// (from the delta's cut-off tail, which the writer truncates, so no place in the
    /// delta could name them); a correct engine never holds a delta image.
    Held(PageBuf),
}

impl From<PageImage> for Latest {
    fn from(p: PageImage) -> Latest {
        match p {
            PageImage::Image(at) => Latest::At(at),
            PageImage::Freed => Latest::Freed,
        }
    }
}

/// A data file in continuous operations.
pub(crate) struct Frozen {
    pub(crate) delta: PathBuf,
    /// Where the latest committed version of every logical page changed since
    /// `startbu` is — not the image itself (see the module doc).
    pub(crate) pages: BTreeMap<u32, Latest>,
    /// The file state of the last delta commit (the FCR's before the first).
    pub(crate) state: FileState,
    /// Appends commits (absent for a read-only open). Reads of a writable open go
    /// through its handle: it is the file as it is now (opening the writer replaces
    /// the delta by a copy of its committed part).
    pub(crate) writer: Option<DeltaWriter>,
    /// A read-only open: the delta's handle opened for the scan, kept open with the
    /// header it was scanned with. Kept rather than reopened per read: the places the
    /// scan found are places in *this* file, which stays readable even if another
    /// process replaces or removes the name (a writer reopening, an `endbu`), and a
    /// read costs no open.
    pub(crate) reader: Option<(Box<dyn VfsFile>, DeltaHeader)>,
}

impl Frozen {
    /// Read the image of `logical` at `at` into `buf` (one page), verifying its frame
    /// again: a damaged image is status 2, never served.
    pub(crate) fn read_image(&self, logical: u32, at: ImageRef, buf: &mut [u8]) -> Result<()> {
        match (&self.writer, &self.reader) {
            (Some(w), _) => w.read_image(logical, at, buf),
            (None, Some((file, header))) => {
                read_image(file.as_ref(), &self.delta, header, logical, at, buf)
            }
            (None, None) => fail(
                Status::IoError,
                format!("delta {} is not open for reading", self.delta.display()),
            ),
        }
    }
}

/// What opening found next to the data file.
enum DeltaOnOpen {
    None,
    /// Continuous operations continue.
    Active(Frozen),
    /// A roll-in was under way: finish it.
    Ending(Frozen),
}

impl Pager {
    /// Is the file in continuous operations?
    pub fn is_frozen(&self) -> bool {
        self.frozen.is_some()
    }

    /// The state of the last durable commit: the delta's while frozen.
    pub(crate) fn durable_state(&self) -> &FileState {
        match &self.frozen {
            Some(f) => &f.state,
            None => &self.durable.state,
        }
    }

    /// Look for a delta next to the data file and load it (called by `open`).
    fn load_delta(&self, vfs: &dyn Vfs) -> Result<DeltaOnOpen> {
        let delta = delta_path(&self.path)?;
        match probe_delta(vfs, &delta)? {
            DeltaProbe::Absent => return Ok(DeltaOnOpen::None),
            DeltaProbe::Interrupted => {
                // A crash cut its creation short: startbu never returned for it and
                // nothing was committed to it. The file is not in contops.
                if !self.read_only {
                    remove_delta(vfs, &delta)?;
                }
                return Ok(DeltaOnOpen::None);
            }
            DeltaProbe::Present => {}
        }
        let prove = !mutant!(self.config, DeltaDamageAsTornTail);
        let scan = scan_delta_as(vfs, &delta, prove)?;
        let ending = scan.header.state == DeltaState::Ending;
        // An active delta continues the snapshot the data file holds; an ending one may
        // already have been (partly) rolled in, which moves the FCR on.
        let belongs = if ending {
            self.durable.seq >= scan.header.fcr_seq
        } else {
            self.durable.seq == scan.header.fcr_seq
        };
        if !belongs || scan.header.page_size as usize != self.page_size {
            return fail(
                Status::IoError,
                format!(
                    "{}: delta {} was made for another state of this file (its control \
                     record is at sequence {}, the delta expects {}); restore the file, or \
                     remove the delta with `butil -killbu` if the file is the one backed up",
                    self.path.display(),
                    delta.display(),
                    self.durable.seq,
                    scan.header.fcr_seq
                ),
            );
        }
        // Where the latest committed images are, not the images: the scan verified
        // every frame; reads and roll-in read (and verify) each one when needed.
        let file = vfs
            .open(&delta, crate::vfs::OpenMode::ReadOnly)
            .map_err(|e| Error::io(&e, format_args!("opening {}", delta.display())))?;
        let mut pages: BTreeMap<u32, Latest> = scan
            .pages
            .iter()
            .map(|(&l, &img)| (l, img.into()))
            .collect();
        if mutant!(self.config, RollInIncomplete) {
            // Wrong: take the frames of the transaction the crash cut short too.
            let len = (scan.file_len.saturating_sub(scan.valid_len)) as usize;
            let mut tail = vec![0u8; len.min(64 << 20)];
            if crate::vfs::read_exact_at(file.as_ref(), &mut tail, scan.valid_len).is_ok() {
                let seed = scan.header.frame_seed();
                let mut at = 0;
                while let Ok(f) =
                    crate::delta::frame::decode_raw(&tail[at..], seed, scan.header.page_size)
                {
                    match crate::delta::FrameKind::from_u8(f.kind) {
                        Some(crate::delta::FrameKind::Page) => {
                            let img = PageBuf::new(f.payload.to_vec());
                            pages.insert(f.logical, Latest::Held(img));
                        }
                        Some(crate::delta::FrameKind::Freed) => {
                            pages.insert(f.logical, Latest::Freed);
                        }
                        _ => break,
                    }
                    at += f.encoded_len();
                }
            }
        }
        let state = scan
            .state
            .clone()
            .unwrap_or_else(|| self.durable.state.clone());
        let (writer, reader) = if self.read_only {
            (None, Some((file, scan.header)))
        } else {
            drop(file);
            let mut w = DeltaWriter::open(vfs, &delta, &scan)?;
            w.set_skip_sync(mutant!(self.config, DeltaAppendWithoutSync));
            (Some(w), None)
        };
        let frozen = Frozen {
            delta,
            pages,
            state,
            writer,
            reader,
        };
        Ok(if ending {
            DeltaOnOpen::Ending(frozen)
        } else {
            DeltaOnOpen::Active(frozen)
        })
    }

    /// After open: continue continuous operations if the file has an active delta,
    /// finish the roll-in if it has an ending one (a read-only open just reads through
    /// the delta).
    pub fn attach_delta(&mut self, vfs: &dyn Vfs) -> Result<()> {
        self.changed();
        match self.load_delta(vfs)? {
            DeltaOnOpen::None => Ok(()),
            DeltaOnOpen::Active(f) => {
                self.adopt_frozen(f);
                Ok(())
            }
            DeltaOnOpen::Ending(f) if self.read_only => {
                self.adopt_frozen(f);
                Ok(())
            }
            DeltaOnOpen::Ending(f) => self.finish_roll_in(vfs, f),
        }
    }

    /// Enter the frozen state found on open: the current state and the free logical
    /// pages follow the delta.
    fn adopt_frozen(&mut self, f: Frozen) {
        self.state = f.state.clone();
        // Free: what neither the delta nor the data file maps, below the delta's
        // logical page count (which includes pages the delta added but never mapped).
        self.free_logical = self.pat.free_logical(f.state.logical_pages);
        for (&l, img) in &f.pages {
            match img {
                Latest::Freed => self.free_logical.insert(l..l + 1),
                _ => self.free_logical.remove(l..l + 1),
            };
            // The clean cache holds only what a read returns: no data file image of a
            // page the delta replaces.
            self.clean.remove(&l);
        }
        self.frozen = Some(f);
    }

    /// `startbu` for this file: freeze it now. The caller has committed everything
    /// pending (the snapshot is the durable state) and no transaction holds the file.
    pub fn freeze(&mut self, vfs: &dyn Vfs, set_id: u64) -> Result<()> {
        self.changed();
        self.check_usable()?;
        if self.frozen.is_some() {
            return fail(
                Status::IncompatibleMode,
                format!(
                    "{} is already in continuous operations",
                    self.path.display()
                ),
            );
        }
        if self.read_only || self.has_changes() || self.txn.is_some() {
            return fail(
                Status::OperationNotAllowed,
                format!(
                    "{}: startbu needs the file open for writing with nothing pending",
                    self.path.display()
                ),
            );
        }
        self.create_delta(vfs, set_id)
    }

    /// Create the delta (durably) and freeze at the durable state.
    fn create_delta(&mut self, vfs: &dyn Vfs, set_id: u64) -> Result<()> {
        let delta = delta_path(&self.path)?;
        let created =
            DeltaWriter::create(vfs, &delta, self.page_size as u32, self.durable.seq, set_id);
        let mut writer = match created {
            Ok(w) => w,
            Err(e) => {
                if matches!(e.status, Status::IoError | Status::DiskFull) {
                    // The delta may exist, and its removal (best effort) may not be
                    // durable: a power loss could bring it back, made for this state,
                    // and the next open would read the file through it — without
                    // whatever this pager committed meanwhile (sim seed 71693). So
                    // nothing is committed until the file is reopened, whose open
                    // makes the directory durable (or finds the delta and continues
                    // continuous operations from this very state).
                    self.poisoned.get_or_insert_with(|| {
                        format!(
                            "startbu could not make {}, and may have left it: reopen the file",
                            delta.display()
                        )
                    });
                }
                return Err(e);
            }
        };
        writer.set_skip_sync(mutant!(self.config, DeltaAppendWithoutSync));
        self.frozen = Some(Frozen {
            delta,
            pages: BTreeMap::new(),
            state: self.durable.state.clone(),
            writer: Some(writer),
            reader: None,
        });
        Ok(())
    }

    /// Undo a `freeze` that nothing was committed under (a later file of the same
    /// `startbu` set failed): remove the delta, thaw.
    pub fn unfreeze_unused(&mut self, vfs: &dyn Vfs) -> Result<()> {
        self.changed();
        match &self.frozen {
            Some(f) if f.pages.is_empty() && f.state == self.durable.state => {
                let delta = f.delta.clone();
                self.frozen = None;
                let removed = remove_delta(vfs, &delta);
                if let Err(e) = &removed {
                    // The removal may not be durable: a power loss could bring the
                    // delta back, made for this state, and the next open would read
                    // the file through it — without whatever this pager committed to
                    // the data file meanwhile (sim seed 71693). So nothing is
                    // committed until the file is reopened, whose open makes the
                    // directory durable (or finds the delta and continues continuous
                    // operations from this very state).
                    self.poisoned.get_or_insert_with(|| {
                        format!(
                            "undoing a failed startbu could not remove {} durably ({e}); \
                             reopen the file",
                            delta.display()
                        )
                    });
                }
                removed
            }
            _ => fail(
                Status::OperationNotAllowed,
                format!(
                    "{}: not freshly frozen; end continuous operations with endbu",
                    self.path.display()
                ),
            ),
        }
    }

    /// The known-bad `startbu-different-instants`: freeze with changes pending.
    pub fn freeze_anyway(&mut self, vfs: &dyn Vfs, set_id: u64) -> Result<()> {
        self.changed();
        self.create_delta(vfs, set_id)
    }

    /// A system transaction of a frozen file: the changed pages and the new state go to
    /// the delta (synced before this returns); the data file is not touched. A failure
    /// leaves the delta's tail unknown, so the pager refuses further work until the
    /// file is reopened (the scan then decides what committed).
    pub(crate) fn commit_to_delta(&mut self) -> Result<bool> {
        self.changed();
        let dirty = std::mem::take(&mut self.dirty);
        let pages: Vec<(u32, Option<&[u8]>)> = dirty
            .iter()
            .map(|(&l, img)| (l, img.as_ref().map(|b| b.as_slice())))
            .collect();
        let state = self.state.clone();
        let Some(f) = self.frozen.as_mut() else {
            self.dirty = dirty;
            return fail(Status::IoError, "commit to a delta of a file not frozen");
        };
        let result = match f.writer.as_mut() {
            Some(w) => w.append_transaction(&pages, &state),
            None => fail(
                Status::AccessDenied,
                format!("{} is open read-only", self.path.display()),
            ),
        };
        if let Err(e) = result {
            self.poisoned = Some(e.to_string());
            self.dirty = dirty;
            return Err(e.during("system transaction to the delta failed"));
        }
        // Where the writer put each image (not the image: the delta holds it now).
        if let Some(w) = f.writer.as_ref() {
            for l in dirty.keys() {
                self.clean.remove(l);
                match w.pages().get(l) {
                    Some(&img) => f.pages.insert(*l, img.into()),
                    None => {
                        debug_assert!(false, "the writer lost page {l} it committed");
                        self.poisoned = Some(format!("delta page {l} not recorded"));
                        return fail(Status::IoError, "the delta writer lost a page");
                    }
                };
            }
        }
        f.state = state;
        self.stats.commits += 1;
        Ok(true)
    }

    /// `endbu` for this file: mark the delta ending, commit every delta page into the
    /// data file (one shadow-paged system transaction), then remove the delta. The
    /// caller has committed everything pending to the delta first.
    pub fn roll_in(&mut self, vfs: &dyn Vfs) -> Result<()> {
        self.changed();
        self.check_usable()?;
        if self.txn.is_some() || self.has_changes() {
            return fail(
                Status::OperationNotAllowed,
                format!("{}: endbu needs nothing pending", self.path.display()),
            );
        }
        let Some(mut f) = self.frozen.take() else {
            return fail(
                Status::OperationNotAllowed,
                format!("{} is not in continuous operations", self.path.display()),
            );
        };
        if let Some(w) = f.writer.as_mut() {
            if let Err(e) = w.set_ending() {
                self.frozen = Some(f);
                return Err(e);
            }
        }
        self.finish_roll_in(vfs, f)
    }

    /// The roll-in proper, also run by `open` on an ending delta: the delta's pages
    /// commit into the data file — streamed from the delta one image at a time, never
    /// all held (`Pager::commit_roll_in`) — then the delta goes.
    pub(crate) fn finish_roll_in(&mut self, vfs: &dyn Vfs, f: Frozen) -> Result<()> {
        self.changed();
        let delta = f.delta.clone();
        let early = mutant!(self.config, EndbuDeletesDeltaFirst);
        if early {
            // Wrong: the delta is the only copy of these pages until the commit below
            // is durable.
            remove_delta(vfs, &delta)?;
        }
        // Pages the data file already holds identically need no write, but writing
        // them again is harmless and keeps roll-in a pure function of the delta.
        debug_assert!(self.dirty.is_empty(), "roll-in with changes pending");
        self.state = f.state.clone();
        self.free_logical = self.pat.free_logical(self.state.logical_pages);
        for (&l, img) in &f.pages {
            match img {
                Latest::Freed => self.free_logical.insert(l..l + 1),
                _ => self.free_logical.remove(l..l + 1),
            };
        }
        // Until the delta is gone it will be rolled in again on the next open, so the
        // file must not take other changes first: any failure here stops the pager
        // until the file is reopened (which finishes the roll-in).
        let done = self.commit_roll_in(&f).and_then(|_| {
            if early {
                Ok(())
            } else {
                remove_delta(vfs, &delta)
            }
        });
        if let Err(e) = done {
            self.poisoned
                .get_or_insert_with(|| format!("roll-in of {} failed: {e}", delta.display()));
            return Err(e.during("roll-in failed; reopen the file (or endbu again) to finish it"));
        }
        Ok(())
    }
}
