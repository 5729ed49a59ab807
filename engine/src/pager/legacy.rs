//! The legacy (5.x) format's side of the pager: pages overwritten in place under
//! pre-imaging (`crate::preimage` holds the protocol and the `.PRE` format).
//!
//! A legacy system transaction writes every changed page — data, index, PAT, and the
//! FCR into slot `seq % 2` — over its own physical page (new pages still go to free or
//! appended ones). Before the first overwrite, the original image of every page it
//! will write below the file's old end is made durable and armed in `NAME.PRE`. Then
//! every page but the FCR is written and synced, then the FCR, synced: the commit
//! point, as in the 6.x format. Then the set is voided. On open, an armed set whose
//! transaction's FCR is not live is written back first, so the file is at the start or
//! the end of its last system transaction, never between. A failure mid-way writes the
//! originals back at once (and the transaction can be retried); if that fails too, the
//! pager is poisoned and the next open restores them.
//!
//! Why the FCR last, though the pre-images alone could undo anything: the header that
//! says "void" is one sector, and a sector can be lost (torn by a crash, or rotted by
//! the disk) after it was written. With the FCR as the commit point, losing the void
//! header loses nothing — the older slot says armed, the live FCR says the transaction
//! finished — where with the void as the commit point it would silently undo a durable
//! transaction.

use super::Pager;
use crate::page::fcr::Fcr;
use crate::preimage::{self, Found, PreImageFile};
use crate::status::{fail, Error, Result, Status};
use crate::vfs::{Vfs, VfsFile};
use std::path::Path;

/// The before-FCR hook of a system transaction (the archival log's append).
pub(super) type Hook<'a> = Option<&'a mut dyn FnMut(u64, u64) -> Result<()>>;

/// Open the pre-image file of the legacy file at `path` (whose live FCR is `durable`)
/// and restore an armed set. Writable: makes the `.PRE` if there is none. Read-only:
/// refuses a file left mid-transaction, which only a writable open may restore.
/// Returns the pre-image file (writable opens) and whether a set was restored (the
/// caller reads the FCR again then).
///
/// The set is left as found (armed or not): the caller voids it, durably — right
/// after a restore, else only once the live FCR is durable ([`Pager::open`]). A live
/// FCR that is the protected transaction's own may sit only in the OS cache (its sync
/// failed, then the process died); a power loss would take it back to the one before,
/// over the transaction's pages written in place — and only the armed set can then
/// undo them (sim seed 20718: the set voided first, the FCR lost, the file
/// unreadable).
pub(super) fn open_preimage(
    vfs: &dyn Vfs,
    path: &Path,
    file: &dyn VfsFile,
    durable: &Fcr,
    read_only: bool,
    apply_stale: bool,
) -> Result<(Option<PreImageFile>, bool)> {
    let ps = durable.spec.page_size;
    let mut pre = match PreImageFile::find(vfs, path, read_only)? {
        Found::Absent if read_only => return Ok((None, false)),
        Found::Absent => {
            return Ok((
                Some(PreImageFile::create(vfs, path, ps, durable.seq)?),
                false,
            ))
        }
        Found::OtherOwner(owner) => {
            return fail(
                Status::PreImageOpenError,
                format!(
                    "{}: its pre-image file {} belongs to {owner}; two legacy-format files \
                     whose names differ only in extension cannot share a directory",
                    path.display(),
                    preimage::path_for(path).display()
                ),
            )
        }
        Found::Unreadable(e) => return Err(e),
        Found::Ours(pre) => pre,
    };
    if pre.page_size() != ps {
        return fail(
            Status::IoError,
            format!(
                "{}: its pre-image file {} is for {}-byte pages, the file has {ps}-byte \
                 pages; it is not this file's: remove it if the file passes `butil -check`",
                path.display(),
                pre.path().display(),
                pre.page_size()
            ),
        );
    }
    // A set protects transaction `generation`, whose FCR is written last, after every
    // other page of it is synced. So while the live FCR is the one before
    // (`generation - 1`) the transaction may be partly on disk, and an armed set is
    // written back; once the live FCR is the transaction's own, the transaction is
    // whole and its set is never applied — even when the header still says armed (its
    // void write lost to a crash, or the newest header slot damaged). Any other live
    // sequence means the data file was replaced since (a backup restored over it):
    // the set describes another history and writing it back would mix the two.
    let generation = pre.generation();
    let interrupted = durable.seq + 1 == generation;
    let stale = apply_stale && !read_only && (interrupted || durable.seq == generation);
    let mut restored = false;
    let set = if interrupted || stale {
        pre.armed_set(stale)?
    } else {
        None
    };
    if let Some((set, orig_len)) = set {
        if read_only {
            return fail(
                Status::OperationNotAllowed,
                format!(
                    "{} was left in the middle of a system transaction (its pre-image file \
                     is armed), which a read-only open cannot undo: the first open for \
                     writing restores it (with butil, any command that writes to it, e.g. \
                     `-load` of an empty sequential file, which adds nothing); read-only \
                     commands work after that",
                    path.display()
                ),
            );
        }
        // A transaction only overwrites and appends, so the file is never shorter than
        // it was at the start; a header saying otherwise is damaged (or the file was
        // cut behind the engine's back). Restoring it would zero-extend the file to a
        // length read from damaged bytes, so it is refused and the file left alone.
        let len = file
            .len()
            .map_err(|e| Error::io(&e, format_args!("{}: reading its length", path.display())))?;
        if orig_len > len {
            return fail(
                Status::IoError,
                format!(
                    "{}: its armed pre-image file says the file was {orig_len} bytes long \
                     before the interrupted transaction, but it is {len}: one of them is \
                     damaged; restore the file from backup",
                    path.display()
                ),
            );
        }
        pre.secure()
            .map_err(|e| e.during("making the armed pre-image set durable before restoring it"))?;
        preimage::restore(file, path, ps, &set, orig_len)
            .map_err(|e| e.during("restoring the pre-images of an interrupted transaction"))?;
        restored = true;
    }
    if read_only {
        return Ok((None, false));
    }
    Ok((Some(pre), restored))
}

