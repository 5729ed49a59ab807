//! Continuous operations in the model (generation 6): `startbu` on a set of files
//! (all or nothing), backup copies that must hold exactly the `startbu` instant
//! (invariant 6), `endbu` that must leave no delta (invariant 5), and after a crash
//! the operator's other way out — killing the deltas — which must leave every file at
//! the instant.

use super::recovery::diff_summary;
use super::setup::BACKUP_DIR;
use super::world::{fault_status, World};
use crate::check;
use crate::model::{Records, SettledLog};
use engine::clock::ManualClock;
use engine::contops::IfAbsent;
use engine::vfs::Vfs;
use engine::{Config, Engine, LogMode, Status};
use rand::Rng;
use std::path::PathBuf;
use std::sync::Arc;

/// A backup cycle in the model (generation 6).
#[derive(Clone, Debug)]
pub(super) struct BackupModel {
    /// The files of the `startbu` set.
    set: Vec<usize>,
    /// Each set file's records at the `startbu` instant.
    instant: Vec<Records>,
    /// Each set file's records at its last commit the model knew durable when
    /// `startbu` ran: the control record the instant's supersedes is at or after it
    /// (operations between may have been bundled into one commit with the instant's).
    before: Vec<Records>,
    /// Copies taken (and checked) yet?
    copied: bool,
    /// A crash cut `startbu` short before any file of the set was seen frozen: a
    /// delta it created (and whose removal the undo could not make durable) may
    /// survive the crash or not. Which files are in continuous operations is known
    /// only once the crash has struck ([`settle_interrupted_startbu`]).
    ///
    /// [`settle_interrupted_startbu`]: World::settle_interrupted_startbu
    interrupted: bool,
    /// Files of the set whose delta a failed or interrupted startbu may have left as an
    /// interrupted creation, whose header names no instant: it vouches for no damage
    /// to its data file (sim seed 157465: the crash struck while the delta of a file
    /// whose control record had just rotted was being written).
    unsure_deltas: Vec<usize>,
    /// Log modes: the records since the instant that a deletion of the deltas makes
    /// the next open roll the set through again.
    pub(super) log: SettledLog,
}

impl BackupModel {
    /// Whether file `f`'s delta vouches for its startbu instant (damage to the
    /// instant's control record must then be reported, not fallen past).
    pub(super) fn vouches(&self, f: usize) -> bool {
        !self.unsure_deltas.contains(&f)
    }

    /// File `f`'s records at the `startbu` instant, if it is in the set.
    pub(super) fn instant_of(&self, f: usize) -> Option<&Records> {
        let i = self.set.iter().position(|&x| x == f)?;
        self.instant.get(i)
    }

    /// File `f`'s records at its last commit known durable when `startbu` ran.
    pub(super) fn before_of(&self, f: usize) -> Option<&Records> {
        let i = self.set.iter().position(|&x| x == f)?;
        self.before.get(i)
    }

    /// The set narrowed to the files `keep` says.
    fn retain(self, keep: impl Fn(usize) -> bool) -> BackupModel {
        let mut b = BackupModel {
            set: Vec::new(),
            instant: Vec::new(),
            before: Vec::new(),
            ..self
        };
        for ((f, i), d) in self.set.into_iter().zip(self.instant).zip(self.before) {
            if keep(f) {
                b.set.push(f);
                b.instant.push(i);
                b.before.push(d);
            }
        }
        b
    }
}

