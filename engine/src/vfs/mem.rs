//! `MemVfs`: a plain in-memory filesystem with no faults, for code outside tests that
//! works on a copy of a file in memory: butil's `-restore` checks a backup's bytes here
//! before they replace anything, and the fuzz bodies (`sim::fuzz`) run on it. It is
//! compiled in every build because those are not test builds. Writes are durable at
//! once; `sync` does nothing. Tests should use `vfs::testing::TestVfs` (feature `testing`),
//! which with no switch set is the same plain filesystem and can also lose power and
//! fail; the simulator's `SimVfs` is the full fault model.

use super::{OpenMode, Vfs, VfsFile};
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Default)]
struct State {
    files: BTreeMap<PathBuf, Arc<Mutex<Vec<u8>>>>,
    locked: BTreeSet<PathBuf>,
}

/// An in-memory filesystem. Clones share the same files.
#[derive(Clone, Default)]
pub struct MemVfs {
    state: Arc<Mutex<State>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock only means a panic elsewhere in a test; the data is still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl MemVfs {
    pub fn new() -> MemVfs {
        MemVfs::default()
    }

    /// Put a file with the given contents (replacing any).
    pub fn insert(&self, path: impl Into<PathBuf>, data: Vec<u8>) {
        lock(&self.state)
            .files
            .insert(path.into(), Arc::new(Mutex::new(data)));
    }

    /// The contents of a file, if it exists.
    pub fn contents(&self, path: &Path) -> Option<Vec<u8>> {
        lock(&self.state).files.get(path).map(|f| lock(f).clone())
    }
}

struct MemFile {
    path: PathBuf,
    data: Arc<Mutex<Vec<u8>>>,
    vfs: MemVfs,
    writable: bool,
    locked: Mutex<bool>,
}

impl Drop for MemFile {
    fn drop(&mut self) {
        if *lock(&self.locked) {
            lock(&self.vfs.state).locked.remove(&self.path);
        }
    }
}

fn offset_usize(offset: u64, len: usize) -> io::Result<(usize, usize)> {
    let start = usize::try_from(offset).map_err(io::Error::other)?;
    let end = start
        .checked_add(len)
        .ok_or_else(|| io::Error::other("offset overflow"))?;
    Ok((start, end))
}

impl VfsFile for MemFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let data = lock(&self.data);
        let Ok((start, _)) = offset_usize(offset, 0) else {
            return Ok(0);
        };
        if start >= data.len() {
            return Ok(0);
        }
        let n = buf.len().min(data.len() - start);
        buf[..n].copy_from_slice(&data[start..start + n]);
        Ok(n)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        if !self.writable {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "opened read-only",
            ));
        }
        let (start, end) = offset_usize(offset, buf.len())?;
        let mut data = lock(&self.data);
        if data.len() < end {
            data.resize(end, 0);
        }
        data[start..end].copy_from_slice(buf);
        Ok(())
    }
    fn sync(&self) -> io::Result<()> {
        Ok(())
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        let (len, _) = offset_usize(len, 0)?;
        lock(&self.data).resize(len, 0);
        Ok(())
    }
    fn len(&self) -> io::Result<u64> {
        Ok(lock(&self.data).len() as u64)
    }
    fn try_lock_exclusive(&self) -> io::Result<()> {
        let mut mine = lock(&self.locked);
        if *mine {
            return Ok(());
        }
        let mut st = lock(&self.vfs.state);
        if !st.locked.insert(self.path.clone()) {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "locked by another open",
            ));
        }
        *mine = true;
        Ok(())
    }
}

impl Vfs for MemVfs {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn VfsFile>> {
        let mut st = lock(&self.state);
        let data = match (mode, st.files.get(path)) {
            (OpenMode::Existing | OpenMode::ReadOnly, Some(d)) => d.clone(),
            (OpenMode::Existing | OpenMode::ReadOnly, None) => {
                return Err(io::Error::new(io::ErrorKind::NotFound, "no such file"))
            }
            (OpenMode::CreateNew, Some(_)) => {
                return Err(io::Error::new(io::ErrorKind::AlreadyExists, "file exists"))
            }
            (OpenMode::Truncate, Some(d)) => {
                lock(d).clear();
                d.clone()
            }
            (OpenMode::CreateNew | OpenMode::Truncate, None) => {
                let d = Arc::new(Mutex::new(Vec::new()));
                st.files.insert(path.to_path_buf(), d.clone());
                d
            }
        };
        Ok(Box::new(MemFile {
            path: path.to_path_buf(),
            data,
            vfs: self.clone(),
            writable: mode != OpenMode::ReadOnly,
            locked: Mutex::new(false),
        }))
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        match lock(&self.state).files.remove(path) {
            Some(_) => Ok(()),
            None => Err(io::Error::new(io::ErrorKind::NotFound, "no such file")),
        }
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut st = lock(&self.state);
        let f = st
            .files
            .remove(from)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such file"))?;
        st.files.insert(to.to_path_buf(), f);
        Ok(())
    }
    fn exists(&self, path: &Path) -> io::Result<bool> {
        Ok(lock(&self.state).files.contains_key(path))
    }
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let st = lock(&self.state);
        Ok(st
            .files
            .keys()
            .filter(|p| super::parent_dir(p) == dir)
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect())
    }
    fn sync_dir(&self, _dir: &Path) -> io::Result<()> {
        Ok(())
    }
}
