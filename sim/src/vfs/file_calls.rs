//! The `VfsFile` calls on the simulated machine — `read_at`, `write_at`, `sync`,
//! `set_len`, `len`, `try_lock_exclusive` on an open handle — and forgetting a dropped
//! handle: the per-file I/O path and its fault injection.
//!
//! Guarantees:
//! - Each call is one I/O step through [`State::io`], so a handle from before the last
//!   crash is refused and an armed crash point fires before the call takes effect.
//! - Checks that need no randomness come first: a write or length change on a
//!   read-only handle fails with `PermissionDenied`, one past [`MAX_FILE_LEN`] with
//!   `FileTooLarge`, and neither draws a fault.
//! - Faults are drawn in a fixed order per call, each only while faults are enabled:
//!   `read_at`: a bad sector (below), then EIO. `sync` with writes pending first draws
//!   disk full when `namespace_enospc` is on (generation 10): `StorageFull`, the writes
//!   stay pending, or under the Linux policy are forgotten as by a failed sync. `write_at`: EIO; then, for a non-empty write, disk full if it grows
//!   the file, otherwise a misdirection. `sync`: dropped dirty data (only with something
//!   pending), then EIO. `set_len`: disk full if it grows the file. A failed call changes
//!   no data, except that a dropped sync reverts the file to its durable image, and
//!   that under [`SyncFailure::Linux`] a sync failing with EIO while writes are pending
//!   forgets them: reads still see them, nothing will write them, a power loss loses
//!   them (the policy draws nothing, so both policies meet the same faults).
//! - With `sticky_bad_sectors` (generation 10), a read error also leaves one sector of
//!   the failed read (inside the file) bad: every later read touching it fails with
//!   EIO, drawing nothing, until a write covering part of it or a truncation past it
//!   clears it (crashes keep it; while faults are paused it reads normally).
//! - A misdirected write lands sector-aligned, inside the file and clear of the range it
//!   was meant for, and marks the file damaged; a write it cannot place that way is
//!   written where it was meant to go.
//! - Dropping a live handle forgets it and releases its lock; dropping a dead one does
//!   nothing.

use super::faults::{FaultKind, SyncFailure};
use super::inode::{Inode, SECTOR};
use super::state::{eio, too_large, Call, HandleInfo, State, MAX_FILE_LEN, RECENT_WRITES};
use super::trace::{FaultEvent, Op};
use rand::Rng;
use std::io;

/// A sector-aligned offset for a misdirected write of `len` bytes meant for `offset`,
/// inside a file of `file_len` bytes and not overlapping the intended range; `None` if
/// the file has no such place. Requires `offset + len <= file_len`.
fn misdirect_target(
    rng: &mut impl Rng,
    offset: usize,
    len: usize,
    file_len: usize,
) -> Option<usize> {
    debug_assert!(offset + len <= file_len && len > 0);
    let max_k = (file_len - len) / SECTOR;
    // Slots k with k*SECTOR + len <= offset (left) or k*SECTOR >= offset + len (right).
    let left = if offset >= len {
        (offset - len) / SECTOR + 1
    } else {
        0
    };
    let right_start = (offset + len).div_ceil(SECTOR);
    let right = if right_start <= max_k {
        max_k - right_start + 1
    } else {
        0
    };
    if left + right == 0 {
        return None;
    }
    let r = rng.random_range(0..left + right);
    let k = if r < left {
        r
    } else {
        right_start + (r - left)
    };
    Some(k * SECTOR)
}

