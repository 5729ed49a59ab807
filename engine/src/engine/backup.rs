//! Continuous operations (online backup): `startbu` freezes a set of data files at
//! one instant, diverting their later commits to a delta file (`NAME.^^^`) beside
//! each, so a copy of the data files is a consistent backup; `endbu` rolls each delta
//! back in and removes it.
//!
//! What it guarantees:
//! - [`Engine::check_backup_set`] changes nothing. [`Engine::start_backup`] is all or
//!   nothing: every file is checked first and a refusal puts no file into continuous
//!   operations; if freezing one fails, those already frozen are put back.
//! - The whole set is frozen at one instant: everything pending is committed first,
//!   then each file is frozen with no operation in between. A file an open user
//!   transaction holds is refused, so a backup never holds part of a transaction.
//! - [`Engine::end_backup`] is idempotent and resumable: after a crash, opening the
//!   file or `endbu` again finishes the roll-in; a file not (or no longer) in
//!   continuous operations is success.
//! - A file this engine does not have open is opened for the purpose and closed after;
//!   one it has open is worked on in place, so its handles see no change.

use super::Engine;
use crate::contops::startbu::{check_set, Refusal};
use crate::file::datafile::DataFile;
use crate::file::FileFormat;
use crate::mutant::Mutant;
use crate::status::{fail, Error, Result, Status};
use crate::vfs::Vfs;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

impl Engine {
    /// Check a `startbu` set without changing anything: every refusal (file, status,
    /// reason). Files this engine has open count as data files unless a transaction
    /// holds them or they have changes a transaction keeps pending.
    pub fn check_backup_set(&mut self, paths: &[PathBuf]) -> Vec<Refusal> {
        let vfs = self.vfs.clone();
        let open: BTreeMap<PathBuf, (bool, FileFormat)> = self
            .files
            .values()
            .map(|f| (f.path.clone(), (f.txn_owner.is_some(), f.df.spec().format)))
            .collect();
        // A legacy file overwrites its pages in place: it cannot be frozen while its
        // changes go to a delta (the 6.x format's shadow paging is what lets a frozen
        // file's readers and its roll-in coexist), so it is refused (88).
        let legacy = |format: FileFormat| -> Result<()> {
            if format == FileFormat::V5 {
                return fail(
                    Status::IncompatibleMode,
                    "it is in the legacy (5.x) format, which continuous operations do not \
                     support; convert it with `butil -convert FILE OUT --to 6`, or back it \
                     up while it is closed",
                );
            }
            Ok(())
        };
        // blog.cfg as it is now (an archived file cannot enter continuous operations).
        let blog = self.blog_config();
        check_set(
            vfs.as_ref(),
            paths,
            &mut |p: &Path| match open.get(p) {
                Some((false, format)) => legacy(*format),
                Some((true, _)) => fail(
                    Status::OperationNotAllowed,
                    "a transaction holds the file; end or abort it first",
                ),
                None => legacy(
                    DataFile::open(vfs.as_ref(), p, true, self.pager_config(p))?
                        .spec()
                        .format,
                ),
            },
            &mut |p: &Path| match &blog {
                Ok(c) => Ok(c.as_ref().and_then(|c| c.log_for(p)).map(Path::to_path_buf)),
                Err(e) => Err(e.clone()),
            },
        )
    }

    /// `startbu` (continuous operations) on a set of files, all or nothing: every file
    /// is checked first (a refusal puts no file into continuous operations); then
    /// everything pending is committed, and every file of the set is frozen at that
    /// one instant with its delta (`NAME.^^^`) created durably. From now on a copy of
    /// the data files is a consistent backup of that instant.
    pub fn start_backup(&mut self, paths: &[PathBuf]) -> Result<()> {
        let refusals = self.check_backup_set(paths);
        if let Some(first) = refusals.first() {
            let all: Vec<String> = refusals.iter().map(|r| r.to_string()).collect();
            return fail(
                first.status,
                format!(
                    "startbu refused, no file was put into continuous operations: {}",
                    all.join("; ")
                ),
            );
        }
        // One instant for the whole set: commit everything, then freeze each file with
        // no operation in between.
        if self.mutant(Mutant::StartbuDifferentInstants) {
            // Wrong: the first file is frozen before the pending changes are committed,
            // so they land in its delta and its frozen image is an earlier instant.
            let set_id = self.next_set_id + 1;
            let _ = self.with_file(&paths[0], |vfs, df| df.pager.freeze_anyway(vfs, set_id));
        }
        self.flush_all(false)?;
        self.next_set_id += 1;
        let set_id = self.clock.now().as_nanos() as u64 ^ (self.next_set_id << 48);
        let mut frozen: Vec<PathBuf> = Vec::new();
        let mut result = Ok(());
        for p in paths {
            let skip = self.mutant(Mutant::StartbuDifferentInstants) && p == &paths[0];
            if skip {
                frozen.push(p.clone());
                continue;
            }
            if let Err(e) = self.with_file(p, |vfs, df| df.pager.freeze(vfs, set_id)) {
                result = Err(e);
                break;
            }
            frozen.push(p.clone());
        }
        if let Err(e) = result {
            // Put back the files already frozen: nothing was committed to their deltas.
            for p in &frozen {
                if self.mutant(Mutant::StartbuCannotUnfreeze) {
                    // Wrong: the files already frozen stay in continuous operations.
                    continue;
                }
                let _ = self.with_file(p, |vfs, df| df.pager.unfreeze_unused(vfs));
            }
            return Err(e.during("startbu failed; no file was left in continuous operations"));
        }
        Ok(())
    }

