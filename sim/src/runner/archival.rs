//! Generation 14: archival logging and invariant 7 (DESIGN.md "Archival logging").
//!
//! About 30% of the seeds name a random subset of their data files in
//! `/blog/blog.cfg` (root `/`), before the files are created, so every system
//! transaction of those files is appended to its archival log. During the run the
//! `CopyBackup` step takes an archival backup: a flush, then a plain copy of an
//! archived file no transaction holds, checked to hold the file's acknowledged
//! state. Continuous operations leave archived files alone (`startbu` refuses
//! them). At the end of the seed — after the final power loss's recovery has checked
//! every file — the disk "dies": each backup is restored over its data file and
//! rolled forward from the archival log (in some seeds first with a crash part-way, or
//! with the disk's faults on, then after a power loss again), and the result must equal the state recovery found for the live file
//! (invariant 7). In some seeds one file is archived only from the first crash on,
//! and a copy taken before that must be refused by roll-forward as older than its log
//! (status 41) — or, if no frame in the log could show the gap, come back as it was.

use super::recovery::diff_summary;
use super::schedule::stream_seed;
use super::setup::BACKUP_DIR;
use super::world::{fault_status, World};
use crate::check;
use crate::model::Records;
use engine::clock::ManualClock;
use engine::engine::RollOptions;
use engine::vfs::Vfs;
use engine::{Config, Engine, Status};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The archival-logging root (`blog.cfg` is `<root>/blog/blog.cfg`).
pub(super) const BLOG_ROOT: &str = "/";
const BLOG_CFG: &str = "/blog/blog.cfg";

/// A seed's archival logging (generation 14).
#[derive(Debug)]
pub(super) struct ArchivalModel {
    /// Files `blog.cfg` names now.
    listed: Vec<bool>,
    /// Files opened for writing since `blog.cfg` named them (archived in the engine).
    active: Vec<bool>,
    /// Entries in DOS style (`\data\f0.btr`)?
    backslash: bool,
    /// The file archived only from the first crash on, while not yet listed.
    late: Option<usize>,
    /// Its copy taken before it was archived, and the records the copy holds.
    gap_backup: Option<(usize, Records)>,
    /// `backups[f]`: the records `/backup/a{f}.btr` holds.
    backups: Vec<Option<Records>>,
    /// The stream the end-of-seed choices are drawn from.
    rng: ChaCha8Rng,
}

impl ArchivalModel {
    /// Generation 14: is archival logging on for this seed, and for which files
    /// (drawn from setup stream 7).
    pub(super) fn draw(seed: u64, workload: u32, nfiles: usize) -> Option<ArchivalModel> {
        if workload < 14 {
            return None;
        }
        let mut s = ChaCha8Rng::seed_from_u64(stream_seed(seed, u64::MAX, 7));
        if !s.random_bool(0.3) {
            return None;
        }
        let mut listed: Vec<bool> = (0..nfiles).map(|_| s.random_bool(0.6)).collect();
        if !listed.iter().any(|&x| x) {
            listed[s.random_range(0..nfiles)] = true;
        }
        let backslash = s.random_bool(0.5);
        let late = if s.random_bool(0.5) {
            let on: Vec<usize> = (0..nfiles).filter(|&f| listed[f]).collect();
            let f = on[s.random_range(0..on.len())];
            listed[f] = false;
            Some(f)
        } else {
            None
        };
        Some(ArchivalModel {
            active: vec![false; nfiles],
            listed,
            backslash,
            late,
            gap_backup: None,
            backups: vec![None; nfiles],
            rng: s,
        })
    }

    /// Whether `f` is archived (or will be): `startbu` must leave it alone.
    pub(super) fn excluded(&self, f: usize) -> bool {
        self.listed[f] || self.late == Some(f)
    }

    /// The files `blog.cfg` names now.
    pub(super) fn listed_files(&self) -> Vec<usize> {
        (0..self.listed.len()).filter(|&f| self.listed[f]).collect()
    }

