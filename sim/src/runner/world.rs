//! The state a seed runs in ([`World`]): the engine under test and its simulated disk,
//! the model it is checked against, and the counters and hash the run reports. Also
//! the one way a result is checked ([`World::expect`]): every engine answer is counted,
//! hashed into the trace and compared with the model's, and only injected faults may
//! excuse a difference.

use super::aims::Aims;
use super::archival::ArchivalModel;
use super::backup::BackupModel;
use super::bulk::CrashedLoad;
use super::cause::Causes;
use super::clients::Clients;
use super::cursors::{HeldCursors, Roots};
use super::dated_damage::DatedDamage;
use super::schedule::Schedule;
use super::Outcome;
use crate::model::{FileModel, Journal};
use crate::vfs::SimVfs;
use crate::workload;
use engine::clock::ManualClock;
use engine::vfs::Vfs;
use engine::{Config, Engine, FileSpec, Handle, LogMode, Status};
use std::sync::Arc;

/// Everything one seed's run holds, in four parts: what happens next ([`Schedule`]),
/// the engine side ([`Rig`]), the model side ([`Model`]), and what the run did
/// ([`Tally`]); plus the two choices of the setup every part reads.
pub(super) struct World {
    /// The seed's transaction log mode: what a crash may leave, so which checks apply.
    pub(super) log_mode: LogMode,
    /// The workload generation (see `workload::WORKLOAD_VERSION`).
    pub(super) workload: u32,
    /// What happens next: the turns, their streams, the crash decisions.
    pub(super) sched: Schedule,
    pub(super) rig: Rig,
    pub(super) model: Model,
    pub(super) tally: Tally,
    /// Fault attribution: which injected faults may explain a fault status now.
    pub(super) cause: Causes,
    /// Faults aimed at one write the correct engine never makes (generations 19, 20).
    pub(super) aims: Aims,
    /// Lying faults on deltas, dated for the strict judgement of their damage.
    pub(super) damage: DatedDamage,
    /// Generation 14: the seed's archival logging, if on.
    pub(super) arch: Option<ArchivalModel>,
    /// Generation 18: the seed's bulk-load batch size (records).
    pub(super) bulk_batch: usize,
}

/// The engine side: the system under test, the simulated disk and clock it runs on,
/// and the clients' handles.
pub(super) struct Rig {
    pub(super) vfs: SimVfs,
    pub(super) clock: ManualClock,
    /// The seed's engine tunables (every engine of the run is built with them).
    pub(super) config: Config,
    /// The layout of every data file (its format aside).
    pub(super) spec: FileSpec,
    /// Generation 15: which files are in the legacy (5.x) format, pre-imaged.
    pub(super) legacy: Vec<bool>,
    /// Generation 21: which files keep their index leaves' shared parts once.
    pub(super) compact: Vec<bool>,
    /// Generation 22: each file's slot serial width in bytes.
    pub(super) serial_bytes: Vec<u8>,
    /// The running engine; `None` once it died, until recovery starts the next.
    pub(super) engine: Option<Engine>,
    /// `handles[file][client]`: each simulated client has one handle on every file.
    pub(super) handles: Vec<Vec<Handle>>,
}

/// The model side: what the engine must answer now, and what a crash may leave.
pub(super) struct Model {
    pub(super) files: Vec<FileModel>,
    pub(super) clients: Clients,
    /// Log modes: what survives a crash.
    pub(super) journal: Journal,
    /// Ended multi-file transactions since the last recovery, for split detection.
    pub(super) multi: Vec<Vec<(usize, usize)>>,
    /// Generation 6: the backup cycle under way, if any.
    pub(super) backup: Option<BackupModel>,
    /// Generation 5: each item's total on hand.
    pub(super) item_totals: Vec<u32>,
    /// Generation 18: the handles held on a record, by (file, client).
    pub(super) held: HeldCursors,
    /// Generation 18: which images are updates of which inserted ones.
    pub(super) roots: Roots,
    /// Generation 18: a bulk load a crash cut short, until recovery says what it left.
    pub(super) crashed_load: Option<CrashedLoad>,
}

