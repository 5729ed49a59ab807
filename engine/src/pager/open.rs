//! Creating a data file and opening one: choosing the live FCR, loading and checking
//! the whole PAT tree (`pat.rs`), and rebuilding the free-page set (which reclaims
//! pages a crash orphaned: whatever no page reachable from the FCR references).

use super::cache::CleanCache;
use super::pat::{PatTree, PhysicalSet};
use super::{Pager, PagerConfig, FCR_SLOTS};
use crate::page::data::Layout;
use crate::page::fcr::{self, Fcr, FileState};
use crate::page::pat::{self, PagePtr};
use crate::page::spec::{FileFormat, FileSpec, PAGE_SIZES};
use crate::page::{self, node, PageType};
use crate::status::{fail, Error, Result, Status};
use crate::vfs::{self, OpenMode, Vfs, VfsFile};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Check that a spec's records, keys and control record fit its page size.
pub fn check_fits(spec: &FileSpec) -> Result<()> {
    spec.validate()?;
    let ps = spec.page_size as usize;
    if Layout::of(spec).is_none() {
        return fail(
            Status::InvalidRecordLength,
            format!(
                "a {}-byte record does not fit a {ps}-byte page",
                spec.record_length
            ),
        );
    }
    for (k, key) in spec.keys.iter().enumerate() {
        let e = key.length() + 8;
        if node::capacity(ps, e, true) < node::MIN_FANOUT
            || node::capacity(ps, e, false) < node::MIN_FANOUT
        {
            return fail(
                Status::PageSizeError,
                format!(
                    "key {k} ({} bytes) is too long for {ps}-byte index pages; use a larger page",
                    key.length()
                ),
            );
        }
    }
    if fcr::pat_capacity(spec) < 1 {
        return fail(
            Status::PageSizeError,
            format!("the key definitions do not fit a {ps}-byte control record"),
        );
    }
    Ok(())
}

/// Create a new, empty data file (Btrieve Create, op 14). Fails with 59 if it exists.
///
/// The file is written whole under a temporary name ([`creating_path`]), synced, and
/// only then given its name, which is made durable: a crash at any point leaves either
/// no file (and at most a stale temporary, overwritten by the next create) or the
/// complete empty file — never a half-written one under the real name that would
/// refuse to open (30) and block a second create (59). (Found by crashfs on
/// `butil -create`.)
pub fn create(vfs: &dyn Vfs, path: &Path, spec: &FileSpec) -> Result<()> {
    check_fits(spec)?;
    let status_of = |e: &std::io::Error| match e.kind() {
        std::io::ErrorKind::AlreadyExists => Status::FileAlreadyExists,
        std::io::ErrorKind::StorageFull => Status::DiskFull,
        _ => Status::CreateIoError,
    };
    let io = |e: std::io::Error| {
        let mut err = Error::io(&e, format_args!("creating {}", path.display()));
        err.status = status_of(&e);
        err
    };
    if vfs.exists(path).map_err(io)? {
        return fail(
            Status::FileAlreadyExists,
            format!("{} exists already", path.display()),
        );
    }
    let tmp = creating_path(path);
    let written = write_empty(vfs, &tmp, spec).and_then(|()| vfs.rename_new(&tmp, path));
    if let Err(e) = written {
        let _ = vfs.remove(&tmp);
        return Err(io(e));
    }
    vfs.sync_dir(&vfs::parent_dir(path)).map_err(io)
}

/// Where [`create`] builds a new file before naming it: `NAME.creating`, beside it.
pub fn creating_path(path: &Path) -> std::path::PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".creating");
    path.with_file_name(name)
}

