//! Discovery: how `butil` finds the engine that holds a data file. For each file an
//! engine with an admin endpoint holds open for writing, its host keeps a small record
//! in the per-user runtime directory ([`runtime_dir`](super::private_dir::runtime_dir)),
//! named by a hash of the file's canonical path:
//!
//! ```text
//! keel-admin 1
//! file=/abs/canonical/data.btr
//! socket=/path/to/admin.sock
//! pid=1234
//! ```
//!
//! A record is a hint, never trusted blindly: the client checks that it names the
//! file asked about, that the directory is private, and that the pid lives; a stale
//! record (the engine crashed) just sends butil back to opening the file itself.

use super::private_dir::{check_private_dir, ensure_private_dir};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Where an engine holding a file listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub socket: PathBuf,
    pub pid: i32,
}

/// A path made canonical when it can be (the file exists), else absolute as given.
pub fn canonical(path: &Path) -> PathBuf {
    fs::canonicalize(path)
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_path_buf())
}

/// The record file for `data` (a canonical path) in `dir`: FNV-1a of its bytes.
pub fn record_path(dir: &Path, data: &Path) -> PathBuf {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data.as_os_str().as_encoded_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    dir.join(format!("{h:016x}.adm"))
}

/// Register `data` (canonical) as served at `ep`: written to a temporary name and
/// renamed, so a reader sees a whole record or none.
pub fn register(dir: &Path, data: &Path, ep: &Endpoint) -> io::Result<PathBuf> {
    ensure_private_dir(dir)?;
    let (Some(file), Some(socket)) = (data.to_str(), ep.socket.to_str()) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "only UTF-8 paths can be registered",
        ));
    };
    let text = format!(
        "keel-admin 1\nfile={file}\nsocket={socket}\npid={}\n",
        ep.pid
    );
    let rec = record_path(dir, data);
    let tmp = rec.with_extension(format!("tmp{}", std::process::id()));
    fs::write(&tmp, text)?;
    fs::rename(&tmp, &rec)?;
    Ok(rec)
}

/// The endpoint registered for `data` in `dir`, if a well-formed record names exactly
/// that file and the directory is private; otherwise `None` (no endpoint: open the
/// file directly).
pub fn lookup_in(dir: &Path, data: &Path) -> Option<Endpoint> {
    check_private_dir(dir).ok()?;
    let data = canonical(data);
    let text = fs::read_to_string(record_path(dir, &data)).ok()?;
    let mut lines = text.lines();
    if lines.next()? != "keel-admin 1" {
        return None;
    }
    let (mut file, mut socket, mut pid) = (None, None, None);
    for l in lines {
        match l.split_once('=')? {
            ("file", v) => file = Some(PathBuf::from(v)),
            ("socket", v) => socket = Some(PathBuf::from(v)),
            ("pid", v) => pid = v.parse::<i32>().ok(),
            _ => return None,
        }
    }
    (file? == data).then_some(Endpoint {
        socket: socket?,
        pid: pid?,
    })
}

/// The endpoint for `data` in this user's runtime directory.
pub fn lookup(data: &Path) -> Option<Endpoint> {
    lookup_in(&super::private_dir::runtime_dir(), data)
}
