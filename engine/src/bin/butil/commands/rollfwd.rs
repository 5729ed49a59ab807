//! `-rollfwd FILE|@LISTFILE|DIR [-L LOG] [--to SEQ] [--dump OUT] [--dump-only]`: roll
//! restored backups forward from their archival logs (the work is
//! [`engine::Engine::roll_forward_archive`]). DIR means every file in it that blog.cfg
//! archives. `--dump OUT` writes the frames read as text (written whole at the end,
//! also after a failure); `--dump-only` only dumps, touching no data file.

use super::backup::targets;
use super::{data_path, engine, write_output};
use crate::report::Report;
use engine::engine::RollOptions;
use engine::{Engine, Error, Result, Status};
use std::path::{Path, PathBuf};

/// The command's arguments.
pub struct Args {
    pub target: String,
    pub log: Option<PathBuf>,
    pub to: Option<u64>,
    pub dump: Option<PathBuf>,
    pub dump_only: bool,
}

pub fn run(args: &Args, out: &mut Report) -> Result<()> {
    let mut e = engine()?;
    let files = files(&e, &args.target)?;
    if args.log.is_some() && files.len() != 1 {
        return Err(Error::new(
            Status::InvalidOperation,
            format!(
                "-L names one file's archival log, but {} names {} files; give one FILE",
                args.target,
                files.len()
            ),
        ));
    }
    let mut text: Vec<u8> = Vec::new();
    let mut result = Ok(());
    for f in &files {
        let r = if args.dump_only {
            dump_only(&e, f, args.log.as_deref(), &mut text)
        } else {
            roll(&mut e, f, args, &mut text, out)
        };
        if let Err(err) = r {
            out.line(format!("{}: not rolled forward: {err}", f.display()));
            result = Err(err);
            break;
        }
    }
    if let Some(dump) = &args.dump {
        write_output(dump, &text)?;
        out.line(format!("archival log dump written to {}", dump.display()));
    }
    result
}

/// The data files `target` names: FILE, @LISTFILE, or the archived files in DIR.
fn files(e: &Engine, target: &str) -> Result<Vec<PathBuf>> {
    let dir = Path::new(target);
    if !target.starts_with('@') && dir.is_dir() {
        let found: Vec<PathBuf> = e
            .archived_files_in(&data_path(dir)?)?
            .into_iter()
            .map(|(f, _)| f)
            .collect();
        if found.is_empty() {
            return Err(Error::new(
                Status::FileNotFound,
                format!(
                    "no file in {} is archived (blog.cfg under KEEL_BLOG_ROOT{})",
                    dir.display(),
                    match &e.config().blog_root {
                        Some(r) => format!(" = {}", r.display()),
                        None => ", which is not set".into(),
                    }
                ),
            ));
        }
        return Ok(found);
    }
    targets(target)?.iter().map(|p| data_path(p)).collect()
}

/// The log to read for `file`: `-L`'s, or blog.cfg's.
fn log_of(e: &Engine, file: &Path, log: Option<&Path>) -> Result<PathBuf> {
    if let Some(l) = log {
        return Ok(l.to_path_buf());
    }
    e.archival_log_of(file)?.ok_or_else(|| {
        Error::new(
            Status::OperationNotAllowed,
            format!(
                "{} is not archived (blog.cfg names no log for it; is KEEL_BLOG_ROOT set?); \
                 name the log with -L LOG",
                file.display()
            ),
        )
    })
}

fn dump_only(e: &Engine, file: &Path, log: Option<&Path>, text: &mut Vec<u8>) -> Result<()> {
    let log = log_of(e, file, log)?;
    engine::archival::dump(e.vfs().as_ref(), &log, text)?;
    Ok(())
}

fn roll(
    e: &mut Engine,
    file: &Path,
    args: &Args,
    text: &mut Vec<u8>,
    out: &mut Report,
) -> Result<()> {
    let log = log_of(e, file, args.log.as_deref())?;
    let opts = RollOptions {
        log: Some(log),
        to: args.to,
        dump: args.dump.as_ref().map(|_| text as &mut dyn std::io::Write),
    };
    let r = e.roll_forward_archive(file, opts)?;
    let mut line = format!(
        "{}: rolled forward from {}: FCR sequence {} to {} ({} frame{} applied, {} already \
         in the file, {} superseded); applied LSN {}",
        file.display(),
        r.log.display(),
        r.from_seq,
        r.seq,
        r.applied,
        if r.applied == 1 { "" } else { "s" },
        r.skipped,
        r.superseded,
        r.applied_lsn
    );
    if r.stopped_at_to {
        line.push_str(&format!(
            "; stopped at --to {} with later frames left in the log",
            args.to.unwrap_or_default()
        ));
    }
    out.line(line);
    Ok(())
}
