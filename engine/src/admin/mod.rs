//! The admin endpoint's core: the requests `butil` sends to the engine that holds a
//! file, their wire format, and their execution inside that engine.
//!
//! Why: an engine holds an exclusive lock on every file it loads, so while an
//! application has its files open, `butil -stat/-check/-startbu/-endbu` from another
//! process get status 85. Instead, butil asks the engine holding the file to do the
//! work ([`Engine::admin`](crate::Engine::admin)) and prints its [`Reply`] — exactly
//! the output and exit code it would have produced itself, because both paths use the
//! same text-producing commands ([`text`]).
//!
//! This module has no OS code: [`wire`] turns bytes into a [`Request`] and a [`Reply`]
//! into bytes, and `exec` runs a request against an `Engine`. The socket, the peer
//! check and discovery are the host's (`crate::host::admin`).

mod exec;
pub mod text;
pub mod wire;

pub use text::{exit_code, Named, Report};
pub use wire::{
    decode_reply, decode_request, encode_reply, encode_request, DecodeError, MAX_FRAME,
};

use crate::status::{Error, Status};
use std::path::PathBuf;

/// One admin command, as butil would run it on the files named.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// `butil -stat FILE`.
    Stat { path: PathBuf },
    /// `butil -check FILE`.
    Check { path: PathBuf },
    /// `butil -startbu FILE|@LIST`: all or nothing.
    StartBackup { paths: Vec<PathBuf> },
    /// `butil -endbu FILE|@LIST`; `None`: every file this engine holds in continuous
    /// operations (the endpoint's `-endbu -A`).
    EndBackup { paths: Option<Vec<PathBuf>> },
    /// `butil -killbu FILE|@LIST`: all or nothing; refused for a file this engine has
    /// loaded (its frozen image and delta are in use).
    KillBackup { paths: Vec<PathBuf> },
    /// Commit every pending change of every file (`Engine::flush`).
    Flush,
}

/// What butil prints and exits with for a request: stdout, stderr (both whole lines,
/// each ending in `\n`), the Btrieve status (0 on success) and the process exit code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub exit_code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Reply {
    /// The reply for a command that printed `out` and ended with `result`.
    pub fn from_outcome(out: &Report, result: &crate::Result<()>) -> Reply {
        let mut stdout = String::new();
        for l in out.lines() {
            stdout.push_str(l);
            stdout.push('\n');
        }
        match result {
            Ok(()) => Reply {
                status: 0,
                exit_code: 0,
                stdout,
                stderr: String::new(),
            },
            Err(e) => Reply {
                status: e.status.code(),
                exit_code: i32::from(exit_code(e.status)),
                stdout,
                stderr: text::failure_text(e),
            },
        }
    }

    /// A reply for a request that was not executed at all (access denied, malformed).
    pub fn refused(status: Status, context: impl Into<String>) -> Reply {
        Reply::from_outcome(&Report::default(), &Err(Error::new(status, context)))
    }
}
