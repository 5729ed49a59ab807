//! The recorded trace: the directory as it was before the command ran, and the
//! logical file operations the command made on it, in the order the kernel saw them.
//!
//! Files are named by inode numbers the recorder assigns, not by path: a write
//! through a descriptor whose name was renamed or unlinked still lands on the same
//! file, and a crash state that keeps a write but drops the rename that named its
//! file must put the bytes in the right place. Paths are relative to the recorded
//! directory, `/`-separated; `""` is the directory itself.

use serde::{Deserialize, Serialize};
use std::path::Path;

/// A recorder-assigned file identity (stable across renames and unlinks).
pub type Ino = u64;

/// Format version of the trace file; `check` refuses any other.
pub const TRACE_VERSION: u32 = 1;

/// Files live in memory while states are built: a trace may not grow a file (or the
/// snapshot) past this many bytes.
pub const MAX_FILE: u64 = 1 << 32;

/// One logical file system operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// A new, empty file `ino` gets the name `path` (open with O_CREAT of a new name).
    Create { path: String, ino: Ino },
    /// A directory `path` is made.
    Mkdir { path: String },
    /// The name `to` now names file `ino` (the file `from` named); `from` is gone.
    Rename { from: String, to: String, ino: Ino },
    /// The name `path` of file `ino` is removed.
    Unlink { path: String, ino: Ino },
    /// The empty directory `path` is removed.
    Rmdir { path: String },
    /// `data` is written to file `ino` at `offset`.
    Write {
        ino: Ino,
        offset: u64,
        #[serde(with = "hex::serde")]
        data: Vec<u8>,
    },
    /// File `ino` is cut or extended (with zeros) to `len` bytes.
    SetLen { ino: Ino, len: u64 },
    /// fsync/fdatasync of file `ino`: its contents and length are durable.
    FileSync { ino: Ino },
    /// fsync of directory `path`: the names in it are durable.
    DirSync { path: String },
    /// sync()/syncfs(): everything is durable.
    SyncAll,
    /// The command printed `text` on its standard output: an acknowledgement.
    Print {
        #[serde(with = "hex::serde")]
        text: Vec<u8>,
    },
}

impl Op {
    /// The op changes names (directory entries), not file contents.
    pub fn is_name_op(&self) -> bool {
        matches!(
            self,
            Op::Create { .. }
                | Op::Mkdir { .. }
                | Op::Rename { .. }
                | Op::Unlink { .. }
                | Op::Rmdir { .. }
        )
    }

    /// The op makes earlier ops durable.
    pub fn is_barrier(&self) -> bool {
        matches!(self, Op::FileSync { .. } | Op::DirSync { .. } | Op::SyncAll)
    }

    /// The directories whose entries this name op changes (its parents).
    pub fn parents(&self) -> Vec<String> {
        let mut out = Vec::new();
        match self {
            Op::Create { path, .. }
            | Op::Mkdir { path }
            | Op::Unlink { path, .. }
            | Op::Rmdir { path } => out.push(parent(path).to_string()),
            Op::Rename { from, to, .. } => {
                out.push(parent(from).to_string());
                if parent(to) != parent(from) {
                    out.push(parent(to).to_string());
                }
            }
            _ => {}
        }
        out
    }

    /// A one-line description for reports.
    pub fn describe(&self, names: &dyn Fn(Ino) -> String) -> String {
        match self {
            Op::Create { path, .. } => format!("create {path}"),
            Op::Mkdir { path } => format!("mkdir {path}"),
            Op::Rename { from, to, .. } => format!("rename {from} -> {to}"),
            Op::Unlink { path, .. } => format!("unlink {path}"),
            Op::Rmdir { path } => format!("rmdir {path}"),
            Op::Write { ino, offset, data } => {
                format!(
                    "write {} [{}..{}) ({} bytes)",
                    names(*ino),
                    offset,
                    offset + data.len() as u64,
                    data.len()
                )
            }
            Op::SetLen { ino, len } => format!("set length of {} to {len}", names(*ino)),
            Op::FileSync { ino } => format!("fsync {}", names(*ino)),
            Op::DirSync { path } => format!(
                "fsync directory {}",
                if path.is_empty() { "." } else { path }
            ),
            Op::SyncAll => "sync".to_string(),
            Op::Print { text } => format!("print {:?}", String::from_utf8_lossy(text)),
        }
    }
}

