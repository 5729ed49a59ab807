//! Directory state: which path names which inode, in two versions — *volatile* names
//! (what `open`, `exists` and `list_dir` see) and *durable* names (what survives a power
//! loss) — and the ordered list of pending creates, removes, renames and directory
//! creations between them.
//!
//! Directories come in two models, chosen once per namespace:
//! - *Implicit* (the default, workload generations before 9): a path's directory is
//!   `engine::vfs::parent_dir(path)` and exists whenever it is named; there is nothing
//!   to create and nothing to lose.
//! - *Objects* ([`Namespace::set_dirs_are_objects`], generation 9 on): a directory is a
//!   name of its own. [`Namespace::create_dir_all`] creates each missing one as a
//!   pending change in its parent (durable only once the parent is synced, lost at power
//!   loss like any other change); a file can be created (or renamed) only into a
//!   directory that exists now (`NotFound` otherwise, as on Linux); `list_dir` and
//!   `sync_dir` of a missing directory are `NotFound`; `exists` sees directories too.
//!   The roots (`/`, `.`, `..` and the empty path) always exist. Directories cannot be
//!   removed or renamed (the engine never does either).
//!
//! Paths are compared as given (no normalisation, like `MemVfs`).
//!
//! Guarantees:
//! - Replaying the pending changes, in order, onto the durable names gives the volatile
//!   names ([`Namespace::is_consistent`]).
//! - Per directory, the durable names are always the result of a *prefix* of the changes
//!   made in that directory. A rename between two directories belongs to both and
//!   becomes durable only with everything before it in both. [`Namespace::sync_dir`] and
//!   [`Namespace::power_loss`] both keep this: a journaling filesystem commits directory
//!   changes in order, but separate directories need separate syncs.
//! - With directories as objects, a power loss that loses a directory's creation loses
//!   everything under it: the changes made in it are lost with it, and names already
//!   durable in it vanish with it (their directory entry was never reachable). Until a
//!   power loss decides, [`Namespace::lookup_durable`] and
//!   [`Namespace::durable_names`] count a name durable only if every directory above it
//!   is durable too.
//! - A rename is atomic: after any power loss the file is under the old name or the new
//!   one, never neither (provided its creation was durable, and, with directories as
//!   objects, the target directory's creation too) and never both.
//! - Bounded: past [`PENDING_DIR_OPS_LIMIT`] pending changes the oldest is made durable,
//!   as an OS's own journal commit would; at most [`MAX_DIRS`] directories.

use super::names::{is_root, key_of, parent_of, with_key, Key, Names};
use std::collections::{BTreeSet, VecDeque};
use std::io;
use std::path::{Path, PathBuf};

/// Identifies an inode for as long as anything refers to it; never reused.
pub(super) type InodeId = u64;

/// Most pending directory changes kept before the oldest is made durable.
pub const PENDING_DIR_OPS_LIMIT: usize = 4096;

/// Most directories alive at once (directories as objects; creating more fails with
/// `StorageFull`).
pub const MAX_DIRS: usize = 65_536;

/// A pending change to the names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum DirOp {
    Create {
        path: PathBuf,
        ino: InodeId,
    },
    Remove {
        path: PathBuf,
        ino: InodeId,
    },
    Rename {
        from: PathBuf,
        to: PathBuf,
        ino: InodeId,
    },
    /// A new directory (directories as objects only): a change in its parent.
    MkDir {
        path: PathBuf,
    },
}

impl DirOp {
    /// The directories the change belongs to (one, or two for a cross-directory rename),
    /// borrowed: this runs for every pending change at every directory sync.
    pub fn dirs(&self) -> (&Path, Option<&Path>) {
        match self {
            DirOp::Create { path, .. } | DirOp::Remove { path, .. } | DirOp::MkDir { path } => {
                (parent_of(path), None)
            }
            DirOp::Rename { from, to, .. } => {
                let (a, b) = (parent_of(from), parent_of(to));
                if a == b {
                    (a, None)
                } else {
                    (a, Some(b))
                }
            }
        }
    }

