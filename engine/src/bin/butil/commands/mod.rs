//! The commands, one module each, and what they share: the engine `butil` runs, reading
//! an input file whole, and writing an output file atomically.

pub mod backup;
pub mod check;
pub mod clone;
pub mod convert;
pub mod copy;
pub mod create;
pub mod load;
pub mod recover;
pub mod recoverlog;
pub mod rollfwd;
pub mod save;
pub mod stat;

use engine::host::StdClock;
use engine::vfs::{self, StdVfs, Vfs};
use engine::{Config, Engine, Error, Handle, LogMode, Result, Status};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How far a bulk insert (load, copy) got (shared with the library's bulk jobs).
pub use engine::bulk::Progress;

/// The transaction log settings every command's engine uses, from the environment:
/// `KEEL_LOG_MODE` (`off`, `logging` or `durability`; default `off`) and
/// `KEEL_LOG_DIR` (default `keel-log`). With a log, files butil opens for writing are
/// rolled forward first, and its changes are logged.
pub fn log_settings() -> Result<(LogMode, PathBuf)> {
    let mode = match std::env::var("KEEL_LOG_MODE") {
        Err(_) => LogMode::Off,
        Ok(v) => match v.to_ascii_lowercase().as_str() {
            "" | "off" => LogMode::Off,
            "logging" => LogMode::Logging,
            "durability" => LogMode::Durability,
            _ => {
                return Err(Error::new(
                    Status::InvalidOperation,
                    format!("KEEL_LOG_MODE={v:?}: expected off, logging or durability"),
                ))
            }
        },
    };
    let dir = std::env::var_os("KEEL_LOG_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Config::default().log_dir);
    Ok((mode, dir))
}

/// Archival logging's root from the environment: `KEEL_BLOG_ROOT` (unset or empty:
/// archival logging is off), its `blog/blog.cfg` naming the archived files. Made
/// absolute, as every data file path butil hands the engine then is ([`data_path`]):
/// blog.cfg's entries are placed under the root and compared with the path a file is
/// opened by, so both must be written the same way.
pub fn blog_root() -> Result<Option<PathBuf>> {
    match std::env::var_os("KEEL_BLOG_ROOT") {
        Some(v) if !v.is_empty() => absolute(Path::new(&v)).map(Some),
        _ => Ok(None),
    }
}

/// `path` made absolute (against the working directory) and lexically normal: `.`
/// dropped, `..` taking off the component before it. Links are not resolved.
fn absolute(path: &Path) -> Result<PathBuf> {
    use std::path::Component;
    let abs = std::path::absolute(path).map_err(|e| {
        Error::io(
            &e,
            format_args!("making {} an absolute path", path.display()),
        )
    })?;
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    Ok(out)
}

/// The path butil gives the engine for the data file `path`: as written, or — with
/// archival logging on (`KEEL_BLOG_ROOT`) — absolute and lexically normal, so blog.cfg
/// recognises the file however the operator names it.
pub fn data_path(path: &Path) -> Result<PathBuf> {
    match blog_root()? {
        Some(_) => absolute(path),
        None => Ok(path.to_path_buf()),
    }
}

/// A fresh engine on the real filesystem, with the log settings and the archival root
/// of the environment.
pub fn engine() -> Result<Engine> {
    let (log_mode, log_dir) = log_settings()?;
    engine_with_log(log_mode, log_dir)
}

/// A fresh engine on the real filesystem with these log settings (and the archival
/// root of the environment).
pub fn engine_with_log(log_mode: LogMode, log_dir: PathBuf) -> Result<Engine> {
    let config = Config {
        blog_root: blog_root()?,
        ..engine::bulk::bulk_config(log_mode, log_dir)
    };
    Ok(Engine::new(
        Arc::new(StdVfs),
        Arc::new(StdClock::new()),
        config,
    ))
}

/// Read a whole input file (`what` names it in errors: "description file", …).
pub fn read_input(path: &Path, what: &str) -> Result<Vec<u8>> {
    vfs::read_all(&StdVfs, path)
        .map_err(|e| Error::io(&e, format_args!("reading {what} {}", path.display())))
}

/// Replace `path` with `bytes`: written to a temporary sibling, synced, renamed over
/// `path`, directory synced. A failure leaves any earlier `path` as it was.
pub fn write_output(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".butil-tmp");
    let tmp = path.with_file_name(name);
    let io =
        |e: std::io::Error, what: &str| Error::io(&e, format_args!("{what} {}", path.display()));
    let result = (|| {
        let f = StdVfs
            .open(&tmp, vfs::OpenMode::Truncate)
            .map_err(|e| io(e, "creating"))?;
        f.write_at(bytes, 0).map_err(|e| io(e, "writing"))?;
        f.sync().map_err(|e| io(e, "syncing"))?;
        drop(f);
        StdVfs
            .rename(&tmp, path)
            .map_err(|e| io(e, "renaming into place"))?;
        StdVfs
            .sync_dir(&vfs::parent_dir(path))
            .map_err(|e| io(e, "syncing the directory of"))
    })();
    if result.is_err() {
        let _ = StdVfs.remove(&tmp);
    }
    result
}

/// Refuse to write `output` over `input` (e.g. `-save F F` would destroy the data file).
pub fn refuse_same_file(input: &Path, output: &Path) -> Result<()> {
    let canon = |p: &Path| -> Option<PathBuf> { std::fs::canonicalize(p).ok() };
    match (canon(input), canon(output)) {
        (Some(a), Some(b)) if a == b => Err(Error::new(
            Status::InvalidFileName,
            format!(
                "{} and {} are the same file; name a different output file",
                input.display(),
                output.display()
            ),
        )),
        _ => Ok(()),
    }
}

/// Close handles after a job, keeping the job's own error first.
pub fn close_all(e: &mut Engine, handles: &[Handle], result: Result<()>) -> Result<()> {
    let mut result = result;
    for &h in handles {
        if let Err(err) = e.close(h) {
            if result.is_ok() {
                result = Err(err);
            }
        }
    }
    result
}

/// The report line for a bulk insert that failed part way.
pub fn progress_line(verb: &str, p: &Progress, file: &Path) -> String {
    match (p.inserted, p.committed) {
        (0, _) => format!("{verb} no records into {}", file.display()),
        (n, true) => format!(
            "{verb} {n} records into {} before the failure; they are committed and kept",
            file.display()
        ),
        (n, false) => format!(
            "{verb} {n} records into {} before the failure, but committing them failed too: \
             check the file with butil -check and -stat",
            file.display()
        ),
    }
}

/// A Get/Step result with end-of-file turned into `None`.
pub fn until_end(r: Result<Vec<u8>>) -> Result<Option<Vec<u8>>> {
    match r {
        Ok(rec) => Ok(Some(rec)),
        Err(e) if e.status == Status::EndOfFile => Ok(None),
        Err(e) => Err(e),
    }
}
