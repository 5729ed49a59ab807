//! Test-only filesystem for the log: keeps each file's durable image apart from its
//! unsynced writes, so a simulated power loss can drop any subset of unsynced 512-byte
//! sector pieces (holes before surviving later writes included), and injects write and
//! sync failures. A much smaller cousin of the simulator's `SimVfs`, which the engine's
//! own tests cannot depend on. Names (create, remove) are durable at once: the log's
//! directory ordering is not what these tests are about.

use crate::vfs::{OpenMode, Vfs, VfsFile};
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

const SECTOR: usize = 512;

enum Op {
    Write(usize, Vec<u8>),
    SetLen(usize),
}

#[derive(Default)]
struct Inode {
    durable: Vec<u8>,
    volatile: Vec<u8>,
    pending: Vec<Op>,
}

fn write_into(img: &mut Vec<u8>, at: usize, data: &[u8]) {
    if img.len() < at + data.len() {
        img.resize(at + data.len(), 0);
    }
    img[at..at + data.len()].copy_from_slice(data);
}

/// Which calls fail. A countdown of `Some(0)` fails the next call of that kind.
#[derive(Clone, Debug)]
pub struct Faults {
    pub fail_write_in: Option<u32>,
    pub fail_sync_in: Option<u32>,
    pub fail_remove_in: Option<u32>,
    pub kind: io::ErrorKind,
}

impl Default for Faults {
    fn default() -> Faults {
        Faults {
            fail_write_in: None,
            fail_sync_in: None,
            fail_remove_in: None,
            kind: io::ErrorKind::Other,
        }
    }
}

fn due(countdown: &mut Option<u32>) -> bool {
    match countdown {
        Some(0) => {
            *countdown = None;
            true
        }
        Some(n) => {
            *n -= 1;
            false
        }
        None => false,
    }
}

#[derive(Default)]
struct State {
    files: BTreeMap<PathBuf, Arc<Mutex<Inode>>>,
    faults: Faults,
}

/// The lossy filesystem. Clones share one machine.
#[derive(Clone, Default)]
pub struct LossyVfs {
    st: Arc<Mutex<State>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// splitmix64: a tiny deterministic generator, enough to pick sectors.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

impl LossyVfs {
    pub fn new() -> LossyVfs {
        LossyVfs::default()
    }

    pub fn set_faults(&self, f: Faults) {
        lock(&self.st).faults = f;
    }

    /// What reads see now.
    pub fn contents(&self, path: &Path) -> Option<Vec<u8>> {
        let st = lock(&self.st);
        st.files.get(path).map(|i| lock(i).volatile.clone())
    }

    /// Replace a file's contents, durably (test setup and damage).
    pub fn put(&self, path: &Path, data: Vec<u8>) {
        let mut st = lock(&self.st);
        let inode = st.files.entry(path.to_path_buf()).or_default();
        let mut i = lock(inode);
        i.durable = data.clone();
        i.volatile = data;
        i.pending.clear();
    }

    /// Power loss: every file keeps its durable image plus a random subset of the
    /// sector pieces of its unsynced writes (and of its unsynced length changes),
    /// applied in issue order.
    pub fn power_loss(&self, rng: &mut Rng) {
        let st = lock(&self.st);
        for inode in st.files.values() {
            let mut i = lock(inode);
            let mut img = i.durable.clone();
            for op in std::mem::take(&mut i.pending) {
                match op {
                    Op::Write(at, data) => {
                        let mut start = 0;
                        while start < data.len() {
                            let end = data.len().min((at + start) / SECTOR * SECTOR + SECTOR - at);
                            if rng.below(2) == 0 {
                                write_into(&mut img, at + start, &data[start..end]);
                            }
                            start = end;
                        }
                    }
                    Op::SetLen(len) => {
                        if rng.below(2) == 0 {
                            img.resize(len, 0);
                        }
                    }
                }
            }
            i.durable = img.clone();
            i.volatile = img;
        }
    }
}

struct LossyFile {
    inode: Arc<Mutex<Inode>>,
    st: Arc<Mutex<State>>,
    writable: bool,
}

impl VfsFile for LossyFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let i = lock(&self.inode);
        let start = usize::try_from(offset).map_err(io::Error::other)?;
        if start >= i.volatile.len() {
            return Ok(0);
        }
        let n = buf.len().min(i.volatile.len() - start);
        buf[..n].copy_from_slice(&i.volatile[start..start + n]);
        Ok(n)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        if !self.writable {
            return Err(io::Error::new(io::ErrorKind::PermissionDenied, "read-only"));
        }
        {
            let mut st = lock(&self.st);
            if due(&mut st.faults.fail_write_in) {
                return Err(io::Error::new(st.faults.kind, "injected write failure"));
            }
        }
        let at = usize::try_from(offset).map_err(io::Error::other)?;
        let mut i = lock(&self.inode);
        write_into(&mut i.volatile, at, buf);
        i.pending.push(Op::Write(at, buf.to_vec()));
        Ok(())
    }
    fn sync(&self) -> io::Result<()> {
        let mut st = lock(&self.st);
        let mut i = lock(&self.inode);
        if due(&mut st.faults.fail_sync_in) {
            // Like a real fsync failure: the dirty data is gone.
            i.pending.clear();
            i.volatile = i.durable.clone();
            return Err(io::Error::new(st.faults.kind, "injected sync failure"));
        }
        i.pending.clear();
        i.durable = i.volatile.clone();
        Ok(())
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        let len = usize::try_from(len).map_err(io::Error::other)?;
        let mut i = lock(&self.inode);
        i.volatile.resize(len, 0);
        i.pending.push(Op::SetLen(len));
        Ok(())
    }
    fn len(&self) -> io::Result<u64> {
        Ok(lock(&self.inode).volatile.len() as u64)
    }
    fn try_lock_exclusive(&self) -> io::Result<()> {
        Ok(())
    }
}