    /// The inode the change names (none for a directory's creation).
    pub fn ino(&self) -> Option<InodeId> {
        match self {
            DirOp::Create { ino, .. } | DirOp::Remove { ino, .. } | DirOp::Rename { ino, .. } => {
                Some(*ino)
            }
            DirOp::MkDir { .. } => None,
        }
    }

    /// Apply to a set of names. Tolerant: a change whose source is missing does nothing
    /// (the prefix rule means that cannot happen, but this never panics).
    fn apply(&self, names: &mut Names) {
        match self {
            DirOp::Create { path, ino } => {
                names.insert_file(path, *ino);
            }
            DirOp::Remove { path, .. } => {
                names.remove_file(path);
            }
            DirOp::Rename { from, to, .. } => {
                if let Some(ino) = names.remove_file(from) {
                    names.insert_file(to, ino);
                }
            }
            DirOp::MkDir { path } => {
                names.insert_dir(path);
            }
        }
    }
}

/// What a power loss took from the names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct NamesLost {
    /// Pending changes that did not reach the disk.
    pub ops: u64,
    /// Directories that existed before and are gone (their creation, or one above
    /// them, was lost).
    pub dirs: u64,
    /// Names that were durable in their own directory but vanished with a lost
    /// directory above them.
    pub orphaned_files: u64,
}

/// The durable and volatile names plus the pending changes between them.
#[derive(Debug, Default)]
pub(super) struct Namespace {
    durable: Names,
    volatile: Names,
    pending: VecDeque<DirOp>,
    /// Directories are objects (see the module doc); otherwise implicit.
    dirs_are_objects: bool,
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("no such file: {}", path.display()),
    )
}

fn no_such_dir(dir: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("no such directory: {}", dir.display()),
    )
}

fn is_a_dir(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::IsADirectory,
        format!("is a directory: {}", path.display()),
    )
}

/// `path` (or, if `last` is false, a directory above the one being created) names a
/// file.
fn names_a_file(path: &Path, last: bool) -> io::Error {
    if last {
        io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("file exists: {}", path.display()),
        )
    } else {
        io::Error::new(
            io::ErrorKind::NotADirectory,
            format!("not a directory: {}", path.display()),
        )
    }
}

fn too_many_dirs() -> io::Error {
    io::Error::new(io::ErrorKind::StorageFull, "simulated directory table full")
}

impl Namespace {
    /// Make directories objects (see the module doc), or implicit again. Only while no
    /// name exists.
    pub fn set_dirs_are_objects(&mut self, on: bool) -> io::Result<()> {
        if on != self.dirs_are_objects
            && !(self.volatile == Names::default()
                && self.durable == Names::default()
                && self.pending.is_empty())
        {
            return Err(io::Error::other(
                "the directory model can only change while the filesystem is empty",
            ));
        }
        self.dirs_are_objects = on;
        Ok(())
    }

    pub fn dirs_are_objects(&self) -> bool {
        self.dirs_are_objects
    }

    /// The inode `path` names now.
    pub fn lookup(&self, path: &Path) -> Option<InodeId> {
        self.volatile.file(path)
    }

    /// The inode `path` names durably (with directories as objects: and every
    /// directory above it is durable).
    pub fn lookup_durable(&self, path: &Path) -> Option<InodeId> {
        let ino = self.durable.file(path)?;
        (!self.dirs_are_objects || self.durable.reachable(path)).then_some(ino)
    }

    /// Whether a power loss now could leave `path` naming a file: it does durably, or
    /// some prefix of the pending changes — what a power loss keeps, in order — names
    /// it (a creation kept, the removal after it lost).
    pub fn may_name_after_power_loss(&self, path: &Path) -> bool {
        if self.lookup_durable(path).is_some() {
            return true;
        }
        let mut names = self.durable.clone();
        self.pending.iter().any(|op| {
            op.apply(&mut names);
            names.file(path).is_some() && (!self.dirs_are_objects || names.reachable(path))
        })
    }