/// The parent directory of a relative path (`""` for a top-level name).
pub fn parent(path: &str) -> &str {
    path.rfind('/').map_or("", |i| &path[..i])
}

/// One op with where it came from.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TraceOp {
    #[serde(flatten)]
    pub op: Op,
    /// The process that made the system call.
    pub pid: u32,
    /// The system call, abbreviated (for failure reports).
    pub call: String,
}

/// A file of the snapshot.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SnapshotFile {
    pub path: String,
    pub ino: Ino,
    #[serde(with = "hex::serde")]
    pub data: Vec<u8>,
}

/// The directory before the command ran (taken as durable).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Snapshot {
    pub dirs: Vec<String>,
    pub files: Vec<SnapshotFile>,
}

/// A whole recording.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Trace {
    pub version: u32,
    /// The recorded directory (absolute), for reports only: states are rebuilt elsewhere.
    pub dir: String,
    /// The command line that was recorded.
    pub command: Vec<String>,
    pub snapshot: Snapshot,
    pub ops: Vec<TraceOp>,
}

impl Trace {
    /// A trace of `ops` (pid 1, no call text) over an empty directory: for tests and
    /// tools that build op lists by hand.
    pub fn from_ops(ops: impl IntoIterator<Item = Op>) -> Trace {
        Trace {
            version: TRACE_VERSION,
            dir: "/".into(),
            command: vec![],
            snapshot: Snapshot::default(),
            ops: ops
                .into_iter()
                .map(|op| TraceOp {
                    op,
                    pid: 1,
                    call: String::new(),
                })
                .collect(),
        }
    }

    /// Reads a trace file, refusing other versions with a clear message.
    pub fn load(path: &Path) -> Result<Trace, String> {
        let bytes = std::fs::read(path)
            .map_err(|e| format!("cannot read trace {}: {e}", path.display()))?;
        let trace: Trace = serde_json::from_slice(&bytes)
            .map_err(|e| format!("{} is not a crashfs trace: {e}", path.display()))?;
        if trace.version != TRACE_VERSION {
            return Err(format!(
                "{} is a version {} trace; this crashfs reads version {TRACE_VERSION} (record it again)",
                path.display(),
                trace.version
            ));
        }
        trace
            .validate()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(trace)
    }

    /// Refuses what the in-memory model cannot hold: files past [`MAX_FILE`].
    pub fn validate(&self) -> Result<(), String> {
        self.validate_within(MAX_FILE)
    }

    /// Refuses a snapshot or any file larger than `limit` bytes.
    pub fn validate_within(&self, limit: u64) -> Result<(), String> {
        let snapshot: u64 = self
            .snapshot
            .files
            .iter()
            .map(|f| f.data.len() as u64)
            .sum();
        if snapshot > limit {
            return Err(format!(
                "the snapshot holds {snapshot} bytes; crashfs models at most {limit}"
            ));
        }
        for (i, t) in self.ops.iter().enumerate() {
            let end = match &t.op {
                Op::Write { offset, data, .. } => offset.saturating_add(data.len() as u64),
                Op::SetLen { len, .. } => *len,
                _ => 0,
            };
            if end > limit {
                return Err(format!(
                    "op #{i} makes a file of {end} bytes; crashfs models at most {limit}"
                ));
            }
        }
        Ok(())
    }

    /// Writes the trace as JSON.
    pub fn save(&self, path: &Path) -> Result<(), String> {
        let json = serde_json::to_vec(self).map_err(|e| format!("cannot encode trace: {e}"))?;
        std::fs::write(path, json)
            .map_err(|e| format!("cannot write trace {}: {e}", path.display()))
    }

    /// A file's most recent name in the trace (for reports), or `#ino`.
    pub fn name_of(&self, ino: Ino) -> String {
        let mut name = self
            .snapshot
            .files
            .iter()
            .find(|f| f.ino == ino)
            .map(|f| f.path.clone());
        for t in &self.ops {
            match &t.op {
                Op::Create { path, ino: i } if *i == ino => name = Some(path.clone()),
                Op::Rename { to, ino: i, .. } if *i == ino => name = Some(to.clone()),
                _ => {}
            }
        }
        name.unwrap_or_else(|| format!("#{ino}"))
    }

    /// Everything printed by ops `..k`.
    pub fn printed_before(&self, k: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for t in &self.ops[..k] {
            if let Op::Print { text } = &t.op {
                out.extend_from_slice(text);
            }
        }
        out
    }
}
