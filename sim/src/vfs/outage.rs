//! Crashes of the whole machine, driven by the simulator: power loss, which decides what
//! of each unsynced operation reached the disk (`crash` for file data, `namespace` for
//! names), and process crash, which loses nothing; both end in a reboot.
//!
//! Guarantees:
//! - Neither is an I/O step: both work while the machine is down and resolve a fired
//!   crash point; an armed crash point stays armed. Both are recorded in the trace.
//! - Power loss draws from the RNG in an order fixed by the state: the files with pending
//!   operations in inode order, then the pending directory changes in issue order. What
//!   it drops depends on the configured rates only; pausing random faults does not
//!   change it. With directories as objects, a directory whose creation is lost takes
//!   everything under it (counted in `dirs_lost`).
//! - After a power loss nothing is pending: every file's and every name's volatile
//!   state is its durable state — writes a failed sync forgot (Linux policy) are gone
//!   without a draw. A process crash leaves pending operations pending and forgotten
//!   writes readable.
//! - After either: every handle is dead (the epoch moves on), every lock is free, the
//!   machine is up, and inodes nothing refers to are gone.

use super::crash::resolve_data;
use super::faults::{chance, FaultKind};
use super::namespace::InodeId;
use super::state::State;
use super::trace::{FaultEvent, Op};
use std::path::Path;

impl State {
    /// After any crash: every handle dead, every lock released, the machine up again.
    fn reboot(&mut self) {
        self.handles.clear();
        for inode in self.inodes.values_mut() {
            inode.locked_by = None;
        }
        self.epoch += 1;
        self.crashed = false;
        self.collect_garbage();
    }

    /// Power loss: decide what of each unsynced operation reached the disk (see
    /// `crash` and `namespace`), then volatile := durable everywhere and reboot.
    pub fn power_loss(&mut self) {
        self.power_cut = false;
        self.trace
            .call(0, Op::PowerLoss, Path::new(""), self.stats.io_steps, 0);
        let inos: Vec<InodeId> = self.inodes.keys().copied().collect();
        for ino in inos {
            let Some(inode) = self.inodes.get(&ino) else {
                continue;
            };
            if inode.pending().is_empty() {
                if inode.has_forgotten() {
                    // Writes a failed sync forgot never reached the disk; nothing to
                    // draw.
                    if let Some(inode) = self.inodes.get_mut(&ino) {
                        inode.revert_to_durable();
                    }
                }
                continue;
            }
            let (image, loss, fates) = resolve_data(
                inode.durable(),
                inode.pending(),
                &mut self.rng,
                &self.config,
            );
            if let Some(inode) = self.inodes.get_mut(&ino) {
                inode.reset_to(image);
            }
            let s = &mut self.stats;
            s.writes_dropped_by_power_loss += loss.writes_dropped;
            s.len_changes_dropped += loss.len_changes_dropped;
            s.torn_writes += loss.torn;
            s.reordered += loss.reordered;
            s.garbage_sectors += loss.garbage;
            s.extended_without_data += loss.size_only;
            let label = self.label(ino);
            // Each unsynced write's fate, for `sim replay --trace`: which writes reached
            // the disk and which did not (e.g. an overwritten page kept, its pre-image
            // dropped). Not part of the trace hash.
            for (offset, len, fate) in fates {
                tracing::debug!(target: "sim::vfs", path = %label.display(), offset, len, fate, "power loss");
            }
            let lost = loss.writes_dropped + loss.len_changes_dropped;
            for (kind, n) in [
                (FaultKind::LostUnsyncedWrite, lost),
                (FaultKind::TornWrite, loss.torn),
                (FaultKind::ReorderedWrites, loss.reordered),
            ] {
                if n > 0 {
                    self.trace.fault(FaultEvent::Kind(kind), &label, n, 0);
                }
            }
        }
        let p = self.config.lost_dir_op.probability();
        let rng = &mut self.rng;
        let lost = self.ns.power_loss(|_| !chance(rng, p));
        if lost.ops > 0 {
            self.stats.dir_ops_lost += lost.ops;
            self.trace.fault(
                FaultEvent::Kind(FaultKind::LostDirOp),
                Path::new(""),
                lost.ops,
                0,
            );
        }
        if lost.dirs > 0 {
            self.stats.dirs_lost += lost.dirs;
            self.trace.fault(
                FaultEvent::LostDirs,
                Path::new(""),
                lost.dirs,
                lost.orphaned_files,
            );
        }
        self.stats.power_losses += 1;
        self.reboot();
    }

    /// Process crash: the OS keeps everything (pending stays pending); reboot.
    pub fn process_crash(&mut self) {
        // An aimed power cut's crash is a power loss (the runner resolves it so).
        debug_assert!(!self.power_cut, "a power cut resolved as a process crash");
        self.trace
            .call(0, Op::ProcessCrash, Path::new(""), self.stats.io_steps, 0);
        self.stats.process_crashes += 1;
        self.reboot();
    }
}
