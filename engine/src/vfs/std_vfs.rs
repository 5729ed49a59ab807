//! `StdVfs`: the real filesystem through `std::fs`. The only module of the engine
//! library allowed to touch it.

use super::{parent_dir, OpenMode, Vfs, VfsFile};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// The real filesystem.
#[derive(Clone, Copy, Debug, Default)]
pub struct StdVfs;

struct StdFile(File);

impl VfsFile for StdFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.0.read_at(buf, offset)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.0.write_all_at(buf, offset)
    }
    fn sync(&self) -> io::Result<()> {
        self.0.sync_data()
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
    fn len(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }
    fn try_lock_exclusive(&self) -> io::Result<()> {
        match self.0.try_lock() {
            Ok(()) => Ok(()),
            Err(fs::TryLockError::WouldBlock) => Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "the file is locked by another process",
            )),
            Err(fs::TryLockError::Error(e)) => Err(e),
        }
    }
}

impl Vfs for StdVfs {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn VfsFile>> {
        let mut o = OpenOptions::new();
        match mode {
            OpenMode::Existing => o.read(true).write(true),
            OpenMode::ReadOnly => o.read(true),
            OpenMode::CreateNew => o.read(true).write(true).create_new(true),
            OpenMode::Truncate => o.read(true).write(true).create(true).truncate(true),
        };
        Ok(Box::new(StdFile(o.open(path)?)))
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }
    #[cfg(target_os = "linux")]
    fn rename_new(&self, from: &Path, to: &Path) -> io::Result<()> {
        use std::os::unix::ffi::OsStrExt;
        let c = |p: &Path| {
            std::ffi::CString::new(p.as_os_str().as_bytes())
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a path holds a NUL byte"))
        };
        let (f, t) = (c(from)?, c(to)?);
        // SAFETY: `f` and `t` are NUL-terminated strings that live across the call;
        // renameat2 only reads them, and AT_FDCWD needs no descriptor.
        let r = unsafe {
            libc::renameat2(
                libc::AT_FDCWD,
                f.as_ptr(),
                libc::AT_FDCWD,
                t.as_ptr(),
                libc::RENAME_NOREPLACE,
            )
        };
        if r == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            // A filesystem (or kernel) without RENAME_NOREPLACE: check, then rename.
            Some(libc::EINVAL) | Some(libc::ENOSYS) => {
                if to.try_exists()? {
                    return Err(io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        format!("{} exists", to.display()),
                    ));
                }
                fs::rename(from, to)
            }
            _ => Err(e),
        }
    }
    fn exists(&self, path: &Path) -> io::Result<bool> {
        path.try_exists()
    }
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for e in fs::read_dir(dir)? {
            names.push(e?.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }

    /// Creates the missing directories top down, then syncs the parent of each one it
    /// created, so they are durable when it returns (more than the trait promises).
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        // The missing directories, deepest first: the walk ends at one that exists (or
        // at the empty parent of a relative path).
        let mut missing = Vec::new();
        for d in dir.ancestors() {
            if d.as_os_str().is_empty() || d.is_dir() {
                break;
            }
            missing.push(d);
        }
        for d in missing.iter().rev() {
            match fs::create_dir(d) {
                Ok(()) => {}
                // Someone else created it meanwhile: as good.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && d.is_dir() => {}
                Err(e) => return Err(e),
            }
        }
        for d in missing.iter().rev() {
            self.sync_dir(&parent_dir(d))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_dir_all_creates_every_level_and_tolerates_existing_ones() {
        let tmp = tempfile::tempdir().unwrap();
        let deep = tmp.path().join("a/b/c");
        StdVfs.create_dir_all(&deep).unwrap();
        assert!(deep.is_dir());
        StdVfs.create_dir_all(&deep).unwrap();
        super::super::create_dir_durable(&StdVfs, &tmp.path().join("a/b/d")).unwrap();
        assert_eq!(
            StdVfs.list_dir(&tmp.path().join("a/b")).unwrap(),
            vec!["c", "d"]
        );
        let file = tmp.path().join("a/file");
        fs::write(&file, b"x").unwrap();
        assert!(StdVfs.create_dir_all(&file.join("sub")).is_err());
        assert!(StdVfs.create_dir_all(&file).is_err());
    }
}
