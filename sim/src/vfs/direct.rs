//! The simulator's direct helpers on the machine: whole-file reads (volatile or
//! durable), durable whole-file writes and copies (restoring and taking backups), name
//! listings, the pending-operation count and the check of the model's own invariants.
//!
//! Guarantees:
//! - None is an I/O step: they count no step, fire no crash point, draw nothing from the
//!   RNG and inject no fault, and they work while the machine is down.
//! - The three that change the machine, `write_file_durable`, `copy_file` and
//!   `create_dir_durable`, are recorded in the trace; what they write is durable at
//!   once, data and name (with directories as objects, the directories above it too,
//!   created if missing), and they keep the path, file-size, total-size, inode and
//!   directory limits. A copy carries the source's damage mark.
//! - `check_invariants` describes the first violation of: clean + pending = volatile
//!   for every file (clean = durable unless a failed sync forgot writes, see `inode`) and for the names (with directories as objects: every name's
//!   directory exists), locks held only by handles open on the inode, and exactly the
//!   referenced inodes kept.

use super::inode::Inode;
use super::namespace::InodeId;
use super::state::{check_path, storage_full, too_large, State, MAX_FILE_LEN, MAX_TOTAL_BYTES};
use super::trace::Op;
use std::io;
use std::path::{Path, PathBuf};

impl State {
    pub fn read_file(&self, path: &Path) -> Option<Vec<u8>> {
        Some(self.inodes.get(&self.ns.lookup(path)?)?.volatile().to_vec())
    }

    pub fn durable_file(&self, path: &Path) -> Option<Vec<u8>> {
        Some(
            self.inodes
                .get(&self.ns.lookup_durable(path)?)?
                .durable()
                .to_vec(),
        )
    }

    /// Create or replace `path` with `bytes`, durable at once (data and name).
    pub fn write_file_durable(&mut self, path: &Path, bytes: &[u8]) -> io::Result<InodeId> {
        self.write_durable_owned(path, bytes.to_vec())
    }

    /// `write_file_durable` of bytes the caller already owns (a copy's snapshot of its
    /// source): the new inode keeps them rather than a third copy.
    fn write_durable_owned(&mut self, path: &Path, bytes: Vec<u8>) -> io::Result<InodeId> {
        self.trace
            .call(0, Op::WriteDurable, path, 0, bytes.len() as u64);
        self.trace.data(&bytes);
        check_path(path)?;
        if bytes.len() as u64 > MAX_FILE_LEN {
            return Err(too_large(path));
        }
        if self.total_bytes().saturating_add(bytes.len() as u64) > MAX_TOTAL_BYTES {
            return Err(storage_full(path));
        }
        let ino = self.new_inode(Inode::with_durable(bytes.into()))?;
        let installed = self.ns.install_durable(path, ino);
        self.collect_garbage();
        installed.map(|_| ino)
    }

    /// With directories as objects: make `dir` and every directory above it exist
    /// durably at once (an operator's `mkdir -p` and syncs). Nothing with implicit
    /// directories.
    pub fn create_dir_durable(&mut self, dir: &Path) -> io::Result<()> {
        if !self.ns.dirs_are_objects() {
            return Ok(());
        }
        self.trace.call(0, Op::DirDurable, dir, 0, 0);
        check_path(dir)?;
        self.ns.make_dir_durable(dir)
    }

    /// Copy `from`'s volatile contents to `to`, durably (a backup program's copy). The
    /// copy inherits `from`'s damage mark.
    pub fn copy_file(&mut self, from: &Path, to: &Path) -> io::Result<()> {
        self.trace.call(0, Op::Copy, from, 0, 0);
        self.trace.path2(to);
        let ino = self.ns.lookup(from).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("no such file: {}", from.display()),
            )
        })?;
        let (bytes, damaged) = {
            let inode = self.inode(ino)?;
            (inode.volatile().to_vec(), inode.damaged)
        };
        let new = self.write_durable_owned(to, bytes)?;
        if damaged {
            self.mark_damaged(new);
        }
        Ok(())
    }

    pub fn file_names(&self) -> Vec<PathBuf> {
        self.ns.names().map(|(p, _)| p.clone()).collect()
    }

    pub fn durable_file_names(&self) -> Vec<PathBuf> {
        self.ns.durable_names().map(|(p, _)| p.clone()).collect()
    }

    pub fn pending_ops_count(&self) -> usize {
        self.ns.pending_len()
            + self
                .inodes
                .values()
                .map(|i| i.pending().len())
                .sum::<usize>()
    }

    /// Check every structural invariant; the first violation, described.
    pub fn check_invariants(&self) -> Result<(), String> {
        if !self.ns.is_consistent() {
            return Err(
                "names: durable + pending != volatile, or a name without its directory".into(),
            );
        }
        for (ino, inode) in &self.inodes {
            if !inode.is_consistent() {
                return Err(format!("inode {ino}: clean + pending != volatile"));
            }
            if let Some(h) = inode.locked_by {
                if self.handles.get(&h) != Some(ino) {
                    return Err(format!(
                        "inode {ino}: locked by handle {h}, which is not open on it"
                    ));
                }
            }
        }
        let mut live = self.ns.referenced();
        live.extend(self.handles.values().copied());
        for ino in &live {
            if !self.inodes.contains_key(ino) {
                return Err(format!("inode {ino} is referenced but gone"));
            }
        }
        if live.len() != self.inodes.len() {
            return Err("unreferenced inodes kept".into());
        }
        Ok(())
    }
}
