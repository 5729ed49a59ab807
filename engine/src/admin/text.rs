//! What butil prints for the commands the admin endpoint also serves (`-stat`,
//! `-check`, `-startbu`, `-endbu`, `-killbu`, flush), and its exit-code policy — here,
//! in the library, so that butil running a command itself and the engine running it
//! for butil over the admin endpoint produce byte-identical output and exit codes.
//!
//! A command collects its stdout lines in a [`Report`] (kept even after a failure, so
//! a partial result is still said) and returns its error; a failure is printed as
//! [`failure_text`] on stderr and exits with [`exit_code`].

use crate::contops::startbu::Refusal;
use crate::contops::{killbu as killbu_set, IfAbsent};
use crate::delta::delta_path;
use crate::formats::write_description;
use crate::status::{Error, Result, Status};
use crate::Engine;
use std::path::{Path, PathBuf};

/// Lines for stdout.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    lines: Vec<String>,
}

impl Report {
    pub fn line(&mut self, line: impl Into<String>) {
        self.lines.push(line.into());
    }
    pub fn lines(&self) -> &[String] {
        &self.lines
    }
}

/// The exit code for a status: its number, or 1 if that is 0 or does not fit.
pub fn exit_code(status: Status) -> u8 {
    match u8::try_from(status.code()) {
        Ok(0) | Err(_) => 1,
        Ok(n) => n,
    }
}

/// A failure as butil prints it on stderr: two lines, what went wrong and what to do.
pub fn failure_text(e: &Error) -> String {
    format!("butil: {e}\nwhat to do: {}\n", e.status.advice())
}

/// A file as the engine works on it (`path`) and as the operator named it (`shown`,
/// what the output says). They differ when butil made a relative path absolute, or
/// the admin endpoint found the file under the name its application opened it by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Named {
    pub shown: PathBuf,
    pub path: PathBuf,
}

impl Named {
    /// A file shown by the name the engine uses.
    pub fn same(path: &Path) -> Named {
        Named {
            shown: path.to_path_buf(),
            path: path.to_path_buf(),
        }
    }
}

fn paths(files: &[Named]) -> Vec<PathBuf> {
    files.iter().map(|f| f.path.clone()).collect()
}

/// `-stat FILE`: the definition in description-file syntax, then the statistics (the
/// file format first) as `#` comments — so the whole output is itself a description
/// file `-create` accepts. With archival logging on, a last comment names the file's
/// archival log and the FCR sequences it covers.
pub fn stat(e: &mut Engine, file: &Named, out: &mut Report) -> Result<()> {
    let st = e.stat_path(&file.path)?;
    out.line(format!("# butil -stat {}", file.shown.display()));
    for l in write_description(&st.spec).lines() {
        out.line(l);
    }
    // A comment as well as `version=5` in the definition: the definition omits the
    // default, and an operator reading the statistics should not have to know that.
    out.line(format!("# format: {}", st.spec.format.describe()));
    out.line(format!("# records: {}", st.records));
    out.line(format!("# record length: {} bytes", st.spec.record_length));
    out.line(format!("# page size: {} bytes", st.spec.page_size));
    out.line(format!("# records per page: {}", st.records_per_page));
    out.line(format!("# physical pages: {}", st.pages));
    out.line(format!("# durable sequence: {}", st.durable_seq));
    out.line(format!(
        "# transaction log: {} (KEEL_LOG_MODE; directory {}); applied LSN {}",
        e.config().log_mode.name(),
        e.config().log_dir.display(),
        st.applied_lsn
    ));
    if e.config().blog_root.is_some() {
        // After the statistics: a malformed blog.cfg fails the command, but the
        // statistics are still printed.
        out.line(archival_line(e, &file.path, st.durable_seq)?);
    }
    Ok(())
}

/// The `# archival log: …` line for `file`, at FCR sequence `seq`.
fn archival_line(e: &Engine, file: &Path, seq: u64) -> Result<String> {
    let Some(a) = e.archival_stat(file)? else {
        return Ok("# archival log: none (blog.cfg does not name the file)".into());
    };
    let log = a.log.display();
    Ok(match a.scan {
        None => format!(
            "# archival log: {log} (not created yet: the file's next writable open creates \
             it, beginning at sequence {seq})"
        ),
        Some(s) => {
            let range = match (s.first_fcr_seq, s.last_fcr_seq) {
                (Some(a), Some(b)) => format!("FCR sequences {a} to {b}"),
                _ => "no FCR sequence yet".into(),
            };
            let base = s.header.base_fcr_seq;
            let behind = if s.covered_fcr_seq() > seq || base > seq {
                format!("; the file, at sequence {seq}, is behind it: butil -rollfwd")
            } else {
                String::new()
            };
            format!(
                "# archival log: {log}: {range} ({} frame{}; begun after sequence {base}){behind}",
                s.entries,
                if s.entries == 1 { "" } else { "s" },
            )
        }
    })
}