impl World {
    /// `startbu` on a random set. Expected to be refused (41) if a transaction holds a
    /// file of the set; otherwise it succeeds, or fails through an injected fault —
    /// and then, all or nothing, no file of the set may be in continuous operations.
    pub(super) fn start_backup(&mut self) -> Result<(), String> {
        if self.model.backup.is_some() {
            return Ok(());
        }
        // Generation 14: archived files are not for continuous operations (startbu
        // refuses them, 88).
        // Generation 15: nor are legacy files (their pages are overwritten in place).
        let open: Vec<usize> = (0..self.model.files.len())
            .filter(|&f| !self.arch.as_ref().is_some_and(|a| a.excluded(f)))
            .filter(|&f| !self.rig.legacy[f])
            .collect();
        if open.is_empty() {
            return Ok(());
        }
        let mut set: Vec<usize> = open
            .iter()
            .copied()
            .filter(|_| self.sched.rng.random_bool(0.7))
            .collect();
        if set.is_empty() {
            set.push(open[self.sched.rng.random_range(0..open.len())]);
        }
        let held = set.iter().any(|&f| self.model.clients.holder(f).is_some());
        // Generation 14: now and then an archived file in the set too: startbu must
        // refuse the whole set (88) and put no file into continuous operations.
        let mut refused_in_set = false;
        if let Some(listed) = self.arch.as_ref().map(|a| a.listed_files()) {
            if !listed.is_empty() && self.sched.rng.random_bool(0.15) && !held {
                set.push(listed[self.sched.rng.random_range(0..listed.len())]);
                refused_in_set = true;
            }
        }
        // Generation 15: now and then a legacy file too: refused the same way (88).
        let legacy: Vec<usize> = (0..self.model.files.len())
            .filter(|&f| self.rig.legacy[f] && self.model.clients.holder(f).is_none())
            .collect();
        if !legacy.is_empty() && !held && self.sched.rng.random_bool(0.15) {
            let f = legacy[self.sched.rng.random_range(0..legacy.len())];
            if !set.contains(&f) {
                set.push(f);
                refused_in_set = true;
            }
        }
        let paths = self.paths_of(&set);
        let want = if held {
            Err(Status::OperationNotAllowed)
        } else if refused_in_set {
            Err(Status::IncompatibleMode)
        } else {
            Ok(())
        };
        // Generation 9: aim an I/O error into startbu (its flush, or freezing its k-th
        // file), a path random faults barely reach.
        if self.workload >= 9 && self.sched.rng.random_bool(0.3) {
            let k = self.sched.rng.random_range(1..30);
            self.rig.vfs.set_error_after(k);
        }
        // Deltas whose removal (by an earlier endbu) a power loss could still undo.
        let lingered = self.deltas_that_may_return(&set);
        let got = self.operator(
            engine::admin::Request::StartBackup {
                paths: paths.clone(),
            },
            |e| e.start_backup(&paths),
        )?;
        self.rig.vfs.clear_aimed_error();
        tracing::debug!(target: "sim", ?set, ok = got.is_ok(), "startbu");
        if self.expect("startbu", &got, want)? {
            self.freeze_data_damage(&set);
            self.model.backup = Some(BackupModel {
                instant: set
                    .iter()
                    .map(|&f| Records::clone(&self.model.files[f].live))
                    .collect(),
                before: self.durable_records(&set),
                set,
                copied: false,
                interrupted: false,
                unsure_deltas: Vec::new(),
                log: SettledLog::at(self.model.journal.entries.len()),
            });
            self.tally.backups.0 += 1;
            if self.workload >= 17 {
                let f = self.model.backup.as_ref().map_or(0, |b| b.set[0]);
                self.operator_stat(f)?;
            }
            return Ok(());
        }
        let partial: Vec<usize> = set
            .iter()
            .copied()
            .filter(|&f| {
                self.rig
                    .engine_ref()
                    .is_ok_and(|e| e.in_backup(&self.model.files[f].path))
                    || self.has_delta(f)
            })
            .collect();
        // A crash that cut startbu short may leave the set in continuous operations even
        // though no delta is visible now: the undo removed a delta, but the crash struck
        // before that removal was durable, so a power loss can bring the delta back
        // (sim seed 6419). Recovery then rightly continues continuous operations.
        let crashed = self.rig.vfs.is_crashed();
        // So may an undo whose removal of a delta is not durable (its directory sync
        // failed; the engine refuses to commit to the file until it is reopened): a
        // power loss brings the delta back, and the next open rightly continues
        // continuous operations from this startbu's instant (sim seed 193988).
        let mut lingering = self.deltas_that_may_return(&set);
        lingering.retain(|f| !partial.contains(f) && !lingered.contains(f));
        if !partial.is_empty() || crashed || !lingering.is_empty() {
            if let Some(status) = got
                .as_ref()
                .err()
                .map(|e| e.status)
                .filter(|&s| fault_status(s))
            {
                // All or nothing: startbu undoes what it froze. Files may be left only
                // if the undo itself met a fault — a crash, or a second fault in this
                // step besides the one that failed startbu.
                let faults = self.faults_now() - self.cause.step_mark;
                if !self.rig.vfs.is_crashed() && faults < 2 {
                    return Err(format!(
                        "startbu all-or-nothing: it failed (status {}) under {faults} injected \
                         fault(s), yet files {partial:?} of the set {set:?} are left in \
                         continuous operations (and {lingering:?} with a delta a power loss \
                         brings back) though undoing them met no fault",
                        status.code()
                    ));
                }
                self.explain("startbu (files left frozen)", status)?;
                // Undoing the files already frozen failed under an injected fault too
                // (or a crash cut startbu short): those files are in continuous
                // operations at the instant of this startbu (they were frozen after
                // its flush). So may be any other file of the set whose delta the undo
                // removed without a durable directory sync: a power loss can bring it
                // back (sim seed 1682). The whole set is taken as frozen at that
                // instant; recovery keeps only the files whose delta is there
                // (`reconcile_backup`). The application restarts.
                self.model.backup = Some(BackupModel {
                    instant: set
                        .iter()
                        .map(|&f| Records::clone(&self.model.files[f].live))
                        .collect(),
                    before: self.durable_records(&set),
                    set: set.clone(),
                    copied: true,
                    interrupted: partial.is_empty(),
                    // Files not seen frozen: their delta may be half made.
                    unsure_deltas: set
                        .iter()
                        .copied()
                        .filter(|f| !partial.contains(f))
                        .collect(),
                    log: SettledLog::at(self.model.journal.entries.len()),
                });
                return self.crash();
            }
        }
        if !partial.is_empty() {
            return Err(format!(
                "startbu all-or-nothing: refused, yet files {partial:?} of the set {set:?} are \
                 in continuous operations"
            ));
        }
        Ok(())
    }

