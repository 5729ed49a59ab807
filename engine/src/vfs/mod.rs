//! The filesystem seam. Everything the engine does to storage goes through [`Vfs`]
//! and [`VfsFile`]; nothing above this module touches `std::fs`.
//!
//! Contract the engine relies on (and the simulator models):
//! - `write_at` may be held in a volatile cache until `sync`; after a power loss any
//!   subset of unsynced writes may be present, in any order, torn at 512-byte sectors.
//! - `sync` makes every earlier write to *that file* durable, or fails (and after a
//!   failed sync the engine must assume nothing unsynced reached the disk — nor that a
//!   later sync will write it: Linux marks the pages it failed to write clean, keeps
//!   serving them to reads, and a later sync succeeds without writing them. Bytes that
//!   must be durable after that are written again first: [`rewrite`]).
//! - creating, removing and renaming files is durable only after `sync_dir` on the
//!   directory; so is creating a directory (`create_dir_all`), in *its parent*
//!   directory. [`create_dir_durable`] creates a directory and makes it durable.
//! - `try_lock_exclusive` is advisory and per process; a held lock maps to status 85.
//!
//! Errors are `std::io::Error`; the engine maps their kinds to Btrieve statuses
//! ([`crate::Error::io`]): `NotFound` → 12, `StorageFull` → 18, `PermissionDenied` → 46,
//! `WouldBlock` → 85, anything else → 2.

mod mem;
mod std_vfs;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use mem::MemVfs;
pub use std_vfs::StdVfs;

use std::io;
use std::path::{Path, PathBuf};

/// How to open a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenMode {
    /// Open an existing file for reading and writing; `NotFound` if absent.
    Existing,
    /// Open an existing file for reading only.
    ReadOnly,
    /// Create a new, empty file; `AlreadyExists` if present.
    CreateNew,
    /// Create the file if needed and truncate it to zero length.
    Truncate,
}

/// An open file.
pub trait VfsFile: Send + Sync {
    /// Read up to `buf.len()` bytes at `offset`; returns how many were read (short only
    /// at end of file).
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
    /// Write all of `buf` at `offset`, extending the file if needed.
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// Make every earlier write to this file durable.
    fn sync(&self) -> io::Result<()>;
    fn set_len(&self, len: u64) -> io::Result<()>;
    fn len(&self) -> io::Result<u64>;
    /// Read exactly `len` bytes at `offset` into `buf`, which ends up `len` bytes long
    /// (its contents on an error are unspecified), or fail with `UnexpectedEof` — the
    /// calls [`read_exact_at`] makes. The default makes `buf` `len` bytes long, zeroing
    /// where it grows, and reads over it; a filesystem that can append its bytes to
    /// `buf` directly overrides it to skip that zeroing (the simulator's, where it was
    /// a measurable part of every log open and page-cache miss).
    fn read_exact_into(&self, buf: &mut Vec<u8>, len: usize, offset: u64) -> io::Result<()> {
        buf.resize(len, 0);
        read_exact_at(self, buf, offset)
    }
    /// Read up to `buf.len()` bytes at `offset` as the disk holds them, past the OS
    /// cache (Linux: `O_DIRECT`), for a range with no unsynced writes (callers sync
    /// first); `Ok(None)`: this filesystem cannot tell. After a failed sync Linux may
    /// mark the pages it could not write clean: reads keep serving them and no sync
    /// writes them, and only such a read shows the disk differs. The control-record
    /// copy a writable open makes asks it which of its two orders is safe
    /// (`pager/open.rs`).
    fn read_durable_at(&self, _buf: &mut [u8], _offset: u64) -> io::Result<Option<usize>> {
        Ok(None)
    }
    /// Whether the file is zero bytes long.
    fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }
    /// Take an advisory exclusive lock, held until the file is dropped. A lock held by
    /// another process (or another open of the same file) is `WouldBlock`.
    fn try_lock_exclusive(&self) -> io::Result<()>;
}

/// A filesystem.
pub trait Vfs: Send + Sync {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn VfsFile>>;
    fn remove(&self, path: &Path) -> io::Result<()>;
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Rename `from` to `to` unless `to` exists (`AlreadyExists`), with no window in
    /// which another process could create `to` and lose it to the rename.
    ///
    /// The default checks, then renames: atomic where one process owns the namespace
    /// (the in-memory and simulated filesystems, whose calls it goes through, faults
    /// included). [`StdVfs`] asks the kernel (`renameat2(RENAME_NOREPLACE)`).
    fn rename_new(&self, from: &Path, to: &Path) -> io::Result<()> {
        if self.exists(to)? {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists", to.display()),
            ));
        }
        self.rename(from, to)
    }
    fn exists(&self, path: &Path) -> io::Result<bool>;
    /// Names (not full paths) of the entries in `dir`, sorted.
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Make creates, removes and renames in `dir` durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Create `dir` and every missing directory above it; one that exists already is
    /// not an error (a file in the way is).
    ///
    /// What is guaranteed: when it returns `Ok`, the directories *exist*. Their
    /// durability is that of any creation: each directory it creates is a new entry in
    /// its parent, durable only once that parent is synced with [`Vfs::sync_dir`]; a
    /// power loss before that may lose the directory and everything created in it. A
    /// caller that needs the directory after a power loss uses [`create_dir_durable`],
    /// which does those syncs. ([`StdVfs`] also syncs the parent of each directory it
    /// creates, so on a real filesystem what it created is durable when it returns;
    /// callers must not count on that — the simulator's `SimVfs` holds them to the
    /// contract above.)
    ///
    /// Filesystems without directories as objects of their own (the in-memory ones)
    /// need do nothing.
    fn create_dir_all(&self, _dir: &Path) -> io::Result<()> {
        Ok(())
    }
}

