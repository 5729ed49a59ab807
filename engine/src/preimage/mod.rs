//! Pre-imaging: how a legacy-format (5.x) data file survives a crash. Its pages are
//! overwritten in place, so before a system transaction overwrites any page, the
//! page's original image goes to `NAME.PRE` and is made durable; a crash mid-way is
//! undone on the next open by writing the originals back.
//!
//! One system transaction of a legacy file (driven by the pager, `pager/legacy.rs`):
//! 1. [`PreImageFile::arm`]: write the original image of every page the transaction
//!    will overwrite, **sync**, then write the header *armed* (generation = the FCR
//!    sequence the transaction commits, frame count, the data file's length),
//!    **sync**. Until the header is armed the data file is untouched, so a crash
//!    anywhere here changes nothing.
//! 2. The pager overwrites the pages in place, syncs, then writes the FCR over its
//!    slot and syncs: the commit point.
//! 3. [`PreImageFile::void_unsynced`]: the header says *void*; housekeeping only.
//!
//! On open, an armed set is written back ([`restore`]) exactly when its transaction's
//! FCR is not the live one. The invariant: whenever any page of the data file differs
//! on disk from its state at the start of the in-flight transaction, the durable header
//! is armed for that transaction and every frame it names is durable. Breaking step
//! 1's syncs is the NetWare hazard (the overwritten page reaches the disk before its
//! pre-image); voiding before step 2's syncs loses the same way.
//!
//! Invalidation is a header rewrite, not a removal: the file is made once per data
//! file and reused. Two legacy files whose names differ only in extension
//! (`INVOICE.HDR`, `INVOICE.DET`) would share one `INVOICE.PRE`; the header names its
//! owner, and a file that finds another owner's `.PRE` is refused (status 14). A file
//! at `NAME.PRE` that is not a pre-image file is reported (status 2), never applied.

pub mod format;

use crate::appendfile::{self, HeaderError, HEADER_LEN};
use crate::status::{fail, Error, Result, Status};
use crate::vfs::{self, OpenMode, Vfs, VfsFile};
use format::{PreState, Slot, FRAMES_AT, MAX_OWNER, PRE};
use std::path::{Path, PathBuf};

/// The pre-image file of the data file at `data`: same directory and stem, `.PRE`.
pub fn path_for(data: &Path) -> PathBuf {
    data.with_extension("PRE")
}

