//! The state a seed runs in ([`World`]): the engine under test and its simulated disk,
//! the model it is checked against, and the counters and hash the run reports. Also
//! the one way a result is checked ([`World::expect`]): every engine answer is counted,
//! hashed into the trace and compared with the model's, and only injected faults may
//! excuse a difference.

use super::backup::BackupModel;
use super::clients::TxnModel;
use super::schedule::Schedule;
use super::Outcome;
use crate::model::{FileModel, Journal};
use crate::vfs::SimVfs;
use crate::workload;
use engine::clock::ManualClock;
use engine::vfs::Vfs;
use engine::{Config, Engine, FileSpec, Handle, LogMode, Status};
use std::sync::Arc;

/// Everything one seed's run holds.
pub(super) struct World {
    /// What happens next: the turns, their streams, the crash decisions.
    pub(super) sched: Schedule,
    pub(super) spec: FileSpec,
    pub(super) vfs: SimVfs,
    pub(super) clock: ManualClock,
    pub(super) config: Config,
    pub(super) engine: Option<Engine>,
    pub(super) files: Vec<FileModel>,
    /// `handles[file][client]`: each simulated client has one handle on every file.
    pub(super) handles: Vec<Vec<Handle>>,
    /// Each client's open transaction, if any.
    pub(super) txns: Vec<Option<TxnModel>>,
    /// Durability mode: the commit LSN of each client's End waiting for a group
    /// commit (the client is blocked until then).
    pub(super) awaiting: Vec<Option<u64>>,
    pub(super) group_acks: u64,
    /// The workload generation (see `workload::WORKLOAD_VERSION`).
    pub(super) workload: u32,
    /// Generation 6: the backup cycle under way, if any.
    pub(super) backup: Option<BackupModel>,
    pub(super) backups: (u64, u64, u64),
    /// Generation 5: each item's total on hand, and what the transfers did.
    pub(super) item_totals: Vec<u32>,
    pub(super) transfers: u64,
    pub(super) inventory_splits: u64,
    pub(super) log_mode: LogMode,
    /// Log modes: what survives a crash.
    pub(super) journal: Journal,
    /// Ended multi-file transactions since the last recovery, for split detection.
    pub(super) multi: Vec<Vec<(usize, usize)>>,
    pub(super) split_transactions: u64,
    pub(super) transactions: (u64, u64),
    pub(super) interrupted_recoveries: u64,
    pub(super) segments_recycled: u64,
    pub(super) ops: u64,
    pub(super) crashes: u64,
    pub(super) checked: u64,
    pub(super) damage_detected: u64,
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

impl World {
    pub(super) fn new_engine(&self) -> Engine {
        Engine::new(
            Arc::new(self.vfs.clone()) as Arc<dyn Vfs>,
            Arc::new(self.clock.clone()),
            self.config.clone(),
        )
    }

    pub(super) fn mix(&mut self, x: u64) {
        for b in x.to_le_bytes() {
            self.hash = (self.hash ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }

    pub(super) fn fill(&self, o: &mut Outcome) {
        o.operations = self.ops;
        o.crashes = self.crashes;
        o.recoveries_checked = self.checked;
        o.damage_detected = self.damage_detected;
        o.transactions = self.transactions;
        o.split_transactions = self.split_transactions;
        o.interrupted_recoveries = self.interrupted_recoveries;
        o.segments_recycled = self.segments_recycled;
        o.group_acks = self.group_acks;
        o.transfers = self.transfers;
        o.backups = self.backups;
        o.inventory_splits = self.inventory_splits;
        o.log_mode = self.log_mode.name();
        o.faults = self.vfs.stats();
        o.trace_hash = self.hash ^ self.vfs.trace_hash().rotate_left(17);
    }

    pub(super) fn observe(&mut self) -> Result<(), String> {
        let Some(e) = &self.engine else { return Ok(()) };
        for f in &mut self.files {
            let c = e.commit_counters(&f.path);
            f.observe(c.attempts, c.durable)?;
        }
        self.journal.durable_lsn = self.journal.durable_lsn.max(e.log_durable_lsn());
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
        self.ops += 1;
        let code = match got {
            Ok(_) => 0,
            Err(e) => u64::from(e.status.code()),
        };
        self.mix(code);
        match (got, &want) {
            (Ok(g), Ok(w)) if g == w => Ok(true),
            (Err(e), Err(s)) if e.status == *s => Ok(false),
            (Err(e), _) if fault_status(e.status) => Ok(false),
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
        if let Some(e) = self.engine.take() {
            self.segments_recycled += e.stats().log_segments_recycled;
        }
    }

    pub(super) fn engine_ref(&self) -> Result<&Engine, String> {
        self.engine.as_ref().ok_or_else(|| "no engine".to_string())
    }

    pub(super) fn engine_mut(&mut self) -> Result<&mut Engine, String> {
        self.engine.as_mut().ok_or_else(|| "no engine".to_string())
    }
}