    /// `blog.cfg`'s text for the files listed now.
    fn text(&self) -> String {
        let mut s = String::from("# archived data files (the simulator's)\n");
        for (f, _) in self.listed.iter().enumerate().filter(|(_, &on)| on) {
            if self.backslash {
                s.push_str(&format!("\\data\\f{f}.btr "));
            } else {
                s.push_str(&format!("/data/f{f}.btr "));
            }
        }
        s.push('\n');
        s
    }
}

impl World {
    /// Setup: the `blog` directory and `blog.cfg`, durably (the operator's).
    pub(super) fn write_blog_cfg(&self) {
        let Some(a) = &self.arch else {
            return;
        };
        let r = self.rig.vfs.create_dir_durable("/blog").and_then(|()| {
            self.rig
                .vfs
                .write_file_durable(BLOG_CFG, a.text().as_bytes())
        });
        if let Err(e) = r {
            panic!("writing {BLOG_CFG}: {e}");
        }
    }

    /// Setup, after the files are created: copy the late-archived file as it is now,
    /// before it is archived.
    pub(super) fn copy_before_archived(&mut self) {
        let Some(f) = self.arch.as_ref().and_then(|a| a.late) else {
            return;
        };
        let from = self.model.files[f].path.clone();
        let to = gap_backup_path(f);
        self.rig
            .vfs
            .with_faults_paused(|| self.rig.vfs.copy_file(&from, &to))
            .unwrap_or_else(|e| panic!("copying {}: {e}", from.display()));
        let state = Records::clone(&self.model.files[f].live);
        if let Some(a) = self.arch.as_mut() {
            a.gap_backup = Some((f, state));
        }
    }

    /// Before a recovery: the late file joins `blog.cfg` (its next writable open,
    /// recovery's, starts its log).
    pub(super) fn archive_late_file(&mut self) {
        let Some(a) = self.arch.as_mut() else {
            return;
        };
        let Some(f) = a.late.take() else {
            return;
        };
        a.listed[f] = true;
        let text = a.text();
        self.rig
            .vfs
            .with_faults_paused(|| self.rig.vfs.write_file_durable(BLOG_CFG, text.as_bytes()))
            .unwrap_or_else(|e| panic!("rewriting {BLOG_CFG}: {e}"));
        tracing::info!(target: "sim", file = f, "file added to blog.cfg");
    }

    /// After a recovery opened every file for writing: what `blog.cfg` lists is archived.
    pub(super) fn archival_opened(&mut self) {
        if let Some(a) = self.arch.as_mut() {
            a.active = a.listed.clone();
        }
    }

    /// Step `CopyBackup` in an archival seed: flush, then copy an archived file no
    /// transaction holds; the copy must hold the file's acknowledged state.
    pub(super) fn archival_backup(&mut self) -> Result<(), String> {
        let Some(a) = &self.arch else {
            return Ok(());
        };
        let free: Vec<usize> = (0..self.model.files.len())
            .filter(|&f| a.active[f] && self.model.clients.holder(f).is_none())
            .collect();
        if free.is_empty() {
            return Ok(());
        }
        let f = free[self.sched.rng.random_range(0..free.len())];
        // Now and then a crash a few I/O steps into the flush: between an archival
        // append and its FCR.
        if self.sched.rng.random_bool(0.25) {
            let n = self.sched.crash_point_in_commit();
            self.rig.vfs.set_crash_after(n);
        }
        let got = self.rig.engine_mut()?.flush();
        if !self.expect("flush (archival backup)", &got, Ok(()))? || self.rig.vfs.is_crashed() {
            return Ok(());
        }
        self.flushed();
        let vfs = self.rig.vfs.clone();
        let armed = vfs.crash_point();
        vfs.clear_crash_point();
        let from = self.model.files[f].path.clone();
        let to = backup_path(f);
        let want = Records::clone(&self.model.files[f].live);
        let r = vfs.with_faults_paused(|| -> Result<(), String> {
            let _ = vfs.remove(&to);
            vfs.copy_file(&from, &to)
                .map_err(|e| format!("copying {}: {e}", from.display()))?;
            let found = check::recovered_state(&mut scratch(&vfs), Arc::new(vfs.clone()), &to)
                .map_err(|m| format!("archival backup (a sound file): {m}"))?;
            if found != want {
                return Err(format!(
                    "archival backup: the copy of {} taken after a successful flush holds {} \
                     records, the acknowledged state {}",
                    from.display(),
                    found.len(),
                    want.len()
                ) + &diff_summary(&found, Some(&want)));
            }
            Ok(())
        });
        if let Some(step) = armed {
            vfs.set_crash_at(step.max(vfs.io_step() + 1));
        }
        r?;
        if let Some(a) = self.arch.as_mut() {
            a.backups[f] = Some(want);
        }
        self.tally.archival.0 += 1;
        Ok(())
    }