/// What the run did: the counters [`Outcome`] reports, and the running trace hash.
/// Each counter is the [`Outcome`] field of the same meaning.
pub(super) struct Tally {
    /// Engine answers checked.
    pub(super) ops: u64,
    pub(super) crashes: u64,
    /// Files recovered and checked.
    pub(super) checked: u64,
    pub(super) damage_detected: u64,
    /// Damaged files accepted at an older state (the relaxed rule for lying faults).
    pub(super) damage_older_state: u64,
    /// Files accepted at an older state because their delta's last transaction was
    /// damaged before any later one could vouch for it.
    pub(super) delta_older_state: u64,
    /// Log modes: log damage reported (the seed ends), and recoveries that dropped the
    /// damaged last synced group.
    pub(super) log_damage_detected: u64,
    pub(super) log_older_state: u64,
    /// Transactions ended / aborted.
    pub(super) transactions: (u64, u64),
    pub(super) split_transactions: u64,
    pub(super) interrupted_recoveries: u64,
    pub(super) admin_requests: u64,
    /// Generation 9: recoveries run with faults on, and how many of them failed
    /// (with an explained status, or a crash) before a fault-free one.
    pub(super) faulty_recoveries: u64,
    pub(super) failed_faulty_recoveries: u64,
    pub(super) segments_recycled: u64,
    /// Pages bulk loads spilled ahead of their commit (`engine/src/pager/spill.rs`).
    pub(super) pages_spilled: u64,
    pub(super) group_acks: u64,
    /// Generation 5: what the transfers did.
    pub(super) transfers: u64,
    pub(super) inventory_splits: u64,
    /// Backup cycles: (startbu, copies checked, endbu or kill) completed.
    pub(super) backups: (u64, u64, u64),
    /// Generation 14: see [`Outcome::archival`].
    pub(super) archival: (u64, u64, u64, u64, u64, u64, u64),
    /// Generation 18: held-cursor moves checked, and those after the client's view of
    /// the file changed since the cursor's last landing.
    pub(super) cursor_moves: u64,
    pub(super) cursor_moves_across_changes: u64,
    /// Generation 18: bulk loads run, records they inserted, loads judged record by
    /// record (module `bulk`), loads a crash or log failure cut short, and what the
    /// recoveries after those found (nothing of the load, a prefix of whole batches,
    /// all it had inserted).
    pub(super) bulk_loads: u64,
    pub(super) bulk_records: u64,
    pub(super) bulk_per_record: u64,
    pub(super) bulk_crashed: u64,
    pub(super) bulk_crash_outcomes: (u64, u64, u64),
    /// The running hash of every step and answer (FNV-1a); the trace hash adds the
    /// disk's I/O trace.
    pub(super) hash: u64,
}

/// How a result reads in a failure message.
pub(super) trait Shown {
    fn shown(&self) -> String;
}

impl Shown for () {
    fn shown(&self) -> String {
        "success".into()
    }
}

/// A workload record: its id, group and tag (the payload is noise).
impl Shown for Vec<u8> {
    fn shown(&self) -> String {
        if self.len() != workload::RECORD_LEN {
            return format!("{} bytes {:02x?}", self.len(), self);
        }
        format!(
            "record id {} group {} tag {:?} payload {:02x?}",
            workload::id_of(self),
            workload::group_of(self),
            String::from_utf8_lossy(workload::tag_of(self)).trim_end_matches('\0'),
            &self[18..]
        )
    }
}

/// Statuses injected faults may legitimately cause.
pub(super) fn fault_status(s: Status) -> bool {
    matches!(s, Status::IoError | Status::DiskFull)
}

/// Statuses injected faults may legitimately cause when opening a file: also 14, when a
/// writable open of a legacy file cannot create its pre-image file
/// ([`World::explain`] holds 14 to faults on that file alone).
pub(super) fn open_fault_status(s: Status) -> bool {
    fault_status(s) || s == Status::PreImageOpenError
}

impl Rig {
    /// The layout of file `f`: the seed's spec, in the file's format.
    pub(super) fn spec_of(&self, f: usize) -> FileSpec {
        let format = if self.legacy.get(f).copied().unwrap_or(false) {
            engine::FileFormat::V5
        } else {
            engine::FileFormat::V6
        };
        FileSpec {
            format,
            compact_leaves: self.compact.get(f).copied().unwrap_or(false),
            slot_serial_bytes: self.serial_bytes.get(f).copied().unwrap_or(8),
            ..self.spec.clone()
        }
    }

    /// A fresh engine on the rig's disk and clock.
    pub(super) fn new_engine(&self) -> Engine {
        Engine::new(
            Arc::new(self.vfs.clone()) as Arc<dyn Vfs>,
            Arc::new(self.clock.clone()),
            self.config.clone(),
        )
    }

    /// The running engine, or an error if it died and recovery has not replaced it.
    pub(super) fn engine_ref(&self) -> Result<&Engine, String> {
        self.engine.as_ref().ok_or_else(|| "no engine".to_string())
    }

    /// The running engine, mutably (as [`Rig::engine_ref`]).
    pub(super) fn engine_mut(&mut self) -> Result<&mut Engine, String> {
        self.engine.as_mut().ok_or_else(|| "no engine".to_string())
    }
}

impl Tally {
    /// Nothing done yet; the hash starts at the FNV-1a offset basis.
    pub(super) fn new() -> Tally {
        Tally {
            ops: 0,
            crashes: 0,
            checked: 0,
            damage_detected: 0,
            damage_older_state: 0,
            delta_older_state: 0,
            log_damage_detected: 0,
            log_older_state: 0,
            transactions: (0, 0),
            split_transactions: 0,
            interrupted_recoveries: 0,
            admin_requests: 0,
            faulty_recoveries: 0,
            failed_faulty_recoveries: 0,
            segments_recycled: 0,
            pages_spilled: 0,
            group_acks: 0,
            transfers: 0,
            inventory_splits: 0,
            backups: (0, 0, 0),
            archival: (0, 0, 0, 0, 0, 0, 0),
            cursor_moves: 0,
            cursor_moves_across_changes: 0,
            bulk_loads: 0,
            bulk_records: 0,
            bulk_per_record: 0,
            bulk_crashed: 0,
            bulk_crash_outcomes: (0, 0, 0),
            hash: 0xcbf2_9ce4_8422_2325,
        }
    }