    /// `endbu` on a set of files: commit what is pending (to the deltas), then roll
    /// each delta into its data file and remove it. Idempotent and resumable: after a
    /// crash, opening the file or `endbu` again finishes the roll-in; a file with
    /// nothing left to roll in is success.
    pub fn end_backup(&mut self, paths: &[PathBuf]) -> Result<()> {
        self.flush_all(false)?;
        let mut first_err = None;
        for p in paths {
            let r = self.with_file(p, |vfs, df| {
                if !df.pager.is_frozen() {
                    // Nothing (left) to roll in: a crash-interrupted endbu finished by
                    // the open, or one that had already completed. endbu is resumable,
                    // so running it again is success.
                    return Ok(());
                }
                df.pager.roll_in(vfs)
            });
            if let Err(e) = r {
                first_err.get_or_insert(e.during(format_args!("endbu {}", p.display())));
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The data files in directory `dir` that have a delta beside them: what
    /// `endbu -A` ends. A delta `NAME.^^^` belongs to the one file `NAME.*` (startbu
    /// never lets two share it); a delta whose data file is missing, or is ambiguous,
    /// is an error naming it.
    pub fn files_in_backup(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        let names = self
            .vfs
            .list_dir(dir)
            .map_err(|e| Error::io(&e, format_args!("listing {}", dir.display())))?;
        let mut out = Vec::new();
        for n in &names {
            let Some(stem) = n.strip_suffix(".^^^") else {
                continue;
            };
            let owners: Vec<&String> = names
                .iter()
                .filter(|m| {
                    !m.ends_with(".^^^")
                        && (m.as_str() == stem
                            || m.strip_prefix(stem).is_some_and(|r| r.starts_with('.')))
                })
                .filter(|m| crate::delta::delta_path(&dir.join(m)).is_ok_and(|d| d == dir.join(n)))
                .collect();
            match owners.as_slice() {
                [one] => out.push(dir.join(one)),
                [] => {
                    return fail(
                        Status::FileNotFound,
                        format!(
                            "delta {} has no data file beside it; restore the file or remove \
                             the delta",
                            dir.join(n).display()
                        ),
                    )
                }
                _ => {
                    return fail(
                        Status::IncompatibleMode,
                        format!(
                            "delta {} could belong to several files ({}); end each by name",
                            dir.join(n).display(),
                            owners
                                .iter()
                                .map(|s| s.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )
                }
            }
        }
        Ok(out)
    }

    /// Is `path` (open in this engine) in continuous operations?
    pub fn in_backup(&self, path: &Path) -> bool {
        self.files
            .values()
            .any(|f| f.path == path && f.df.pager.is_frozen())
    }

    /// Run `f` on `path`'s data file: the open one, or one opened for the purpose
    /// (writable, its delta attached) and closed after.
    fn with_file(
        &mut self,
        path: &Path,
        f: impl FnOnce(&dyn Vfs, &mut DataFile) -> Result<()>,
    ) -> Result<()> {
        let vfs = self.vfs.clone();
        if let Some(of) = self.files.values_mut().find(|o| o.path == path) {
            return f(vfs.as_ref(), &mut of.df);
        }
        // A writable open that bypasses `open`'s archival reconciliation: refuse an
        // archived file whose delta it would roll in unlogged.
        if let Some(log) = self.archival_log_of(path)? {
            self.refuse_archived_in_contops(path, &log)?;
        }
        let mut df = self.open_data_file(path, false)?;
        df.pager.attach_delta(vfs.as_ref())?;
        let r = f(vfs.as_ref(), &mut df);
        self.closing_data_file(path, &df);
        r
    }
}