/// Create `dir` (and every missing directory above it) so that it survives a power
/// loss: [`Vfs::create_dir_all`], then [`Vfs::sync_dir`] on the parent of each
/// directory above `dir` that was missing before, and on the parent of `dir` itself.
///
/// The parent of `dir` is synced even when `dir` existed already: a process that
/// crashed between creating it and syncing its parent left an entry a power loss can
/// still take. (The same gap for a directory *above* `dir` that such a process
/// created is not closed: only directories found missing are synced above `dir`.)
/// Roots (`/`, `.`, the empty path) always exist and are never checked.
pub fn create_dir_durable(vfs: &dyn Vfs, dir: &Path) -> io::Result<()> {
    let is_root = |d: &Path| d.parent().is_none() || d == Path::new(".");
    // The directories above `dir` that are missing now, deepest first.
    let mut missing = Vec::new();
    for above in dir.ancestors().skip(1) {
        if is_root(above) || vfs.exists(above)? {
            break;
        }
        missing.push(above);
    }
    vfs.create_dir_all(dir)?;
    for created in missing.iter().rev() {
        vfs.sync_dir(&parent_dir(created))?;
    }
    vfs.sync_dir(&parent_dir(dir))
}

/// Whether the disk holds `bytes` at `at` as far as a read past the OS cache can
/// tell: `false` only when such a read shows other bytes (a failed sync's write that
/// Linux marked clean unwritten: readable from the cache, never to reach the disk); a
/// filesystem that cannot read past its cache, or a read that fails, says `true` —
/// what a caller assumed before it could ask. The range must have no unsynced writes
/// (callers sync first, or ask of bytes only a finished sync wrote).
pub fn on_disk<F: VfsFile + ?Sized>(file: &F, bytes: &[u8], at: u64) -> bool {
    let mut disk = vec![0u8; bytes.len()];
    match file.read_durable_at(&mut disk, at) {
        Ok(Some(n)) => n == bytes.len() && disk == bytes,
        Ok(None) | Err(_) => true,
    }
}

/// Read exactly `buf.len()` bytes at `offset`, or fail with `UnexpectedEof`.
pub fn read_exact_at<F: VfsFile + ?Sized>(file: &F, buf: &mut [u8], offset: u64) -> io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        let n = file.read_at(&mut buf[done..], offset + done as u64)?;
        if n == 0 {
            return Err(short_read(done, buf.len(), offset));
        }
        done += n;
    }
    Ok(())
}

/// The error of a read of `len` bytes at `offset` that met the end of the file after
/// `done`.
pub fn short_read(done: usize, len: usize, offset: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("short read: {done} of {len} bytes at offset {offset}"),
    )
}

/// Read `from..to` of `file` and write the same bytes back (a bounded chunk at a time),
/// so that the next sync writes them to the disk whatever the OS cache holds them as.
/// For bytes the engine read and is about to build on, which may never have reached
/// the disk: after a failed fsync Linux serves pages it could not write as clean, and a
/// later fsync — finding nothing dirty — succeeds without writing them. Writing the same
/// bytes again changes nothing a crash could show that it could not before.
pub fn rewrite(file: &dyn VfsFile, from: u64, to: u64) -> io::Result<()> {
    rewrite_with(file, from, to, &mut Vec::new())
}

/// [`rewrite`] through the caller's buffer `buf` (whatever it holds is read over
/// before a byte of it is written back; it grows, zeroed, only if shorter than a
/// chunk): a caller that has a page buffer saves allocating and zeroing another.
pub fn rewrite_with(file: &dyn VfsFile, from: u64, to: u64, buf: &mut Vec<u8>) -> io::Result<()> {
    const CHUNK: u64 = 64 << 10;
    let chunk = CHUNK.min(to.saturating_sub(from)) as usize;
    if buf.len() < chunk {
        buf.resize(chunk, 0);
    }
    let mut at = from;
    while at < to {
        let n = (to - at).min(CHUNK) as usize;
        read_exact_at(file, &mut buf[..n], at)?;
        file.write_at(&buf[..n], at)?;
        at += n as u64;
    }
    Ok(())
}

/// Read a whole file.
pub fn read_all(vfs: &dyn Vfs, path: &Path) -> io::Result<Vec<u8>> {
    let f = vfs.open(path, OpenMode::ReadOnly)?;
    let len = f.len()?;
    let mut buf = vec![0u8; usize::try_from(len).map_err(io::Error::other)?];
    read_exact_at(f.as_ref(), &mut buf, 0)?;
    Ok(buf)
}

/// The directory holding `path` ("." for a bare name).
pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}
