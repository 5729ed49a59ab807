//! The names of one version of the namespace ([`Names`]) and the keys they are stored
//! under: a path's key sorts and compares exactly as `Path` does (component by
//! component, `a//b` equal to `a/b`), so every map iterates in the order a
//! `BTreeMap<PathBuf, _>` would — the trace and the RNG draws depend on that order —
//! while a lookup compares bytes instead of walking components.

use super::namespace::InodeId;
use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

/// Is `dir` a root, which always exists: `/`, `.`, `..` or the empty path (the parent
/// of a relative path's first component)?
///
/// Exactly the paths whose components are none, or one `RootDir`, `CurDir` or
/// `ParentDir` (what `parent()` being `None` or equality with `.` or `..` tests),
/// decided from at most two components: this runs for every name looked up.
pub(super) fn is_root(dir: &Path) -> bool {
    let mut c = dir.components();
    match c.next() {
        None => true,
        Some(Component::RootDir | Component::CurDir | Component::ParentDir) => c.next().is_none(),
        Some(_) => false,
    }
}

/// `engine::vfs::parent_dir(path)` borrowed rather than allocated: the parent, or `.`
/// for a path with none or an empty one.
pub(super) fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A path's key in the name maps (see [`encode_key`]).
pub(super) type Key = Vec<u8>;

#[cfg(not(unix))]
const TAG_PREFIX: u8 = 0;
const TAG_ROOT: u8 = 1;
const TAG_CUR: u8 = 2;
const TAG_PARENT: u8 = 3;
const TAG_NAME: u8 = 4;

/// Where a key is built: a `Vec`, or [`KeyBuf`] on the stack.
trait KeySink {
    fn put(&mut self, bytes: &[u8]);
}

impl KeySink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// Encode `path` as a key: per component a tag byte in `Component` order (prefix,
/// root, `.`, `..`, name), and for a name its bytes (a 0 byte escaped as `0, 0xFF`)
/// then a 0 terminator. Bytewise order of keys is exactly `Path`'s order (component by
/// component; a name that is a prefix of another sorts first, as its terminator is
/// below any byte and below the escape's `0xFF`), and keys are equal exactly when the
/// paths are (`a//b` and `a/b/` are `a/b`, as for `PathBuf` keys). So the maps iterate
/// in the order they did keyed by `PathBuf` — which the trace and the RNG draws depend
/// on — at a `memcmp` per comparison instead of a walk over components (which was 5%
/// of a campaign). (Prefixes exist only on Windows; the simulator runs on Unix.)
#[cfg(unix)]
fn encode_key(path: &Path, out: &mut impl KeySink) {
    // `Path::components` on Unix, spelled out over the bytes (the iterator's state
    // machine cost as much as the comparisons it replaced): a leading `/` is the root;
    // empty pieces (`//`, a trailing `/`) are skipped; `.` is a component only as the
    // first piece of a relative path, skipped anywhere else; `..` is the parent;
    // anything else is a name. The tests hold this to `Path`'s order and equality.
    let bytes = path.as_os_str().as_encoded_bytes();
    let rest = match bytes.split_first() {
        Some((b'/', rest)) => {
            out.put(&[TAG_ROOT]);
            rest
        }
        _ => {
            if bytes == b"." || bytes.starts_with(b"./") {
                out.put(&[TAG_CUR]);
            }
            bytes
        }
    };
    for piece in rest.split(|b| *b == b'/') {
        match piece {
            b"" | b"." => {}
            b".." => out.put(&[TAG_PARENT]),
            name => {
                out.put(&[TAG_NAME]);
                put_name(name, out);
            }
        }
    }
}

/// The portable spelling of [`encode_key`], over `Path::components`.
#[cfg(not(unix))]
fn encode_key(path: &Path, out: &mut impl KeySink) {
    for c in path.components() {
        match c {
            Component::Prefix(p) => {
                out.put(&[TAG_PREFIX]);
                put_name(p.as_os_str().as_encoded_bytes(), out);
            }
            Component::RootDir => out.put(&[TAG_ROOT]),
            Component::CurDir => out.put(&[TAG_CUR]),
            Component::ParentDir => out.put(&[TAG_PARENT]),
            Component::Normal(name) => {
                out.put(&[TAG_NAME]);
                put_name(name.as_encoded_bytes(), out);
            }
        }
    }
}

fn put_name(name: &[u8], out: &mut impl KeySink) {
    if !name.contains(&0) {
        out.put(name);
        out.put(&[0]);
        return;
    }
    for (i, piece) in name.split(|b| *b == 0).enumerate() {
        if i > 0 {
            out.put(&[0, 0xFF]);
        }
        out.put(piece);
    }
    out.put(&[0]);
}

/// `path`'s key, owned (for inserting).
pub(super) fn key_of(path: &Path) -> Key {
    let mut key = Vec::with_capacity(path.as_os_str().len() + 8);
    encode_key(path, &mut key);
    key
}

/// A key built on the stack while it fits (paths here are short), so a lookup
/// allocates nothing.
struct KeyBuf {
    stack: [u8; 256],
    len: usize,
    /// The whole key once it outgrew `stack`.
    heap: Option<Vec<u8>>,
}

