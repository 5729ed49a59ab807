//! `TestVfs`: the one configurable, deterministic test filesystem for the engine's
//! tests (and for other crates' tests, through the `testing` feature). It replaces the
//! one-off test filesystems the tests used to carry: a plain in-memory filesystem, a
//! lossy one with power loss and injected failures, a "power fails during the N-th
//! sync" wrapper, a "process stops after N calls" wrapper, a filesystem whose listing
//! lies, and a sync that takes time.
//!
//! Two backings:
//! - [`TestVfs::new`]: files in memory. Each file keeps a *durable* image (what a power
//!   loss keeps) apart from its *volatile* image (what reads see) and the unsynced
//!   writes and length changes between the two. A successful `sync` makes the file's
//!   volatile image durable; [`TestVfs::power_loss`] keeps the durable image plus a
//!   random (seeded) subset of the 512-byte sector pieces of the unsynced writes, in
//!   issue order — so holes before surviving later writes happen too. Names (create,
//!   remove, rename) are durable at once and `sync_dir` does nothing: directory
//!   ordering is the simulator's `SimVfs`'s business, not this filesystem's.
//!   `try_lock_exclusive` is a per-path lock held until the file is dropped.
//! - [`TestVfs::over`]: the same switches in front of another [`Vfs`] (a `StdVfs`, a
//!   simulator's `SimVfs`, another `TestVfs`); every call that is not failed, torn or
//!   lied about is passed to it unchanged.
//!
//! The switches, all off in a new `TestVfs` (which then behaves as a plain, lossless
//! in-memory filesystem), all shared by clones, checked in this order:
//! 1. a sync hook ([`TestVfs::on_sync`]) runs at the start of every file sync, with no
//!    lock of this filesystem held — to make syncs slow or block them;
//! 2. a stop ([`TestVfs::stop_after`]): after N more *mutating* calls (`write_at`,
//!    `set_len`, `sync`, `remove`, `rename`, `sync_dir`), the next one is the crash
//!    call — a write lands only its first half of whole sectors (when it spans at least
//!    two), anything else does nothing — and fails, and every later mutating call fails:
//!    the process died there. Opens, reads, lengths, listings and locks still work;
//! 3. a power failure during a sync ([`TestVfs::crash_sync_in`]): the chosen file sync
//!    fails and makes nothing durable, leaving its writes unsynced for a power loss;
//! 4. fault countdowns ([`Faults`]) for writes, syncs and removes: the chosen call fails
//!    with the configured error kind; a failed sync of an in-memory file also discards
//!    the file's unsynced writes, as a real failed fsync may (from reads too, or — with
//!    [`Faults::failed_sync_keeps_cache`], as Linux does — only from the disk: reads
//!    still see them until a power loss);
//! 5. a lying listing ([`TestVfs::set_listing`]): `list_dir` of any directory answers
//!    the given names, whether or not such files exist.
//!
//! Guarantees: no wall clock, threads or unseeded randomness — given the same calls in
//! the same order, the same seeds give the same images (threads calling in a varying
//! order are the caller's nondeterminism). Countdowns and the call count are per
//! filesystem, across all its files.

use super::{parent_dir, read_all, OpenMode, Vfs, VfsFile};
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// The unit a power loss tears unsynced writes at.
pub const SECTOR: usize = 512;

enum Op {
    Write(usize, Vec<u8>),
    SetLen(usize),
}

#[derive(Default)]
struct Inode {
    durable: Vec<u8>,
    volatile: Vec<u8>,
    /// Every change from `durable` to `volatile`, in issue order.
    pending: Vec<Op>,
}

/// Copy the bytes of `img` from `offset` into `buf` (short at its end); returns how
/// many.
fn read_from(img: &[u8], offset: u64, buf: &mut [u8]) -> usize {
    let Some(rest) = span(offset, 0).ok().and_then(|(start, _)| img.get(start..)) else {
        return 0;
    };
    let n = buf.len().min(rest.len());
    buf[..n].copy_from_slice(&rest[..n]);
    n
}

fn write_into(img: &mut Vec<u8>, at: usize, data: &[u8]) {
    if img.len() < at + data.len() {
        img.resize(at + data.len(), 0);
    }
    img[at..at + data.len()].copy_from_slice(data);
}

