//! Roll-forward from an archival log (`butil -rollfwd`): bring a restored backup of an
//! archived data file up to the moment its log ends, or to a chosen FCR sequence.
//!
//! What it guarantees:
//! - The file is opened for writing on its own (not through [`Engine::open`], whose
//!   reconciliation refuses a file behind its log): its lock is taken, so a file
//!   another engine holds is refused with status 85, and one this engine has open
//!   with 85 too. A file with a delta beside it is refused (88).
//! - The log's frames are read in order, one at a time. Of frames with equal FCR
//!   sequences only the last is applied (the earlier ones are transactions a crash
//!   kept from committing, superseded). A frame at or below the file's FCR sequence is
//!   skipped: the backup holds it. Each frame applied is applied through a normal
//!   system transaction — its changes replayed ([`DataFile::redo`]), the file's applied
//!   LSN set to the frame's, committed (even with no changes) — that ends with the
//!   file's FCR sequence equal to the frame's. So after any crash the file is at the
//!   last frame applied, and running roll-forward again finishes the work; running it
//!   twice is harmless.
//! - A gap stops it with the file at the last frame applied, naming the missing
//!   sequence: the first frame to apply is beyond the file's sequence + 1, or the
//!   frames skip a sequence (status 2; 41 when the backup is older than the log's
//!   beginning, which no frame can cover). `to` stops it after the frame with that
//!   FCR sequence (point-in-time recovery).
//! - The transaction log is neither read nor written: the archival log holds
//!   everything, and the file's applied LSN ends at the last applied frame's, so a
//!   later open in a log mode replays from the transaction log only transactions the
//!   archive does not hold. If that log is gone (or is another engine's), such an open
//!   is refused as for any file whose applied LSN lies past its log's end (status 2);
//!   in log mode Off the file opens.
//! - A frame is applied only when the next frame is read and has a higher FCR
//!   sequence, or the log ends (cleanly or at a torn tail): the last readable frame
//!   before damage is not applied, since the damaged frame might supersede it.

use super::Engine;
use crate::archival::dump::{entry_text, summary_text};
use crate::archival::format::header_error;
use crate::archival::{visit_log, ArchivalHeader, ArchivalScan, Entry, ARCHIVAL_HEADER_LEN};
use crate::file::datafile::DataFile;
use crate::mutant::Mutant;
use crate::status::{fail, Error, Result, Status};
use crate::vfs::{read_exact_at, OpenMode, Vfs};
use std::io::Write;
use std::path::{Path, PathBuf};

/// How to roll a file forward.
#[derive(Default)]
pub struct RollOptions<'a> {
    /// The archival log to read; `None`: the one `blog.cfg` gives the file.
    pub log: Option<PathBuf>,
    /// Stop after the frame with this FCR sequence (point-in-time recovery).
    pub to: Option<u64>,
    /// Write every frame read as text here ([`crate::archival::dump`]'s lines).
    pub dump: Option<&'a mut dyn Write>,
}

/// What a roll-forward did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RollForward {
    /// The archival log read.
    pub log: PathBuf,
    /// The file's FCR sequence before and after.
    pub from_seq: u64,
    pub seq: u64,
    /// The file's applied LSN after.
    pub applied_lsn: u64,
    /// Frames applied; skipped (at or below the file's sequence); superseded (a later
    /// frame had the same FCR sequence).
    pub applied: u64,
    pub skipped: u64,
    pub superseded: u64,
    /// Whether it stopped at `to` with frames beyond it left in the log.
    pub stopped_at_to: bool,
    /// The log as read to its end (`None` when it stopped reading at `to`).
    pub scan: Option<ArchivalScan>,
}

/// Why applying stopped before the end of the log.
enum Halt {
    /// The next frame to apply is past `to`.
    To,
    /// An error to return (a gap, or a frame that does not apply).
    Fail(Error),
}

/// Roll-forward in progress.
struct Rolling<'a> {
    path: &'a Path,
    header: &'a ArchivalHeader,
    df: DataFile,
    to: Option<u64>,
    /// The file's FCR sequence now.
    seq: u64,
    applied: u64,
    skipped: u64,
    superseded: u64,
    /// The last frame read, applied once a frame with a higher sequence (or the log's
    /// end) shows that no later frame supersedes it.
    held: Option<Entry>,
    skip_seq_check: bool,
    ignore_gap: bool,
}

