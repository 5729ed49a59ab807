//! Directory state: which path names which inode, in two versions — *volatile* names
//! (what `open`, `exists` and `list_dir` see) and *durable* names (what survives a power
//! loss) — and the ordered list of pending creates, removes and renames between them.
//!
//! Directories are implicit: a path's directory is `engine::vfs::parent_dir(path)`, and
//! paths are compared as given (no normalisation, like `MemVfs`).
//!
//! Guarantees:
//! - Replaying the pending changes, in order, onto the durable names gives the volatile
//!   names ([`Namespace::is_consistent`]).
//! - Per directory, the durable names are always the result of a *prefix* of the changes
//!   made in that directory. A rename between two directories belongs to both and
//!   becomes durable only with everything before it in both. [`Namespace::sync_dir`] and
//!   [`Namespace::power_loss`] both keep this: a journaling filesystem commits directory
//!   changes in order, but separate directories need separate syncs.
//! - A rename is atomic: after any power loss the file is under the old name or the new
//!   one, never neither (provided its creation was durable) and never both.
//! - Bounded: past [`PENDING_DIR_OPS_LIMIT`] pending changes the oldest is made durable,
//!   as an OS's own journal commit would.

use engine::vfs::parent_dir;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io;
use std::path::{Path, PathBuf};

/// Identifies an inode for as long as anything refers to it; never reused.
pub(super) type InodeId = u64;

/// Most pending directory changes kept before the oldest is made durable.
pub const PENDING_DIR_OPS_LIMIT: usize = 4096;

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
}

impl DirOp {
    /// The directories the change belongs to (one, or two for a cross-directory rename).
    pub fn dirs(&self) -> Vec<PathBuf> {
        match self {
            DirOp::Create { path, .. } | DirOp::Remove { path, .. } => vec![parent_dir(path)],
            DirOp::Rename { from, to, .. } => {
                let (a, b) = (parent_dir(from), parent_dir(to));
                if a == b {
                    vec![a]
                } else {
                    vec![a, b]
                }
            }
        }
    }

    pub fn ino(&self) -> InodeId {
        match self {
            DirOp::Create { ino, .. } | DirOp::Remove { ino, .. } | DirOp::Rename { ino, .. } => {
                *ino
            }
        }
    }

    /// Apply to a set of names. Tolerant: a change whose source is missing does nothing
    /// (the prefix rule means that cannot happen, but this never panics).
    fn apply(&self, names: &mut BTreeMap<PathBuf, InodeId>) {
        match self {
            DirOp::Create { path, ino } => {
                names.insert(path.clone(), *ino);
            }
            DirOp::Remove { path, .. } => {
                names.remove(path);
            }
            DirOp::Rename { from, to, .. } => {
                if let Some(ino) = names.remove(from) {
                    names.insert(to.clone(), ino);
                }
            }
        }
    }
}

/// The durable and volatile names plus the pending changes between them.
#[derive(Debug, Default)]
pub(super) struct Namespace {
    durable: BTreeMap<PathBuf, InodeId>,
    volatile: BTreeMap<PathBuf, InodeId>,
    pending: VecDeque<DirOp>,
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("no such file: {}", path.display()),
    )
}

impl Namespace {
    /// The inode `path` names now.
    pub fn lookup(&self, path: &Path) -> Option<InodeId> {
        self.volatile.get(path).copied()
    }

    /// The inode `path` names durably.
    pub fn lookup_durable(&self, path: &Path) -> Option<InodeId> {
        self.durable.get(path).copied()
    }

    /// Every volatile name, sorted.
    pub fn names(&self) -> impl Iterator<Item = (&PathBuf, InodeId)> {
        self.volatile.iter().map(|(p, i)| (p, *i))
    }

    /// Every durable name, sorted.
    pub fn durable_names(&self) -> impl Iterator<Item = (&PathBuf, InodeId)> {
        self.durable.iter().map(|(p, i)| (p, *i))
    }

    /// Every path (volatile or durable) that names `ino`.
    pub fn paths_of(&self, ino: InodeId) -> BTreeSet<PathBuf> {
        self.volatile
            .iter()
            .chain(self.durable.iter())
            .filter(|(_, i)| **i == ino)
            .map(|(p, _)| p.clone())
            .collect()
    }

