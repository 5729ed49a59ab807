//! The `Vfs` calls on the simulated machine — `open`, `remove`, `rename`, `exists`,
//! `list_dir`, `sync_dir`, `create_dir_all` — each one I/O step through [`State::io`]
//! (`create_dir_all` only with directories as objects: with implicit directories it
//! does nothing and is no step, as before generation 9).
//!
//! Guarantees:
//! - Name changes (a creating `open`, `remove`, `rename`, each directory
//!   `create_dir_all` creates) change the volatile names at once and queue a pending
//!   change in `namespace`, which says how they become durable (`sync_dir` of the
//!   parent, write-back past its bound, or surviving a power loss).
//! - With directories as objects, `open` of a directory is `IsADirectory` (a creating
//!   one: `AlreadyExists`), creating a file or renaming one into a missing directory is
//!   `NotFound`, and so are `list_dir` and `sync_dir` of a missing directory; `exists`
//!   sees directories. The namespace module has the rest.
//! - `open` and the target of `rename` check the path (non-empty, at most
//!   `MAX_PATH_BYTES`); a creating `open` allocates a new inode, at most `MAX_INODES`
//!   alive. `Truncate` of a non-empty file is a pending length change, like `set_len(0)`.
//! - A handle refers to the inode, not the path, and is numbered in the current epoch.
//! - Besides the latent-corruption draw of every step (in [`State::io`]), `sync_dir`
//!   draws a fault (EIO), and with `namespace_enospc` (generation 10) a creating `open`
//!   (after its path and parent checks) and a `rename` (after its target's path check)
//!   draw disk full; failing, none of them changes anything.
//! - After a `remove`, `rename` or `sync_dir`, inodes nothing refers to are dropped.

use super::faults::FaultKind;
use super::inode::Inode;
use super::state::{check_path, eio, Call, HandleInfo, State};
use super::trace::{FaultEvent, Op};
use engine::vfs::OpenMode;
use std::io;
use std::path::Path;

impl State {
    pub fn open(&mut self, path: &Path, mode: OpenMode) -> io::Result<HandleInfo> {
        let call = Call {
            op: Op::Open,
            path,
            offset: mode as u64,
            len: 0,
            epoch: None,
        };
        self.io(call, |st| {
            check_path(path)?;
            if mode != OpenMode::CreateNew && st.ns.is_dir(path) {
                return Err(io::Error::new(
                    io::ErrorKind::IsADirectory,
                    format!("is a directory: {}", path.display()),
                ));
            }
            let ino = match (mode, st.ns.lookup(path)) {
                (OpenMode::Existing | OpenMode::ReadOnly | OpenMode::Truncate, Some(ino)) => ino,
                (OpenMode::Existing | OpenMode::ReadOnly, None) => {
                    return Err(io::Error::new(
                        io::ErrorKind::NotFound,
                        format!("no such file: {}", path.display()),
                    ))
                }
                (OpenMode::CreateNew, Some(_)) => {
                    return Err(io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        format!("file exists: {}", path.display()),
                    ))
                }
                (OpenMode::CreateNew | OpenMode::Truncate, None) => {
                    // Before allocating: a refused create must not leak an inode.
                    st.ns.check_parent(path)?;
                    if let Some(e) = st.namespace_full("create", path) {
                        return Err(e);
                    }
                    let ino = st.new_inode(Inode::default())?;
                    st.stats.writebacks += st.ns.create(path, ino)?;
                    ino
                }
            };
            if mode == OpenMode::Truncate {
                let inode = st.inode_mut(ino)?;
                if inode.len() > 0 {
                    let n = inode.set_len(0);
                    st.stats.writebacks += n;
                }
            }
            let id = st.next_handle;
            st.next_handle += 1;
            st.handles.insert(id, ino);
            Ok(HandleInfo {
                id,
                epoch: st.epoch,
                ino,
                path: path.to_path_buf(),
                writable: mode != OpenMode::ReadOnly,
            })
        })
    }

    pub fn remove(&mut self, path: &Path) -> io::Result<()> {
        self.io(
            Call {
                op: Op::Remove,
                path,
                offset: 0,
                len: 0,
                epoch: None,
            },
            |st| {
                let (_, n) = st.ns.remove(path)?;
                st.stats.writebacks += n;
                st.collect_garbage();
                Ok(())
            },
        )
    }

    pub fn rename(&mut self, from: &Path, to: &Path) -> io::Result<()> {
        self.io(
            Call {
                op: Op::Rename,
                path: from,
                offset: 0,
                len: 0,
                epoch: None,
            },
            |st| {
                st.trace.path2(to);
                check_path(to)?;
                if let Some(e) = st.namespace_full("rename", from) {
                    return Err(e);
                }
                st.stats.writebacks += st.ns.rename(from, to)?;
                st.collect_garbage();
                Ok(())
            },
        )
    }

    pub fn exists(&mut self, path: &Path) -> io::Result<bool> {
        self.io(
            Call {
                op: Op::Exists,
                path,
                offset: 0,
                len: 0,
                epoch: None,
            },
            |st| Ok(st.ns.exists(path)),
        )
    }

    pub fn list_dir(&mut self, dir: &Path) -> io::Result<Vec<String>> {
        self.io(
            Call {
                op: Op::ListDir,
                path: dir,
                offset: 0,
                len: 0,
                epoch: None,
            },
            |st| st.ns.list_dir(dir),
        )
    }

    pub fn sync_dir(&mut self, dir: &Path) -> io::Result<()> {
        self.io(
            Call {
                op: Op::SyncDir,
                path: dir,
                offset: 0,
                len: 0,
                epoch: None,
            },
            |st| {
                st.ns.check_dir(dir)?;
                if st.roll(FaultKind::SyncError) {
                    st.stats.sync_errors += 1;
                    st.trace
                        .fault(FaultEvent::Kind(FaultKind::SyncError), dir, 0, 0);
                    return Err(eio("sync_dir", dir));
                }
                st.ns.sync_dir(dir);
                st.collect_garbage();
                Ok(())
            },
        )
    }

    /// With directories as objects: create `dir` and every missing directory above it,
    /// each a pending change in its parent (see `namespace`). With implicit
    /// directories: nothing, and no I/O step.
    pub fn create_dir_all(&mut self, dir: &Path) -> io::Result<()> {
        if !self.ns.dirs_are_objects() {
            return Ok(());
        }
        self.io(
            Call {
                op: Op::CreateDirAll,
                path: dir,
                offset: 0,
                len: 0,
                epoch: None,
            },
            |st| {
                check_path(dir)?;
                let (_, written_back) = st.ns.create_dir_all(dir)?;
                st.stats.writebacks += written_back;
                Ok(())
            },
        )
    }
}