impl Rolling<'_> {
    /// One more frame read from the log.
    fn take(&mut self, entry: Entry) -> std::result::Result<(), Halt> {
        match self.held.take() {
            Some(h) if h.fcr_seq == entry.fcr_seq => {
                self.superseded += 1;
            }
            Some(h) => self.apply(h)?,
            None => {}
        }
        let past_to = self.to.is_some_and(|t| entry.fcr_seq > t);
        self.held = Some(entry);
        if past_to {
            return Err(Halt::To);
        }
        Ok(())
    }

    /// Apply frame `e` if it is the next one the file needs (module doc).
    fn apply(&mut self, e: Entry) -> std::result::Result<(), Halt> {
        if e.fcr_seq <= self.seq && !self.skip_seq_check {
            self.skipped += 1;
            return Ok(());
        }
        if self.to.is_some_and(|t| e.fcr_seq > t) {
            return Err(Halt::To);
        }
        if e.fcr_seq > self.seq + 1 && !self.ignore_gap {
            return Err(Halt::Fail(self.gap(e.fcr_seq)));
        }
        let at = |err: Error| {
            Halt::Fail(err.during(format_args!(
                "rolling {} forward: frame {} (FCR sequence {}) does not apply to the file at \
                 FCR sequence {}; the file is left there",
                self.path.display(),
                e.log_seq,
                e.fcr_seq,
                self.seq
            )))
        };
        for change in &e.changes {
            self.df.redo(change).map_err(at)?;
        }
        let lsn = self.df.pager.state().applied_lsn;
        if e.applied_lsn < lsn {
            return Err(at(Error::new(
                Status::IoError,
                format!(
                    "the frame's applied LSN {} is below the file's {lsn}: the log and the \
                     file disagree",
                    e.applied_lsn
                ),
            )));
        }
        self.df.pager.set_applied_lsn(e.applied_lsn);
        // Committed even with no changes: the file must reach the frame's sequence.
        self.df
            .pager
            .commit_with(true, &mut |_, _| Ok(()))
            .map_err(at)?;
        let now = self.df.pager.durable_seq();
        if now != e.fcr_seq && !(self.skip_seq_check || self.ignore_gap) {
            return Err(at(Error::new(
                Status::IoError,
                format!(
                    "the system transaction left the file at FCR sequence {now}, not the \
                     frame's"
                ),
            )));
        }
        self.seq = now;
        self.applied += 1;
        Ok(())
    }

    /// The error for a gap before frame sequence `next` (the file is at `self.seq`).
    fn gap(&self, next: u64) -> Error {
        let missing = self.seq + 1;
        let base = self.header.base_fcr_seq;
        if self.applied == 0 && base > self.seq {
            return Error::new(
                Status::OperationNotAllowed,
                format!(
                    "{} is at FCR sequence {}, but its archival log begins after sequence \
                     {base}: the backup is older than the log, which is missing sequence \
                     {missing}; restore a backup taken at or after sequence {base}",
                    self.path.display(),
                    self.seq
                ),
            );
        }
        Error::new(
            Status::IoError,
            format!(
                "the archival log is missing FCR sequence {missing} (the next frame is for \
                 {next}); {} is left at FCR sequence {} after {} frame{} applied — it \
                 cannot be rolled further from this log",
                self.path.display(),
                self.seq,
                self.applied,
                if self.applied == 1 { "" } else { "s" }
            ),
        )
    }
}

/// Read and decode the header of the archival log at `log`.
fn read_header(vfs: &dyn Vfs, log: &Path) -> Result<ArchivalHeader> {
    let file = vfs
        .open(log, OpenMode::ReadOnly)
        .map_err(|e| Error::io(&e, format_args!("opening archival log {}", log.display())))?;
    let len = file
        .len()
        .map_err(|e| Error::io(&e, format_args!("reading archival log {}", log.display())))?;
    let mut head = vec![0u8; len.min(ARCHIVAL_HEADER_LEN as u64) as usize];
    read_exact_at(file.as_ref(), &mut head, 0)
        .map_err(|e| Error::io(&e, format_args!("reading archival log {}", log.display())))?;
    ArchivalHeader::decode(&head).map_err(|h| header_error(&h, log))
}

