//! An in-memory file system: names to files, files to bytes. The recorder replays
//! the trace on it to know what each call did; the checker builds every crash state
//! on it before writing the state out to a real directory.

use crate::trace::{Ino, Op, Snapshot};
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::io;
use std::path::Path;

/// The sector size writes may tear at.
pub const SECTOR: u64 = 512;

/// What a name refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    File(Ino),
    Dir,
}

/// What a reader of the directory sees at a path.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Visible {
    Dir,
    File(Vec<u8>),
}

/// Names and file contents.
#[derive(Clone, Debug, Default)]
pub struct FsState {
    pub entries: BTreeMap<String, Entry>,
    pub inodes: HashMap<Ino, Vec<u8>>,
}

/// How many sectors a write of `len` bytes at `offset` touches.
pub fn sectors(offset: u64, len: usize) -> usize {
    if len == 0 {
        return 0;
    }
    let end = offset + len as u64;
    ((end - 1) / SECTOR - offset / SECTOR + 1) as usize
}

impl FsState {
    /// The directory before the command ran.
    pub fn from_snapshot(s: &Snapshot) -> FsState {
        let mut st = FsState::default();
        for d in &s.dirs {
            st.entries.insert(d.clone(), Entry::Dir);
        }
        for f in &s.files {
            st.entries.insert(f.path.clone(), Entry::File(f.ino));
            st.inodes.insert(f.ino, f.data.clone());
        }
        st
    }

    /// The file a name refers to now.
    pub fn file(&self, path: &str) -> Option<Ino> {
        match self.entries.get(path) {
            Some(Entry::File(ino)) => Some(*ino),
            _ => None,
        }
    }

    pub fn is_dir(&self, path: &str) -> bool {
        path.is_empty() || matches!(self.entries.get(path), Some(Entry::Dir))
    }

    /// Length of file `ino` (0 for a file never written).
    pub fn len(&self, ino: Ino) -> u64 {
        self.inodes.get(&ino).map_or(0, |d| d.len() as u64)
    }

    /// Applies one op. For a write, `keep` selects which of its sectors reach the
    /// disk (a torn write); `None` is the whole write.
    ///
    /// Every op is defined whatever subset of earlier ops was applied: names point
    /// at inodes, so a rename whose source name never persisted still names the
    /// right file. That is what lets the conservative model drop any op on its own.
    pub fn apply(&mut self, op: &Op, keep: Option<&[bool]>) {
        match op {
            Op::Create { path, ino } => {
                self.entries.insert(path.clone(), Entry::File(*ino));
                self.inodes.entry(*ino).or_default();
            }
            Op::Mkdir { path } => {
                self.entries.insert(path.clone(), Entry::Dir);
            }
            Op::Rename { from, to, ino } => {
                if self.entries.get(from) == Some(&Entry::File(*ino)) {
                    self.entries.remove(from);
                }
                self.entries.insert(to.clone(), Entry::File(*ino));
                self.inodes.entry(*ino).or_default();
            }
            Op::Unlink { path, ino } => {
                if self.entries.get(path) == Some(&Entry::File(*ino)) {
                    self.entries.remove(path);
                }
            }
            Op::Rmdir { path } => {
                let prefix = format!("{path}/");
                let empty = !self.entries.keys().any(|k| k.starts_with(&prefix));
                if empty && self.entries.get(path) == Some(&Entry::Dir) {
                    self.entries.remove(path);
                }
            }
            Op::Write { ino, offset, data } => {
                let file = self.inodes.entry(*ino).or_default();
                match keep {
                    None => write_at(file, *offset, data),
                    Some(mask) => {
                        let first = offset / SECTOR;
                        for (i, kept) in mask.iter().enumerate() {
                            if !kept {
                                continue;
                            }
                            let start = ((first + i as u64) * SECTOR).max(*offset);
                            let end =
                                ((first + i as u64 + 1) * SECTOR).min(offset + data.len() as u64);
                            if start < end {
                                let a = (start - offset) as usize;
                                let b = (end - offset) as usize;
                                write_at(file, start, &data[a..b]);
                            }
                        }
                    }
                }
            }
            Op::SetLen { ino, len } => {
                self.inodes
                    .entry(*ino)
                    .or_default()
                    .resize(*len as usize, 0);
            }
            Op::FileSync { .. } | Op::DirSync { .. } | Op::SyncAll | Op::Print { .. } => {}
        }
    }

    /// What a reader sees: every name whose parent directories all exist. A file
    /// whose directory's creation was lost is unreachable, as on a real disk.
    pub fn visible(&self) -> BTreeMap<String, Visible> {
        let mut out = BTreeMap::new();
        for (path, entry) in &self.entries {
            if !self.reachable(path) {
                continue;
            }
            let v = match entry {
                Entry::Dir => Visible::Dir,
                Entry::File(ino) => {
                    Visible::File(self.inodes.get(ino).cloned().unwrap_or_default())
                }
            };
            out.insert(path.clone(), v);
        }
        out
    }

    fn reachable(&self, path: &str) -> bool {
        let mut p = crate::trace::parent(path);
        while !p.is_empty() {
            if self.entries.get(p) != Some(&Entry::Dir) {
                return false;
            }
            p = crate::trace::parent(p);
        }
        true
    }