impl KeySink for KeyBuf {
    fn put(&mut self, bytes: &[u8]) {
        if let Some(heap) = &mut self.heap {
            heap.extend_from_slice(bytes);
            return;
        }
        let end = self.len + bytes.len();
        if let Some(dst) = self.stack.get_mut(self.len..end) {
            dst.copy_from_slice(bytes);
            self.len = end;
        } else {
            let mut heap = self.stack[..self.len].to_vec();
            heap.extend_from_slice(bytes);
            self.heap = Some(heap);
        }
    }
}

/// The longest path [`plain_key`] encodes (its key then fits in 256 bytes).
pub(super) const PLAIN_MAX: usize = 120;

/// The key of a *plain* path — a non-empty relative or absolute path of names with
/// single separators, no trailing one, no `.` or `..` component and no NUL byte
/// (every path the engine uses) — written in one pass: each separator becomes a
/// name's terminator and the next name's tag. `None` for any other path, whose key
/// [`encode_key`] builds (the same bytes for a plain path).
pub(super) fn plain_key(bytes: &[u8], buf: &mut [u8; 256]) -> Option<usize> {
    if bytes.len() > PLAIN_MAX {
        return None;
    }
    let (mut n, rest) = match bytes.split_first() {
        Some((b'/', rest)) => {
            buf[0] = TAG_ROOT;
            (1, rest)
        }
        _ => (0, bytes),
    };
    buf[n] = TAG_NAME;
    n += 1;
    // Where the current name starts in `buf`.
    let mut start = n;
    let odd = |name: &[u8]| name.is_empty() || name == b"." || name == b"..";
    for &b in rest {
        match b {
            b'/' => {
                if odd(&buf[start..n]) {
                    return None;
                }
                buf[n] = 0;
                buf[n + 1] = TAG_NAME;
                n += 2;
                start = n;
            }
            0 => return None,
            _ => {
                buf[n] = b;
                n += 1;
            }
        }
    }
    if odd(&buf[start..n]) {
        return None;
    }
    buf[n] = 0;
    Some(n + 1)
}

/// Run `f` on `path`'s key without allocating (for short paths).
pub(super) fn with_key<R>(path: &Path, f: impl FnOnce(&[u8]) -> R) -> R {
    let mut plain = [0u8; 256];
    if let Some(n) = plain_key(path.as_os_str().as_encoded_bytes(), &mut plain) {
        return f(&plain[..n]);
    }
    let mut buf = KeyBuf {
        stack: [0; 256],
        len: 0,
        heap: None,
    };
    encode_key(path, &mut buf);
    match &buf.heap {
        Some(heap) => f(heap),
        None => f(&buf.stack[..buf.len]),
    }
}

/// One version of the names: the files, and the directories (empty with implicit
/// directories). Keyed by [`encode_key`]; each entry keeps the path as first named
/// (what a `PathBuf` key kept).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Names {
    pub(super) files: BTreeMap<Key, (PathBuf, InodeId)>,
    pub(super) dirs: BTreeMap<Key, PathBuf>,
}

impl Names {
    pub(super) fn file(&self, path: &Path) -> Option<InodeId> {
        with_key(path, |k| self.files.get(k).map(|(_, ino)| *ino))
    }

    pub(super) fn has_file(&self, path: &Path) -> bool {
        with_key(path, |k| self.files.contains_key(k))
    }

    /// Name `ino` at `path`; the inode it named before. An existing entry keeps its
    /// path (as `BTreeMap::insert` keeps its key).
    pub(super) fn insert_file(&mut self, path: &Path, ino: InodeId) -> Option<InodeId> {
        match self.files.entry(key_of(path)) {
            Entry::Occupied(mut e) => Some(std::mem::replace(&mut e.get_mut().1, ino)),
            Entry::Vacant(e) => {
                e.insert((path.to_path_buf(), ino));
                None
            }
        }
    }

    pub(super) fn remove_file(&mut self, path: &Path) -> Option<InodeId> {
        with_key(path, |k| self.files.remove(k)).map(|(_, ino)| ino)
    }

    pub(super) fn has_dir(&self, dir: &Path) -> bool {
        !self.dirs.is_empty() && with_key(dir, |k| self.dirs.contains_key(k))
    }

    /// Add a directory (an existing one stays as it was, as in a `BTreeSet`).
    pub(super) fn insert_dir(&mut self, dir: &Path) {
        self.dirs
            .entry(key_of(dir))
            .or_insert_with(|| dir.to_path_buf());
    }

    pub(super) fn is_dir(&self, dir: &Path) -> bool {
        is_root(dir) || self.has_dir(dir)
    }

    /// Does every directory above `path` exist here?
    pub(super) fn reachable(&self, path: &Path) -> bool {
        path.ancestors().skip(1).all(|a| self.is_dir(a))
    }

    /// Drop every directory and file some directory above it is missing for. Returns
    /// how many files were dropped.
    pub(super) fn prune(&mut self) -> u64 {
        // A directory sorts before everything under it, so its parent is decided first.
        let mut kept: BTreeMap<Key, PathBuf> = BTreeMap::new();
        for (k, d) in &self.dirs {
            let parent = parent_of(d);
            if is_root(parent) || with_key(parent, |pk| kept.contains_key(pk)) {
                kept.insert(k.clone(), d.clone());
            }
        }
        self.dirs = kept;
        let before = self.files.len();
        let dirs = &self.dirs;
        self.files.retain(|_, (p, _)| {
            let parent = parent_of(p);
            is_root(parent) || with_key(parent, |pk| dirs.contains_key(pk))
        });
        (before - self.files.len()) as u64
    }
}

#[cfg(test)]
#[path = "names_tests.rs"]
mod tests;