impl Vfs for LossyVfs {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn VfsFile>> {
        let mut st = lock(&self.st);
        let inode = match (mode, st.files.get(path)) {
            (OpenMode::Existing | OpenMode::ReadOnly, Some(i)) => i.clone(),
            (OpenMode::Existing | OpenMode::ReadOnly, None) => {
                return Err(io::Error::new(io::ErrorKind::NotFound, "no such file"))
            }
            (OpenMode::CreateNew, Some(_)) => {
                return Err(io::Error::new(io::ErrorKind::AlreadyExists, "file exists"))
            }
            (OpenMode::Truncate, Some(i)) => {
                let mut g = lock(i);
                g.volatile.clear();
                g.pending.push(Op::SetLen(0));
                drop(g);
                i.clone()
            }
            (OpenMode::CreateNew | OpenMode::Truncate, None) => {
                let i = Arc::new(Mutex::new(Inode::default()));
                st.files.insert(path.to_path_buf(), i.clone());
                i
            }
        };
        Ok(Box::new(LossyFile {
            inode,
            st: self.st.clone(),
            writable: mode != OpenMode::ReadOnly,
        }))
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        let mut st = lock(&self.st);
        if due(&mut st.faults.fail_remove_in) {
            return Err(io::Error::new(st.faults.kind, "injected remove failure"));
        }
        match st.files.remove(path) {
            Some(_) => Ok(()),
            None => Err(io::Error::new(io::ErrorKind::NotFound, "no such file")),
        }
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut st = lock(&self.st);
        let f = st
            .files
            .remove(from)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such file"))?;
        st.files.insert(to.to_path_buf(), f);
        Ok(())
    }
    fn exists(&self, path: &Path) -> io::Result<bool> {
        Ok(lock(&self.st).files.contains_key(path))
    }
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let st = lock(&self.st);
        Ok(st
            .files
            .keys()
            .filter(|p| crate::vfs::parent_dir(p) == dir)
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect())
    }
    fn sync_dir(&self, _dir: &Path) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn power_loss_keeps_synced_data_and_may_punch_holes_in_unsynced() {
        let vfs = LossyVfs::new();
        let p = Path::new("/d/f");
        let f = vfs.open(p, OpenMode::CreateNew).unwrap();
        f.write_at(&[1; 1000], 0).unwrap();
        f.sync().unwrap();
        f.write_at(&[2; 2048], 1000).unwrap();
        let mut saw_hole = false;
        for seed in 0..64 {
            let v2 = LossyVfs::new();
            v2.put(p, vfs.contents(p).unwrap()[..1000].to_vec());
            let g = v2.open(p, OpenMode::Existing).unwrap();
            g.write_at(&[2; 2048], 1000).unwrap();
            v2.power_loss(&mut Rng::new(seed));
            let img = v2.contents(p).unwrap();
            assert_eq!(&img[..1000], &[1; 1000][..]);
            let tail = &img[1000..];
            if tail.len() > 600 && tail[..24].iter().all(|&b| b == 0) {
                saw_hole = true;
            }
        }
        assert!(
            saw_hole,
            "no seed lost an early sector while keeping a later one"
        );
    }
}
