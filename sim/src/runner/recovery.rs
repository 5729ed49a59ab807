//! Crashes and recovery: a process crash or power loss (and crashes during recovery
//! itself in the log modes), then reopening every file fault-free and checking what
//! survived — structure (invariant 1), per-file atomicity and durability (invariant 2)
//! in log mode Off, multi-file atomicity and durability against the journal
//! (invariants 3 and 4) in the log modes, and what detection must promise for files a
//! lying disk damaged.

use super::clients::{client, Clients, CLIENTS};
use super::dated_damage::Dated;
use super::schedule::{Aim, Crash};
use super::world::{open_fault_status, World};
use super::HALTED;
use crate::check;
use crate::model::Records;
use crate::workload;
use engine::vfs::Vfs;
use engine::{Engine, LogMode, OpenMode, Status};
use std::sync::Arc;

impl World {
    /// Crash now (process crash or power loss, by the seed) and recover.
    pub(super) fn crash(&mut self) -> Result<(), String> {
        // Whatever the engine attempted up to now is a candidate state.
        self.observe()?;
        self.tally.crashes += 1;
        self.retire_engine();
        self.rig.vfs.clear_crash_point();
        let crash = self.crash_kind();
        let power = crash == Crash::PowerLoss;
        tracing::info!(target: "sim", power, io_step = self.rig.vfs.io_step(), "crash");
        crash.strike(&self.rig.vfs);
        self.settle_interrupted_startbu();
        // Date the step's damage while the model still knows which files were frozen:
        // the operator's killbu below ends the backup cycle, and damage to a frozen
        // file's control record (the startbu instant's) must be judged as such (sim
        // seed 121267: latent corruption of the instant's FCR, read by a reopen, then a
        // power loss and killbu).
        self.date_damage(false);
        let vfs = self.rig.vfs.clone();
        vfs.with_faults_paused(|| self.maybe_kill_backup())?;
        // Generation 14: a file archived late joins blog.cfg now.
        self.archive_late_file();
        self.recover(crash.name())
    }

    /// The end of every run: a power loss, and a full check.
    pub(super) fn final_power_loss(&mut self) -> Result<(), String> {
        self.tally.crashes += 1;
        self.retire_engine();
        self.rig.vfs.clear_crash_point();
        Crash::PowerLoss.strike(&self.rig.vfs);
        self.recover("final power loss")?;
        // Generation 14: the disk dies; restored backups are rolled forward
        // (invariant 7).
        self.check_roll_forward()
    }

    /// Open every file fault-free, check structure (invariant 1) and that it holds a
    /// state the model allows (invariant 2 and durability), then reopen handles.
    ///
    /// A file a lying disk damaged (misdirected write, latent corruption) is held to
    /// what detection can promise: it either fails its check or open (detected — the
    /// operator restores it; here it is replaced by an empty file), or it holds a
    /// state made only of records that were written (a misdirected FCR write can
    /// silently leave an older state; nothing can leave data never written).
    pub(super) fn recover(&mut self, why: &str) -> Result<(), String> {
        self.date_damage(false);
        // Generation 9: recovery first runs with the disk's faults on (and an aimed
        // crash or I/O error). If every file opens, that recovery's result is checked
        // like any other; if it fails, the status must be one a fault explains, and the
        // application restarts into a fault-free recovery that must reach the right state.
        if self.workload >= 9 {
            if let Some(aim) = self.recovery_aim() {
                if let Some(e) = self.open_under_faults(why, aim)? {
                    return self.recover_once(why, Some(e));
                }
            }
        }
        // In log modes, recovery itself may crash (the schedule decides); the next
        // attempt must reach the same result.
        for attempt in 0.. {
            if let Some(n) = self.sched.recovery_crash_point(self.log_mode, attempt) {
                self.rig.vfs.set_crash_after(n);
            }
            let r = self.recover_once(why, None);
            if !self.rig.vfs.is_crashed() {
                self.rig.vfs.clear_crash_point();
                return r;
            }
            self.tally.crashes += 1;
            self.tally.interrupted_recoveries += 1;
            self.retire_engine();
            self.rig.vfs.clear_crash_point();
            let crash = self.crash_kind();
            tracing::info!(target: "sim", power = crash == Crash::PowerLoss, "crash during recovery");
            crash.strike(&self.rig.vfs);
        }
        Ok(())
    }

