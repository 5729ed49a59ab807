//! `killbu`: end continuous operations by deleting the deltas, so that every file of the
//! set is exactly as it was at the `startbu` instant (the frozen file was never written).
//!
//! All or nothing, like `startbu`: every delta is checked first, and one that cannot be
//! killed refuses the whole request before anything is removed. A delta is killable when
//! it is *active* and its data file still at the snapshot the delta was made for, or when its creation was interrupted (nothing was ever written to
//! it). An *ending* delta is not: its roll-in had begun, so the data file may already
//! hold some of the delta's pages and is no longer the `startbu` instant — only `endbu`
//! can finish it. A file with no delta is not in continuous operations (status 41).

use crate::delta::{delta_path, probe_delta, remove_delta, scan_delta, DeltaProbe, DeltaState};
use crate::status::{Error, Result, Status};
use crate::vfs::{OpenMode, Vfs, VfsFile};
use std::path::{Path, PathBuf};

/// What to do with a file of the set that has no delta.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IfAbsent {
    /// Refuse the set (status 41): the operator named a file not in continuous
    /// operations (`butil -killbu`).
    Refuse,
    /// Pass it through: after a crash during `endbu`, some files of a set may already
    /// be rolled in and their deltas gone; removing the rest is what an operator who
    /// "deletes the deltas" does. (Removing an absent delta only syncs the directory.)
    Skip,
}

/// Check that every file of `paths` has a delta `killbu` may remove; returns the deltas,
/// in order. `files` are the data files [`lock_data_files`] locked, one per path (`None`
/// where no data file exists). Nothing is written. The first refusal is the error: 41
/// no delta (with [`IfAbsent::Refuse`]), 88 roll-in begun, 2 a damaged or unreadable
/// delta, 11 a name that has no delta.
pub fn check_kill(
    vfs: &dyn Vfs,
    paths: &[PathBuf],
    files: &[Option<Box<dyn VfsFile>>],
    absent: IfAbsent,
) -> Result<Vec<PathBuf>> {
    debug_assert_eq!(paths.len(), files.len());
    let mut deltas = Vec::with_capacity(paths.len());
    for (p, file) in paths.iter().zip(files) {
        let d = delta_path(p)?;
        match probe_delta(vfs, &d)? {
            DeltaProbe::Absent if absent == IfAbsent::Skip => {}
            DeltaProbe::Absent => {
                return Err(Error::new(
                    Status::OperationNotAllowed,
                    format!(
                        "{} is not in continuous operations (no {})",
                        p.display(),
                        d.display()
                    ),
                ))
            }
            DeltaProbe::Interrupted => {}
            DeltaProbe::Present => {
                let header = scan_delta(vfs, &d)?.header;
                if header.state == DeltaState::Ending {
                    return Err(Error::new(
                        Status::IncompatibleMode,
                        format!(
                            "{}: its roll-in had begun, so the file may no longer be at the \
                             startbu instant; run `butil -endbu` to finish it",
                            p.display()
                        ),
                    ));
                }
                if let Some(file) = file {
                    check_at_instant(file.as_ref(), p, header.fcr_seq)?;
                }
            }
        }
        deltas.push(d);
    }
    debug_assert_eq!(deltas.len(), paths.len());
    Ok(deltas)
}

/// Check that the data file `file` (at `path`) is still at the snapshot its active
/// delta was made for: its live control record has the sequence `fcr_seq` the delta's
/// header names. `startbu` synced that control record before it created the delta, so
/// if the file now reads as an older one, the newest control record was damaged on disk
/// (or the file replaced), and removing the delta would not return the file to the
/// startbu instant but silently to a state before it — losing what `startbu` itself
/// committed (sim seed 121267). Refused with status 2, the delta left as evidence.
fn check_at_instant(file: &dyn VfsFile, path: &Path, fcr_seq: u64) -> Result<()> {
    let seq = crate::pager::live_fcr_seq(file, path)?;
    if seq == fcr_seq {
        return Ok(());
    }
    Err(Error::new(
        Status::IoError,
        format!(
            "{}: its control record is at sequence {seq}, but its delta was made for the \
             startbu instant at sequence {fcr_seq}: the file is no longer that instant (its \
             newest control record is damaged, or the file was replaced), so removing the \
             delta would not return it there; restore the file from backup, then remove \
             the delta",
            path.display()
        ),
    ))
}

/// Remove checked deltas durably (each removal's directory synced), in order. A failure
/// leaves the deltas before it removed and the rest in place.
pub fn remove_deltas(vfs: &dyn Vfs, deltas: &[PathBuf]) -> Result<()> {
    for d in deltas {
        remove_delta(vfs, d)?;
    }
    Ok(())
}

/// Kill continuous operations for `paths`: take every data file's lock
/// ([`lock_data_files`]), check them all ([`check_kill`]), then remove every delta
/// ([`remove_deltas`]), the locks held throughout. Returns the deltas removed, in order.
/// After a failure while removing, running `killbu` again on the files left finishes it.
pub fn killbu(vfs: &dyn Vfs, paths: &[PathBuf], absent: IfAbsent) -> Result<Vec<PathBuf>> {
    let locks = lock_data_files(vfs, paths)?;
    let deltas = check_kill(vfs, paths, &locks, absent)?;
    remove_deltas(vfs, &deltas)?;
    Ok(deltas)
}

/// Take the exclusive lock of every data file of `paths` that exists (held until the
/// handles are dropped); one entry per path, `None` where the data file does not exist. A file another engine holds is refused (85) before anything
/// is removed: that engine is writing the file's changes to its delta and reading
/// through it, and deleting the delta under it would lose every change since
/// `startbu` that it acknowledged. (The operator ends continuous operations there with
/// `-endbu`, which `butil` sends to the engine holding the file, or stops it first.)
pub fn lock_data_files(vfs: &dyn Vfs, paths: &[PathBuf]) -> Result<Vec<Option<Box<dyn VfsFile>>>> {
    let mut locks = Vec::with_capacity(paths.len());
    for p in paths {
        let file = match vfs.open(p, OpenMode::ReadOnly) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                locks.push(None);
                continue;
            }
            Err(e) => return Err(Error::io(&e, format_args!("opening {}", p.display()))),
        };
        file.try_lock_exclusive()
            .map_err(|e| Error::io(&e, format_args!("locking {}", p.display())))?;
        locks.push(Some(file));
    }
    Ok(locks)
}
