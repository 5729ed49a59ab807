//! Continuous operations: `-startbu`, `-endbu`, `-killbu` on `FILE` or `@LISTFILE`,
//! and `-restore` of a backup copy. Each is a separate process: the state lives in the
//! deltas (`NAME.^^^`) beside the data files, so an application, `-startbu`, a copy
//! program and `-endbu` cooperate without a server.

use super::{data_path, engine, read_input};
use crate::report::Report;
use engine::admin::text::{self, Named};
use engine::delta::delta_path;
use engine::formats::parse_list;
use engine::vfs::{StdVfs, Vfs};
use engine::{Error, Result, Status};
use std::path::{Path, PathBuf};

/// The files `FILE` or `@LISTFILE` names.
pub fn targets(target: &str) -> Result<Vec<PathBuf>> {
    match target.strip_prefix('@') {
        Some(list) => {
            let bytes = read_input(Path::new(list), "list file")?;
            let paths =
                parse_list(&bytes).map_err(|e| e.during(format_args!("list file {list}")))?;
            if paths.is_empty() {
                return Err(Error::new(
                    Status::InvalidFileName,
                    format!("list file {list} names no file"),
                ));
            }
            Ok(paths.into_iter().map(PathBuf::from).collect())
        }
        None => Ok(vec![PathBuf::from(target)]),
    }
}

/// Each of `paths` as the engine is given it ([`data_path`]).
fn data_paths(paths: Vec<PathBuf>) -> Result<Vec<PathBuf>> {
    paths.iter().map(|p| data_path(p)).collect()
}

/// Each path as shown and as the engine is given it ([`data_path`]).
fn named(paths: &[PathBuf]) -> Result<Vec<Named>> {
    data_paths(paths.to_vec()).map(|ps| ps.iter().map(|p| Named::same(p)).collect())
}

/// The files `-startbu TARGET` names, as the engine is given them.
pub fn startbu_targets(target: &str) -> Result<Vec<Named>> {
    named(&targets(target)?)
}

/// `-startbu FILE | @LISTFILE`: all or nothing; every refusal is printed.
pub fn startbu(target: &str, out: &mut Report) -> Result<()> {
    let files = startbu_targets(target)?;
    text::startbu(&mut engine()?, &files, out)
}

/// The files `-endbu TARGET [DIR...]` names: `FILE`, `@LISTFILE`, or with `-A` every
/// file with a delta in the directories given (default: the current one).
pub fn endbu_targets(e: &engine::Engine, target: &str, dirs: &[PathBuf]) -> Result<Vec<Named>> {
    if is_all(target) {
        let dirs = if dirs.is_empty() {
            vec![PathBuf::from(".")]
        } else {
            dirs.to_vec()
        };
        let mut all = Vec::new();
        for d in &dirs {
            all.extend(named(&e.files_in_backup(d)?)?);
        }
        Ok(all)
    } else if !dirs.is_empty() {
        Err(Error::new(
            Status::InvalidOperation,
            "directories are given only with -endbu -A".to_string(),
        ))
    } else {
        named(&targets(target)?)
    }
}

/// `-A` (or `/A`): every file.
pub fn is_all(target: &str) -> bool {
    target.eq_ignore_ascii_case("-a") || target.eq_ignore_ascii_case("/a")
}

/// `-endbu FILE | @LISTFILE | -A [DIR...]`: roll each delta in, then remove it. `-A`
/// ends every file with a delta in the directories given (default: the current one).
pub fn endbu(target: &str, dirs: &[PathBuf], out: &mut Report) -> Result<()> {
    let mut e = engine()?;
    let files = endbu_targets(&e, target, dirs)?;
    text::endbu(&mut e, &files, out)
}

/// `-killbu FILE | @LISTFILE`: delete the deltas, taking each file back to its
/// `startbu` instant. Refused for a delta whose roll-in had begun (use `-endbu`).
pub fn killbu(target: &str, out: &mut Report) -> Result<()> {
    let files: Vec<Named> = targets(target)?.iter().map(|p| Named::same(p)).collect();
    text::killbu(&mut engine()?, &files, out)
}

/// `-restore BACKUP FILE`: copy a backup over a data file. The file's delta must be
/// gone first: it belongs to the file being replaced.
pub fn restore(backup: &Path, file: &Path, out: &mut Report) -> Result<()> {
    let d = delta_path(file)?;
    if StdVfs
        .exists(&d)
        .map_err(|e| Error::io(&e, format_args!("checking {}", d.display())))?
    {
        return Err(Error::new(
            Status::IncompatibleMode,
            format!(
                "{} still has its delta {}: end continuous operations (`-endbu`) or remove \
                 the delta (`-killbu`) before restoring over it",
                file.display(),
                d.display()
            ),
        ));
    }
    let bytes = read_input(backup, "backup file")?;
    // The backup must be a sound data file on its own before it replaces anything.
    let copy = engine::vfs::MemVfs::new();
    copy.insert(file, bytes.clone());
    let rep = engine::file::check::check_file(&copy, file).map_err(|e| {
        e.during(format_args!(
            "backup {} is not a usable data file",
            backup.display()
        ))
    })?;
    if !rep.is_clean() {
        return Err(Error::new(
            Status::IoError,
            format!(
                "backup {} fails its check ({}); not restored",
                backup.display(),
                rep.problems.first().cloned().unwrap_or_default()
            ),
        ));
    }
    super::write_output(file, &bytes)?;
    out.line(format!(
        "{}: restored from {} ({} records)",
        file.display(),
        backup.display(),
        rep.records
    ));
    Ok(())
}