    /// A recovery with the disk's faults on: a fresh engine opens every file for
    /// writing — rolling it forward from the log, finishing a roll-in, resuming endbu —
    /// and closes it. Returns the engine if every file opened (its result is then
    /// checked); `None` if the attempt failed with a status an injected fault explains
    /// or crashed (the application restarts: the process dies, or the crash strikes).
    /// A status nothing explains fails the seed.
    fn open_under_faults(&mut self, why: &str, aim: Aim) -> Result<Option<Engine>, String> {
        let vfs = self.rig.vfs.clone();
        self.tally.faulty_recoveries += 1;
        let mut e = self.rig.new_engine();
        self.mark_engine();
        match aim {
            Aim::Faults => {}
            Aim::Crash(n) => {
                vfs.set_crash_after(n);
            }
            Aim::Error(n) => {
                vfs.set_error_after(n);
            }
        }
        tracing::info!(target: "sim", ?aim, "recovery under faults");
        let mut failed = false;
        for f in 0..self.model.files.len() {
            let path = self.model.files[f].path.clone();
            // Opening a file may fail through faults on it, its delta or the log.
            self.cause.file = Some(f);
            let r = e.open(&path, OpenMode::Normal).and_then(|h| e.close(h));
            match r {
                Ok(()) => {}
                Err(_) if vfs.is_crashed() => {
                    failed = true;
                    break;
                }
                Err(x) if open_fault_status(x.status) => {
                    let what = format!("recovery under faults after {why}: {}", path.display());
                    self.explain(&what, x.status)?;
                    failed = true;
                    break;
                }
                Err(x) => {
                    return Err(format!(
                        "recovery under faults after {why}: opening {} failed with a status \
                         no injected fault explains: {x}",
                        path.display()
                    ))
                }
            }
        }
        self.cause.file = None;
        vfs.clear_crash_point();
        vfs.clear_aimed_error();
        if !failed && !vfs.is_crashed() {
            return Ok(Some(e));
        }
        // The application restarts: its process dies (or the armed crash strikes).
        self.tally.failed_faulty_recoveries += 1;
        drop(e);
        let crash = if vfs.is_crashed() {
            self.tally.crashes += 1;
            self.crash_kind()
        } else {
            Crash::ProcessCrash
        };
        crash.strike(&vfs);
        Ok(None)
    }