/// Writes an empty data file of `spec` at `path` (truncating a stale one) and syncs it.
fn write_empty(vfs: &dyn Vfs, path: &Path, spec: &FileSpec) -> std::io::Result<()> {
    let ps = spec.page_size as usize;
    let file = vfs.open(path, OpenMode::Truncate)?;
    // One empty PAT page at physical 2, committed by FCR sequence 1 in slot 1; slot 0
    // holds the same state as sequence 0, so the first real commit (2) lands in slot 0.
    let pat_phys = FCR_SLOTS;
    let mut pat_buf = page::blank(ps, PageType::Pat);
    pat::encode(&mut pat_buf, &[]);
    page::seal(&mut pat_buf, pat_phys, 0, 1);
    file.write_at(&pat_buf, u64::from(pat_phys) * ps as u64)?;
    for seq in [0u64, 1] {
        let f = Fcr {
            seq,
            spec: spec.clone(),
            state: FileState {
                record_count: 0,
                logical_pages: 1,
                free_data_head: 0,
                next_serial: 1,
                applied_lsn: 0,
                roots: vec![0; spec.keys.len()],
            },
            pat_depth: 1,
            pat: vec![PagePtr {
                physical: pat_phys,
                seq: 1,
            }],
        };
        let mut b = f.encode();
        let slot = seq as u32;
        page::seal(&mut b, slot, slot, seq);
        file.write_at(&b, u64::from(slot) * ps as u64)?;
    }
    file.sync()
}

/// Read the FCR slot at `physical` assuming `page_size`: `Ok(None)` unless it is a
/// valid, self-consistent control record. An I/O error is an error, never "no FCR":
/// a failing disk must give status 2, not 30.
/// Bytes of a control record that say what it claims to be: the page header, the
/// magic number and the page-size field.
const PROBE_LEN: usize = 44;

/// The FCR in `slot` for page size `page_size`, if the file holds a valid one there
/// with a sequence above `beat` (the best found so far, if any). `probe` is the first
/// [`PROBE_LEN`] bytes at the slot's offset: the full page is read (and its checksum
/// computed) only when they already claim a control record of this slot and size — a
/// valid one always does, so this skips nothing that could validate.
///
/// A page whose header sequence (the FCR's own, `Fcr::seq`) does not beat `beat` is
/// still read — the read and its failure stay as they were — but neither checksummed
/// nor decoded: valid or not, it could not be chosen.
/// Whether a valid control record of sequence `seq` in `slot` is preferred to one of
/// sequence `best` in the other slot: the higher sequence; between equal ones (both
/// slots after an open's copy, or after a failed FCR's undo), the one in its own slot
/// (`seq % FCR_SLOTS`, where its commit wrote it). That is the copy the next commit
/// leaves alone, and the one that is durable after an undo whose own sync failed:
/// the open's copy then rewrites the other slot first.
fn beats(seq: u64, slot: u32, best: u64) -> bool {
    seq > best || (seq == best && u64::from(slot) == seq % u64::from(FCR_SLOTS))
}

fn read_slot(
    file: &dyn VfsFile,
    probe: &[u8],
    slot: u32,
    page_size: u32,
    b: &mut Vec<u8>,
    beat: Option<u64>,
) -> std::io::Result<Option<Fcr>> {
    let Some(header) = page::header(probe) else {
        return Ok(None);
    };
    let claims = header.page_type == PageType::Fcr
        && header.physical == slot
        && Fcr::has_magic(probe)
        && probe.get(40..44) == Some(&page_size.to_le_bytes()[..]);
    if !claims {
        return Ok(None);
    }
    // `b` is the caller's buffer, reused: made a page long, then read over whole (or
    // the read fails, and so does the open).
    file.read_exact_into(
        b,
        page_size as usize,
        u64::from(slot) * u64::from(page_size),
    )?;
    if beat.is_some_and(|best| !beats(header.seq, slot, best)) {
        return Ok(None);
    }
    if !page::checksum_ok(b) {
        return Ok(None);
    }
    Ok(Fcr::decode(b).ok())
}

/// The sequence of the live control record of the data file `file` (opened from
/// `path`), read without opening it for use (nothing written): what `killbu` checks a
/// delta's snapshot against, through the handle it holds the file's lock by.
pub fn live_fcr_seq(file: &dyn VfsFile, path: &Path) -> Result<u64> {
    let io = |e: std::io::Error| Error::io(&e, format_args!("opening {}", path.display()));
    let len = file.len().map_err(io)?;
    let (fcr, _) = Pager::live_fcr(file, path, len, &mut Vec::new(), &mut Vec::new())?;
    Ok(fcr.seq)
}

