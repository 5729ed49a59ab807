//! Directories only their owner can write: where the admin socket and the endpoint
//! registry live. Anyone who could write there could replace the socket (and have
//! butil talk to an impostor) or plant a registry record, so such a directory is
//! refused rather than used.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The per-user runtime directory of the endpoint registry: `$XDG_RUNTIME_DIR/keel`
/// if `XDG_RUNTIME_DIR` is set (and not empty), else `/tmp/keel-<uid>`.
pub fn runtime_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d).join("keel"),
        _ => PathBuf::from(format!("/tmp/keel-{}", super::os::euid())),
    }
}

/// Make sure `dir` exists (creating it, mode 0700, if missing) and that only we can
/// write it: owned by our uid, not group- or world-writable. A directory that fails
/// the check is refused (PermissionDenied), never repaired.
pub fn ensure_private_dir(dir: &Path) -> io::Result<()> {
    match fs::symlink_metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?;
            // The mode is filtered by the umask; set it exactly.
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
        }
        Err(e) => return Err(e),
        Ok(_) => {}
    }
    check_private_dir(dir)
}

/// Refuse `dir` unless it is a real directory (not a link), owned by us, and neither
/// group- nor world-writable.
pub fn check_private_dir(dir: &Path) -> io::Result<()> {
    let m = fs::symlink_metadata(dir)?;
    let refuse = |why: String| {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} {why}; the admin endpoint needs a directory only its owner can write \
                 (chmod 700 it, or choose another)",
                dir.display()
            ),
        ))
    };
    if !m.is_dir() {
        return refuse("is not a directory".into());
    }
    if m.uid() != super::os::euid() {
        return refuse(format!("is owned by uid {}, not by us", m.uid()));
    }
    if m.mode() & 0o022 != 0 {
        return refuse(format!(
            "is group- or world-writable (mode {:o})",
            m.mode() & 0o777
        ));
    }
    Ok(())
}
