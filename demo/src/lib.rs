//! Keel's demo application, `keel-demo`: a small bank on the engine, to show (and
//! test) an application running while its files are backed up online.
//!
//! - [`run`]: create `DIR/accounts.btr` and `DIR/ledger.btr` if missing, write
//!   `DIR/files.lst` for `butil -startbu @DIR/files.lst`, then move money between
//!   accounts, one user transaction per transfer, until SIGTERM / Ctrl-C;
//! - [`verify`]: check that a copy of the two files is consistent as of one instant.
//!
//! It is a library as well as a binary so its tests (and anyone tampering with a copy)
//! encode records exactly as the application does ([`records`]).

pub mod admin;
pub mod records;
pub mod run;
pub mod verify;

use std::fmt;

/// Why the demo stopped without success; `main` turns it into the exit status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DemoError {
    /// `--verify` found the copy inconsistent (exit 1); the message names the first
    /// inconsistency.
    Inconsistent(String),
    /// Bad arguments (exit 2).
    Usage(String),
    /// An I/O or engine error: nothing could be concluded (exit 2).
    Failed(String),
}

impl DemoError {
    /// The process exit status: 1 for an inconsistent copy, 2 for everything that
    /// prevented an answer, so a script can tell "bad backup" from "could not check".
    pub fn exit_code(&self) -> i32 {
        match self {
            DemoError::Inconsistent(_) => 1,
            DemoError::Usage(_) | DemoError::Failed(_) => 2,
        }
    }
}

impl fmt::Display for DemoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DemoError::Inconsistent(m) => write!(f, "INCONSISTENT: {m}"),
            DemoError::Usage(m) | DemoError::Failed(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for DemoError {}