impl Pager {
    /// Open a data file: take its lock, pick the live FCR, load the PAT, rebuild the
    /// free-page set.
    pub fn open(vfs: &dyn Vfs, path: &Path, read_only: bool, config: PagerConfig) -> Result<Pager> {
        let mode = if read_only {
            OpenMode::ReadOnly
        } else {
            OpenMode::Existing
        };
        let file = vfs
            .open(path, mode)
            .map_err(|e| Error::io(&e, format_args!("opening {}", path.display())))?;
        file.try_lock_exclusive()
            .map_err(|e| Error::io(&e, format_args!("locking {}", path.display())))?;
        let len = file
            .len()
            .map_err(|e| Error::io(&e, format_args!("opening {}", path.display())))?;
        // A page buffer for the control records' reads below.
        let mut scratch = Vec::new();
        // The live FCR's bytes as read and verified (the copy below is made of them).
        let mut live = Vec::new();
        let (mut durable, mut slot) =
            Self::live_fcr(file.as_ref(), path, len, &mut scratch, &mut live)?;
        let mut len = len;
        let mut preimage = None;
        // Whether an interrupted legacy transaction was undone (its set then voided).
        let mut restored = false;
        if durable.spec.format == FileFormat::V5 {
            // Before anything else reads the file: an interrupted in-place transaction
            // is undone. (The live FCR is readable even then — each transaction writes
            // the slot the live one is not in — and gives the page size to check the
            // `.PRE` against.)
            let stale = mutant!(config, ApplyStalePreimage);
            let pre;
            (pre, restored) =
                super::legacy::open_preimage(vfs, path, file.as_ref(), &durable, read_only, stale)?;
            preimage = pre;
            if restored {
                len = file
                    .len()
                    .map_err(|e| Error::io(&e, format_args!("opening {}", path.display())))?;
                (durable, slot) =
                    Self::live_fcr(file.as_ref(), path, len, &mut scratch, &mut live)?;
                // The originals are back, synced, under the durable FCR before the
                // transaction: void the set now, before the FCR is copied below. The
                // set holds the original of the slot that copy writes first (the slot
                // the undone transaction would have written its FCR to), so if it were
                // still armed when a crash tore the live slot's rewrite, the next open
                // would restore that original over the only whole copy of the live FCR
                // (sim seed 56467).
                if let Some(pre) = preimage.as_mut() {
                    pre.void()?;
                }
            }
        }
        if !read_only {
            // The live FCR may sit only in the OS cache — after a process crash, and
            // after a commit whose FCR sync failed (the pager was poisoned and the file
            // reopened): Linux then keeps serving the FCR it could not write, and a
            // sync now would find nothing dirty and succeed without writing it. Make
            // what we are about to build on durable first — write the FCR again, then
            // sync — or a later power loss could revert the file beneath commits that
            // already depend on it (their shadow pages reuse pages the older FCR
            // references). The pages it references are durable: each commit syncs its
            // pages, successfully, before it writes its FCR.
            //
            // Not by rewriting it in place first: a power loss during that write may
            // leave its sector neither old nor new (a torn sector can hold garbage),
            // and the live FCR — perhaps durable until then — would be gone, the file
            // falling back to the older slot beneath acknowledged commits. So the live
            // FCR goes first into the other slot (same sequence, sealed for that
            // slot) and is synced; only then is the live slot rewritten and synced.
            // Whatever a crash tears, one slot holds the live FCR durably; afterwards
            // both do, and the next commit (which writes the slot of the next
            // sequence) overwrites one copy, never the only one.
            //
            // Both writes are made of the bytes `live_fcr` read and verified, never of
            // a second read: sealing bytes read again would give a valid checksum to
            // whatever a lying disk changed in between (sim seed 5244: a latent
            // corruption of the live slot was sealed into the other slot, and neither
            // held a control record any more). Writing the verified bytes back also
            // mends such a change in the live slot.
            //
            // One case needs the other order: this process wrote the live FCR and its
            // write or sync failed (`PagerConfig::failed_fcr_seq`). Linux may then have
            // marked it clean unwritten: reads serve it, no sync writes it, and the
            // other slot holds the last durable FCR — the only one, which the copy
            // above would overwrite first. That FCR's commit was never acknowledged, so
            // losing it to a power loss is allowed: the live slot is rewritten and
            // synced first (a torn write leaves the other slot's FCR, the last
            // acknowledged commit, whose pages no commit has reused), then the other.
            let ps = u64::from(durable.spec.page_size);
            let at = u64::from(slot) * ps;
            let other = (slot + 1) % FCR_SLOTS;
            debug_assert_eq!(live.len() as u64, ps);
            let careful = !mutant!(config, CopyOverLastDurableFcr);
            let live_unsure = config.failed_fcr_seq == Some(durable.seq) && careful;
            let mut copied = || -> std::io::Result<()> {
                let buf = &mut scratch;
                buf.clone_from(&live);
                page::seal(buf, other, other, durable.seq);
                let live_first = || -> std::io::Result<()> {
                    file.write_at(&live, at)?;
                    file.sync()?;
                    file.write_at(buf, u64::from(other) * ps)?;
                    file.sync()
                };
                if live_unsure {
                    return live_first();
                }
                // First a sync: after a process crash at the live FCR's own sync that
                // FCR is written but may not be durable, and the other slot holds the
                // last durable one — overwriting that before the live one is on disk
                // could leave, after a power loss, no whole control record at all.
                file.sync()?;
                // After a failed sync in *another* process (one that crashed before
                // it could write the durable record back, or whose write back failed)
                // Linux may have dropped the write and marked it clean: that sync wrote
                // nothing, and only a read past the cache shows the disk holds no such
                // record. Then the other slot holds the last durable one, as above:
                // the live slot goes first. (A filesystem that cannot read past its
                // cache leaves this case open: README, "Known gaps".)
                if careful && !vfs::on_disk(file.as_ref(), &live, at) {
                    return live_first();
                }
                file.write_at(buf, u64::from(other) * ps)?;
                file.sync()?;
                file.write_at(&live, at)?;
                file.sync()
            };
            copied().map_err(|e| {
                Error::io(
                    &e,
                    format_args!(
                        "{}: writing the control record again on open",
                        path.display()
                    ),
                )
            })?;
            // The same for the directory: a delta's removal (endbu) or creation
            // (startbu) that a process crash left only in the OS cache would otherwise
            // be undone by a later power loss — a removed ending delta coming back and
            // being rolled in over everything committed since (sim seed 1677).
            let dir = vfs::parent_dir(path);
            vfs.sync_dir(&dir).map_err(|e| {
                Error::io(
                    &e,
                    format_args!(
                        "{}: syncing directory {} on open",
                        path.display(),
                        dir.display()
                    ),
                )
            })?;
            // A legacy file's set that was not restored is void only now that the live
            // FCR is durable (`legacy::open_preimage`): until then a power loss may take
            // the FCR back to before the transaction the set undoes. Voiding rewrites
            // the header durably, for the same reason as the FCR above.
            if let Some(pre) = preimage.as_mut().filter(|_| !restored) {
                pre.void()?;
            }
        }
        let ps = durable.spec.page_size as usize;
        let file_pages = u32::try_from(len / ps as u64).unwrap_or(u32::MAX);
        let mut referenced = PhysicalSet::new(file_pages);
        for p in 0..FCR_SLOTS {
            referenced.insert(p);
        }
        // One buffer for every PAT page — the control records' scratch, already a page
        // long (no allocation or zeroing): made a page long, then read over whole — or
        // the read fails and the open with it.
        let mut read = |physical: u32, b: &mut Vec<u8>| -> Result<()> {
            b.resize(ps, 0);
            let off = u64::from(physical) * ps as u64;
            vfs::read_exact_at(file.as_ref(), b, off).map_err(|e| {
                Error::io(
                    &e,
                    format_args!("{}: reading PAT page at {physical}", path.display()),
                )
            })
        };
        let tree = PatTree::load(&durable, path, &mut referenced, &mut read, &mut scratch)?;
        let free_logical = tree.free_logical(durable.state.logical_pages);
        let max_ref = referenced.last().unwrap_or(0);
        let phys_pages = ((len / ps as u64) as u32).max(max_ref + 1);
        let free_phys: BTreeSet<u32> = (FCR_SLOTS..phys_pages)
            .filter(|&p| !referenced.contains(p))
            .collect();
        let mut clean = CleanCache::new(config.clean_cache_pages);
        // The open's page buffer serves the first page read from the file, sparing
        // that read a zeroed allocation of its own (it is read over whole, like any
        // spare: see `read_physical_into`).
        clean.give_spare(scratch);
        Ok(Pager {
            file,
            path: path.to_path_buf(),
            page_size: ps,
            read_only,
            config,
            state: durable.state.clone(),
            durable,
            pat: tree,
            dirty: BTreeMap::new(),
            clean,
            free_phys,
            phys_pages,
            free_logical,
            undo: None,
            txn: None,
            view_before_txn: false,
            poisoned: None,
            failed_fcr_seq: None,
            epoch: 0,
            stats: Default::default(),
            frozen: None,
            preimage,
            spill: Default::default(),
            reuse: super::reuse::Reuse::at_open(read_only),
        })
    }