    /// Hash `x` into the trace (FNV-1a over its bytes).
    pub(super) fn mix(&mut self, x: u64) {
        for b in x.to_le_bytes() {
            self.hash = (self.hash ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }
}

impl World {
    /// Report what the run did.
    pub(super) fn fill(&self, o: &mut Outcome) {
        o.operations = self.tally.ops;
        o.crashes = self.tally.crashes;
        o.recoveries_checked = self.tally.checked;
        o.damage_detected = self.tally.damage_detected;
        o.damage_older_state = self.tally.damage_older_state;
        o.delta_older_state = self.tally.delta_older_state;
        o.log_damage = (self.tally.log_damage_detected, self.tally.log_older_state);
        o.transactions = self.tally.transactions;
        o.split_transactions = self.tally.split_transactions;
        o.interrupted_recoveries = self.tally.interrupted_recoveries;
        o.admin_requests = self.tally.admin_requests;
        o.faulty_recoveries = (
            self.tally.faulty_recoveries,
            self.tally.failed_faulty_recoveries,
        );
        o.segments_recycled = self.tally.segments_recycled;
        o.pages_spilled = self.tally.pages_spilled;
        o.group_acks = self.tally.group_acks;
        o.transfers = self.tally.transfers;
        o.backups = self.tally.backups;
        o.archival = self.tally.archival;
        o.inventory_splits = self.tally.inventory_splits;
        o.cursor_moves = (
            self.tally.cursor_moves,
            self.tally.cursor_moves_across_changes,
        );
        let t = &self.tally;
        o.bulk = (
            t.bulk_loads,
            t.bulk_records,
            t.bulk_per_record,
            t.bulk_crashed,
        );
        o.bulk_crash_outcomes = t.bulk_crash_outcomes;
        o.log_mode = self.log_mode.name();
        o.faults = self.rig.vfs.stats();
        o.excused = (self.cause.direct, self.cause.sticky, self.cause.damaged);
        o.trace_hash = self.tally.hash ^ self.rig.vfs.trace_hash().rotate_left(17);
    }

    /// After every step, and before a crash or a reopen: record what the engine's
    /// commit counters say it attempted and made durable since the last look (each
    /// attempt is a state a crash may leave), and how far its log is durable.
    pub(super) fn observe(&mut self) -> Result<(), String> {
        let Some(e) = &self.rig.engine else {
            return Ok(());
        };
        let mut failed = Vec::new();
        for (i, f) in self.model.files.iter_mut().enumerate() {
            let c = e.commit_counters(&f.path);
            if c.attempts > f.seen.0 && c.durable == f.seen.1 {
                failed.push(i);
            }
            if c.durable > f.seen.1 {
                self.aims.committed(i, &self.rig.vfs);
            }
            f.observe(c.attempts, c.durable)?;
        }
        self.model.journal.durable_lsn = self.model.journal.durable_lsn.max(e.log_durable_lsn());
        for f in failed {
            self.maybe_misdirect_retry(f);
            self.maybe_aim_fcr_power_cut(f);
        }
        Ok(())
    }

    /// Compare a result with what the model expects; fault statuses are accepted
    /// (the model is then unchanged, since operations are atomic).
    pub(super) fn expect<T: Shown + PartialEq>(
        &mut self,
        what: &str,
        got: &Result<T, engine::Error>,
        want: Result<T, Status>,
    ) -> Result<bool, String> {
        self.tally.ops += 1;
        let code = match got {
            Ok(_) => 0,
            Err(e) => u64::from(e.status.code()),
        };
        self.tally.mix(code);
        match (got, &want) {
            (Ok(g), Ok(w)) if g == w => Ok(true),
            (Err(e), Err(s)) if e.status == *s => Ok(false),
            (Err(e), _) if fault_status(e.status) => {
                self.explain(what, e.status)?;
                Ok(false)
            }
            _ => Err(format!(
                "invariant 8 / read check: {what}: engine returned {}, model expects {}",
                match got {
                    Ok(g) => g.shown(),
                    Err(e) => e.to_string(),
                },
                match &want {
                    Ok(w) => w.shown(),
                    Err(s) => format!("status {}", s.code()),
                }
            )),
        }
    }

    /// The engine dies (crash or the end of the run): keep its counters.
    pub(super) fn retire_engine(&mut self) {
        if let Some(e) = self.rig.engine.take() {
            self.tally.segments_recycled += e.stats().log_segments_recycled;
            self.tally.pages_spilled += e.stats().pages_spilled;
        }
    }
}