    /// A backup program copies every file of the set (plain copies of the frozen
    /// data files); each copy must open on its own, pass the structure check and
    /// hold exactly the `startbu` instant (invariant 6).
    pub(super) fn copy_backup(&mut self) -> Result<(), String> {
        let Some(b) = self.model.backup.clone().filter(|b| !b.copied) else {
            return Ok(());
        };
        let vfs = self.rig.vfs.clone();
        // Generation 11: on a lying disk, aim latent corruption at a delta of the set
        // now and then — damage to committed delta frames is rare under random faults,
        // and what the engine owes for it depends on what is written after it.
        if self.workload >= 11
            && vfs.config().latent_corruption.probability() > 0.0
            && vfs.config().lying_only_under.is_none()
            && self
                .sched
                .rng
                .random_bool(if self.workload >= 13 { 0.6 } else { 0.3 })
        {
            let f = b.set[self.sched.rng.random_range(0..b.set.len())];
            if let Some(d) = self.delta_of(f) {
                let hit = vfs.corrupt_sector_of(&d, false);
                tracing::info!(target: "sim", delta = %d.display(), ?hit, "aimed delta damage");
            }
        }
        // The copy and its check are the backup program's, not the engine's: no
        // injected fault or armed crash point applies to them.
        let armed = vfs.crash_point();
        vfs.clear_crash_point();
        let r = vfs.with_faults_paused(|| -> Result<(), String> {
            for (i, &f) in b.set.iter().enumerate() {
                let from = self.model.files[f].path.clone();
                let to = PathBuf::from(format!("{BACKUP_DIR}/f{f}.btr"));
                let _ = self.rig.vfs.remove(&to);
                self.rig
                    .vfs
                    .copy_file(&from, &to)
                    .map_err(|e| format!("copying {}: {e}", from.display()))?;
                let mut scratch = Engine::new(
                    Arc::new(self.rig.vfs.clone()) as Arc<dyn Vfs>,
                    Arc::new(ManualClock::new()),
                    Config::default(),
                );
                let damaged = self.rig.vfs.was_damaged(&to);
                match check::recovered_state(&mut scratch, Arc::new(self.rig.vfs.clone()), &to) {
                    Ok(found) if found == b.instant[i] => {}
                    // Damage the engine reported: the operator would take another copy.
                    Err(check::Unrecovered::Reported(_)) if damaged => {}
                    Ok(found) if damaged && self.model.files[f].phantom(&found).is_none() => {}
                    Ok(found) => {
                        return Err(format!(
                            "invariant 6 (backup = startbu instant): the copy of {} holds {} \
                             records, the startbu instant {}",
                            from.display(),
                            found.len(),
                            b.instant[i].len()
                        ) + &diff_summary(&found, Some(&b.instant[i])))
                    }
                    Err(m) => return Err(format!("invariant 6 (backup is a sound file): {m}")),
                }
            }
            Ok(())
        });
        if let Some(step) = armed {
            vfs.set_crash_at(step.max(vfs.io_step() + 1));
        }
        r?;
        if let Some(b) = self.model.backup.as_mut() {
            b.copied = true;
        }
        self.tally.backups.1 += 1;
        Ok(())
    }

