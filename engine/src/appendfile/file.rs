//! Creating, trimming and removing append files durably, and naming them in errors.
//!
//! The order of creation is the format's rule 1 (module doc): a new file's header (and
//! any preallocated zeros) are written and synced, and its directory synced, before the
//! caller writes a frame — so a crash leaves either no file, or a file whose torn header
//! has nothing but zeros after it (an interrupted creation, which readers recognise), or
//! a whole header whose name is durable. Removal syncs the directory after it, so a
//! removal the caller goes on from cannot be undone by a power loss.

use super::header::FileKind;
use crate::status::{Error, Result};
use crate::vfs::{parent_dir, read_exact_at, Vfs, VfsFile};
use std::io;
use std::path::Path;

/// Zeros are written and compared this many bytes at a time.
const CHUNK: u64 = 64 << 10;

impl FileKind {
    /// The error for an I/O failure while `what` (e.g. "syncing") the file at `path`.
    pub fn io_error(&self, e: &io::Error, what: &str, path: &Path) -> Error {
        Error::io(e, format!("{what} {} {}", self.noun, path.display()))
    }
}

/// Write `header` at offset 0 of the newly created `file` (at `path`), zeros from the
/// header's end to `zero_to` (preallocation; pass the header length for none), sync the
/// file, then sync its directory. Nothing is removed on failure: the caller decides
/// whether a half-made file must go.
pub fn initialize(
    vfs: &dyn Vfs,
    kind: &FileKind,
    file: &dyn VfsFile,
    path: &Path,
    header: &[u8],
    zero_to: u64,
) -> Result<()> {
    write_synced(kind, file, path, header, zero_to)?;
    sync_dir_of(vfs, kind, path)
}

/// [`initialize`] without the directory sync: for a file made under a temporary name,
/// whose rename is followed by the one directory sync that matters.
pub fn write_synced(
    kind: &FileKind,
    file: &dyn VfsFile,
    path: &Path,
    header: &[u8],
    zero_to: u64,
) -> Result<()> {
    debug_assert!(zero_to >= header.len() as u64);
    file.write_at(header, 0)
        .map_err(|e| kind.io_error(&e, "writing the header of", path))?;
    zero_fill(file, header.len() as u64, zero_to)
        .map_err(|e| kind.io_error(&e, "preallocating", path))?;
    file.sync().map_err(|e| kind.io_error(&e, "syncing", path))
}

/// Sync the directory holding `path` (a file of this kind), so its creation, or its
/// removal, is durable.
pub fn sync_dir_of(vfs: &dyn Vfs, kind: &FileKind, path: &Path) -> Result<()> {
    let dir = parent_dir(path);
    vfs.sync_dir(&dir).map_err(|e| {
        Error::io(
            &e,
            format!(
                "syncing directory {} (of {} {})",
                dir.display(),
                kind.noun,
                path.display()
            ),
        )
    })
}

/// Write zeros over `from..to` of `file`, a chunk at a time. Logs are preallocated this
/// way (a commit's sync then flushes data only, not the file's size and block map), and
/// a torn or stale tail is zeroed this way before a writer continues after it.
pub fn zero_fill(file: &dyn VfsFile, from: u64, to: u64) -> io::Result<()> {
    // One static chunk of zeros rather than a fresh zeroed buffer per call: every log
    // open zero-fills its segment copy's tail.
    static ZEROS: [u8; CHUNK as usize] = [0; CHUNK as usize];
    let zeros = &ZEROS[..];
    let mut at = from;
    while at < to {
        let n = (to - at).min(CHUNK) as usize;
        file.write_at(&zeros[..n], at)?;
        at += n as u64;
    }
    Ok(())
}

/// Whether every byte of `file` from `from` to `len` is zero; reads a chunk at a time
/// (the length is the file's, not trusted to fit in memory) and stops at the first
/// non-zero byte.
pub fn zero_from(file: &dyn VfsFile, from: u64, len: u64) -> io::Result<bool> {
    let mut buf = vec![0u8; CHUNK as usize];
    let mut at = from;
    while at < len {
        let n = (len - at).min(CHUNK) as usize;
        read_exact_at(file, &mut buf[..n], at)?;
        if buf[..n].iter().any(|&b| b != 0) {
            return Ok(false);
        }
        at += n as u64;
    }
    Ok(true)
}