    /// The end of an archival seed, after the final recovery: the disk dies; every
    /// backup is restored and rolled forward, and must come back at the state the
    /// final recovery found (invariant 7).
    pub(super) fn check_roll_forward(&mut self) -> Result<(), String> {
        let Some(mut a) = self.arch.take() else {
            return Ok(());
        };
        self.retire_engine();
        self.rig.handles.clear();
        let vfs = self.rig.vfs.clone();
        vfs.clear_crash_point();
        let mut jobs: Vec<(usize, PathBuf, Records, bool)> = a
            .backups
            .iter()
            .enumerate()
            .filter_map(|(f, b)| b.clone().map(|b| (f, backup_path(f), b, false)))
            .collect();
        if let Some((f, b)) = a.gap_backup.take() {
            jobs.push((f, gap_backup_path(f), b, true));
        }
        for (f, backup, held, gap) in jobs {
            let path = self.model.files[f].path.clone();
            let log = path.with_extension("log");
            if vfs.was_damaged(&path) || vfs.was_damaged(&log) || vfs.was_damaged(&backup) {
                self.tally.archival.3 += 1;
                continue;
            }
            let want = Records::clone(&self.model.files[f].live);
            restore(&vfs, &backup, &path)?;
            if a.rng.random_bool(0.3) {
                // A crash part-way through roll-forward; running it again finishes.
                let n = a.rng.random_range(1..80);
                vfs.set_crash_after(n);
                let mut e = self.rig.new_engine();
                let r = vfs
                    .with_faults_paused(|| e.roll_forward_archive(&path, RollOptions::default()));
                drop(e);
                if vfs.is_crashed() {
                    self.tally.archival.2 += 1;
                    vfs.clear_crash_point();
                    vfs.power_loss();
                } else {
                    vfs.clear_crash_point();
                    if let Err(x) = &r {
                        if !(gap && x.status == Status::OperationNotAllowed) {
                            return Err(format!(
                                "invariant 7 (roll-forward): rolling {} (restored from {}) \
                                 forward failed: {x}",
                                path.display(),
                                backup.display()
                            ));
                        }
                    }
                }
            } else if a.rng.random_bool(0.3) {
                // Roll-forward with the disk's faults on (now and then an aimed I/O
                // error): it succeeds, or fails with a status an injected fault explains
                // (the file left at the last frame applied); the machine then loses
                // power, and roll-forward runs again.
                if a.rng.random_bool(0.5) {
                    vfs.set_error_after(a.rng.random_range(1..60));
                }
                let before = vfs.observable_fault_count();
                let mut e = self.rig.new_engine();
                let r = e.roll_forward_archive(&path, RollOptions::default());
                drop(e);
                vfs.clear_aimed_error();
                self.tally.archival.6 += 1;
                if let Err(x) = &r {
                    // A legacy file's writable open may have to create its NAME.PRE:
                    // status 14 is explained only by a fault on that file's pre-image
                    // file (or the name it is made under).
                    let pre = (
                        engine::preimage::path_for(&path),
                        engine::preimage::temp_path_for(&path),
                    );
                    let explained = (fault_status(x.status)
                        && vfs.observable_fault_count() > before)
                        || (x.status == Status::PreImageOpenError
                            && vfs.observable_fault_since(before, |p| p == pre.0 || p == pre.1));
                    let refused_gap = gap && x.status == Status::OperationNotAllowed;
                    if !explained && !refused_gap {
                        return Err(format!(
                            "invariant 7 (roll-forward under faults): rolling {} (restored \
                             from {}) forward failed{}: {x}",
                            path.display(),
                            backup.display(),
                            if fault_status(x.status) {
                                " with no injected fault to explain it"
                            } else {
                                ""
                            }
                        ));
                    }
                }
                vfs.power_loss();
            }
            let mut e = self.rig.new_engine();
            let r =
                vfs.with_faults_paused(|| e.roll_forward_archive(&path, RollOptions::default()));
            drop(e);
            let found = vfs
                .with_faults_paused(|| {
                    check::recovered_state(&mut scratch(&vfs), Arc::new(vfs.clone()), &path)
                })
                .map_err(|m| format!("invariant 7 (roll-forward): after rolling forward: {m}"));
            match (&r, gap) {
                (Err(x), true) if x.status == Status::OperationNotAllowed => {
                    self.tally.archival.4 += 1;
                    continue;
                }
                (Err(x), _) => {
                    return Err(format!(
                        "invariant 7 (roll-forward): rolling {} (restored from {}) forward \
                         failed: {x}{}",
                        path.display(),
                        backup.display(),
                        if gap {
                            " (the backup was taken before the file was archived: status 41 \
                             expected)"
                        } else {
                            ""
                        }
                    ))
                }
                (Ok(rf), true) if rf.applied == 0 && rf.skipped == 0 => {
                    // No frame in the log: nothing could show the gap. The file is the
                    // copy as it was.
                    let found = found?;
                    if found != held {
                        return Err(format!(
                            "invariant 7 (roll-forward): {} restored from {} holds {} records \
                             after a roll-forward that applied no frame, the copy {}",
                            path.display(),
                            backup.display(),
                            found.len(),
                            held.len()
                        ) + &diff_summary(&found, Some(&held)));
                    }
                    self.tally.archival.5 += 1;
                    continue;
                }
                _ => {}
            }
            let found = found?;
            if found != want {
                return Err(format!(
                    "invariant 7 (roll-forward): {} restored from {} and rolled forward holds \
                     {} records, the live file at the end {}{}",
                    path.display(),
                    backup.display(),
                    found.len(),
                    want.len(),
                    if gap {
                        " (the backup was taken before the file was archived: roll-forward \
                         must refuse it with status 41)"
                    } else {
                        ""
                    }
                ) + &diff_summary(&found, Some(&want)));
            }
            self.tally.archival.1 += 1;
        }
        Ok(())
    }
}

/// Where the archival backup of file `f` goes.
fn backup_path(f: usize) -> PathBuf {
    PathBuf::from(format!("{BACKUP_DIR}/a{f}.btr"))
}

/// Where the copy of the late-archived file `f` taken before it was archived goes.
fn gap_backup_path(f: usize) -> PathBuf {
    PathBuf::from(format!("{BACKUP_DIR}/g{f}.btr"))
}

/// A read-only engine for checking copies.
fn scratch(vfs: &crate::vfs::SimVfs) -> Engine {
    Engine::new(
        Arc::new(vfs.clone()) as Arc<dyn Vfs>,
        Arc::new(ManualClock::new()),
        Config::default(),
    )
}

/// The disk died: the data file is replaced by the backup copy (the operator's, no
/// faults).
fn restore(vfs: &crate::vfs::SimVfs, backup: &Path, path: &Path) -> Result<(), String> {
    vfs.with_faults_paused(|| {
        let dir = engine::vfs::parent_dir(path);
        let _ = vfs.remove(path);
        vfs.sync_dir(&dir)
            .and_then(|()| vfs.copy_file(backup, path))
            .map_err(|e| {
                format!(
                    "restoring {} from {}: {e}",
                    path.display(),
                    backup.display()
                )
            })
    })
}