    /// `endbu` on the set: on success no delta may remain (invariant 5; the records are
    /// checked by every later read and recovery). A fault leaves it resumable.
    pub(super) fn end_backup(&mut self) -> Result<(), String> {
        let Some(b) = self.model.backup.clone() else {
            return Ok(());
        };
        let paths = self.paths_of(&b.set);
        // A file still frozen (its delta on disk) that a transaction holds keeps
        // changes pending, and its roll-in needs none. A file an open already rolled
        // in (after a failed endbu) is out of continuous operations: endbu is
        // resumable, so ending it again is success whatever holds it (sim seed
        // 562253: a reopen rolled the file in, a transaction then took it).
        let held = b
            .set
            .iter()
            .any(|&f| self.has_delta(f) && self.model.clients.holder(f).is_some());
        let want = if held {
            Err(Status::OperationNotAllowed)
        } else {
            Ok(())
        };
        let got = self.operator(
            engine::admin::Request::EndBackup {
                paths: Some(paths.clone()),
            },
            |e| e.end_backup(&paths),
        )?;
        tracing::debug!(target: "sim", set = ?b.set, ok = got.is_ok(), "endbu");
        if !self.expect("endbu", &got, want)? {
            // Some files may have been rolled in, others' roll-in begun: the rest stay
            // in contops, but the data files are no longer the frozen instant, so the
            // cycle's copy phase is over.
            if let Some(b) = self.model.backup.as_mut() {
                b.copied = true;
            }
            self.reconcile_backup();
            return Ok(());
        }
        {
            if let Some(&f) = b.set.iter().find(|&&f| self.has_delta(f)) {
                return Err(format!(
                    "invariant 5 (roll-in): endbu returned, yet {} still has a delta",
                    self.model.files[f].path.display()
                ));
            }
            self.model.backup = None;
            for &f in &b.set {
                self.unvouch_data_damage(f);
            }
            self.tally.backups.2 += 1;
            if self.workload >= 17 {
                self.operator_check(b.set[0])?;
            }
        }
        Ok(())
    }