/// `-check FILE`: a sound file gets a one-line summary; otherwise each problem is
/// printed and the command fails with status 2.
pub fn check(e: &mut Engine, file: &Named, out: &mut Report) -> Result<()> {
    let r = e.check_path(&file.path)?;
    if r.is_clean() {
        out.line(format!(
            "{}: OK: {} records; {} physical pages: {} data, {} index, {} free",
            file.shown.display(),
            r.records,
            r.physical_pages,
            r.data_pages,
            r.index_pages,
            r.free_physical_pages
        ));
        return Ok(());
    }
    for p in &r.problems {
        out.line(format!("problem: {p}"));
    }
    Err(Error::new(
        Status::IoError,
        format!(
            "{}: the structure check found {} problem(s)",
            file.shown.display(),
            r.problems.len()
        ),
    ))
}

/// `-startbu`: all or nothing; every refusal is printed.
pub fn startbu(e: &mut Engine, files: &[Named], out: &mut Report) -> Result<()> {
    let paths = paths(files);
    let refusals = e.check_backup_set(&paths);
    if let Some(first) = refusals.first() {
        for r in &refusals {
            // A refusal names the file by the engine's path; say it as the operator did.
            let shown = files
                .iter()
                .find(|f| f.path == r.path)
                .map_or_else(|| r.path.clone(), |f| f.shown.clone());
            let r = Refusal {
                path: shown,
                status: r.status,
                reason: r.reason.clone(),
            };
            out.line(format!("refused: {r}"));
        }
        return Err(Error::new(
            first.status,
            format!(
                "startbu refused {} of {} files; no file was put into continuous operations",
                refusals.len(),
                paths.len()
            ),
        ));
    }
    e.start_backup(&paths)?;
    for f in files {
        out.line(format!(
            "{}: in continuous operations (delta {})",
            f.shown.display(),
            delta_path(&f.shown)?.display()
        ));
    }
    Ok(())
}

/// `-endbu`: roll each delta in, then remove it. An empty set (`-endbu -A` finding
/// nothing) is success, said so.
pub fn endbu(e: &mut Engine, files: &[Named], out: &mut Report) -> Result<()> {
    if files.is_empty() {
        out.line("no file is in continuous operations there".to_string());
        return Ok(());
    }
    e.end_backup(&paths(files))?;
    for f in files {
        out.line(format!(
            "{}: continuous operations ended",
            f.shown.display()
        ));
    }
    Ok(())
}

/// `-killbu`: delete the deltas, taking each file back to its `startbu` instant; all
/// or nothing. Refused (88) for a file this engine has loaded: its pager is working on
/// the frozen image and the delta, which must not vanish under it — end continuous
/// operations with `-endbu`, or close the file first.
pub fn killbu(e: &mut Engine, files: &[Named], out: &mut Report) -> Result<()> {
    if let Some(f) = files.iter().find(|f| e.is_open(&f.path)) {
        return Err(Error::new(
            Status::IncompatibleMode,
            format!(
                "{} is open in the engine holding it, which is using its delta; run \
                 `butil -endbu` instead, or close the file and run -killbu again",
                f.shown.display()
            ),
        ));
    }
    let vfs = e.vfs().clone();
    killbu_set(vfs.as_ref(), &paths(files), IfAbsent::Refuse)?;
    for f in files {
        out.line(format!(
            "{}: delta removed; the file is as it was at startbu",
            f.shown.display()
        ));
    }
    Ok(())
}

/// Flush: commit every pending change of every file.
pub fn flush(e: &mut Engine, out: &mut Report) -> Result<()> {
    e.flush()?;
    out.line("every pending change is committed".to_string());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes() {
        assert_eq!(exit_code(Status::IoError), 2);
        assert_eq!(exit_code(Status::FileNotFound), 12);
        assert_eq!(exit_code(Status::FileFull), 132);
        assert_eq!(exit_code(Status::Success), 1);
        for s in crate::status::ALL {
            assert_ne!(exit_code(*s), 0);
            assert_ne!(
                exit_code(*s),
                64,
                "{s} collides with butil's usage exit code"
            );
        }
    }
}
