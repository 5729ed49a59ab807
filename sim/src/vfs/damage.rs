//! Lying-disk damage: latent sector corruption of durable data, and the record of which
//! files a lying-disk fault (latent corruption here, a misdirected write in
//! `file_calls`) touched, which the checker reads through `SimVfs::was_damaged`.
//!
//! Guarantees:
//! - A latent corruption picks a named file with durable bytes, then one of its durable
//!   sectors, and flips 1 to [`LATENT_BURST_MAX`] consecutive bytes inside that sector
//!   (each of them really changes); the volatile image follows wherever no unsynced
//!   write covers them (nor a write a failed sync forgot, see `inode`). The draws come from the one RNG in exactly that order.
//! - Damage is remembered twice: as a flag on the inode, which follows the file through
//!   renames and into copies (`copy_file`), and as every path that named the file when
//!   the fault happened, which outlives the file. `was_damaged` is true if either says
//!   so, so it errs toward true; `forget_damage` clears the path and the flag of the
//!   file it names now.

use super::faults::FaultKind;
use super::inode::SECTOR;
use super::namespace::InodeId;
use super::state::State;
use super::trace::FaultEvent;
use rand::Rng;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Most consecutive bytes one latent corruption changes.
const LATENT_BURST_MAX: usize = 4;

impl State {
    /// Mark an inode as touched by a lying-disk fault, with every path naming it.
    pub(super) fn mark_damaged(&mut self, ino: InodeId) {
        if let Some(inode) = self.inodes.get_mut(&ino) {
            inode.damaged = true;
        }
        let paths = self.ns.paths_of(ino);
        self.damaged_paths.extend(paths.iter().cloned());
        self.damage_events.push(paths.into_iter().collect());
    }

    /// Change a few consecutive bytes of one durable sector of a random named file (and
    /// the volatile image wherever no unsynced write covers them). Returns the file and
    /// the sector's offset, or `None` if no file has durable bytes.
    pub fn corrupt_random_sector(&mut self) -> Option<(PathBuf, u64)> {
        let named: BTreeSet<InodeId> = self
            .ns
            .names()
            .chain(self.ns.durable_names())
            .map(|(_, i)| i)
            .collect();
        let under = self.config.lying_only_under.clone();
        let in_scope = |ino: InodeId| match &under {
            None => true,
            Some(dir) => self.ns.paths_of(ino).iter().any(|p| p.starts_with(dir)),
        };
        let candidates: Vec<InodeId> = self
            .inodes
            .iter()
            .filter(|(ino, inode)| {
                named.contains(ino) && !inode.durable().is_empty() && in_scope(**ino)
            })
            .map(|(ino, _)| *ino)
            .collect();
        if candidates.is_empty() {
            return None;
        }
        let ino = candidates[self.rng.random_range(0..candidates.len())];
        self.corrupt_sector_in(ino, false)
    }

    /// [`State::corrupt_random_sector`] aimed at the file `path` names now (durably or
    /// not) — with `written_only`, at one of its durable sectors holding a non-zero
    /// byte (data, not preallocated space); `None` if it names none, or it has no such
    /// sector.
    pub fn corrupt_sector_of(&mut self, path: &Path, written_only: bool) -> Option<(PathBuf, u64)> {
        let ino = self
            .ns
            .lookup(path)
            .or_else(|| self.ns.lookup_durable(path))?;
        if self.inodes.get(&ino)?.durable().is_empty() {
            return None;
        }
        self.corrupt_sector_in(ino, written_only)
    }

    /// Corrupt one durable sector of inode `ino`, which has durable bytes (with
    /// `written_only`, one holding a non-zero byte, if any does).
    fn corrupt_sector_in(&mut self, ino: InodeId, written_only: bool) -> Option<(PathBuf, u64)> {
        let durable = self.inodes.get(&ino)?.durable();
        let durable_len = durable.len();
        let sector = if written_only {
            let written: Vec<usize> = durable
                .pieces(SECTOR)
                .enumerate()
                .filter(|(_, s)| s.iter().any(|&b| b != 0))
                .map(|(i, _)| i)
                .collect();
            if written.is_empty() {
                return None;
            }
            written[self.rng.random_range(0..written.len())] * SECTOR
        } else {
            self.rng.random_range(0..durable_len.div_ceil(SECTOR)) * SECTOR
        };
        let sector_end = durable_len.min(sector + SECTOR);
        let first = self.rng.random_range(sector..sector_end);
        let burst = self
            .rng
            .random_range(1..=LATENT_BURST_MAX)
            .min(sector_end - first);
        let edits: Vec<(usize, u8)> = (first..first + burst)
            .map(|o| (o, self.rng.random_range(1..=u8::MAX)))
            .collect();
        self.inodes.get_mut(&ino)?.corrupt_durable(&edits);
        self.mark_damaged(ino);
        self.stats.latent_corruptions += 1;
        let label = self.label(ino);
        self.trace.fault(
            FaultEvent::Kind(FaultKind::LatentCorruption),
            &label,
            sector as u64,
            burst as u64,
        );
        Some((label, sector as u64))
    }

    pub fn forget_damage(&mut self, path: &Path) {
        self.damaged_paths.remove(path);
        for ino in [self.ns.lookup(path), self.ns.lookup_durable(path)]
            .into_iter()
            .flatten()
        {
            if let Some(inode) = self.inodes.get_mut(&ino) {
                inode.damaged = false;
            }
        }
    }

    pub fn was_damaged(&self, path: &Path) -> bool {
        let flagged = |ino: Option<InodeId>| {
            ino.and_then(|i| self.inodes.get(&i))
                .is_some_and(|inode| inode.damaged)
        };
        self.damaged_paths.contains(path)
            || flagged(self.ns.lookup(path))
            || flagged(self.ns.lookup_durable(path))
    }

    pub fn damaged_paths(&self) -> Vec<PathBuf> {
        let mut paths = self.damaged_paths.clone();
        for (path, ino) in self.ns.names().chain(self.ns.durable_names()) {
            if self.inodes.get(&ino).is_some_and(|i| i.damaged) {
                paths.insert(path.clone());
            }
        }
        paths.into_iter().collect()
    }
}