    /// The files of the backup set still in continuous operations are those with a
    /// delta (an endbu that failed part-way, or a recovery that finished a roll-in).
    pub(super) fn reconcile_backup(&mut self) {
        let Some(b) = self.model.backup.take() else {
            return;
        };
        for &f in &b.set {
            if !self.has_delta(f) {
                self.unvouch_data_damage(f);
            }
        }
        let b = b.retain(|f| self.has_delta(f));
        if b.set.is_empty() {
            self.tally.backups.2 += 1;
        } else {
            self.model.backup = Some(BackupModel {
                interrupted: false,
                ..b
            });
        }
    }

    /// Each file of `set`: its records at its last commit the model knows durable.
    fn durable_records(&self, set: &[usize]) -> Vec<Records> {
        set.iter()
            .map(|&f| {
                let m = &self.model.files[f];
                m.candidates()
                    .first()
                    .map_or_else(|| Records::clone(&m.live), |s| Records::clone(s))
            })
            .collect()
    }

    /// Right after the crash strikes: a `startbu` the crash cut short before any file
    /// was seen frozen has put exactly the files whose delta survived into continuous
    /// operations (at its instant: startbu creates deltas only after its flush). The
    /// others never took effect — their data files need not be at the instant (the
    /// crash may have cut the flush), so they leave the model's backup set before the
    /// operator's killbu judges it.
    pub(super) fn settle_interrupted_startbu(&mut self) {
        if !self.model.backup.as_ref().is_some_and(|b| b.interrupted) {
            return;
        }
        let Some(b) = self.model.backup.take() else {
            return;
        };
        let b = b.retain(|f| self.has_delta(f));
        if !b.set.is_empty() {
            tracing::info!(target: "sim", set = ?b.set, "an interrupted startbu took effect");
            // (Its `unsure_deltas` are the whole set: no file was seen frozen.)
            self.model.backup = Some(BackupModel {
                interrupted: false,
                ..b
            });
        }
    }

    /// After a crash, the operator may take the seeds' other way out of continuous
    /// operations: delete the deltas (if no roll-in had begun). Each file of the set
    /// must then be exactly at the `startbu` instant (invariant 5), read before any
    /// roll-forward.
    pub(super) fn maybe_kill_backup(&mut self) -> Result<(), String> {
        if self.model.backup.is_none() || !self.sched.rng.random_bool(0.4) {
            return Ok(());
        }
        // A file whose delta is gone was rolled in since the model last looked — by an
        // open that finished a failed endbu whose delta said it was ending (sim seed
        // 88578) — and is out of continuous operations: killbu passes it over, and it
        // is no longer held to the startbu instant.
        self.reconcile_backup();
        let Some(b) = self.model.backup.clone() else {
            return Ok(());
        };
        // The same killbu butil runs; a file of the set whose delta an interrupted endbu
        // already removed is passed over. A refusal (a roll-in had begun, or damage)
        // leaves the operator only endbu or a restore.
        let paths: Vec<_> = b
            .set
            .iter()
            .map(|&f| self.model.files[f].path.clone())
            .collect();
        let vfs = &self.rig.vfs;
        let locks = engine::contops::lock_data_files(vfs, &paths)
            .map_err(|e| format!("killbu: locking the data files after a crash: {e}"))?;
        let deltas = match engine::contops::check_kill(vfs, &paths, &locks, IfAbsent::Skip) {
            Ok(deltas) => deltas,
            // A roll-in had begun (an endbu failed part-way, or a recovery resumed it).
            Err(e) if e.status == Status::IncompatibleMode => return Ok(()),
            // A damaged delta, or a data file no longer at the instant its delta names:
            // only a lying fault on one of them can do that.
            Err(e) if e.status == Status::IoError && b.set.iter().any(|&f| self.damaged(f)) => {
                tracing::info!(target: "sim", refusal = %e, "killbu refused: damage");
                return Ok(());
            }
            Err(e) => {
                return Err(format!(
                    "killbu after a crash refused, and no injected fault explains it: {e}"
                ))
            }
        };
        engine::contops::remove_deltas(&self.rig.vfs, &deltas)
            .map_err(|e| format!("killbu: {e}"))?;
        drop(locks);
        tracing::info!(target: "sim", set = ?b.set, "deltas killed");
        let mut scratch = Engine::new(
            Arc::new(self.rig.vfs.clone()) as Arc<dyn Vfs>,
            Arc::new(ManualClock::new()),
            Config::default(),
        );
        for (i, &f) in b.set.iter().enumerate() {
            let path = self.model.files[f].path.clone();
            // The delta is gone, and its damage with it; a damaged data file may still
            // read as an older state, which recovery judges.
            self.settle_delta_damage(f);
            self.unvouch_data_damage(f);
            let damaged = self.rig.vfs.was_damaged(&path);
            let found =
                match check::recovered_state(&mut scratch, Arc::new(self.rig.vfs.clone()), &path) {
                    Ok(found) => found,
                    // A damaged data file may fail its check: recovery replaces it.
                    Err(_) if damaged => continue,
                    Err(m) => return Err(format!("after killing the deltas: {m}")),
                };
            // A damaged data file may read as another older state: recovery judges it.
            if found != b.instant[i] && damaged {
                continue;
            }
            if found != b.instant[i] {
                return Err(format!(
                    "invariant 5 (deltas deleted = startbu instant): {} holds {} records, the \
                     startbu instant {}",
                    path.display(),
                    found.len(),
                    b.instant[i].len()
                ) + &diff_summary(&found, Some(&b.instant[i])));
            }
            if self.log_mode == LogMode::Off {
                // The file is back at the instant: that is its new durable state.
                self.model.files[f].recovered(found);
            }
        }
        if self.log_mode != LogMode::Off {
            self.rewind_journal(&b);
        }
        self.model.backup = None;
        self.tally.backups.2 += 1;
        Ok(())
    }