    /// The valid FCR with the highest sequence number, and the slot it is in; its
    /// bytes, as read and verified, are left in `live`. `scratch` is a buffer to read
    /// pages into (its contents are never used).
    fn live_fcr(
        file: &dyn VfsFile,
        path: &Path,
        len: u64,
        scratch: &mut Vec<u8>,
        live: &mut Vec<u8>,
    ) -> Result<(Fcr, u32)> {
        let mut best: Option<(Fcr, u32)> = None;
        // The page size is in the FCR itself, so try each: slot 0 is at offset 0 for
        // every size, slot 1 at offset `ps`. Look at the first bytes there first (an
        // open used to read and checksum a whole page for each of the twelve pairs).
        let io = |e: std::io::Error, slot: u32| {
            Error::io(
                &e,
                format_args!("{}: reading control record {slot}", path.display()),
            )
        };
        let probe_at = |off: u64| -> Result<Option<[u8; PROBE_LEN]>> {
            if off + PROBE_LEN as u64 > len {
                return Ok(None);
            }
            let mut probe = [0u8; PROBE_LEN];
            vfs::read_exact_at(file, &mut probe, off).map_err(|e| io(e, u32::from(off > 0)))?;
            Ok(Some(probe))
        };
        let first = probe_at(0)?;
        // A magic number (or a control record's page header) in either slot means this
        // was a Keel file whose control records are both damaged, not some other file.
        let mut magic_seen = first.as_ref().is_some_and(|p| Fcr::bears_marks(p, 0));
        for &ps in &PAGE_SIZES {
            let in_file = |slot: u32| (u64::from(slot) + 1) * u64::from(ps) <= len;
            if let Some(p) = first.as_ref().filter(|_| in_file(0)) {
                let beat = best.as_ref().map(|(b, _)| b.seq);
                if let Some(f) = read_slot(file, p, 0, ps, scratch, beat).map_err(|e| io(e, 0))? {
                    if best.as_ref().is_none_or(|(b, _)| beats(f.seq, 0, b.seq)) {
                        best = Some((f, 0));
                        live.clone_from(scratch);
                    }
                }
            }
            let Some(p) = probe_at(u64::from(ps))? else {
                continue;
            };
            magic_seen |= len >= 2 * u64::from(PAGE_SIZES[0]) && Fcr::bears_marks(&p, 1);
            if in_file(1) {
                let beat = best.as_ref().map(|(b, _)| b.seq);
                if let Some(f) = read_slot(file, &p, 1, ps, scratch, beat).map_err(|e| io(e, 1))? {
                    if best.as_ref().is_none_or(|(b, _)| beats(f.seq, 1, b.seq)) {
                        best = Some((f, 1));
                        live.clone_from(scratch);
                    }
                }
            }
        }
        match best {
            Some(best) => Ok(best),
            None if magic_seen => fail(
                Status::IoError,
                format!(
                    "{}: both file control records are damaged; run `butil -recover`",
                    path.display()
                ),
            ),
            None => fail(
                Status::NotABtrieveFile,
                format!(
                    "{}: not a Keel data file ({len} bytes, no control record)",
                    path.display()
                ),
            ),
        }
    }
}

#[cfg(test)]
#[path = "open_tests.rs"]
mod tests;
