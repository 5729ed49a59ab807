//! Running an admin [`Request`] inside the engine that holds the files: the same
//! commands butil runs ([`super::text`]), on this engine's open files (or files it
//! opens for the purpose), producing the [`Reply`] butil prints.
//!
//! All or nothing: `startbu` and `killbu` check the whole set before changing
//! anything (their library paths already are); `endbu` first checks that every file
//! is open here or exists, then rolls each in — a roll-in is idempotent and resumable,
//! so a failure part way is finished by running it again, as with butil.

use super::text::{self, Named, Report};
use super::{Reply, Request};
use crate::status::{Error, Result, Status};
use crate::Engine;
use std::path::{Path, PathBuf};

impl Engine {
    /// Execute an admin request against this engine and say what butil would print.
    /// Paths are taken as this engine names its files.
    pub fn admin(&mut self, req: &Request) -> Reply {
        self.admin_resolved(req, &|p: &Path| p.to_path_buf())
    }

    /// [`admin`](Self::admin), with `resolve` mapping each requested path to the path
    /// this engine knows the file by (the host canonicalizes both sides: the client
    /// sends an absolute path, the application may have opened a relative one). The
    /// output names files as requested.
    pub fn admin_resolved(&mut self, req: &Request, resolve: &dyn Fn(&Path) -> PathBuf) -> Reply {
        let named = |p: &PathBuf| Named {
            shown: p.clone(),
            path: resolve(p),
        };
        let all = |ps: &[PathBuf]| ps.iter().map(named).collect::<Vec<_>>();
        let mut out = Report::default();
        let result = match req {
            Request::Stat { path } => text::stat(self, &named(path), &mut out),
            Request::Check { path } => text::check(self, &named(path), &mut out),
            Request::StartBackup { paths } => text::startbu(self, &all(paths), &mut out),
            Request::EndBackup { paths } => {
                let files = match paths {
                    Some(ps) => all(ps),
                    None => self
                        .open_paths(false)
                        .into_iter()
                        .filter(|p| self.in_backup(p))
                        .map(|p| Named::same(&p))
                        .collect(),
                };
                self.endbu_checked(&files, &mut out)
            }
            Request::KillBackup { paths } => text::killbu(self, &all(paths), &mut out),
            Request::Flush => text::flush(self, &mut out),
        };
        Reply::from_outcome(&out, &result)
    }

    /// `endbu` after checking that every file is open here or exists, so a misspelt
    /// name refuses the request before any file is rolled in.
    fn endbu_checked(&mut self, files: &[Named], out: &mut Report) -> Result<()> {
        for f in files {
            let exists = self.is_open(&f.path)
                || self
                    .vfs()
                    .exists(&f.path)
                    .map_err(|e| Error::io(&e, format_args!("checking {}", f.shown.display())))?;
            if !exists {
                return Err(Error::new(
                    Status::FileNotFound,
                    format!(
                        "{} does not exist; no file was taken out of continuous operations",
                        f.shown.display()
                    ),
                ));
            }
        }
        text::endbu(self, files, out)
    }
}

#[cfg(test)]
#[path = "exec_tests.rs"]
mod tests;