/// The name a data file's `.PRE` records as its owner.
fn owner_of(data: &Path) -> String {
    data.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Where a pre-image file is made before it is renamed to `NAME.PRE`.
pub fn temp_path_for(data: &Path) -> PathBuf {
    data.with_extension("PR~")
}

/// An armed set read back: the originals (physical page, image) and the data file's
/// length before the transaction.
pub type ArmedSet = (Vec<(u32, Vec<u8>)>, u64);

/// What lies at a data file's `NAME.PRE` when it opens.
pub enum Found {
    /// No pre-image file.
    Absent,
    /// This data file's pre-image file.
    Ours(PreImageFile),
    /// A pre-image file that belongs to another data file (named).
    OtherOwner(String),
    /// Something that is not a readable pre-image file: its header slots are both
    /// damaged, or it is another kind of file. It is never applied.
    Unreadable(Error),
}

/// An open pre-image file.
pub struct PreImageFile {
    file: Box<dyn VfsFile>,
    path: PathBuf,
    owner: String,
    page_size: u32,
    /// The header last written (the state on disk once synced).
    current: Slot,
}

impl PreImageFile {
    /// Look at `NAME.PRE` for the data file at `data` (opened writable unless
    /// `read_only`).
    pub fn find(vfs: &dyn Vfs, data: &Path, read_only: bool) -> Result<Found> {
        let path = path_for(data);
        let exists = vfs
            .exists(&path)
            .map_err(|e| PRE.io_error(&e, "looking for", &path))?;
        if !exists {
            return Ok(Found::Absent);
        }
        let mode = if read_only {
            OpenMode::ReadOnly
        } else {
            OpenMode::Existing
        };
        let file = vfs
            .open(&path, mode)
            .map_err(|e| PRE.io_error(&e, "opening", &path))?;
        let len = file.len().map_err(|e| PRE.io_error(&e, "opening", &path))?;
        let mut head = vec![0u8; FRAMES_AT.min(len) as usize];
        vfs::read_exact_at(file.as_ref(), &mut head, 0)
            .map_err(|e| PRE.io_error(&e, "reading the header of", &path))?;
        let slots: Vec<_> = (0..format::SLOTS as usize)
            .map(|i| {
                let at = i * HEADER_LEN;
                format::decode_slot(head.get(at..).unwrap_or(&[]))
            })
            .collect();
        // Every header is written into slot `hseq % 2`: a valid slot of the other
        // parity is a misdirected or otherwise damaged write, never a state.
        let best = slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                s.as_ref()
                    .ok()
                    .filter(|s| s.hseq % format::SLOTS == i as u64)
            })
            .max_by_key(|s| s.hseq)
            .cloned();
        let Some(current) = best else {
            // A pre-image file is made under a temporary name and renamed only once
            // whole ([`PreImageFile::create`]), so nothing at `NAME.PRE` is a creation a
            // crash interrupted: a file there with no valid header is foreign or
            // damaged, and is reported, never applied or overwritten.
            let why = match slots.into_iter().next() {
                Some(Err(e)) => e,
                _ => HeaderError::Short { len: 0 },
            };
            return Ok(Found::Unreadable(why.to_error(
                &PRE,
                &path,
                "it is not a Keel pre-image file or both its headers are damaged, so it \
                 cannot tell whether the data file was left mid-transaction; if the data \
                 file passes `butil -check`, remove it, else restore the file from backup",
            )));
        };
        if current.owner != owner_of(data) {
            return Ok(Found::OtherOwner(current.owner));
        }
        Ok(Found::Ours(PreImageFile {
            file,
            path,
            owner: current.owner.clone(),
            page_size: current.page_size,
            current,
        }))
    }

    /// Make the pre-image file for the data file at `data`: both header slots void at
    /// `generation`, written and synced under [`temp_path_for`] (replacing what an
    /// interrupted creation left there), renamed to `NAME.PRE` and the directory synced
    /// — before the data file's first in-place overwrite can need it.
    pub fn create(vfs: &dyn Vfs, data: &Path, page_size: u32, generation: u64) -> Result<Self> {
        let path = path_for(data);
        let owner = owner_of(data);
        if owner.is_empty() || owner.len() > MAX_OWNER {
            return fail(
                Status::InvalidFileName,
                format!(
                    "{}: a legacy-format file's name must be 1 to {MAX_OWNER} bytes",
                    data.display()
                ),
            );
        }
        let temp = temp_path_for(data);
        let file = vfs.open(&temp, OpenMode::Truncate).map_err(|e| {
            let mut err = PRE.io_error(&e, "creating", &temp);
            err.status = Status::PreImageOpenError;
            err
        })?;
        let void = PreState::Void {
            generation,
            count: 0,
            orig_len: 0,
        };
        let mut both = Vec::with_capacity(FRAMES_AT as usize);
        for hseq in 0..format::SLOTS {
            let slot = Slot {
                hseq,
                page_size,
                owner: owner.clone(),
                state: void,
            };
            both.extend_from_slice(&slot.encode());
        }
        // Whole and synced under the temporary name, then renamed and the directory
        // synced: `NAME.PRE` never names a half-made file.
        appendfile::file::write_synced(&PRE, file.as_ref(), &temp, &both, FRAMES_AT)?;
        vfs.rename(&temp, &path)
            .map_err(|e| PRE.io_error(&e, "renaming into place", &temp))?;
        appendfile::file::sync_dir_of(vfs, &PRE, &path)?;
        let current = Slot {
            hseq: format::SLOTS - 1,
            page_size,
            owner: owner.clone(),
            state: void,
        };
        Ok(PreImageFile {
            file,
            path,
            owner,
            page_size,
            current,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn page_size(&self) -> u32 {
        self.page_size
    }
    /// The system transaction (FCR sequence) the last set written protects.
    pub fn generation(&self) -> u64 {
        match self.current.state {
            PreState::Armed { generation, .. } | PreState::Void { generation, .. } => generation,
        }
    }

    /// Whether the durable state (as far as this process wrote it) is armed.
    pub fn is_armed(&self) -> bool {
        matches!(self.current.state, PreState::Armed { .. })
    }

    fn io(&self, e: &std::io::Error, what: &str) -> Error {
        PRE.io_error(e, what, &self.path)
    }

    fn sync(&self) -> Result<()> {
        self.file.sync().map_err(|e| self.io(&e, "syncing"))
    }

    /// Write `state` as the next header (into the older slot), then sync unless told
    /// not to.
    fn write_state(&mut self, state: PreState, sync: bool) -> Result<()> {
        let next = Slot {
            hseq: self.current.hseq + 1,
            page_size: self.page_size,
            owner: self.owner.clone(),
            state,
        };
        let at = (next.hseq % format::SLOTS) * HEADER_LEN as u64;
        self.file
            .write_at(&next.encode(), at)
            .map_err(|e| self.io(&e, "writing the header of"))?;
        self.current = next;
        if sync {
            self.sync()?;
        }
        Ok(())
    }

    /// Step 1 of a system transaction: make the original `images` (physical page,
    /// bytes) of transaction `generation` durable and arm them, recording that the data
    /// file was `orig_len` bytes long. `sync: false` is the known-bad engine
    /// `preimage-without-sync`.
    pub fn arm(
        &mut self,
        generation: u64,
        images: &[(u32, Vec<u8>)],
        orig_len: u64,
        sync: bool,
    ) -> Result<()> {
        debug_assert!(images
            .iter()
            .all(|(_, b)| b.len() == self.page_size as usize));
        let count = u32::try_from(images.len()).map_err(|_| {
            Error::new(
                Status::IoError,
                format!("{}: too many pre-images for one set", self.path.display()),
            )
        })?;
        let mut frames =
            Vec::with_capacity(images.len() * format::frame_bytes(self.page_size) as usize);
        for (i, (physical, image)) in images.iter().enumerate() {
            frames.extend(format::encode_frame(generation, i as u32, *physical, image));
        }
        if !frames.is_empty() {
            self.file
                .write_at(&frames, FRAMES_AT)
                .map_err(|e| self.io(&e, "writing pre-images to"))?;
        }
        if sync {
            self.sync()?;
        }
        self.write_state(
            PreState::Armed {
                generation,
                count,
                orig_len,
            },
            sync,
        )
    }

    /// Void the set without syncing (after a commit whose FCR is durable: the void is
    /// then housekeeping, made durable by the next sync of this file).
    pub fn void_unsynced(&mut self) -> Result<()> {
        let state = self.void_state();
        self.write_state(state, false)
    }

    fn void_state(&self) -> PreState {
        let (generation, count, orig_len) = match self.current.state {
            PreState::Armed {
                generation,
                count,
                orig_len,
            }
            | PreState::Void {
                generation,
                count,
                orig_len,
            } => (generation, count, orig_len),
        };
        PreState::Void {
            generation,
            count,
            orig_len,
        }
    }

    /// Make the current state durable before acting on it: written again, into the
    /// other header slot, and synced. An open that found the set armed may have read
    /// the header from the OS cache only (the process died at the arming sync); if it
    /// restored from it and a power loss then took the header back, the restore's torn
    /// writes would be left with no armed set to redo them (sim seed 54876).
    pub fn secure(&mut self) -> Result<()> {
        let state = self.current.state;
        self.write_state_over_durable(state)
    }

    /// Step 3: the transaction is whole on disk; its pre-images are void (synced).
    pub fn void(&mut self) -> Result<()> {
        let state = self.void_state();
        self.write_state_over_durable(state)
    }

    /// [`write_state`](Self::write_state), synced, after a sync: the current header
    /// may have been written and not synced (a process died at its sync), and the
    /// slot the new one goes into holds the last durable header — overwritten before
    /// the current one is on disk, a power loss could leave neither whole.
    fn write_state_over_durable(&mut self, state: PreState) -> Result<()> {
        self.sync()?;
        self.write_state(state, true)
    }

    /// The set to apply on open: the armed set's frames, each verified, with the data
    /// file's length before the transaction — or `None` when the header is void.
    /// `even_if_void` is the known-bad engine `apply-stale-preimage`. A missing or
    /// damaged frame of an armed set is damage (status 2): the frames were synced
    /// before the header armed them, and applying part of a set would leave the file
    /// between states.
    pub fn armed_set(&self, even_if_void: bool) -> Result<Option<ArmedSet>> {
        let (generation, count, orig_len) = match self.current.state {
            PreState::Armed {
                generation,
                count,
                orig_len,
            } => (generation, count, orig_len),
            PreState::Void {
                generation,
                count,
                orig_len,
            } if even_if_void && count > 0 => (generation, count, orig_len),
            PreState::Void { .. } => return Ok(None),
        };
        // What an armed set written by `arm` always satisfies: the data file was a
        // whole number of pages long, and every frame is the original of a distinct
        // page below that length (appended pages need none; a restore cuts them off).
        // A header that breaks this is damaged, and refusing it here also keeps a
        // restore from writing, or growing the file, to wherever the header points.
        let ps = u64::from(self.page_size);
        let pages = orig_len / ps;
        if orig_len % ps != 0 || u64::from(count) > pages {
            return fail(
                Status::IoError,
                format!(
                    "{}: its armed header is damaged ({count} pre-images of a file of \
                     {orig_len} bytes in {ps}-byte pages); the data file may hold part of \
                     an interrupted transaction: restore it from backup",
                    self.path.display()
                ),
            );
        }
        let flen = format::frame_bytes(self.page_size);
        // Grown per frame read, never sized from `count`: a damaged count in a short
        // file then ends at the first missing frame having allocated nothing for it.
        let mut set = Vec::new();
        let mut buf = vec![0u8; flen as usize];
        for i in 0..count {
            let at = format::frame_offset(self.page_size, i);
            vfs::read_exact_at(self.file.as_ref(), &mut buf, at).map_err(|e| {
                if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    Error::new(
                        Status::IoError,
                        format!(
                            "{}: pre-image {i} of {count} is missing (the file ends before \
                             it); the data file may hold part of an interrupted \
                             transaction: restore it from backup",
                            self.path.display()
                        ),
                    )
                } else {
                    self.io(&e, "reading pre-images from")
                }
            })?;
            let (physical, image) = format::decode_frame(&buf, self.page_size, generation, i)
                .map_err(|why| {
                    Error::new(
                        Status::IoError,
                        format!(
                            "{}: pre-image {i} of {count} is damaged ({why}); the data file \
                             may hold part of an interrupted transaction: restore it from \
                             backup",
                            self.path.display()
                        ),
                    )
                })?;
            if u64::from(physical) >= pages {
                return fail(
                    Status::IoError,
                    format!(
                        "{}: pre-image {i} of {count} is damaged (it restores page \
                         {physical} of a file of {pages} pages); the data file may hold \
                         part of an interrupted transaction: restore it from backup",
                        self.path.display()
                    ),
                );
            }
            set.push((physical, image.to_vec()));
        }
        Ok(Some((set, orig_len)))
    }
}

/// Write an armed `set` back into the data file (`data`, at `data_path`), cut it to
/// `orig_len` bytes and sync it: the file is back at the start of the interrupted
/// transaction. Idempotent, so a crash during it is undone by doing it again.
pub fn restore(
    data: &dyn VfsFile,
    data_path: &Path,
    page_size: u32,
    set: &[(u32, Vec<u8>)],
    orig_len: u64,
) -> Result<()> {
    let io = |e: std::io::Error| {
        Error::io(
            &e,
            format_args!("{}: restoring pre-images", data_path.display()),
        )
    };
    for (physical, image) in set {
        data.write_at(image, u64::from(*physical) * u64::from(page_size))
            .map_err(io)?;
    }
    data.set_len(orig_len).map_err(io)?;
    data.sync().map_err(io)
}

#[cfg(test)]
mod tests;