    /// Is `path` a directory now? (Never with implicit directories.)
    pub fn is_dir(&self, path: &Path) -> bool {
        self.dirs_are_objects && self.volatile.is_dir(path)
    }

    /// Does `path` name a file or (as objects) a directory now?
    pub fn exists(&self, path: &Path) -> bool {
        self.lookup(path).is_some() || self.is_dir(path)
    }

    /// Every volatile file name, sorted.
    pub fn names(&self) -> impl Iterator<Item = (&PathBuf, InodeId)> {
        self.volatile.files.values().map(|(p, i)| (p, *i))
    }

    /// Every durable file name, sorted (see [`Namespace::lookup_durable`]).
    pub fn durable_names(&self) -> impl Iterator<Item = (&PathBuf, InodeId)> {
        let (durable, objects) = (&self.durable, self.dirs_are_objects);
        durable
            .files
            .values()
            .filter(move |(p, _)| !objects || durable.reachable(p))
            .map(|(p, i)| (p, *i))
    }

    /// Every path (volatile or durable) that names `ino`.
    pub fn paths_of(&self, ino: InodeId) -> BTreeSet<PathBuf> {
        self.volatile
            .files
            .values()
            .chain(self.durable.files.values())
            .filter(|(_, i)| *i == ino)
            .map(|(p, _)| p.clone())
            .collect()
    }

    /// With directories as objects, `NotFound` unless `dir` is a directory now.
    pub fn check_dir(&self, dir: &Path) -> io::Result<()> {
        if self.dirs_are_objects && !self.volatile.is_dir(dir) {
            return Err(no_such_dir(dir));
        }
        Ok(())
    }