    /// A hash of what a reader sees, to skip crash states identical to one already checked.
    pub fn digest(&self) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        for (path, entry) in &self.entries {
            if !self.reachable(path) {
                continue;
            }
            path.hash(&mut h);
            match entry {
                Entry::Dir => 0u8.hash(&mut h),
                Entry::File(ino) => self
                    .inodes
                    .get(ino)
                    .map_or(&[][..], Vec::as_slice)
                    .hash(&mut h),
            }
        }
        h.finish()
    }

    /// Writes the visible state into the empty directory `dir`.
    pub fn materialise(&self, dir: &Path) -> io::Result<()> {
        for (path, v) in self.visible() {
            let target = dir.join(&path);
            match v {
                Visible::Dir => std::fs::create_dir_all(&target)?,
                Visible::File(data) => {
                    if let Some(p) = target.parent() {
                        std::fs::create_dir_all(p)?;
                    }
                    std::fs::write(&target, data)?;
                }
            }
        }
        Ok(())
    }
}

fn write_at(file: &mut Vec<u8>, offset: u64, data: &[u8]) {
    let end = offset as usize + data.len();
    if file.len() < end {
        file.resize(end, 0);
    }
    file[offset as usize..end].copy_from_slice(data);
}

/// Reads a real directory the way [`FsState::visible`] presents one.
/// Symbolic links and other special files are refused: the model has none.
pub fn read_dir(dir: &Path) -> Result<BTreeMap<String, Visible>, String> {
    let mut out = BTreeMap::new();
    walk(dir, "", &mut out)?;
    Ok(out)
}

fn walk(base: &Path, rel: &str, out: &mut BTreeMap<String, Visible>) -> Result<(), String> {
    let here = if rel.is_empty() {
        base.to_path_buf()
    } else {
        base.join(rel)
    };
    let rd =
        std::fs::read_dir(&here).map_err(|e| format!("cannot list {}: {e}", here.display()))?;
    let mut names = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| format!("cannot list {}: {e}", here.display()))?;
        let name = entry
            .file_name()
            .into_string()
            .map_err(|n| format!("{} holds a name that is not UTF-8: {n:?}", here.display()))?;
        names.push((name, entry));
    }
    names.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, entry) in names {
        let path = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let ft = entry
            .file_type()
            .map_err(|e| format!("cannot stat {path}: {e}"))?;
        if ft.is_dir() {
            out.insert(path.clone(), Visible::Dir);
            walk(base, &path, out)?;
        } else if ft.is_file() {
            let data =
                std::fs::read(entry.path()).map_err(|e| format!("cannot read {path}: {e}"))?;
            out.insert(path, Visible::File(data));
        } else {
            return Err(format!(
                "{path} is neither a file nor a directory; crashfs models only those"
            ));
        }
    }
    Ok(())
}

/// Where two directory views differ, one line per difference (at most `limit`).
pub fn diff(
    expected: &BTreeMap<String, Visible>,
    actual: &BTreeMap<String, Visible>,
    limit: usize,
) -> Vec<String> {
    let mut out = Vec::new();
    for (path, e) in expected {
        match (e, actual.get(path)) {
            (_, None) => out.push(format!("{path}: in the replay, missing on disk")),
            (Visible::Dir, Some(Visible::Dir)) => {}
            (Visible::File(a), Some(Visible::File(b))) if a == b => {}
            (Visible::File(a), Some(Visible::File(b))) => {
                let at = a
                    .iter()
                    .zip(b.iter())
                    .position(|(x, y)| x != y)
                    .unwrap_or(a.len().min(b.len()));
                out.push(format!(
                    "{path}: replay has {} bytes, disk {} bytes, first difference at byte {at}",
                    a.len(),
                    b.len()
                ));
            }
            _ => out.push(format!("{path}: a file in one, a directory in the other")),
        }
    }
    for path in actual.keys() {
        if !expected.contains_key(path) {
            out.push(format!("{path}: on disk, missing in the replay"));
        }
    }
    out.truncate(limit);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torn_write_keeps_only_the_chosen_sectors() {
        let mut st = FsState::default();
        st.apply(
            &Op::Create {
                path: "f".into(),
                ino: 1,
            },
            None,
        );
        let data = vec![7u8; 1024];
        assert_eq!(sectors(256, 1024), 3);
        st.apply(
            &Op::Write {
                ino: 1,
                offset: 256,
                data,
            },
            Some(&[true, false, true]),
        );
        let f = &st.inodes[&1];
        assert_eq!(f.len(), 1280);
        assert!(f[256..512].iter().all(|&b| b == 7));
        assert!(f[512..1024].iter().all(|&b| b == 0));
        assert!(f[1024..1280].iter().all(|&b| b == 7));
    }

    #[test]
    fn a_rename_without_its_create_still_names_the_file() {
        let mut st = FsState::default();
        st.apply(
            &Op::Write {
                ino: 3,
                offset: 0,
                data: b"x".to_vec(),
            },
            None,
        );
        st.apply(
            &Op::Rename {
                from: "a.tmp".into(),
                to: "a".into(),
                ino: 3,
            },
            None,
        );
        assert_eq!(st.visible().get("a"), Some(&Visible::File(b"x".to_vec())));
        assert!(!st.visible().contains_key("a.tmp"));
    }

    #[test]
    fn a_file_in_a_lost_directory_is_unreachable() {
        let mut st = FsState::default();
        st.apply(
            &Op::Create {
                path: "d/f".into(),
                ino: 1,
            },
            None,
        );
        assert!(st.visible().is_empty());
        st.apply(&Op::Mkdir { path: "d".into() }, None);
        assert_eq!(st.visible().len(), 2);
    }
}