/// Replace the file at `path` (open as `file`) by a copy of its first `keep` bytes as
/// read now, zeros after them up to `zero_to` (at least `keep`), made under the name
/// `temp`, synced, renamed over `path`, and the directory synced. Returns the new
/// file, open for writing. `buf` is a buffer to copy through (any length; its
/// contents are read over before a byte of it is written): a caller that has one,
/// such as the scan's, saves allocating and zeroing another.
///
/// Why a copy: a writer continuing a file must first make what it read durable — after
/// a failed sync Linux serves pages it never wrote, and a later sync finds nothing
/// dirty — and it must not lose what was durable while doing so. Rewriting the bytes in
/// place risks exactly that: a power loss during the rewrite may leave a sector torn,
/// neither old nor new, destroying synced frames. Under the temporary name a torn copy
/// is nothing; the rename swaps in a whole, synced one (or leaves the original).
#[allow(clippy::too_many_arguments)]
pub fn replace_with_prefix(
    vfs: &dyn Vfs,
    kind: &FileKind,
    path: &Path,
    file: &dyn VfsFile,
    temp: &Path,
    keep: u64,
    zero_to: u64,
    mut buf: Vec<u8>,
) -> Result<Box<dyn VfsFile>> {
    let copy = vfs
        .open(temp, crate::vfs::OpenMode::Truncate)
        .map_err(|e| kind.io_error(&e, "creating the copy", temp))?;
    let made = (|| -> io::Result<()> {
        let chunk = CHUNK.min(keep) as usize;
        if buf.len() < chunk {
            buf.resize(chunk, 0);
        }
        let mut at = 0;
        while at < keep {
            let n = (keep - at).min(CHUNK) as usize;
            read_exact_at(file, &mut buf[..n], at)?;
            copy.write_at(&buf[..n], at)?;
            at += n as u64;
        }
        zero_fill(copy.as_ref(), keep, zero_to.max(keep))?;
        copy.sync()?;
        vfs.rename(temp, path)
    })();
    if let Err(e) = made {
        drop(copy);
        // Best effort: the original is untouched; a leftover copy is ignored by
        // readers and truncated by the next copy.
        let _ = vfs.remove(temp);
        return Err(kind.io_error(&e, "making a synced copy of", path));
    }
    sync_dir_of(vfs, kind, path)?;
    Ok(copy)
}

/// Remove the file at `path` and sync its directory so the removal is durable. A file
/// already gone is not an error — a crash may have come between a removal and its
/// directory sync — so the step can simply be repeated.
pub fn remove_durably(vfs: &dyn Vfs, kind: &FileKind, path: &Path) -> Result<()> {
    match vfs.remove(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(kind.io_error(&e, "removing", path)),
    }
    sync_dir_of(vfs, kind, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::txlog::segment::SEGMENT;
    use crate::vfs::testing::TestVfs;
    use crate::vfs::OpenMode;
    use std::path::PathBuf;

    /// Whatever buffer it is handed — none, short, longer than a chunk, full of
    /// garbage — the copy is the file's first `keep` bytes and zeros after them.
    #[test]
    fn the_copy_is_the_prefix_and_zeros_whatever_buffer_it_reuses() {
        let path = PathBuf::from("/d/00000001.LOG");
        let temp = PathBuf::from("/d/00000001.NEW");
        let original: Vec<u8> = (0..(2 * CHUNK + 777))
            .map(|i| (i % 251) as u8 + 1)
            .collect();
        let bufs = [
            Vec::new(),
            vec![0xEE; 10],
            vec![0xEE; CHUNK as usize + 3],
            vec![0xEE; 3 * CHUNK as usize],
        ];
        for keep in [0, 5, CHUNK - 1, CHUNK + 1, 2 * CHUNK + 777] {
            for buf in &bufs {
                let vfs = TestVfs::new();
                vfs.put(&path, original.clone());
                let file = vfs.open(&path, OpenMode::Existing).unwrap();
                let zero_to = original.len() as u64;
                replace_with_prefix(
                    &vfs,
                    &SEGMENT,
                    &path,
                    file.as_ref(),
                    &temp,
                    keep,
                    zero_to,
                    buf.clone(),
                )
                .unwrap();
                let mut want = original[..keep as usize].to_vec();
                want.resize(zero_to as usize, 0);
                let got = vfs.contents(&path).unwrap();
                assert!(got == want, "keep {keep}, buffer of {}", buf.len());
            }
        }
    }
}