impl Pager {
    /// The I/O of a legacy system transaction: `writes` (physical page, sealed image)
    /// and the FCR (`fcr_buf` into `slot`) go over their own pages, under pre-imaging.
    /// `phys_before` is the file's page count before the transaction: pages at or past
    /// it are new and need no pre-image (a restore cuts them off). An error says
    /// whether the on-disk state is unknown (`true`: poison the pager) or back at the
    /// transaction's start (`false`: keep the changes for a retry).
    pub(super) fn write_in_place(
        &mut self,
        writes: &[(u32, Vec<u8>)],
        slot: u32,
        fcr_buf: &[u8],
        (seq, applied_lsn): (u64, u64),
        phys_before: u32,
        before_fcr: &mut Hook<'_>,
    ) -> Result<(), (Error, bool)> {
        let ps = self.page_size as u64;
        let orig_len = u64::from(phys_before) * ps;
        // The originals exactly as the disk holds them (unverified: restoring them
        // must give back the file as it was, damage included).
        let mut originals = Vec::new();
        for p in writes.iter().map(|w| w.0).chain(std::iter::once(slot)) {
            if p < phys_before {
                originals.push((p, self.read_physical(p).map_err(|e| (e, false))?));
            }
        }
        let sync_first = !mutant!(self.config, PreimageWithoutSync);
        let Some(pre) = self.preimage.as_mut() else {
            return Err((
                Error::new(
                    Status::IoError,
                    format!(
                        "{}: a legacy-format file open for writing has no pre-image file",
                        self.path.display()
                    ),
                ),
                false,
            ));
        };
        pre.arm(seq, &originals, orig_len, sync_first)
            .map_err(|e| (e, false))?;
        for (p, buf) in writes {
            if let Err(e) = self.write_physical(*p, buf) {
                return Err(self.undo_in_place(e, &originals, orig_len, None));
            }
        }
        if mutant!(self.config, PreimageDeletedEarly) {
            // Wrong: the originals are void while the overwritten pages may still be
            // only in the cache; a crash now leaves the file between states.
            if let Some(pre) = self.preimage.as_mut() {
                pre.void().map_err(|e| (e, true))?;
            }
        }
        if let Err(e) = self.sync() {
            return Err(self.undo_in_place(e, &originals, orig_len, None));
        }
        if let Some(hook) = before_fcr.as_mut() {
            if let Err(e) = hook(seq, applied_lsn) {
                return Err(self.undo_in_place(e, &originals, orig_len, None));
            }
        }
        // The commit point: the FCR, over its slot, once every other page is durable.
        // A failure here is undone like any other (its original is in the set), but
        // the new FCR may already be what the file says (in the OS cache after a
        // failed sync, or even on disk), so the undo takes it down first.
        if let Err(e) = self
            .write_physical(slot, fcr_buf)
            .and_then(|()| self.sync())
        {
            return Err(self.undo_in_place(e, &originals, orig_len, Some(slot)));
        }
        // Durable. Voiding the set is housekeeping, not the commit: an armed set whose
        // transaction's FCR is live is never applied (`open_preimage`), so a failure
        // here loses nothing, and the next transaction rewrites the header anyway.
        if let Some(pre) = self.preimage.as_mut() {
            let _ = pre.void_unsynced();
        }
        Ok(())
    }

    /// After a failure mid-transaction: write the originals back, cut the file to its
    /// old length, sync, and void them. Success puts the file back at the
    /// transaction's start (`false`); otherwise its state is unknown (`true`) and the
    /// armed `.PRE` restores it at the next open.
    ///
    /// `fcr_slot`: the FCR was written over that slot (its sync failed, or the write
    /// itself), so the new FCR may be the live one — readable from the OS cache, which
    /// a process crash keeps, or durable. Its original goes back first, synced, before
    /// any other page is touched: an armed set is written back only while its
    /// transaction's FCR is not live, so restoring pages under a live new FCR and then
    /// failing would leave a file that claims the transaction with pages from before
    /// it, which no open can repair. If that first step fails, no other page has been
    /// touched: whichever FCR the file ends up with, its pages are whole.
    fn undo_in_place(
        &mut self,
        err: Error,
        originals: &[(u32, Vec<u8>)],
        orig_len: u64,
        fcr_slot: Option<u32>,
    ) -> (Error, bool) {
        let ps = self.page_size as u32;
        let (first, rest): (Vec<_>, Vec<_>) = originals
            .iter()
            .cloned()
            .partition(|(p, _)| Some(*p) == fcr_slot);
        let uncommit = first
            .iter()
            .try_for_each(|(p, image)| self.write_physical(*p, image).and_then(|()| self.sync()));
        let back = uncommit
            .and_then(|()| preimage::restore(self.file.as_ref(), &self.path, ps, &rest, orig_len))
            .and_then(|()| match self.preimage.as_mut() {
                Some(pre) => pre.void(),
                None => Ok(()),
            });
        match back {
            Ok(()) => (err, false),
            Err(e) => (
                Error::new(
                    err.status,
                    format!(
                        "{}; writing the pre-images back failed too ({e}); reopen the file \
                         to restore them",
                        err.context
                    ),
                ),
                true,
            ),
        }
    }
}