/// Which calls fail. A countdown of `Some(0)` fails the next call of that kind (then
/// clears itself); `Some(n)` lets `n` through first.
#[derive(Clone, Debug)]
pub struct Faults {
    pub fail_write_in: Option<u32>,
    pub fail_sync_in: Option<u32>,
    pub fail_remove_in: Option<u32>,
    /// The error kind of an injected failure.
    pub kind: io::ErrorKind,
    /// How an injected sync failure treats the unsynced writes: `false`, reads go back
    /// to the durable image (the writes are gone); `true`, as Linux does, the writes
    /// are marked clean without being written — reads still see them, no later sync
    /// writes them, and a power loss takes them.
    pub failed_sync_keeps_cache: bool,
}

impl Default for Faults {
    fn default() -> Faults {
        Faults {
            fail_write_in: None,
            fail_sync_in: None,
            fail_remove_in: None,
            kind: io::ErrorKind::Other,
            failed_sync_keeps_cache: false,
        }
    }
}

/// Count a countdown down; true when it fires.
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

/// splitmix64: a tiny deterministic generator, enough to pick sectors.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    /// The next number. (Named as the log's old test filesystem named it; not an
    /// `Iterator`, which would return an `Option`.)
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform-ish in `0..n` (`0` when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

type SyncHook = Arc<dyn Fn() + Send + Sync>;

#[derive(Default)]
struct State {
    /// The in-memory backing's files (unused when over another Vfs).
    files: BTreeMap<PathBuf, Arc<Mutex<Inode>>>,
    locked: BTreeSet<PathBuf>,
    faults: Faults,
    crash_sync_in: Option<u32>,
    /// Mutating calls so far.
    calls: u64,
    /// The call number that is the crash call of a stop.
    stop_at: Option<u64>,
    listing: Option<Vec<String>>,
    sync_hook: Option<SyncHook>,
    /// The in-memory files cannot be read past the cache (`read_durable_at` says
    /// `None`), as on a filesystem that refuses `O_DIRECT`.
    no_direct_reads: bool,
}

struct Shared {
    st: Mutex<State>,
    inner: Option<Arc<dyn Vfs>>,
}

/// The test filesystem. Clones share one machine: files, switches and call count.
#[derive(Clone)]
pub struct TestVfs {
    sh: Arc<Shared>,
}

impl Default for TestVfs {
    fn default() -> TestVfs {
        TestVfs::new()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock only means a panic elsewhere in a test; the data is still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn stopped() -> io::Error {
    io::Error::other("process stopped")
}

fn not_found() -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, "no such file")
}

/// `offset .. offset + len` as memory indices.
fn span(offset: u64, len: usize) -> io::Result<(usize, usize)> {
    let start = usize::try_from(offset).map_err(io::Error::other)?;
    let end = start
        .checked_add(len)
        .ok_or_else(|| io::Error::other("offset overflow"))?;
    Ok((start, end))
}

/// What the stop switch says about one mutating call.
enum Gate {
    Go,
    /// This is the crash call.
    Crash,
}

impl TestVfs {
    /// An in-memory filesystem with every switch off.
    pub fn new() -> TestVfs {
        TestVfs::build(None)
    }

    /// The switches in front of `inner`, every switch off.
    pub fn over(inner: Arc<dyn Vfs>) -> TestVfs {
        TestVfs::build(Some(inner))
    }

    fn build(inner: Option<Arc<dyn Vfs>>) -> TestVfs {
        TestVfs {
            sh: Arc::new(Shared {
                st: Mutex::new(State::default()),
                inner,
            }),
        }
    }

    fn st(&self) -> MutexGuard<'_, State> {
        lock(&self.sh.st)
    }

    /// Replace the fault countdowns (all of them).
    pub fn set_faults(&self, f: Faults) {
        self.st().faults = f;
    }

    /// Whether the in-memory files can be read past the cache (`VfsFile::read_durable_at`
    /// gives their durable image, the default) or not (it says `None`, as a filesystem
    /// that refuses `O_DIRECT` does): what the engine must get right without that read.
    pub fn set_direct_reads(&self, on: bool) {
        self.st().no_direct_reads = !on;
    }

    /// `Some(n)`: the power fails during the file sync after the next `n` (that sync
    /// fails and makes nothing durable); `None`: it does not.
    pub fn crash_sync_in(&self, n: Option<u32>) {
        self.st().crash_sync_in = n;
    }

    /// The next sync of any file is cut short by the power failing.
    pub fn crash_next_sync(&self) {
        self.crash_sync_in(Some(0));
    }

    /// `Some(n)`: the next `n` mutating calls go through, the one after is the crash
    /// call (see the module doc) and every later one fails; `None`: no stop (the
    /// process restarted).
    pub fn stop_after(&self, n: Option<u64>) {
        let mut st = self.st();
        st.stop_at = n.map(|n| st.calls.saturating_add(n));
    }

    /// Mutating calls made so far through this filesystem, failed ones included.
    pub fn mutating_calls(&self) -> u64 {
        self.st().calls
    }

    /// `Some(names)`: every `list_dir` answers `names`, as given; `None`: the truth.
    pub fn set_listing(&self, names: Option<Vec<String>>) {
        self.st().listing = names;
    }

    /// Run `hook` at the start of every file sync (replacing any earlier hook).
    pub fn on_sync(&self, hook: impl Fn() + Send + Sync + 'static) {
        self.st().sync_hook = Some(Arc::new(hook));
    }

    /// What reads see now, if the file exists. Over another Vfs: read through it.
    pub fn contents(&self, path: impl AsRef<Path>) -> Option<Vec<u8>> {
        let path = path.as_ref();
        match &self.sh.inner {
            Some(inner) => read_all(inner.as_ref(), path).ok(),
            None => self.st().files.get(path).map(|i| lock(i).volatile.clone()),
        }
    }

    /// What a power loss would start from, if the file exists (in-memory backing only;
    /// over another Vfs, `None`).
    pub fn durable_contents(&self, path: impl AsRef<Path>) -> Option<Vec<u8>> {
        match &self.sh.inner {
            Some(_) => None,
            None => self
                .st()
                .files
                .get(path.as_ref())
                .map(|i| lock(i).durable.clone()),
        }
    }

    /// Replace a file's contents, durably (test setup and damage), creating it if
    /// needed. No switch applies. Over another Vfs: write and sync through it.
    pub fn put(&self, path: impl AsRef<Path>, data: Vec<u8>) {
        let path = path.as_ref();
        if let Some(inner) = &self.sh.inner {
            let put = || -> io::Result<()> {
                let f = inner.open(path, OpenMode::Truncate)?;
                f.write_at(&data, 0)?;
                f.sync()
            };
            if let Err(e) = put() {
                panic!("TestVfs::put {}: {e}", path.display());
            }
            return;
        }
        let mut st = self.st();
        let inode = st.files.entry(path.to_path_buf()).or_default();
        let mut i = lock(inode);
        i.durable = data.clone();
        i.volatile = data;
        i.pending.clear();
    }

    /// Power loss: every file keeps its durable image plus a random subset of the
    /// sector pieces of its unsynced writes (and of its unsynced length changes),
    /// applied in issue order. The result is durable. In-memory backing only: a Vfs
    /// this one is over loses power its own way (this panics).
    pub fn power_loss(&self, rng: &mut Rng) {
        self.lose_power(rng, false);
    }

    /// [`power_loss`](Self::power_loss) on a harsher disk: a sector piece of an
    /// unsynced write may also be left holding garbage — kept, dropped or garbled, a
    /// third each — even where the write rewrote the bytes already there (a sector
    /// caught mid-write). What an engine rewrites "unchanged" it must be able to
    /// rewrite again, or not need.
    pub fn power_loss_garbling(&self, rng: &mut Rng) {
        self.lose_power(rng, true);
    }

    fn lose_power(&self, rng: &mut Rng, garble: bool) {
        assert!(
            self.sh.inner.is_none(),
            "TestVfs::power_loss over another Vfs: lose power on that one"
        );
        let st = self.st();
        for inode in st.files.values() {
            let mut i = lock(inode);
            let mut img = i.durable.clone();
            for op in std::mem::take(&mut i.pending) {
                match op {
                    Op::Write(at, data) => {
                        let mut start = 0;
                        while start < data.len() {
                            let end = data.len().min((at + start) / SECTOR * SECTOR + SECTOR - at);
                            match rng.below(if garble { 3 } else { 2 }) {
                                0 => write_into(&mut img, at + start, &data[start..end]),
                                1 => {}
                                _ => {
                                    let junk: Vec<u8> =
                                        (start..end).map(|_| rng.next() as u8).collect();
                                    write_into(&mut img, at + start, &junk);
                                }
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

    /// Count a mutating call and apply the stop: go ahead, crash here, or fail.
    fn gate(&self) -> io::Result<Gate> {
        let mut st = self.st();
        let n = st.calls;
        st.calls = n.saturating_add(1);
        match st.stop_at {
            Some(at) if n == at => Ok(Gate::Crash),
            Some(at) if n > at => Err(stopped()),
            _ => Ok(Gate::Go),
        }
    }

    /// A gated call that does nothing at the crash call.
    fn gate_all_or_nothing(&self) -> io::Result<()> {
        match self.gate()? {
            Gate::Go => Ok(()),
            Gate::Crash => Err(stopped()),
        }
    }

    /// Fire one fault countdown.
    fn fault(&self, which: fn(&mut Faults) -> &mut Option<u32>, what: &str) -> io::Result<()> {
        let mut st = self.st();
        if due(which(&mut st.faults)) {
            return Err(io::Error::new(
                st.faults.kind,
                format!("injected {what} failure"),
            ));
        }
        Ok(())
    }
}

/// An open file: an in-memory inode, or a file of the Vfs underneath.
enum Body {
    Mem(Arc<Mutex<Inode>>),
    Inner(Box<dyn VfsFile>),
}

struct TestFile {
    vfs: TestVfs,
    path: PathBuf,
    body: Body,
    writable: bool,
    /// Whether this open holds the in-memory lock on `path`.
    locked: Mutex<bool>,
}

impl Drop for TestFile {
    fn drop(&mut self) {
        if *lock(&self.locked) {
            self.vfs.st().locked.remove(&self.path);
        }
    }
}

impl TestFile {
    /// A write past the stop switch: the read-only check, the fault countdown, then the
    /// write itself.
    fn write_through(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        match &self.body {
            Body::Mem(inode) => {
                if !self.writable {
                    return Err(io::Error::new(
                        io::ErrorKind::PermissionDenied,
                        "opened read-only",
                    ));
                }
                self.vfs.fault(|f| &mut f.fail_write_in, "write")?;
                let (start, _) = span(offset, buf.len())?;
                let mut i = lock(inode);
                write_into(&mut i.volatile, start, buf);
                i.pending.push(Op::Write(start, buf.to_vec()));
                Ok(())
            }
            Body::Inner(f) => {
                self.vfs.fault(|f| &mut f.fail_write_in, "write")?;
                f.write_at(buf, offset)
            }
        }
    }
}

impl VfsFile for TestFile {
    /// The durable image (what a power loss starts from), or `None` after
    /// `set_direct_reads(false)`; over another Vfs, its answer.
    fn read_durable_at(&self, buf: &mut [u8], offset: u64) -> io::Result<Option<usize>> {
        match &self.body {
            Body::Mem(_) if self.vfs.st().no_direct_reads => Ok(None),
            Body::Mem(inode) => Ok(Some(read_from(&lock(inode).durable, offset, buf))),
            Body::Inner(f) => f.read_durable_at(buf, offset),
        }
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        match &self.body {
            Body::Mem(inode) => Ok(read_from(&lock(inode).volatile, offset, buf)),
            Body::Inner(f) => f.read_at(buf, offset),
        }
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        match self.vfs.gate()? {
            Gate::Go => self.write_through(buf, offset),
            Gate::Crash => {
                let sectors = buf.len() / SECTOR;
                if sectors >= 2 {
                    self.write_through(&buf[..sectors / 2 * SECTOR], offset)?;
                }
                Err(stopped())
            }
        }
    }

    fn sync(&self) -> io::Result<()> {
        let hook = self.vfs.st().sync_hook.clone();
        if let Some(hook) = hook {
            hook();
        }
        self.vfs.gate_all_or_nothing()?;
        if due(&mut self.vfs.st().crash_sync_in) {
            return Err(io::Error::other("the power failed during the sync"));
        }
        match &self.body {
            Body::Mem(inode) => {
                let mut st = self.vfs.st();
                let mut i = lock(inode);
                let pending = std::mem::take(&mut i.pending);
                if due(&mut st.faults.fail_sync_in) {
                    // Like a real fsync failure: the dirty data is gone — from the
                    // cache too, or (Linux) only from what any sync will ever write.
                    if !st.faults.failed_sync_keeps_cache {
                        i.volatile = i.durable.clone();
                    }
                    return Err(io::Error::new(st.faults.kind, "injected sync failure"));
                }
                // The unsynced operations, not the volatile image: after a failed sync
                // under the Linux policy, the volatile image holds writes no sync makes
                // durable.
                for op in pending {
                    match op {
                        Op::Write(at, data) => write_into(&mut i.durable, at, &data),
                        Op::SetLen(len) => i.durable.resize(len, 0),
                    }
                }
                Ok(())
            }
            Body::Inner(f) => {
                self.vfs.fault(|f| &mut f.fail_sync_in, "sync")?;
                f.sync()
            }
        }
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.vfs.gate_all_or_nothing()?;
        match &self.body {
            Body::Mem(inode) => {
                let (len, _) = span(len, 0)?;
                let mut i = lock(inode);
                i.volatile.resize(len, 0);
                i.pending.push(Op::SetLen(len));
                Ok(())
            }
            Body::Inner(f) => f.set_len(len),
        }
    }

    fn len(&self) -> io::Result<u64> {
        match &self.body {
            Body::Mem(inode) => Ok(lock(inode).volatile.len() as u64),
            Body::Inner(f) => f.len(),
        }
    }

    fn try_lock_exclusive(&self) -> io::Result<()> {
        if let Body::Inner(f) = &self.body {
            return f.try_lock_exclusive();
        }
        let mut mine = lock(&self.locked);
        if *mine {
            return Ok(());
        }
        if !self.vfs.st().locked.insert(self.path.clone()) {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "locked by another open",
            ));
        }
        *mine = true;
        Ok(())
    }
}

impl Vfs for TestVfs {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn VfsFile>> {
        let body = match &self.sh.inner {
            Some(inner) => Body::Inner(inner.open(path, mode)?),
            None => {
                let mut st = self.st();
                Body::Mem(match (mode, st.files.get(path)) {
                    (OpenMode::Existing | OpenMode::ReadOnly, Some(i)) => i.clone(),
                    (OpenMode::Existing | OpenMode::ReadOnly, None) => return Err(not_found()),
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
                })
            }
        };
        Ok(Box::new(TestFile {
            vfs: self.clone(),
            path: path.to_path_buf(),
            body,
            writable: mode != OpenMode::ReadOnly,
            locked: Mutex::new(false),
        }))
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        self.gate_all_or_nothing()?;
        self.fault(|f| &mut f.fail_remove_in, "remove")?;
        match &self.sh.inner {
            Some(inner) => inner.remove(path),
            None => match self.st().files.remove(path) {
                Some(_) => Ok(()),
                None => Err(not_found()),
            },
        }
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.gate_all_or_nothing()?;
        match &self.sh.inner {
            Some(inner) => inner.rename(from, to),
            None => {
                let mut st = self.st();
                let f = st.files.remove(from).ok_or_else(not_found)?;
                st.files.insert(to.to_path_buf(), f);
                Ok(())
            }
        }
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        match &self.sh.inner {
            Some(inner) => inner.exists(path),
            None => Ok(self.st().files.contains_key(path)),
        }
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let st = self.st();
        if let Some(names) = &st.listing {
            return Ok(names.clone());
        }
        match &self.sh.inner {
            Some(inner) => {
                drop(st);
                inner.list_dir(dir)
            }
            None => Ok(st
                .files
                .keys()
                .filter(|p| parent_dir(p) == dir)
                .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .collect()),
        }
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.gate_all_or_nothing()?;
        match &self.sh.inner {
            Some(inner) => inner.sync_dir(dir),
            None => Ok(()),
        }
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        match &self.sh.inner {
            Some(inner) => inner.create_dir_all(dir),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
#[path = "testing_tests.rs"]
mod tests;
