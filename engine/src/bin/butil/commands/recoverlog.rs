//! `-recoverlog [LOGDIR]`: finish recovery from the transaction log in one go. Every
//! file the log names is opened for writing — which rolls it forward — and closed;
//! then the segments no file needs any more are recycled. Restarting the engine alone
//! rolls nothing forward, so without this each file catches up only when an
//! application next opens it.

use super::{engine_with_log, log_settings};
use crate::report::Report;
use engine::{LogMode, OpenMode, Result};
use std::path::PathBuf;

pub fn run(logdir: Option<PathBuf>, out: &mut Report) -> Result<()> {
    let (mode, default_dir) = log_settings()?;
    let dir = logdir.unwrap_or(default_dir);
    // Roll-forward needs a log mode; the one set in the environment if any.
    let mode = if mode == LogMode::Off {
        LogMode::Logging
    } else {
        mode
    };
    let mut e = engine_with_log(mode, dir.clone())?;
    let paths = e.log_paths()?;
    out.line(format!(
        "# butil -recoverlog {}: {} files named",
        dir.display(),
        paths.len()
    ));
    let mut first_err = None;
    for p in &paths {
        match e.open(p, OpenMode::Normal) {
            Ok(h) => {
                let r = e.stat(h).map(|s| s.applied_lsn);
                e.close(h)?;
                out.line(format!("{}: applied LSN {}", p.display(), r?));
            }
            Err(err) => {
                out.line(format!("{}: not recovered: {err}", p.display()));
                first_err.get_or_insert(err);
            }
        }
    }
    let recycled = e.recycle_log_now()?;
    out.line(format!("log segments recycled: {recycled}"));
    match first_err {
        Some(err) => Err(err.during("some files named by the log could not be rolled forward")),
        None => Ok(()),
    }
}
