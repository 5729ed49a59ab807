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
    /// Linux: a second descriptor of the same inode (`/proc/self/fd`) opened with
    /// `O_DIRECT`, read in whole aligned blocks. Where that is refused (tmpfs, some
    /// FUSE and network filesystems: `EINVAL`), or anywhere but Linux: `None`.
    fn read_durable_at(&self, buf: &mut [u8], offset: u64) -> io::Result<Option<usize>> {
        Ok(direct::read(&self.0, buf, offset))
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

/// Reads past the OS cache (see `VfsFile::read_durable_at`).
mod direct {
    use std::fs::File;

    /// The alignment `O_DIRECT` asks of offsets, lengths and buffers: a 4 KiB block
    /// covers every logical block size a disk reports (512 or 4,096 bytes).
    #[cfg(target_os = "linux")]
    const ALIGN: usize = 4096;

    #[cfg(target_os = "linux")]
    pub(super) fn read(file: &File, buf: &mut [u8], offset: u64) -> Option<usize> {
        use std::os::unix::fs::{FileExt, OpenOptionsExt};
        use std::os::unix::io::AsRawFd;
        let proc_path = format!("/proc/self/fd/{}", file.as_raw_fd());
        let direct = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECT)
            .open(proc_path)
            .ok()?;
        // The aligned blocks around the range, read into an aligned part of a buffer
        // one block larger (`align_offset` finds it; no allocator tricks).
        let first = offset / ALIGN as u64 * ALIGN as u64;
        let skip = usize::try_from(offset - first).ok()?;
        let span = (skip + buf.len()).div_ceil(ALIGN) * ALIGN;
        let mut raw = vec![0u8; span + ALIGN];
        let at = raw.as_ptr().align_offset(ALIGN);
        let aligned = raw.get_mut(at..at + span)?;
        let mut got = 0;
        while got < span {
            match direct.read_at(&mut aligned[got..], first + got as u64) {
                Ok(0) => break,
                Ok(n) => {
                    got += n;
                    // Short of a whole block: the end of the file.
                    if n % ALIGN != 0 {
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return None,
            }
        }
        let n = got.saturating_sub(skip).min(buf.len());
        buf[..n].copy_from_slice(&aligned[skip..skip + n]);
        Some(n)
    }

    #[cfg(not(target_os = "linux"))]
    pub(super) fn read(_file: &File, _buf: &mut [u8], _offset: u64) -> Option<usize> {
        None
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

    /// A read past the cache of synced bytes gives those bytes — whole, from inside a
    /// block, across blocks and up to the end of the file — where the filesystem
    /// allows it; where it cannot tell (tmpfs, some FUSE or overlay mounts) it says so,
    /// which the disk filesystems Linux reads past the cache on must not.
    #[test]
    fn a_direct_read_of_synced_bytes_gives_them_back() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("f");
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let f = StdVfs.open(&path, OpenMode::CreateNew).unwrap();
        f.write_at(&data, 0).unwrap();
        f.sync().unwrap();
        for (at, len) in [(0usize, 512usize), (1000, 700), (4000, 5000), (9900, 500)] {
            let mut buf = vec![0u8; len];
            match f.read_durable_at(&mut buf, at as u64).unwrap() {
                Some(n) => {
                    let end = (at + len).min(data.len());
                    assert_eq!(n, end - at, "at {at}");
                    assert_eq!(buf[..n], data[at..end], "at {at}");
                }
                None => {
                    let ty = fs_type(tmp.path());
                    assert!(
                        !(cfg!(target_os = "linux")
                            && ["ext4", "xfs", "btrfs"].contains(&ty.as_str())),
                        "{ty} reads past the cache"
                    );
                }
            }
        }
    }

    /// The type of the filesystem `dir` is on, by `/proc/mounts`' longest matching
    /// mount point ("" if unknown).
    fn fs_type(dir: &Path) -> String {
        let mounts = fs::read_to_string("/proc/mounts").unwrap_or_default();
        mounts
            .lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                let (_, at, ty) = (w.next()?, w.next()?, w.next()?);
                dir.starts_with(at).then(|| (at.len(), ty.to_string()))
            })
            .max()
            .map(|(_, ty)| ty)
            .unwrap_or_default()
    }
}