impl Engine {
    /// Roll the data file `path` — a restored backup — forward from its archival log
    /// (module doc). Returns what was done; an error leaves the file at the last frame
    /// applied (and says which).
    pub fn roll_forward_archive(
        &mut self,
        path: &Path,
        opts: RollOptions<'_>,
    ) -> Result<RollForward> {
        if self.files.values().any(|f| f.path == path) {
            return fail(
                Status::FileInUse,
                format!(
                    "{} is open in this engine; close it before rolling it forward",
                    path.display()
                ),
            );
        }
        let log = match opts.log {
            Some(l) => l,
            None => match self.archival_log_of(path)? {
                Some(l) => l,
                None => {
                    return fail(
                        Status::OperationNotAllowed,
                        format!(
                            "{} is not archived: blog.cfg{} names no log for it; name the \
                             log with -L LOG",
                            path.display(),
                            match &self.config.blog_root {
                                Some(r) => format!(" under {}", r.display()),
                                None => " (no root: KEEL_BLOG_ROOT is not set)".into(),
                            }
                        ),
                    )
                }
            },
        };
        let vfs = self.vfs.clone();
        let vfs = vfs.as_ref();
        // Taking the file's lock first: another engine holding it is status 85.
        let df = self.open_data_file(path, false)?;
        let delta = crate::delta::delta_path(path)?;
        if vfs
            .exists(&delta)
            .map_err(|e| Error::io(&e, format_args!("checking for {}", delta.display())))?
        {
            return fail(
                Status::IncompatibleMode,
                format!(
                    "{} has the delta {}: it is in continuous operations, not a restored \
                     backup; end or kill the backup first",
                    path.display(),
                    delta.display()
                ),
            );
        }
        let header = read_header(vfs, &log)?;
        header.check_data_file(path)?;
        let from_seq = df.pager.durable_seq();
        let mut r = Rolling {
            path,
            header: &header,
            df,
            to: opts.to,
            seq: from_seq,
            applied: 0,
            skipped: 0,
            superseded: 0,
            held: None,
            skip_seq_check: self.mutant(Mutant::RollfwdSkipsSeqCheck),
            ignore_gap: self.mutant(Mutant::RollfwdIgnoresGap),
        };
        let mut dump = opts.dump;
        let out_error = |e: &std::io::Error| Error::io(e, "writing the archival log dump");
        if let Some(out) = dump.as_deref_mut() {
            writeln!(out, "# archival log {}", log.display()).map_err(|e| out_error(&e))?;
        }
        let mut halt: Option<Halt> = None;
        let visited = visit_log(vfs, &log, |offset, entry| {
            if let Some(out) = dump.as_deref_mut() {
                out.write_all(entry_text(offset, &entry).as_bytes())
                    .map_err(|e| out_error(&e))?;
            }
            match r.take(entry) {
                Ok(()) => Ok(()),
                Err(h) => {
                    halt = Some(h);
                    // Stops the scan; told apart from a real error by `halt`.
                    Err(Error::new(Status::Success, "roll-forward stopped"))
                }
            }
        });
        let where_left = |r: &Rolling<'_>| {
            format!(
                "{} is left at FCR sequence {} ({} frame{} applied)",
                path.display(),
                r.seq,
                r.applied,
                if r.applied == 1 { "" } else { "s" }
            )
        };
        let mut stopped_at_to = matches!(halt, Some(Halt::To));
        let scan = match (visited, halt) {
            (_, Some(Halt::Fail(e))) => return Err(e),
            (_, Some(Halt::To)) => {
                if let Some(out) = dump.as_deref_mut() {
                    writeln!(
                        out,
                        "# stopped reading after FCR sequence {} (--to)",
                        opts.to.unwrap_or_default()
                    )
                    .map_err(|e| out_error(&e))?;
                }
                None
            }
            (Err(e), None) => {
                let held = r.held.as_ref().map_or(String::new(), |h| {
                    format!(
                        "; the last readable frame (FCR sequence {}) is not applied, since \
                         the damaged one after it may supersede it",
                        h.fcr_seq
                    )
                });
                return Err(e.during(format_args!("{}{held}", where_left(&r))));
            }
            (Ok(scan), None) => {
                if let Some(h) = r.held.take() {
                    match r.apply(h) {
                        Ok(()) => {}
                        Err(Halt::To) => stopped_at_to = true,
                        Err(Halt::Fail(e)) => return Err(e),
                    }
                }
                if let Some(out) = dump {
                    out.write_all(summary_text(&scan).as_bytes())
                        .map_err(|e| out_error(&e))?;
                }
                Some(scan)
            }
        };
        // A backup older than the log's beginning is refused even when the log holds no
        // frame yet (no frame's sequence shows the gap then): the file was at the log's
        // base when the log was made, so the backup lacks transactions nothing holds.
        if !stopped_at_to && !r.ignore_gap && r.seq < header.base_fcr_seq {
            return Err(r.gap(header.base_fcr_seq + 1));
        }
        tracing::info!(target: "keel::archival", file = %path.display(), from = from_seq, to = r.seq, applied = r.applied, "rolled forward from the archival log");
        Ok(RollForward {
            log,
            from_seq,
            seq: r.seq,
            applied_lsn: r.df.pager.durable_applied_lsn(),
            applied: r.applied,
            skipped: r.skipped,
            superseded: r.superseded,
            stopped_at_to,
            scan,
        })
    }

    /// The data files in directory `dir` that `blog.cfg` archives, with their logs
    /// (`butil -rollfwd DIR`), by name order.
    pub fn archived_files_in(&self, dir: &Path) -> Result<Vec<(PathBuf, PathBuf)>> {
        let Some(config) = self.blog_config()? else {
            return Ok(Vec::new());
        };
        let names = self
            .vfs
            .list_dir(dir)
            .map_err(|e| Error::io(&e, format_args!("listing {}", dir.display())))?;
        Ok(names
            .iter()
            .filter_map(|n| {
                let p = dir.join(n);
                config.log_for(&p).map(|l| (p.clone(), l.to_path_buf()))
            })
            .collect())
    }
}
