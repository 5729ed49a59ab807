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