    /// Names (not paths) of the volatile entries of `dir`, sorted.
    pub fn list_dir(&self, dir: &Path) -> Vec<String> {
        // BTreeMap order over full paths is not name order for every dir layout; sort.
        let mut names: Vec<String> = self
            .volatile
            .keys()
            .filter(|p| parent_dir(p) == dir)
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        names.sort();
        names
    }

    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Every inode a name or a pending change refers to (a pending change may yet
    /// become durable, so its inode must live).
    pub fn referenced(&self) -> BTreeSet<InodeId> {
        self.volatile
            .values()
            .chain(self.durable.values())
            .copied()
            .chain(self.pending.iter().map(DirOp::ino))
            .collect()
    }

    /// Name a new inode at `path`. Returns how many old changes the bounded queue made
    /// durable.
    pub fn create(&mut self, path: &Path, ino: InodeId) -> io::Result<u64> {
        if self.volatile.contains_key(path) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("file exists: {}", path.display()),
            ));
        }
        Ok(self.push(DirOp::Create {
            path: path.to_path_buf(),
            ino,
        }))
    }

    /// Unname `path`; returns the inode it named and the writeback count.
    pub fn remove(&mut self, path: &Path) -> io::Result<(InodeId, u64)> {
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
        let ino = self.lookup(from).ok_or_else(|| not_found(from))?;
        if from == to {
            return Ok(0);
        }
        Ok(self.push(DirOp::Rename {
            from: from.to_path_buf(),
            to: to.to_path_buf(),
            ino,
        }))
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
    /// Returns how many changes became durable.
    pub fn sync_dir(&mut self, dir: &Path) -> usize {
        let mut needed: BTreeSet<PathBuf> = BTreeSet::from([dir.to_path_buf()]);
        let mut durable_now = vec![false; self.pending.len()];
        for (i, op) in self.pending.iter().enumerate().rev() {
            let dirs = op.dirs();
            if dirs.iter().any(|d| needed.contains(d)) {
                durable_now[i] = true;
                needed.extend(dirs);
            }
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
    /// earlier change in its directories did and `keep` says so (`keep` is asked only
    /// about changes that could still persist). Afterwards volatile = durable and nothing
    /// is pending. Returns how many changes were lost.
    pub fn power_loss(&mut self, mut keep: impl FnMut(&DirOp) -> bool) -> u64 {
        let mut broken: BTreeSet<PathBuf> = BTreeSet::new();
        let mut lost = 0;
        for op in self.pending.drain(..) {
            let dirs = op.dirs();
            if !dirs.iter().any(|d| broken.contains(d)) && keep(&op) {
                op.apply(&mut self.durable);
            } else {
                lost += 1;
                broken.extend(dirs);
            }
        }
        self.volatile.clone_from(&self.durable);
        lost
    }

    /// Name `ino` at `path` durably at once, as a backup program does with write, fsync,
    /// rename and fsync of the directory: first every pending change of the directory
    /// becomes durable, then `path` names `ino` in both versions. Returns the inode
    /// `path` named before, if any.
    pub fn install_durable(&mut self, path: &Path, ino: InodeId) -> Option<InodeId> {
        self.sync_dir(&parent_dir(path));
        self.durable.insert(path.to_path_buf(), ino);
        self.volatile.insert(path.to_path_buf(), ino)
    }

    /// The module invariant: durable + pending = volatile.
    pub fn is_consistent(&self) -> bool {
        let mut names = self.durable.clone();
        for op in &self.pending {
            op.apply(&mut names);
        }
        names == self.volatile
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PathBuf {
        PathBuf::from(s)
    }

    #[test]
    fn changes_are_volatile_until_sync_dir() {
        let mut ns = Namespace::default();
        ns.create(&p("d/a"), 1).unwrap();
        assert_eq!(ns.lookup(&p("d/a")), Some(1));
        assert_eq!(ns.lookup_durable(&p("d/a")), None);
        assert_eq!(ns.sync_dir(&p("other")), 0);
        assert_eq!(ns.sync_dir(&p("d")), 1);
        assert_eq!(ns.lookup_durable(&p("d/a")), Some(1));
        assert!(ns.is_consistent());
    }

    #[test]
    fn errors_match_posix() {
        let mut ns = Namespace::default();
        ns.create(&p("a"), 1).unwrap();
        assert_eq!(
            ns.create(&p("a"), 2).unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
        assert_eq!(
            ns.remove(&p("b")).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        assert_eq!(
            ns.rename(&p("b"), &p("c")).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        assert_eq!(ns.rename(&p("a"), &p("a")).unwrap(), 0);
        assert_eq!(ns.pending_len(), 1);
    }

    #[test]
    fn list_dir_is_sorted_names_of_one_dir() {
        let mut ns = Namespace::default();
        for (i, path) in ["d/b", "d/a", "d/sub/x", "e/c", "top"]
            .into_iter()
            .enumerate()
        {
            ns.create(&p(path), i as u64).unwrap();
        }
        assert_eq!(ns.list_dir(&p("d")), vec!["a", "b"]);
        assert_eq!(ns.list_dir(&p("d/sub")), vec!["x"]);
        assert_eq!(ns.list_dir(&p(".")), vec!["top"]);
        assert!(ns.list_dir(&p("nowhere")).is_empty());
    }

    #[test]
    fn cross_directory_rename_pulls_in_earlier_changes_of_both_dirs() {
        let mut ns = Namespace::default();
        ns.create(&p("a/x"), 1).unwrap(); // 0: a
        ns.create(&p("b/early"), 2).unwrap(); // 1: b
        ns.rename(&p("a/x"), &p("b/x")).unwrap(); // 2: a, b
        ns.create(&p("b/late"), 3).unwrap(); // 3: b
        ns.create(&p("c/other"), 4).unwrap(); // 4: c
        assert_eq!(ns.sync_dir(&p("a")), 3);
        assert_eq!(ns.lookup_durable(&p("b/x")), Some(1));
        assert_eq!(ns.lookup_durable(&p("b/early")), Some(2));
        assert_eq!(ns.lookup_durable(&p("b/late")), None);
        assert_eq!(ns.pending_len(), 2);
        assert!(ns.is_consistent());
    }

    #[test]
    fn power_loss_keeps_a_prefix_per_directory() {
        let mut ns = Namespace::default();
        ns.create(&p("a/1"), 1).unwrap();
        ns.create(&p("b/1"), 2).unwrap();
        ns.create(&p("a/2"), 3).unwrap();
        ns.create(&p("b/2"), 4).unwrap();
        // Lose only the first change of `a`: the rest of `a` goes with it, `b` survives.
        let mut asked = 0;
        let lost = ns.power_loss(|op| {
            asked += 1;
            op.ino() != 1
        });
        assert_eq!(lost, 2);
        assert_eq!(asked, 3, "a/2 is lost without asking");
        let names: Vec<_> = ns.names().map(|(p, _)| p.clone()).collect();
        assert_eq!(names, vec![p("b/1"), p("b/2")]);
        assert_eq!(ns.pending_len(), 0);
        assert!(ns.is_consistent());
    }

    #[test]
    fn rename_is_atomic_across_power_loss() {
        for keep_rename in [false, true] {
            let mut ns = Namespace::default();
            ns.create(&p("d/tmp"), 1).unwrap();
            ns.create(&p("d/final"), 2).unwrap();
            ns.sync_dir(&p("d"));
            ns.rename(&p("d/tmp"), &p("d/final")).unwrap();
            ns.power_loss(|_| keep_rename);
            let expect = if keep_rename {
                vec![(p("d/final"), 1)]
            } else {
                vec![(p("d/final"), 2), (p("d/tmp"), 1)]
            };
            let names: Vec<_> = ns.names().map(|(p, i)| (p.clone(), i)).collect();
            assert_eq!(names, expect);
        }
    }

    #[test]
    fn install_durable_syncs_the_directory_first() {
        let mut ns = Namespace::default();
        ns.create(&p("d/f"), 1).unwrap();
        ns.remove(&p("d/f")).unwrap();
        assert_eq!(ns.install_durable(&p("d/f"), 2), None);
        ns.power_loss(|_| false);
        assert_eq!(ns.lookup(&p("d/f")), Some(2));
        assert!(ns.referenced().contains(&2));
    }

    #[test]
    fn pending_changes_are_bounded() {
        let mut ns = Namespace::default();
        let mut written_back = 0;
        for i in 0..PENDING_DIR_OPS_LIMIT as u64 + 5 {
            written_back += ns.create(&p(&format!("d/{i}")), i).unwrap();
        }
        assert_eq!(written_back, 5);
        assert_eq!(ns.pending_len(), PENDING_DIR_OPS_LIMIT);
        assert!(ns.is_consistent());
    }
}