    /// One recovery attempt, fault-free (a crash point armed for it still fires):
    /// a fresh engine — or the one a recovery under faults left, every file opened —
    /// every file checked, the handles reopened, every client idle.
    fn recover_once(&mut self, why: &str, engine: Option<Engine>) -> Result<(), String> {
        let vfs = self.rig.vfs.clone();
        // Damage a recovery under faults injected is judged loosely.
        self.date_damage(true);
        vfs.with_faults_paused(|| {
            let fresh = engine.is_none();
            let mut e = engine.unwrap_or_else(|| self.rig.new_engine());
            if fresh {
                self.mark_engine();
            }
            self.rig.handles.clear();
            self.model.held.clear();
            if self.log_mode != LogMode::Off {
                self.recover_logged(&mut e, why)?;
            }
            if self.log_mode == LogMode::Off {
                // An archived file's writable open applies a frame its FCR had not
                // reached (a crash between the two), and a legacy file's restores the
                // originals of an interrupted transaction (generation 15): open each
                // for writing first, so the state read below is the one the reopened
                // handles see. A refusal shows again when the handles are reopened.
                for (i, f) in self.model.files.iter().enumerate() {
                    if self.arch.is_none() && !self.rig.legacy[i] {
                        continue;
                    }
                    if let Ok(h) = e.open(&f.path, OpenMode::Normal) {
                        let _ = e.close(h);
                    }
                }
            }
            let mut at = Vec::new();
            for i in 0..self.model.files.len() {
                if self.log_mode == LogMode::Off {
                    at.push(self.recover_file(&mut e, i, why)?);
                    self.settle_delta_damage(i);
                    self.settle_data_damage(i);
                    self.tally.checked += 1;
                }
                let c = e.commit_counters(&self.model.files[i].path);
                self.model.files[i].seen = (c.attempts, c.durable);
            }
            self.settle_crashed_load_off(&at);
            // Off mode promises per-file atomicity only: count the ended multi-file
            // transactions the crash left in some of their files but not all.
            for t in std::mem::take(&mut self.model.multi) {
                let inside: Option<Vec<bool>> = t
                    .iter()
                    .map(|&(f, from)| at[f].map(|j| j >= from))
                    .collect();
                if let Some(v) = inside {
                    if v.iter().any(|&x| x) && v.iter().any(|&x| !x) {
                        self.tally.split_transactions += 1;
                    }
                }
            }
            let mut hs = Vec::new();
            for f in &self.model.files {
                let mut per = Vec::new();
                for k in 0..CLIENTS {
                    per.push(
                        e.open_as(client(k), &f.path, OpenMode::Normal)
                            .map_err(|x| format!("reopen: {x}"))?,
                    );
                }
                hs.push(per);
            }
            self.rig.handles = hs;
            self.archival_opened();
            self.model.clients = Clients::new();
            self.check_inventory(why)?;
            // Opening finished any roll-in that had begun; what remains in continuous
            // operations is what still has a delta.
            self.reconcile_backup();
            self.rig.engine = Some(e);
            Ok(())
        })
    }