impl State {
    fn file_call<'a>(f: &'a HandleInfo, op: Op, offset: u64, len: u64) -> Call<'a> {
        Call {
            op,
            path: &f.path,
            offset,
            len,
            epoch: Some(f.epoch),
        }
    }

    pub fn read_at(&mut self, f: &HandleInfo, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let len = buf.len();
        self.read_with(f, len, offset, |inode, at| inode.read(at, buf))
    }

    /// The durable image's bytes at `offset` (what a power loss keeps): the direct
    /// read a writable open makes of its live control record, after a sync, to learn
    /// whether a failed sync left it in the cache only. Not an I/O step of the seed
    /// (no trace entry, no fault; it changes nothing), so the steps and faults of
    /// every seed stay where they were; a dead handle fails as every call does.
    pub fn read_durable_at(
        &self,
        f: &HandleInfo,
        buf: &mut [u8],
        offset: u64,
    ) -> io::Result<usize> {
        self.alive(Some(f.epoch), &f.path)?;
        let at = usize::try_from(offset).unwrap_or(usize::MAX);
        Ok(self.inode(f.ino)?.durable().read(at, buf))
    }

    /// `read_at` of `len` bytes appended to `out` (nothing appended on an error).
    pub fn read_append(
        &mut self,
        f: &HandleInfo,
        out: &mut Vec<u8>,
        len: usize,
        offset: u64,
    ) -> io::Result<usize> {
        self.read_with(f, len, offset, |inode, at| {
            inode.volatile().append_to(at, len, out)
        })
    }

    /// A read of `len` bytes at `offset`: the call, its faults, then `copy` of the
    /// inode's bytes from the offset (returning how many it copied).
    fn read_with(
        &mut self,
        f: &HandleInfo,
        len: usize,
        offset: u64,
        copy: impl FnOnce(&Inode, usize) -> usize,
    ) -> io::Result<usize> {
        self.io(State::file_call(f, Op::Read, offset, len as u64), |st| {
            let sticky = st.config.sticky_bad_sectors && st.faults_enabled;
            let at = usize::try_from(offset).unwrap_or(usize::MAX);
            if sticky {
                if let Some(s) = st.inode(f.ino)?.bad_sector_in(at, len) {
                    st.stats.sticky_read_errors += 1;
                    st.trace
                        .fault(FaultEvent::StickyRead, &f.path, offset, s as u64);
                    return Err(eio("read (bad sector)", &f.path));
                }
            }
            if st.roll(FaultKind::ReadError) {
                st.stats.read_errors += 1;
                st.trace
                    .fault(FaultEvent::Kind(FaultKind::ReadError), &f.path, offset, 0);
                // A sticky error: one sector of the read inside the file goes bad.
                let file_len = st.inode(f.ino)?.len();
                let end = at.saturating_add(len).min(file_len);
                if sticky && at < end {
                    let (first, last) = (at / SECTOR, (end - 1) / SECTOR);
                    let s = st.rng.random_range(first..=last);
                    st.inode_mut(f.ino)?.mark_bad(s);
                }
                return Err(eio("read", &f.path));
            }
            let Ok(offset) = usize::try_from(offset) else {
                return Ok(0);
            };
            Ok(copy(st.inode(f.ino)?, offset))
        })
    }

    pub fn write_at(&mut self, f: &HandleInfo, buf: &[u8], offset: u64) -> io::Result<()> {
        self.io(
            State::file_call(f, Op::Write, offset, buf.len() as u64),
            |st| {
                st.trace.data(buf);
                if !f.writable {
                    return Err(io::Error::new(
                        io::ErrorKind::PermissionDenied,
                        "opened read-only",
                    ));
                }
                let end = offset
                    .checked_add(buf.len() as u64)
                    .filter(|e| *e <= MAX_FILE_LEN);
                let Some(end) = end else {
                    return Err(too_large(&f.path));
                };
                if st.roll(FaultKind::WriteError) {
                    st.stats.write_errors += 1;
                    st.trace
                        .fault(FaultEvent::Kind(FaultKind::WriteError), &f.path, offset, 0);
                    return Err(eio("write", &f.path));
                }
                if buf.is_empty() {
                    return Ok(());
                }
                // Both fit in usize: they are at most MAX_FILE_LEN.
                let (offset, end) = (offset as usize, end as usize);
                let file_len = st.inode(f.ino)?.len();
                if end > file_len {
                    st.check_space((end - file_len) as u64, &f.path)?;
                }
                let mut target = offset;
                let in_scope = match &st.config.lying_only_under {
                    None => true,
                    Some(dir) => f.path.starts_with(dir),
                };
                let step = st.stats.io_steps;
                st.recent_writes.push_back((step, f.ino, offset as u64));
                if st.recent_writes.len() > RECENT_WRITES {
                    st.recent_writes.pop_front();
                }
                // Not while faults are paused: a fault-free recovery's model takes what
                // its read-only checks found as the files' floors before its writable
                // opens make them durable, so a crash between is not one it expects
                // (sim seed 939 of generation 20's first draft).
                if st.faults_enabled
                    && st
                        .cut_power_at_write
                        .is_some_and(|(ino, below)| ino == f.ino && (offset as u64) < below)
                {
                    // The power fails while this write's first sector is being
                    // written: on a disk whose torn sectors may hold garbage, that
                    // sector does (neither old nor new), and none of the rest lands;
                    // on a kinder disk, nothing of it lands. The file's other unsynced
                    // operations reach the disk (any subset may; this is one).
                    st.cut_power_at_write = None;
                    let first = super::crash::sector_pieces(offset, buf.len())
                        .first()
                        .map_or(0, |p| p.1);
                    let garbled = st.config.torn_garbage && first > 0;
                    let mut garbage = vec![0u8; first];
                    if garbled {
                        st.rng.fill(&mut garbage[..]);
                    }
                    let inode = st.inode_mut(f.ino)?;
                    if garbled {
                        inode.write(offset, &garbage);
                    }
                    inode.sync();
                    st.crashed = true;
                    st.power_cut = true;
                    st.stats.aimed_power_cuts += 1;
                    st.trace.fault(
                        FaultEvent::CrashPoint,
                        &f.path,
                        step,
                        u64::from(st.config.torn_garbage),
                    );
                    return Err(super::state::crashed_error());
                }
                // Not while faults are paused (a fault-free recovery, the backup
                // program's copy): the aim waits for the engine's own writes.
                let aimed = end <= file_len
                    && st.faults_enabled
                    && st
                        .misdirect_next
                        .as_ref()
                        .is_some_and(|(ino, at)| *ino == f.ino && at.contains(&(offset as u64)));
                if aimed {
                    st.misdirect_next = None;
                }
                if end <= file_len && (aimed || in_scope && st.roll(FaultKind::MisdirectedWrite)) {
                    if let Some(t) = misdirect_target(&mut st.rng, offset, buf.len(), file_len) {
                        target = t;
                        st.stats.misdirected_writes += 1;
                        st.trace.fault(
                            FaultEvent::Kind(FaultKind::MisdirectedWrite),
                            &f.path,
                            offset as u64,
                            t as u64,
                        );
                        st.mark_damaged(f.ino);
                    }
                }
                let n = st.inode_mut(f.ino)?.write(target, buf);
                st.stats.writebacks += n;
                Ok(())
            },
        )
    }

    pub fn sync(&mut self, f: &HandleInfo) -> io::Result<()> {
        self.io(State::file_call(f, Op::Sync, 0, 0), |st| {
            let pending = st.inode(f.ino)?.pending().len();
            if pending > 0 {
                if let Some(e) = st.namespace_full("sync", &f.path) {
                    if st.config.sync_failure == SyncFailure::Linux {
                        let forgotten = st.inode_mut(f.ino)?.forget_dirty();
                        st.stats.writes_forgotten_after_failed_sync += forgotten as u64;
                    }
                    return Err(e);
                }
            }
            if pending > 0 && st.roll(FaultKind::SyncDrop) {
                let dropped = st.inode_mut(f.ino)?.drop_dirty();
                st.stats.sync_drops += 1;
                st.trace.fault(
                    FaultEvent::Kind(FaultKind::SyncDrop),
                    &f.path,
                    dropped as u64,
                    0,
                );
                return Err(eio("sync (dirty data dropped)", &f.path));
            }
            if st.roll(FaultKind::SyncError) {
                if pending > 0 && st.config.sync_failure == SyncFailure::Linux {
                    let forgotten = st.inode_mut(f.ino)?.forget_dirty();
                    st.stats.syncs_failed_linux += 1;
                    st.stats.writes_forgotten_after_failed_sync += forgotten as u64;
                    st.trace
                        .fault(FaultEvent::SyncForgot, &f.path, forgotten as u64, 0);
                    return Err(eio("sync (dirty data marked clean, not written)", &f.path));
                }
                st.stats.sync_errors += 1;
                st.trace
                    .fault(FaultEvent::Kind(FaultKind::SyncError), &f.path, 0, 0);
                return Err(eio("sync", &f.path));
            }
            st.inode_mut(f.ino)?.sync();
            Ok(())
        })
    }

    pub fn set_len(&mut self, f: &HandleInfo, len: u64) -> io::Result<()> {
        self.io(State::file_call(f, Op::SetLen, len, 0), |st| {
            if !f.writable {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    "opened read-only",
                ));
            }
            if len > MAX_FILE_LEN {
                return Err(too_large(&f.path));
            }
            let len = len as usize;
            let file_len = st.inode(f.ino)?.len();
            if len > file_len {
                st.check_space((len - file_len) as u64, &f.path)?;
            }
            let n = st.inode_mut(f.ino)?.set_len(len);
            st.stats.writebacks += n;
            Ok(())
        })
    }

    pub fn len(&mut self, f: &HandleInfo) -> io::Result<u64> {
        self.io(State::file_call(f, Op::Len, 0, 0), |st| {
            Ok(st.inode(f.ino)?.len() as u64)
        })
    }

    pub fn try_lock(&mut self, f: &HandleInfo) -> io::Result<()> {
        self.io(State::file_call(f, Op::Lock, 0, 0), |st| {
            let inode = st.inode_mut(f.ino)?;
            match inode.locked_by {
                None => {
                    inode.locked_by = Some(f.id);
                    Ok(())
                }
                Some(holder) if holder == f.id => Ok(()),
                Some(_) => Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    format!("{} is locked by another open", f.path.display()),
                )),
            }
        })
    }

    /// A handle was dropped: forget it and its lock (nothing to do for a dead handle).
    pub fn close(&mut self, f: &HandleInfo) {
        if f.epoch != self.epoch {
            return;
        }
        self.handles.remove(&f.id);
        if let Some(inode) = self.inodes.get_mut(&f.ino) {
            if inode.locked_by == Some(f.id) {
                inode.locked_by = None;
            }
        }
        self.collect_garbage();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use std::collections::BTreeSet;

    #[test]
    fn misdirect_targets_are_aligned_inside_and_disjoint() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for (offset, len, file_len) in [
            (0, 512, 4096),
            (1024, 100, 4096),
            (4096 - 700, 700, 4096),
            (3, 1000, 8192),
        ] {
            for _ in 0..100 {
                let t = misdirect_target(&mut rng, offset, len, file_len).unwrap();
                assert_eq!(t % SECTOR, 0);
                assert!(t + len <= file_len);
                assert!(
                    t + len <= offset || t >= offset + len,
                    "{t} overlaps {offset}+{len}"
                );
            }
        }
        assert_eq!(misdirect_target(&mut rng, 0, 4096, 4096), None);
        assert_eq!(misdirect_target(&mut rng, 0, 600, 1000), None);
    }

    #[test]
    fn every_slot_is_reachable() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let seen: BTreeSet<usize> = (0..400)
            .filter_map(|_| misdirect_target(&mut rng, 1024, 512, 4096))
            .collect();
        assert_eq!(seen, BTreeSet::from([0, 512, 1536, 2048, 2560, 3072, 3584]));
    }
}