    /// Names (not paths) of the volatile entries of `dir` — files, and directories as
    /// objects — sorted. With directories as objects, a missing `dir` is `NotFound`.
    pub fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.check_dir(dir)?;
        // BTreeMap order over full paths is not name order for every dir layout; sort.
        let mut names: Vec<String> = self
            .volatile
            .files
            .values()
            .map(|(p, _)| p)
            .chain(self.volatile.dirs.values())
            .filter(|p| parent_of(p) == dir)
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        names.sort();
        Ok(names)
    }

    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Every inode a name or a pending change refers to (a pending change may yet
    /// become durable, so its inode must live).
    pub fn referenced(&self) -> BTreeSet<InodeId> {
        self.referenced_iter().collect()
    }

    /// What [`Namespace::referenced`] collects, unsorted and with repeats.
    pub fn referenced_iter(&self) -> impl Iterator<Item = InodeId> + '_ {
        self.volatile
            .files
            .values()
            .chain(self.durable.files.values())
            .map(|(_, ino)| *ino)
            .chain(self.pending.iter().filter_map(DirOp::ino))
    }

    /// With directories as objects, `NotFound` unless `path`'s directory exists now.
    pub fn check_parent(&self, path: &Path) -> io::Result<()> {
        self.check_dir(parent_of(path))
    }

    /// Name a new inode at `path`. Returns how many old changes the bounded queue made
    /// durable.
    pub fn create(&mut self, path: &Path, ino: InodeId) -> io::Result<u64> {
        if self.volatile.has_file(path) || self.is_dir(path) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("file exists: {}", path.display()),
            ));
        }
        self.check_parent(path)?;
        Ok(self.push(DirOp::Create {
            path: path.to_path_buf(),
            ino,
        }))
    }

    /// Unname `path`; returns the inode it named and the writeback count.
    pub fn remove(&mut self, path: &Path) -> io::Result<(InodeId, u64)> {
        if self.is_dir(path) {
            return Err(is_a_dir(path));
        }
        let ino = self.lookup(path).ok_or_else(|| not_found(path))?;
        Ok((
            ino,
            self.push(DirOp::Remove {
                path: path.to_path_buf(),
                ino,
            }),
        ))
    }

    /// Move `from` to `to`, replacing whatever `to` named. Renaming a name to itself does
    /// nothing (as POSIX). Returns the writeback count.
    pub fn rename(&mut self, from: &Path, to: &Path) -> io::Result<u64> {
        if self.is_dir(from) {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!(
                    "renaming directory {} is not simulated (the engine never does)",
                    from.display()
                ),
            ));
        }
        let ino = self.lookup(from).ok_or_else(|| not_found(from))?;
        if from == to {
            return Ok(0);
        }
        if self.is_dir(to) {
            return Err(is_a_dir(to));
        }
        self.check_parent(to)?;
        Ok(self.push(DirOp::Rename {
            from: from.to_path_buf(),
            to: to.to_path_buf(),
            ino,
        }))
    }

    /// With directories as objects: create `dir` and every missing directory above it,
    /// top down, each a pending change in its parent. Returns how many directories it
    /// created and how many old changes the bounded queue made durable. Nothing to do
    /// with implicit directories. Fails, creating nothing, if a file is in the way.
    pub fn create_dir_all(&mut self, dir: &Path) -> io::Result<(usize, u64)> {
        if !self.dirs_are_objects {
            return Ok((0, 0));
        }
        let mut missing = Vec::new();
        for a in dir.ancestors() {
            if self.volatile.is_dir(a) {
                // Everything above a directory exists.
                break;
            }
            if self.volatile.has_file(a) {
                return Err(names_a_file(a, a == dir));
            }
            missing.push(a.to_path_buf());
        }
        if self.volatile.dirs.len() + missing.len() > MAX_DIRS {
            return Err(too_many_dirs());
        }
        let created = missing.len();
        let mut written_back = 0;
        for path in missing.into_iter().rev() {
            written_back += self.push(DirOp::MkDir { path });
        }
        Ok((created, written_back))
    }

    fn push(&mut self, op: DirOp) -> u64 {
        op.apply(&mut self.volatile);
        self.pending.push_back(op);
        let mut written_back = 0;
        while self.pending.len() > PENDING_DIR_OPS_LIMIT {
            // The oldest change is first in all its directories: durable on its own.
            let Some(old) = self.pending.pop_front() else {
                break;
            };
            old.apply(&mut self.durable);
            written_back += 1;
        }
        written_back
    }

    /// Make every pending change in `dir` durable, with whatever earlier changes they
    /// depend on (earlier changes in any directory a made-durable rename touches).
    /// Returns how many changes became durable. (A directory's creation is a change in
    /// its parent: syncing the new directory itself does not make it durable.)
    pub fn sync_dir(&mut self, dir: &Path) -> usize {
        let mut needed: BTreeSet<Key> = BTreeSet::from([key_of(dir)]);
        let mut durable_now = vec![false; self.pending.len()];
        let mut any = false;
        for (i, op) in self.pending.iter().enumerate().rev() {
            let (a, b) = op.dirs();
            let hit = |d: &Path| with_key(d, |k| needed.contains(k));
            if hit(a) || b.is_some_and(hit) {
                durable_now[i] = true;
                any = true;
                needed.insert(key_of(a));
                if let Some(b) = b {
                    needed.insert(key_of(b));
                }
            }
        }
        if !any {
            return 0;
        }
        let mut kept = VecDeque::with_capacity(self.pending.len());
        let mut n = 0;
        for (op, now) in self.pending.drain(..).zip(durable_now) {
            if now {
                op.apply(&mut self.durable);
                n += 1;
            } else {
                kept.push_back(op);
            }
        }
        self.pending = kept;
        n
    }

    /// Power loss: walk the pending changes in order; each reaches the disk if every
    /// earlier change in its directories did, no directory above it lost its creation
    /// and `keep` says so (`keep` is asked only about changes that could still
    /// persist). Then, with directories as objects, whatever no longer hangs from a
    /// root is gone. Afterwards volatile = durable and nothing is pending.
    pub fn power_loss(&mut self, mut keep: impl FnMut(&DirOp) -> bool) -> NamesLost {
        let mut broken: BTreeSet<Key> = BTreeSet::new();
        let mut lost_dirs: BTreeSet<Key> = BTreeSet::new();
        let mut lost = NamesLost::default();
        for op in self.pending.drain(..) {
            let (a, b) = op.dirs();
            let dirs = [Some(a), b];
            let dirs = dirs.iter().flatten();
            let orphaned = !lost_dirs.is_empty()
                && dirs.clone().any(|d| {
                    d.ancestors()
                        .any(|x| with_key(x, |k| lost_dirs.contains(k)))
                });
            if !orphaned && !dirs.clone().any(|d| with_key(d, |k| broken.contains(k))) && keep(&op)
            {
                op.apply(&mut self.durable);
            } else {
                lost.ops += 1;
                if let DirOp::MkDir { path } = &op {
                    lost_dirs.insert(key_of(path));
                }
                broken.extend(dirs.map(|d| key_of(d)));
            }
        }
        if self.dirs_are_objects {
            lost.orphaned_files = self.durable.prune();
            let durable = &self.durable.dirs;
            lost.dirs = self
                .volatile
                .dirs
                .keys()
                .filter(|k| !durable.contains_key(*k))
                .count() as u64;
        }
        self.volatile.clone_from(&self.durable);
        lost
    }

    /// With directories as objects: make `dir` and every directory above it durable
    /// at once, as an operator's `mkdir -p` followed by syncing each parent would — a
    /// pending creation becomes durable with the earlier changes of its parent, a
    /// missing directory is created durable. Nothing to do with implicit directories.
    /// Fails, changing nothing, if a file is in the way.
    pub fn make_dir_durable(&mut self, dir: &Path) -> io::Result<()> {
        if !self.dirs_are_objects {
            return Ok(());
        }
        let chain: Vec<PathBuf> = dir
            .ancestors()
            .filter(|a| !is_root(a))
            .map(Path::to_path_buf)
            .collect();
        for a in &chain {
            if self.volatile.has_file(a) {
                return Err(names_a_file(a, a == dir));
            }
        }
        let missing = chain.iter().filter(|a| !self.volatile.has_dir(a)).count();
        if self.volatile.dirs.len() + missing > MAX_DIRS {
            return Err(too_many_dirs());
        }
        for a in chain.iter().rev() {
            if self.durable.has_dir(a) {
                continue;
            }
            // A pending creation of `a` is a change in its parent.
            self.sync_dir(parent_of(a));
            if !self.durable.has_dir(a) {
                // Not even volatile, so nothing pending refers to it or below it.
                self.durable.insert_dir(a);
                self.volatile.insert_dir(a);
            }
        }
        Ok(())
    }

    /// Name `ino` at `path` durably at once, as a backup program does with write, fsync,
    /// rename and fsync of the directory: first (directories as objects) the directory
    /// and those above it are made durable, created if missing, then every pending
    /// change of the directory becomes durable, then `path` names `ino` in both
    /// versions. Returns the inode `path` named before, if any.
    pub fn install_durable(&mut self, path: &Path, ino: InodeId) -> io::Result<Option<InodeId>> {
        if self.is_dir(path) {
            return Err(is_a_dir(path));
        }
        self.make_dir_durable(parent_of(path))?;
        self.sync_dir(parent_of(path));
        self.durable.insert_file(path, ino);
        Ok(self.volatile.insert_file(path, ino))
    }

    /// The module invariant: durable + pending = volatile; and, with directories as
    /// objects, everything volatile hangs from a root.
    pub fn is_consistent(&self) -> bool {
        let mut names = self.durable.clone();
        for op in &self.pending {
            op.apply(&mut names);
        }
        let tree = !self.dirs_are_objects || {
            let v = &self.volatile;
            v.dirs.values().all(|d| v.reachable(d)) && v.files.values().all(|(f, _)| v.reachable(f))
        };
        names == self.volatile && tree
    }
}

#[cfg(test)]
#[path = "namespace_tests.rs"]
mod tests;