    /// Log modes: open every file for writing (which rolls it forward from the log),
    /// then check each file's structure and that together they hold the states at the
    /// last recovery plus one prefix of the journal that keeps every entry reported
    /// durable (invariants 3 and 4).
    fn recover_logged(&mut self, e: &mut Engine, why: &str) -> Result<(), String> {
        for f in &self.model.files {
            let h = match e.open(&f.path, OpenMode::Normal) {
                Ok(h) => h,
                // The engine reported the damage a lying fault did to the log: the
                // operator restores the log directory, which the model does not
                // follow — the seed ends here, counted.
                Err(x) if x.status == Status::IoError && self.damage.log != Dated::None => {
                    tracing::info!(target: "sim", problem = %x, "log damage detected; the seed ends");
                    self.tally.log_damage_detected += 1;
                    return Err(HALTED.into());
                }
                Err(x) => {
                    return Err(format!(
                        "invariant 3/4 (roll-forward) after {why}: opening {} for writing \
                         failed: {x}",
                        f.path.display()
                    ))
                }
            };
            e.close(h)
                .map_err(|x| format!("after {why}: closing {}: {x}", f.path.display()))?;
        }
        let mut found = Vec::new();
        for f in &self.model.files {
            found.push(
                check::recovered_state(e, Arc::new(self.rig.vfs.clone()), &f.path)
                    .map_err(|m| format!("after {why}: {m}"))?,
            );
            self.tally.checked += 1;
        }
        if self.model.journal.base.is_empty() {
            // The first recovery of the seed: the files were just created.
            self.model.journal.base = vec![Records::new(); self.model.files.len()];
        }
        let journal = &self.model.journal;
        let fallback = || {
            // Relaxed rule, counted: the log's last synced group was damaged before any
            // later record could vouch for it, so it may read as a torn tail.
            let lo = self.log_fallback_floor()?;
            journal.matching_prefix_from(&found, lo)
        };
        let matched = journal.matching_prefix(&found);
        let fell_back_to = if matched.is_none() { fallback() } else { None };
        let fell_back = fell_back_to.is_some();
        if matched.is_none() && !fell_back {
            let keep = journal.must_keep();
            let sizes = |st: &[Records]| st.iter().map(|r| r.len()).collect::<Vec<_>>();
            return Err(format!(
                "invariant 3/4 (multi-file atomicity, durability; log mode {}) after {why}: \
                 the files hold no prefix of the {} acknowledged log entries that keeps the \
                 {keep} reported durable (durable below LSN {}); record counts found {:?}, \
                 base {:?}, entry LSNs {:?}",
                self.log_mode.name(),
                journal.entries.len(),
                journal.durable_lsn,
                sizes(&found),
                sizes(&journal.base),
                journal.entries.iter().map(|x| x.lsn).collect::<Vec<_>>()
            ) + &found
                .iter()
                .zip(&journal.base)
                .enumerate()
                .filter(|(_, (f, b))| f != b)
                .map(|(i, (f, b))| format!("; f{i} vs base{}", diff_summary(f, Some(b))))
                .collect::<String>()
                + &match self.damage.log {
                    Dated::None => String::new(),
                    d => format!(
                        "; a lying fault damaged the log ({d:?}, {} entries acknowledged): an \
                     entry acknowledged after the damage vouches for the damaged records, \
                     so the engine must report it (status 2), not read it as the log's end",
                        journal.acked
                    ),
                });
        }
        if fell_back {
            self.tally.log_older_state += 1;
        }
        let kept = matched.or(fell_back_to);
        if let (Some(b), Some(k)) = (self.model.backup.as_mut(), kept) {
            b.log.settle(&journal.entries, k, journal.prev_acked);
        }
        self.settle_crashed_load_logged(kept);
        for (f, st) in self.model.files.iter_mut().zip(&found) {
            f.recovered(st.clone());
        }
        self.model.journal.base = found;
        self.model.journal.entries.clear();
        self.model.journal.acked = 0;
        self.model.journal.prev_acked = 0;
        // The engine's durability claim was about the records of the log as it stood
        // before the crash; the check above settled them. It must not carry over to the
        // entries journaled from now on: when recovery cut the log short (a damaged last
        // group, excused above as a torn tail), the engine gives the next records the
        // LSNs of the lost ones, and the old claim would call them durable before any
        // sync. The engine's claims about the recovered log are observed afresh.
        tracing::debug!(
            target: "sim",
            claimed = self.model.journal.durable_lsn,
            engine = e.log_durable_lsn(),
            "log durability claim reset at recovery"
        );
        self.model.journal.durable_lsn = 0;
        self.settle_log_damage();
        Ok(())
    }

