//! `startbu`'s all-or-nothing check: before any file of a set enters continuous
//! operations, every file is checked, and every refusal is reported (file, Btrieve
//! status, reason) so the operator can fix them all at once. Nothing here writes.
//!
//! A file is refused when its name has a wildcard (Btrieve's continuous operations
//! take none), it does not exist (12), it is not a data file (30, or 2 if damaged),
//! another process holds it (85), its delta already exists — it is in continuous
//! operations, or a delta from an earlier run remains (88) — it is listed twice, or
//! another file of the set would share its delta (`INVOICE.HDR` and `INVOICE.DET`
//! both map to `INVOICE.^^^`; 88), or `blog.cfg` archives it (88: archival logging and
//! continuous operations exclude each other per file — an archival log records record
//! changes, a delta pages, and no log could describe the roll-in), or it is in the legacy
//! (5.x) format (88, the engine's `is_data_file` says so: its pages are overwritten in
//! place, which freezing cannot accommodate).

use crate::delta::{delta_path, shares_delta};
use crate::status::Status;
use crate::vfs::Vfs;
use std::path::{Path, PathBuf};

/// Why one file of a `startbu` set cannot enter continuous operations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub path: PathBuf,
    pub status: Status,
    pub reason: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: status {} ({}): {}",
            self.path.display(),
            self.status.code(),
            self.status.meaning(),
            self.reason
        )
    }
}

/// Check a `startbu` set. `is_data_file` opens a path read-only and says whether it
/// is a data file (the engine passes a function that also knows the files it has
/// open); `archival_log` gives the archival log `blog.cfg` names for a path, if any
/// (or the error reading `blog.cfg`). Returns every refusal, in the set's order;
/// empty means go.
pub fn check_set(
    vfs: &dyn Vfs,
    paths: &[PathBuf],
    is_data_file: &mut dyn FnMut(&Path) -> Result<(), crate::Error>,
    archival_log: &mut dyn FnMut(&Path) -> Result<Option<PathBuf>, crate::Error>,
) -> Vec<Refusal> {
    let mut out = Vec::new();
    let refuse = |path: &Path, status: Status, reason: String| Refusal {
        path: path.to_path_buf(),
        status,
        reason,
    };
    if paths.is_empty() {
        return vec![refuse(
            Path::new("(none)"),
            Status::InvalidFileName,
            "no files named: give a data file or @LISTFILE".into(),
        )];
    }
    for (i, p) in paths.iter().enumerate() {
        let text = p.to_string_lossy();
        if text.contains('*') || text.contains('?') {
            out.push(refuse(
                p,
                Status::InvalidFileName,
                "wildcards are not allowed in continuous operations; name each file".into(),
            ));
            continue;
        }
        let delta = match delta_path(p) {
            Ok(d) => d,
            Err(e) => {
                out.push(refuse(p, e.status, e.context));
                continue;
            }
        };
        if paths.iter().enumerate().any(|(j, q)| j != i && q == p) {
            out.push(refuse(
                p,
                Status::IncompatibleMode,
                "listed more than once".into(),
            ));
            continue;
        }
        if let Some(other) = paths.iter().find(|q| shares_delta(p, q)) {
            out.push(refuse(
                p,
                Status::IncompatibleMode,
                format!(
                    "{} would share its delta file {} (names that differ only in \
                     extension); rename one of them or back them up in separate startbu runs",
                    other.display(),
                    delta.display()
                ),
            ));
            continue;
        }
        match vfs.exists(p) {
            Ok(true) => {}
            Ok(false) => {
                out.push(refuse(
                    p,
                    Status::FileNotFound,
                    "the file does not exist".into(),
                ));
                continue;
            }
            Err(e) => {
                let e = crate::Error::io(&e, format_args!("checking {}", p.display()));
                out.push(refuse(p, e.status, e.context));
                continue;
            }
        }
        let delta_exists = match vfs.exists(&delta) {
            Ok(x) => x,
            Err(e) => {
                let e = crate::Error::io(&e, format_args!("checking for {}", delta.display()));
                out.push(refuse(p, e.status, e.context));
                continue;
            }
        };
        if delta_exists {
            out.push(refuse(
                p,
                Status::IncompatibleMode,
                format!(
                    "its delta file {} exists: the file is in continuous operations, or a \
                     backup from an earlier run was not ended; run `butil -endbu` (keep the \
                     changes) or `butil -killbu` (back to that startbu instant) first",
                    delta.display()
                ),
            ));
            continue;
        }
        match archival_log(p) {
            Ok(None) => {}
            Ok(Some(log)) => {
                out.push(refuse(
                    p,
                    Status::IncompatibleMode,
                    format!(
                        "blog.cfg archives it (log {}): archival logging and continuous \
                         operations exclude each other per file; back it up while it is \
                         closed (a copy, then roll forward from its archival log), or take \
                         it out of blog.cfg first",
                        log.display()
                    ),
                ));
                continue;
            }
            Err(e) => {
                out.push(refuse(p, e.status, e.context));
                continue;
            }
        }
        if let Err(e) = is_data_file(p) {
            out.push(refuse(p, e.status, e.context));
        }
    }
    out
}
