//! Which file system the scratch directory is on. A sync on tmpfs or ramfs costs
//! nothing, so every durable-commit figure there measures CPU, not the disk: the bench
//! warns loudly and records the file system in the table and the JSON, so a figure is
//! never read without knowing what it was measured on.
//!
//! The kind comes from `statfs(2)`'s `f_type` (authoritative for the directory itself,
//! whatever is mounted where); the name and device come from the longest mount point in
//! `/proc/mounts` that contains the directory (for the reader; absent if unreadable).

use crate::common::{BenchError, Result};
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// `f_type` of tmpfs (linux/magic.h `TMPFS_MAGIC`).
const TMPFS_MAGIC: i64 = 0x0102_1994;
/// `f_type` of ramfs (linux/magic.h `RAMFS_MAGIC`).
const RAMFS_MAGIC: i64 = 0x8584_58f6;

/// The file system under a directory.
#[derive(Clone, Debug, serde::Serialize)]
pub struct FsKind {
    /// `statfs` `f_type`, in hex (`0xef53` is ext2/3/4).
    pub magic: String,
    /// The type `/proc/mounts` gives for the mount holding the directory (`ext4`,
    /// `xfs`, `tmpfs`…), or `unknown`.
    pub fstype: String,
    /// That mount's device and mount point, or empty.
    pub device: String,
    pub mount_point: String,
    /// Memory-backed (tmpfs or ramfs): syncs are free, durable figures meaningless.
    pub in_memory: bool,
}

/// The file system `dir` is on.
pub fn of(dir: &Path) -> Result<FsKind> {
    let c = CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| BenchError(format!("{}: path holds a NUL byte", dir.display())))?;
    // SAFETY: `c` is a valid NUL-terminated path and `st` a writable statfs buffer the
    // call fills in; both outlive the call.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statfs(c.as_ptr(), &mut st) };
    if rc != 0 {
        return Err(BenchError(format!(
            "statfs {}: {}",
            dir.display(),
            std::io::Error::last_os_error()
        )));
    }
    #[allow(clippy::unnecessary_cast)] // f_type's width differs between targets
    let magic = st.f_type as i64;
    let (fstype, device, mount_point) =
        mount_of(dir).unwrap_or_else(|| ("unknown".to_string(), String::new(), String::new()));
    let in_memory =
        magic == TMPFS_MAGIC || magic == RAMFS_MAGIC || fstype == "tmpfs" || fstype == "ramfs";
    Ok(FsKind {
        magic: format!("{magic:#x}"),
        fstype,
        device,
        mount_point,
        in_memory,
    })
}

/// (type, device, mount point) of the longest `/proc/mounts` entry containing `dir`.
fn mount_of(dir: &Path) -> Option<(String, String, String)> {
    let dir = std::fs::canonicalize(dir).ok()?;
    let mounts = std::fs::read_to_string("/proc/mounts").ok()?;
    let mut best: Option<(usize, (String, String, String))> = None;
    for line in mounts.lines() {
        let mut f = line.split_whitespace();
        let (Some(dev), Some(mp), Some(ty)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let mp = unescape(mp);
        if dir.starts_with(&mp) && best.as_ref().is_none_or(|(len, _)| mp.len() >= *len) {
            best = Some((mp.len(), (ty.to_string(), dev.to_string(), mp)));
        }
    }
    best.map(|(_, m)| m)
}

/// `/proc/mounts` writes space, tab, newline and backslash as octal escapes (`\040`).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let oct = b.get(i + 1..i + 4).and_then(|d| {
            std::str::from_utf8(d)
                .ok()
                .and_then(|d| u8::from_str_radix(d, 8).ok())
        });
        match (b[i], oct) {
            (b'\\', Some(c)) => {
                out.push(c);
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_mount_points() {
        assert_eq!(unescape("/mnt/a\\040b"), "/mnt/a b");
        assert_eq!(unescape("/plain"), "/plain");
    }

    #[test]
    fn reads_the_current_directory() {
        let k = of(Path::new(".")).expect("statfs of .");
        assert!(k.magic.starts_with("0x"));
    }
}