    /// Recover file `i`; returns which model state it holds (an index into its
    /// `states`), if it is one.
    fn recover_file(
        &mut self,
        e: &mut Engine,
        i: usize,
        why: &str,
    ) -> Result<Option<usize>, String> {
        let path = self.model.files[i].path.clone();
        let damaged = self.damaged(i);
        let found = match check::recovered_state(e, Arc::new(self.rig.vfs.clone()), &path) {
            Ok(found) => found,
            // The engine itself reported the damage (its check, or a status): the
            // operator restores the file; here it is replaced by an empty one.
            Err(check::Unrecovered::Reported(m)) if damaged => {
                tracing::info!(target: "sim", file = %path.display(), problem = %m, "damage detected; replacing the file");
                self.tally.damage_detected += 1;
                let dir = engine::vfs::parent_dir(&path);
                let replaced = self
                    .rig
                    .vfs
                    .remove(&path)
                    .and_then(|()| self.rig.vfs.sync_dir(&dir));
                replaced.map_err(|x| format!("removing damaged {}: {x}", path.display()))?;
                self.rig.vfs.forget_damage(&path);
                // Its delta goes with it (the replacement is not in contops).
                if let Ok(d) = engine::delta::delta_path(&path) {
                    let _ = engine::delta::remove_delta(&self.rig.vfs, &d);
                    self.rig.vfs.forget_damage(&d);
                }
                // And its pre-image file (a legacy file's originals are no use to the
                // replacement, and must not be written into it).
                let pre = engine::preimage::path_for(&path);
                let _ = self.rig.vfs.remove(&pre);
                self.rig.vfs.forget_damage(&pre);
                self.rig
                    .vfs
                    .sync_dir(&dir)
                    .map_err(|x| format!("removing {}: {x}", pre.display()))?;
                e.create(&path, &self.rig.spec_of(i))
                    .map_err(|x| format!("recreating {}: {x}", path.display()))?;
                self.model.files[i].reset();
                self.forget_rolled_in(i);
                return Ok(None);
            }
            Err(m) => return Err(format!("after {why}: {m}")),
        };
        let f = &self.model.files[i];
        let at = f
            .candidates()
            .iter()
            .rposition(|c| **c == found)
            .map(|p| f.durable.max(f.floor) + p);
        if at.is_none() {
            let fail = |why_not: &str| {
                format!(
                    "invariant 2 (per-file atomicity/durability) after {why}: {} holds {} \
                     records, which is no system-transaction boundary at or after the last \
                     durable one (candidate sizes {:?}){why_not}",
                    path.display(),
                    found.len(),
                    f.candidates().iter().map(|s| s.len()).collect::<Vec<_>>()
                ) + &diff_summary(&found, f.candidates().last().map(|c| &**c))
            };
            let at_any = f.states.iter().rposition(|c| **c == found);
            if self.data_fallback_allowed(i, at_any) {
                // Relaxed rule, counted: a lying fault on the data file hit its last
                // commit on disk (its control record) before a later one superseded it:
                // it reads like a torn control-record write.
                self.tally.damage_older_state += 1;
            } else if self.delta_fallback_allowed(i, at_any) {
                // Relaxed rule, counted: the delta's last transaction was damaged and no
                // later one on disk vouches for it: it reads as a torn tail.
                self.tally.delta_older_state += 1;
            } else if !damaged {
                return Err(fail(""));
            } else {
                return Err(fail(&format!(
                    "; a lying fault damaged it (data file {:?}, delta {:?}; found at state \
                     {at_any:?}, candidates from {}), but a commit acknowledged durable after \
                     the damage proves the damaged bytes were synced, or the state is older \
                     than the last commit on disk then: the engine must report the damage \
                     (status 2), not serve an older state",
                    self.damage.data.get(i),
                    self.damage.delta.get(i),
                    f.durable.max(f.floor)
                )));
            }
            if let Some(r) = f.phantom(&found) {
                return Err(format!(
                    "invariant 8 (never wrong data) after {why}: damaged {} passed its check \
                     but holds a record never written (id {})",
                    path.display(),
                    workload::id_of(r)
                ));
            }
        }
        let f = &mut self.model.files[i];
        f.recovered(found);
        self.forget_rolled_in(i);
        Ok(at)
    }

    /// Did a lying-disk fault touch file `f` or its delta?
    pub(super) fn damaged(&self, f: usize) -> bool {
        let path = &self.model.files[f].path;
        self.rig.vfs.was_damaged(path)
            || self
                .delta_of(f)
                .is_some_and(|d| self.rig.vfs.was_damaged(d))
            || self.rig.vfs.was_damaged(engine::preimage::path_for(path))
    }
}

/// Which ids differ between a recovered state and the one it is compared with (the
/// newest candidate, the startbu instant, the journal's base).
pub(super) fn diff_summary(found: &Records, want: Option<&Records>) -> String {
    let Some(want) = want else {
        return String::new();
    };
    let ids: std::collections::BTreeSet<u32> = found.keys().chain(want.keys()).copied().collect();
    let differ: Vec<String> = ids
        .into_iter()
        .filter(|id| found.get(id) != want.get(id))
        .take(8)
        .map(|id| {
            let tag = |r: Option<&crate::model::Record>| {
                r.map(|r| {
                    String::from_utf8_lossy(workload::tag_of(r))
                        .trim_end_matches('\0')
                        .to_string()
                })
                .unwrap_or_else(|| "-".into())
            };
            format!(
                "id {id}: found {} want {}",
                tag(found.get(&id)),
                tag(want.get(&id))
            )
        })
        .collect();
    format!("; differing: {}", differ.join(", "))
}