    /// Log modes, the deltas of `b` deleted: the files of its set are at the instant and
    /// the next open rolls them forward through every record since, so the journal
    /// becomes that history ([`Journal::rewind_to_instant`]), and whatever indexes into
    /// it moves along: the log damage's dates, a crashed bulk load's entries.
    ///
    /// [`Journal::rewind_to_instant`]: crate::model::Journal::rewind_to_instant
    fn rewind_journal(&mut self, b: &BackupModel) {
        let moved = self
            .model
            .journal
            .rewind_to_instant(&b.set, &b.instant, &b.log);
        self.rewind_log_damage(moved, b.log.floor);
        self.shift_crashed_load(moved);
    }

    /// The paths of the files in `set`.
    fn paths_of(&self, set: &[usize]) -> Vec<PathBuf> {
        set.iter()
            .map(|&f| self.model.files[f].path.clone())
            .collect()
    }

    /// File `f`'s delta path (`NAME.^^^`); `None` only for a name that has no delta path,
    /// which the model's file names never are.
    pub(super) fn delta_of(&self, f: usize) -> Option<PathBuf> {
        engine::delta::delta_path(&self.model.files[f].path).ok()
    }

    /// The files of `set` whose delta is gone as the OS sees it, but which a power loss
    /// could bring back: still in the directory as it is on disk (its removal not yet
    /// durable), or made and removed since with neither durable, so that the power loss
    /// may keep the creation and lose the removal (sim seed 71693 of generation 20).
    fn deltas_that_may_return(&self, set: &[usize]) -> Vec<usize> {
        let vfs = &self.rig.vfs;
        set.iter()
            .copied()
            .filter(|&f| {
                self.delta_of(f).is_some_and(|d| {
                    vfs.read_file(&d).is_none() && vfs.may_name_after_power_loss(&d)
                })
            })
            .collect()
    }

    /// Does `f`'s delta exist (as the OS sees it; the simulator's own look, never
    /// faulted)?
    fn has_delta(&self, f: usize) -> bool {
        self.delta_of(f)
            .is_some_and(|d| self.rig.vfs.read_file(&d).is_some())
    }
}
