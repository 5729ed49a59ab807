//! Runs one seed: draws the seed's swarm of faults, operation mix and engine
//! tunables, drives the engine on a `SimVfs`, compares every read and status with
//! the model while it runs, and after every crash recovers and checks the
//! invariants. Everything derives from the seed, so a seed replays exactly.

use crate::check;
use crate::model::{FileModel, Journal, JournalEntry, Records};
use crate::plan::Plan;
use crate::vfs::{Fault, FaultConfig, FaultStats, SimVfs};
use crate::workload::{self, Step};
use engine::clock::ManualClock;
use engine::mutant::Mutant;
use engine::vfs::Vfs;
use engine::{Client, Config, Engine, FileSpec, GetOp, Handle, LogMode, OpenMode, Status};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How to run a seed.
#[derive(Clone, Debug)]
pub struct Options {
    /// Workload steps per seed.
    pub steps: usize,
    pub mutant: Option<Mutant>,
    /// Run only these step numbers (ascending, each `< steps`) — a shrunk workload.
    /// Every step draws from its own stream (seed, step number), so dropping steps
    /// leaves the others' choices and faults as they were.
    pub only_steps: Option<Vec<usize>>,
    /// Workload generation ([`workload::WORKLOAD_VERSION`] unless replaying an old
    /// regression case).
    pub workload: u32,
    /// Run this plan instead of drawing setup and steps from the seed (the seed
    /// argument is then ignored: the plan carries its own; `steps` and `only_steps`
    /// too — the plan lists its steps).
    pub plan: Option<Plan>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            steps: 1000,
            mutant: None,
            only_steps: None,
            workload: workload::WORKLOAD_VERSION,
            plan: None,
        }
    }
}

/// What one seed did and found.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    pub seed: u64,
    pub operations: u64,
    pub crashes: u64,
    pub recoveries_checked: u64,
    /// Recoveries that found a file a lying disk had damaged and detected it (the file
    /// then fails its check or its open with status 2 and is replaced).
    pub damage_detected: u64,
    /// Transactions ended / aborted.
    pub transactions: (u64, u64),
    /// Recoveries a crash interrupted (log modes), each followed by another.
    pub interrupted_recoveries: u64,
    /// The seed's transaction log mode.
    pub log_mode: &'static str,
    /// Log segments the engine recycled.
    pub segments_recycled: u64,
    /// Durability-mode Ends acknowledged by a group commit.
    pub group_acks: u64,
    /// Inventory transfers ended, and recoveries (log mode Off) that found an item's
    /// total changed by a split transfer.
    pub transfers: u64,
    pub inventory_splits: u64,
    /// Backup cycles: (startbu, copies checked, endbu or kill) completed.
    pub backups: (u64, u64, u64),
    /// Ended multi-file transactions a crash left in some of their files only (what
    /// log mode Off allows; Logging and Durability must never show one).
    pub split_transactions: u64,
    pub faults: FaultStats,
    /// The first invariant violation, if any.
    pub failure: Option<String>,
    /// Hash of the whole run (I/O trace and every result), for determinism checks.
    pub trace_hash: u64,
}

/// Run one seed. A panic anywhere in the engine is caught and reported as a failure
/// (invariant 8: errors are statuses, never panics).
pub fn run_seed(seed: u64, opts: &Options) -> Outcome {
    let seed = opts.plan.as_ref().map_or(seed, |p| p.setup.seed);
    let mut out = Outcome {
        seed,
        ..Outcome::default()
    };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut w = World::new(seed, opts);
        let r = w.run(opts);
        let mut o = Outcome {
            seed,
            ..Outcome::default()
        };
        w.fill(&mut o);
        o.failure = r.err();
        o
    }));
    match result {
        Ok(o) => out = o,
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "non-string panic".into());
            out.failure = Some(format!("invariant 8: panic: {msg}"));
        }
    }
    out
}

/// The seed of stream `k` of step `i`: steps (and the setup, `i = u64::MAX`) draw from
/// independent streams so a shrunk workload keeps the choices of the steps it keeps.
fn stream_seed(seed: u64, i: u64, k: u64) -> u64 {
    // SplitMix64 finaliser over the three inputs.
    let mut z = seed
        .wrapping_add(i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
        .wrapping_add(k.wrapping_mul(0xbf58_476d_1ce4_e5b9));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

struct World {
    seed: u64,
    rng: ChaCha8Rng,
    spec: FileSpec,
    vfs: SimVfs,
    clock: ManualClock,
    config: Config,
    engine: Option<Engine>,
    files: Vec<FileModel>,
    /// `handles[file][client]`: each simulated client has one handle on every file.
    handles: Vec<Vec<Handle>>,
    /// Each client's open transaction, if any.
    txns: Vec<Option<TxnModel>>,
    /// Durability mode: the commit LSN of each client's End waiting for a group
    /// commit (the client is blocked until then).
    awaiting: Vec<Option<u64>>,
    group_acks: u64,
    /// The workload generation (see `workload::WORKLOAD_VERSION`).
    workload: u32,
    /// Generation 6: the backup cycle under way, if any.
    backup: Option<BackupModel>,
    backups: (u64, u64, u64),
    /// Generation 5: each item's total on hand, and what the transfers did.
    item_totals: Vec<u32>,
    transfers: u64,
    inventory_splits: u64,
    log_mode: LogMode,
    /// Log modes: what survives a crash.
    journal: Journal,
    /// Ended multi-file transactions since the last recovery, for split detection.
    multi: Vec<Vec<(usize, usize)>>,
    split_transactions: u64,
    transactions: (u64, u64),
    interrupted_recoveries: u64,
    segments_recycled: u64,
    weights: Vec<(Step, u32)>,
    ops: u64,
    crashes: u64,
    checked: u64,
    damage_detected: u64,
    hash: u64,
}

/// Simulated clients; each has a handle on every file and may run transactions.
const CLIENTS: usize = 2;

fn client(k: usize) -> Client {
    Client(k as u32 + 1)
}

/// A backup cycle in the model (generation 6).
#[derive(Clone, Debug)]
struct BackupModel {
    /// The files of the `startbu` set.
    set: Vec<usize>,
    /// Each set file's records at the `startbu` instant.
    instant: Vec<Records>,
    /// Copies taken (and checked) yet?
    copied: bool,
}

/// A client's open transaction in the model.
#[derive(Clone, Debug, Default)]
struct TxnModel {
    /// Per file, the records it changed (`None`: deleted), applied at End.
    changes: BTreeMap<usize, BTreeMap<u32, Option<Vec<u8>>>>,
    /// Files the transaction holds (changed or tried to change).
    locked: BTreeSet<usize>,
}

/// How a result reads in a failure message.
trait Shown {
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
fn fault_status(s: Status) -> bool {
    matches!(s, Status::IoError | Status::DiskFull)
}

impl World {
    fn new(seed: u64, opts: &Options) -> World {
        let mut rng = ChaCha8Rng::seed_from_u64(stream_seed(seed, u64::MAX, 0));
        // Choices added by later workload generations come from their own streams.
        let mut ext = ChaCha8Rng::seed_from_u64(stream_seed(seed, u64::MAX, 1));
        let mut log_stream = ChaCha8Rng::seed_from_u64(stream_seed(seed, u64::MAX, 2));
        let mut faults = FaultConfig::swarm(&mut rng);
        let seed_vfs = rng.random();
        let (log_mode, segment_size) = workload::log_mode(&mut log_stream, opts.workload);
        if log_mode != LogMode::Off {
            // Lying-disk detection is exercised by the Off seeds; with a log, a damaged
            // data file would be rebuilt from the log, which the model does not follow.
            faults = faults.without_lying();
        } else if opts.workload >= 3 {
            // Off seeds are a third of the campaign now: make latent corruption more
            // common among them so detection stays well exercised (generation 5 more
            // so: its inventory keeps more pages hot in the cache).
            let (p, rates) = if opts.workload >= 7 {
                (0.9, [0.002, 0.004, 0.008])
            } else if opts.workload >= 6 {
                (0.7, [0.001, 0.002, 0.004])
            } else if opts.workload >= 5 {
                (0.5, [0.0005, 0.001, 0.002])
            } else {
                (0.3, [0.0002, 0.0005, 0.001])
            };
            if log_stream.random_bool(p) {
                faults.latent_corruption =
                    Fault::on(rates[log_stream.random_range(0..rates.len())]);
            }
        }
        let mut config = Config {
            operation_bundle_limit: rng.random_range(1..60),
            initiation_time_limit: Duration::from_millis(rng.random_range(1..200)),
            max_dirty_pages: rng.random_range(8..400),
            clean_cache_pages: rng.random_range(4..256),
            log_mode,
            log_dir: PathBuf::from("/log"),
            log_segment_size: segment_size,
            mutant: opts.mutant,
            ..Config::default()
        };
        let mut page_size = [512, 1024, 4096][rng.random_range(0..3)];
        let mut nfiles = rng.random_range(1..=3);
        let mut log_mode = log_mode;
        if let Some(plan) = &opts.plan {
            // The plan names the setup; the draws above only kept the streams aligned.
            let s = &plan.setup;
            faults = s.faults();
            log_mode = s.log_mode();
            config.log_mode = log_mode;
            config.log_segment_size = s.segment_size();
            config.operation_bundle_limit = s.bundle_limit();
            config.initiation_time_limit = Duration::from_millis(s.initiation_ms());
            config.max_dirty_pages = s.max_dirty_pages();
            config.clean_cache_pages = s.clean_cache_pages();
            page_size = s.page_size();
            nfiles = s.files();
        }
        let vfs = SimVfs::new(seed_vfs, faults);
        let files: Vec<FileModel> = (0..nfiles)
            .map(|i| FileModel::new(PathBuf::from(format!("/data/f{i}.btr"))))
            .collect();
        let weights = workload::weights(&mut rng, &mut ext, opts.workload);
        let w = World {
            seed,
            rng,
            spec: workload::spec(page_size),
            vfs,
            clock: ManualClock::new(),
            config,
            engine: None,
            files,
            handles: Vec::new(),
            txns: vec![None; CLIENTS],
            awaiting: vec![None; CLIENTS],
            group_acks: 0,
            workload: opts.workload,
            item_totals: Vec::new(),
            backup: None,
            backups: (0, 0, 0),
            transfers: 0,
            inventory_splits: 0,
            log_mode,
            journal: Journal::default(),
            multi: Vec::new(),
            split_transactions: 0,
            transactions: (0, 0),
            interrupted_recoveries: 0,
            segments_recycled: 0,
            weights,
            ops: 0,
            crashes: 0,
            checked: 0,
            damage_detected: 0,
            hash: 0xcbf2_9ce4_8422_2325,
        };
        let mut w = w;
        let stocked = opts.workload >= 5 && w.files.len() >= 2;
        w.vfs.with_faults_paused(|| {
            let mut e = w.new_engine();
            for f in &w.files {
                if let Err(err) = e.create(&f.path, &w.spec) {
                    panic!("creating {}: {err}", f.path.display());
                }
                if stocked {
                    // Every location starts with ITEM_START of each item.
                    let stock = (|| {
                        let h = e.open(&f.path, OpenMode::Normal)?;
                        for i in 0..workload::ITEMS {
                            e.insert(h, &workload::item_record(i, workload::ITEM_START))?;
                        }
                        e.close(h)
                    })();
                    if let Err(err) = stock {
                        panic!("stocking {}: {err}", f.path.display());
                    }
                }
            }
        });
        if stocked {
            for f in &mut w.files {
                for i in 0..workload::ITEMS {
                    f.put(
                        workload::item_id(i),
                        workload::item_record(i, workload::ITEM_START),
                    );
                }
                let stock = Records::clone(&f.live);
                f.recovered(stock);
            }
            w.journal.base = w.files.iter().map(|f| Records::clone(&f.live)).collect();
            w.item_totals =
                vec![workload::ITEM_START * w.files.len() as u32; workload::ITEMS as usize];
        }
        w
    }

    fn new_engine(&self) -> Engine {
        Engine::new(
            Arc::new(self.vfs.clone()) as Arc<dyn Vfs>,
            Arc::new(self.clock.clone()),
            self.config.clone(),
        )
    }

    fn mix(&mut self, x: u64) {
        for b in x.to_le_bytes() {
            self.hash = (self.hash ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }

    fn fill(&self, o: &mut Outcome) {
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

    fn run(&mut self, opts: &Options) -> Result<(), String> {
        self.recover("start")?;
        // (stream number, the step if the plan fixes it, else drawn from the stream).
        let schedule: Vec<(u64, Option<Step>)> = match (&opts.plan, &opts.only_steps) {
            (Some(plan), _) => plan
                .steps
                .iter()
                .enumerate()
                .map(|(i, s)| (i as u64 | u64::from(s.salt) << 32, Some(s.step)))
                .collect(),
            (None, Some(only)) => only.iter().map(|&i| (i as u64, None)).collect(),
            (None, None) => (0..opts.steps as u64).map(|i| (i, None)).collect(),
        };
        for (i, fixed) in schedule {
            self.rng = ChaCha8Rng::seed_from_u64(stream_seed(self.seed, i, 0));
            self.vfs.reseed(stream_seed(self.seed, i, 1));
            let step = match fixed {
                Some(step) => step,
                None => workload::draw(&mut self.rng, &self.weights),
            };
            self.mix(i ^ ((step as u64) << 32));
            tracing::debug!(target: "sim", i, ?step, "step");
            if self.awaiting.iter().all(|a| a.is_some()) {
                // Every client waits: the log writer runs.
                self.group_sync()?;
            }
            self.step(step)?;
            self.observe()?;
            let log_failed = self.engine.as_ref().is_some_and(|e| e.log_failed());
            if self.vfs.is_crashed() || log_failed {
                // A failed log write or sync stops the engine: the application
                // restarts it, and recovery decides what the log kept.
                self.crash()?;
            }
        }
        // Every seed ends with a power loss and a full check.
        self.crashes += 1;
        self.retire_engine();
        self.vfs.clear_crash_point();
        self.vfs.power_loss();
        self.recover("final power loss")
    }

    fn observe(&mut self) -> Result<(), String> {
        let Some(e) = &self.engine else { return Ok(()) };
        for f in &mut self.files {
            let c = e.commit_counters(&f.path);
            f.observe(c.attempts, c.durable)?;
        }
        self.journal.durable_lsn = self.journal.durable_lsn.max(e.log_durable_lsn());
        Ok(())
    }

    /// Crash now (process crash or power loss, by the seed) and recover.
    fn crash(&mut self) -> Result<(), String> {
        // Whatever the engine attempted up to now is a candidate state.
        self.observe()?;
        self.crashes += 1;
        self.retire_engine();
        self.vfs.clear_crash_point();
        let power = self.rng.random_bool(0.6);
        tracing::info!(target: "sim", power, io_step = self.vfs.io_step(), "crash");
        if power {
            self.vfs.power_loss();
        } else {
            self.vfs.process_crash();
        }
        let vfs = self.vfs.clone();
        vfs.with_faults_paused(|| self.maybe_kill_backup())?;
        self.recover(if power { "power loss" } else { "process crash" })
    }

    /// Open every file fault-free, check structure (invariant 1) and that it holds a
    /// state the model allows (invariant 2 and durability), then reopen handles.
    ///
    /// A file a lying disk damaged (misdirected write, latent corruption) is held to
    /// what detection can promise: it either fails its check or open (detected — the
    /// operator restores it; here it is replaced by an empty file), or it holds a
    /// state made only of records that were written (a misdirected FCR write can
    /// silently leave an older state; nothing can leave data never written).
    fn recover(&mut self, why: &str) -> Result<(), String> {
        // In log modes, recovery itself (log reopen, roll-forward, its system
        // transactions) may crash; the next attempt must reach the same result.
        // (Off-mode recovery only reads, so crashing it proves nothing.)
        for attempt in 0.. {
            let arm = self.log_mode != LogMode::Off && attempt < 3 && self.rng.random_bool(0.25);
            if arm {
                let n = self.rng.random_range(1..80);
                self.vfs.set_crash_after(n);
            }
            let r = self.recover_once(why);
            if !self.vfs.is_crashed() {
                self.vfs.clear_crash_point();
                return r;
            }
            self.crashes += 1;
            self.interrupted_recoveries += 1;
            self.retire_engine();
            self.vfs.clear_crash_point();
            let power = self.rng.random_bool(0.6);
            tracing::info!(target: "sim", power, "crash during recovery");
            if power {
                self.vfs.power_loss();
            } else {
                self.vfs.process_crash();
            }
        }
        Ok(())
    }

    fn recover_once(&mut self, why: &str) -> Result<(), String> {
        let vfs = self.vfs.clone();
        vfs.with_faults_paused(|| {
            let mut e = self.new_engine();
            self.handles.clear();
            if self.log_mode != LogMode::Off {
                self.recover_logged(&mut e, why)?;
            }
            let mut at = Vec::new();
            for i in 0..self.files.len() {
                if self.log_mode == LogMode::Off {
                    at.push(self.recover_file(&mut e, i, why)?);
                    self.checked += 1;
                }
                let c = e.commit_counters(&self.files[i].path);
                self.files[i].seen = (c.attempts, c.durable);
            }
            // Off mode promises per-file atomicity only: count the ended multi-file
            // transactions the crash left in some of their files but not all.
            for t in std::mem::take(&mut self.multi) {
                let inside: Option<Vec<bool>> = t
                    .iter()
                    .map(|&(f, from)| at[f].map(|j| j >= from))
                    .collect();
                if let Some(v) = inside {
                    if v.iter().any(|&x| x) && v.iter().any(|&x| !x) {
                        self.split_transactions += 1;
                    }
                }
            }
            let mut hs = Vec::new();
            for f in &self.files {
                let mut per = Vec::new();
                for k in 0..CLIENTS {
                    per.push(
                        e.open_as(client(k), &f.path, OpenMode::Normal)
                            .map_err(|x| format!("reopen: {x}"))?,
                    );
                }
                hs.push(per);
            }
            self.handles = hs;
            self.txns = vec![None; CLIENTS];
            self.awaiting = vec![None; CLIENTS];
            self.check_inventory(why)?;
            // Opening finished any roll-in that had begun; what remains in continuous
            // operations is what still has a delta.
            self.reconcile_backup();
            self.engine = Some(e);
            Ok(())
        })
    }

    /// Log modes: open every file for writing (which rolls it forward from the log),
    /// then check each file's structure and that together they hold the states at the
    /// last recovery plus one prefix of the journal that keeps every entry reported
    /// durable (invariants 3 and 4).
    fn recover_logged(&mut self, e: &mut Engine, why: &str) -> Result<(), String> {
        for f in &self.files {
            let h = e.open(&f.path, OpenMode::Normal).map_err(|x| {
                format!(
                    "invariant 3/4 (roll-forward) after {why}: opening {} for writing failed: {x}",
                    f.path.display()
                )
            })?;
            e.close(h)
                .map_err(|x| format!("after {why}: closing {}: {x}", f.path.display()))?;
        }
        let mut found = Vec::new();
        for f in &self.files {
            found.push(
                check::recovered_state(e, Arc::new(self.vfs.clone()), &f.path)
                    .map_err(|m| format!("after {why}: {m}"))?,
            );
            self.checked += 1;
        }
        if self.journal.base.is_empty() {
            // The first recovery of the seed: the files were just created.
            self.journal.base = vec![Records::new(); self.files.len()];
        }
        if self.journal.matching_prefix(&found).is_none() {
            let keep = self.journal.must_keep();
            let sizes = |st: &[Records]| st.iter().map(|r| r.len()).collect::<Vec<_>>();
            return Err(format!(
                "invariant 3/4 (multi-file atomicity, durability; log mode {}) after {why}: \
                 the files hold no prefix of the {} acknowledged log entries that keeps the \
                 {keep} reported durable (durable below LSN {}); record counts found {:?}, \
                 base {:?}, entry LSNs {:?}",
                self.log_mode.name(),
                self.journal.entries.len(),
                self.journal.durable_lsn,
                sizes(&found),
                sizes(&self.journal.base),
                self.journal
                    .entries
                    .iter()
                    .map(|x| x.lsn)
                    .collect::<Vec<_>>()
            ));
        }
        for (f, st) in self.files.iter_mut().zip(&found) {
            f.recovered(st.clone());
        }
        self.journal.base = found;
        self.journal.entries.clear();
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
        let path = self.files[i].path.clone();
        let damaged = self.damaged(i);
        let found = match check::recovered_state(e, Arc::new(self.vfs.clone()), &path) {
            Ok(found) => found,
            Err(m) if damaged => {
                tracing::info!(target: "sim", file = %path.display(), problem = %m, "damage detected; replacing the file");
                self.damage_detected += 1;
                let dir = engine::vfs::parent_dir(&path);
                let replaced = self
                    .vfs
                    .remove(&path)
                    .and_then(|()| self.vfs.sync_dir(&dir));
                replaced.map_err(|x| format!("removing damaged {}: {x}", path.display()))?;
                self.vfs.forget_damage(&path);
                // Its delta goes with it (the replacement is not in contops).
                if let Ok(d) = engine::contops::delta_path(&path) {
                    let _ = engine::contops::remove_delta(&self.vfs, &d);
                    self.vfs.forget_damage(&d);
                }
                e.create(&path, &self.spec)
                    .map_err(|x| format!("recreating {}: {x}", path.display()))?;
                self.files[i].reset();
                return Ok(None);
            }
            Err(m) => return Err(format!("after {why}: {m}")),
        };
        let f = &mut self.files[i];
        let at = f
            .candidates()
            .iter()
            .rposition(|c| **c == found)
            .map(|p| f.durable + p);
        if at.is_none() {
            if !damaged {
                return Err(format!(
                    "invariant 2 (per-file atomicity/durability) after {why}: {} holds {} records, \
                     which is no system-transaction boundary at or after the last durable one \
                     (candidate sizes {:?})",
                    path.display(),
                    found.len(),
                    f.candidates().iter().map(|s| s.len()).collect::<Vec<_>>()
                ) + &diff_summary(&found, f.candidates().last().map(|c| &**c)));
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
        f.recovered(found);
        Ok(at)
    }

    /// A client, a file, and that client's handle on it.
    fn pick(&mut self) -> (usize, usize, Handle) {
        let f = self.rng.random_range(0..self.files.len());
        let k = self.rng.random_range(0..CLIENTS);
        let k = self.ready(k);
        (k, f, self.handles[f][k])
    }

    /// Client `k`, or, if `k` is blocked waiting for its End to become durable, one
    /// that is not (the run loop makes sure one is).
    fn ready(&self, k: usize) -> usize {
        if self.awaiting[k].is_none() {
            return k;
        }
        (0..CLIENTS)
            .find(|&j| self.awaiting[j].is_none())
            .unwrap_or(k)
    }

    /// The log writer's group commit: one sync acknowledges every waiting End.
    fn group_sync(&mut self) -> Result<(), String> {
        let Some(lsn) = self.awaiting.iter().flatten().copied().max() else {
            return Ok(());
        };
        let got = self.engine_mut()?.wait_durable(lsn);
        tracing::debug!(target: "sim", lsn, ok = got.is_ok(), waiting = self.awaiting.iter().flatten().count(), "group commit");
        if self.expect("wait durable", &got, Ok(()))? {
            let durable = self.engine_ref()?.log_durable_lsn();
            for k in 0..CLIENTS {
                if let Some(l) = self.awaiting[k].take() {
                    if durable <= l {
                        return Err(format!(
                            "invariant 4 (durability): a group commit acknowledged client {k}'s \
                             End at LSN {l} while the log was durable only below {durable}"
                        ));
                    }
                    self.group_acks += 1;
                }
            }
        }
        Ok(())
    }

    /// File `f` as client `k` sees it: the committed records plus, if `k`'s
    /// transaction changed the file, those changes.
    fn view(&self, k: usize, f: usize) -> Arc<Records> {
        let live = &self.files[f].live;
        let Some(over) = self.txns[k].as_ref().and_then(|t| t.changes.get(&f)) else {
            return live.clone(); // a reference, not a copy
        };
        let mut r = Records::clone(live);
        for (id, v) in over {
            match v {
                Some(rec) => r.insert(*id, rec.clone()),
                None => r.remove(id),
            };
        }
        Arc::new(r)
    }

    /// The client whose transaction holds file `f`, if any.
    fn holder(&self, f: usize) -> Option<usize> {
        (0..CLIENTS).find(|&k| self.txns[k].as_ref().is_some_and(|t| t.locked.contains(&f)))
    }

    /// A change by client `k` to file `f` is about to be attempted: what the engine must
    /// answer if another client's transaction holds the file.
    fn locked_out(&self, k: usize, f: usize) -> Option<Status> {
        match self.holder(f) {
            Some(j) if j != k => Some(Status::FileInUse),
            _ => None,
        }
    }

    /// After a change attempt by client `k` (in a transaction, not locked out) on
    /// `f`: the engine locks the file for the transaction before applying the change,
    /// so the file must now be `k`'s — unless the attempt failed before locking (an
    /// I/O error on a damaged or poisoned file).
    fn sync_lock(&mut self, k: usize, f: usize, succeeded: bool) -> Result<(), String> {
        if self.txns[k].is_none() {
            return Ok(());
        }
        let owner = self.engine_ref()?.lock_owner(&self.files[f].path);
        match owner {
            Some(o) if o == client(k) => {
                if let Some(t) = self.txns[k].as_mut() {
                    t.locked.insert(f);
                }
                Ok(())
            }
            None if !succeeded => Ok(()),
            other => Err(format!(
                "after a change in client {k}'s transaction, file {f}'s lock belongs to {other:?}"
            )),
        }
    }

    /// After a change by client `k` returned (`ok`: acknowledged): apply it to the
    /// model, and in a log mode journal it — acknowledged, or uncertain if the call
    /// failed because the log did (the engine must then restart).
    fn changed(
        &mut self,
        k: usize,
        f: usize,
        id: u32,
        rec: Option<Vec<u8>>,
        ok: bool,
    ) -> Result<(), String> {
        if self.log_mode == LogMode::Off || self.txns[k].is_some() {
            if ok {
                self.apply(k, f, id, rec);
            }
            return Ok(());
        }
        let e = self.engine_ref()?;
        let uncertain = !ok && e.log_failed();
        if ok || uncertain {
            let lsn = e.last_commit_lsn();
            self.journal.entries.push(JournalEntry {
                lsn,
                uncertain,
                changes: vec![(f, id, rec.clone())],
            });
        }
        if ok {
            self.acknowledged_durably()?;
            self.apply(k, f, id, rec);
        }
        Ok(())
    }

    /// In Durability mode an acknowledged change must already be synced.
    fn acknowledged_durably(&self) -> Result<(), String> {
        let e = self.engine_ref()?;
        if self.log_mode == LogMode::Durability && e.log_durable_lsn() <= e.last_commit_lsn() {
            return Err(format!(
                "invariant 4 (durability): Durability mode acknowledged commit LSN {} while the \
                 log was durable only below {}",
                e.last_commit_lsn(),
                e.log_durable_lsn()
            ));
        }
        Ok(())
    }

    /// Apply an acknowledged change by client `k`: into its transaction, or committed.
    fn apply(&mut self, k: usize, f: usize, id: u32, rec: Option<Vec<u8>>) {
        match self.txns[k].as_mut() {
            Some(t) => {
                if let Some(r) = &rec {
                    self.files[f].written.insert(r.clone());
                }
                t.changes.entry(f).or_default().insert(id, rec);
            }
            None => match rec {
                Some(r) => self.files[f].put(id, r),
                None => {
                    self.files[f].remove(id);
                }
            },
        }
    }

    /// An id for an update, delete or get: mostly one present (never an inventory
    /// item, which only transfers change).
    fn existing_id(&mut self, live: &Records) -> u32 {
        let ids: Vec<u32> = live
            .keys()
            .copied()
            .filter(|&i| !workload::is_item(i))
            .collect();
        if ids.is_empty() || self.rng.random_bool(0.1) {
            return self.rng.random_range(0..workload::ID_RANGE);
        }
        ids[self.rng.random_range(0..ids.len())]
    }

    /// An inventory transfer by a client not in a transaction: Begin, read the item in
    /// file A, take `q` from it (abort if it has fewer), add `q` to it in file B, End.
    /// Every answer is checked like any other operation's; a failure aborts.
    fn transfer(&mut self) -> Result<(), String> {
        if self.files.len() < 2 {
            return Ok(());
        }
        let k = self.rng.random_range(0..CLIENTS);
        let k = self.ready(k);
        if self.txns[k].is_some() || self.awaiting[k].is_some() {
            return Ok(());
        }
        let item = self.rng.random_range(0..workload::ITEMS);
        let a = self.rng.random_range(0..self.files.len());
        let b = (a + self.rng.random_range(1..self.files.len())) % self.files.len();
        let q = self.rng.random_range(1..=20u32);
        let id = workload::item_id(item);
        let got = self.engine_mut()?.begin_transaction(client(k));
        if !self.expect("transfer: begin", &got, Ok(()))? {
            return Ok(());
        }
        self.txns[k] = Some(TxnModel::default());
        for (f, delta) in [(a, -i64::from(q)), (b, i64::from(q))] {
            let h = self.handles[f][k];
            let want = self
                .view(k, f)
                .get(&id)
                .cloned()
                .ok_or(Status::KeyValueNotFound);
            let got = self
                .engine_mut()?
                .get(h, GetOp::Equal, 0, &id.to_le_bytes());
            if !self.expect("transfer: get item", &got, want)? {
                return self.finish(k, false);
            }
            let Ok(rec) = got else {
                return self.finish(k, false);
            };
            let count = i64::from(workload::count_of(&rec)) + delta;
            let Ok(count) = u32::try_from(count) else {
                // Not enough on hand: give up.
                return self.finish(k, false);
            };
            let new = workload::item_record(item, count);
            let locked_out = self.locked_out(k, f);
            let got = self.engine_mut()?.update(h, &new);
            tracing::debug!(target: "sim", client = k, file = f, item, count, ok = got.is_ok(), "transfer update");
            let ok = self.expect(
                "transfer: update item",
                &got,
                locked_out.map_or(Ok(()), Err),
            )?;
            if locked_out.is_none() {
                self.sync_lock(k, f, ok)?;
            }
            self.changed(k, f, id, Some(new), ok)?;
            if !ok {
                return self.finish(k, false);
            }
        }
        self.transfers += 1;
        self.finish(k, true)
    }

    /// Did a lying-disk fault touch file `f` or its delta?
    fn damaged(&self, f: usize) -> bool {
        let path = &self.files[f].path;
        self.vfs.was_damaged(path)
            || engine::contops::delta_path(path).is_ok_and(|d| self.vfs.was_damaged(d))
    }

    fn paths_of(&self, set: &[usize]) -> Vec<PathBuf> {
        set.iter().map(|&f| self.files[f].path.clone()).collect()
    }

    /// Does `f`'s delta exist (as the OS sees it; the simulator's own look, never
    /// faulted)?
    fn has_delta(&self, f: usize) -> bool {
        engine::contops::delta_path(&self.files[f].path)
            .ok()
            .is_some_and(|d| self.vfs.read_file(&d).is_some())
    }

    /// `startbu` on a random set. Expected to be refused (41) if a transaction holds a
    /// file of the set; otherwise it succeeds, or fails through an injected fault —
    /// and then, all or nothing, no file of the set may be in continuous operations.
    fn start_backup(&mut self) -> Result<(), String> {
        if self.backup.is_some() {
            return Ok(());
        }
        let mut set: Vec<usize> = (0..self.files.len())
            .filter(|_| self.rng.random_bool(0.7))
            .collect();
        if set.is_empty() {
            set.push(self.rng.random_range(0..self.files.len()));
        }
        let paths = self.paths_of(&set);
        let held = set.iter().any(|&f| self.holder(f).is_some());
        let want = if held {
            Err(Status::OperationNotAllowed)
        } else {
            Ok(())
        };
        let got = self.engine_mut()?.start_backup(&paths);
        tracing::debug!(target: "sim", ?set, ok = got.is_ok(), "startbu");
        if self.expect("startbu", &got, want)? {
            self.backup = Some(BackupModel {
                instant: set
                    .iter()
                    .map(|&f| Records::clone(&self.files[f].live))
                    .collect(),
                set,
                copied: false,
            });
            self.backups.0 += 1;
            return Ok(());
        }
        let partial: Vec<usize> = set
            .iter()
            .copied()
            .filter(|&f| {
                self.engine_ref()
                    .is_ok_and(|e| e.in_backup(&self.files[f].path))
                    || self.has_delta(f)
            })
            .collect();
        if !partial.is_empty() {
            if got.as_ref().is_err_and(|e| fault_status(e.status)) {
                // Undoing the files already frozen failed under an injected fault too
                // (or a crash cut startbu short): those files are in continuous
                // operations at the instant of this startbu (they were frozen after
                // its flush). The application restarts.
                self.backup = Some(BackupModel {
                    instant: partial
                        .iter()
                        .map(|&f| Records::clone(&self.files[f].live))
                        .collect(),
                    set: partial,
                    copied: true,
                });
                return self.crash();
            }
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
    fn copy_backup(&mut self) -> Result<(), String> {
        let Some(b) = self.backup.clone().filter(|b| !b.copied) else {
            return Ok(());
        };
        let vfs = self.vfs.clone();
        // The copy and its check are the backup program's, not the engine's: no
        // injected fault or armed crash point applies to them.
        let armed = vfs.crash_point();
        vfs.clear_crash_point();
        let r = vfs.with_faults_paused(|| -> Result<(), String> {
            for (i, &f) in b.set.iter().enumerate() {
                let from = self.files[f].path.clone();
                let to = PathBuf::from(format!("/backup/f{f}.btr"));
                let _ = self.vfs.remove(&to);
                self.vfs
                    .copy_file(&from, &to)
                    .map_err(|e| format!("copying {}: {e}", from.display()))?;
                let mut scratch = Engine::new(
                    Arc::new(self.vfs.clone()) as Arc<dyn Vfs>,
                    Arc::new(ManualClock::new()),
                    Config::default(),
                );
                let damaged = self.vfs.was_damaged(&to);
                match check::recovered_state(&mut scratch, Arc::new(self.vfs.clone()), &to) {
                    Ok(found) if found == b.instant[i] => {}
                    Err(_) if damaged => {}
                    Ok(found) if damaged && self.files[f].phantom(&found).is_none() => {}
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
        if let Some(b) = self.backup.as_mut() {
            b.copied = true;
        }
        self.backups.1 += 1;
        Ok(())
    }

    /// `endbu` on the set: on success no delta may remain (invariant 5; the records are
    /// checked by every later read and recovery). A fault leaves it resumable.
    fn end_backup(&mut self) -> Result<(), String> {
        let Some(b) = self.backup.clone() else {
            return Ok(());
        };
        let paths = self.paths_of(&b.set);
        // A file a transaction holds keeps changes pending, and endbu needs none.
        let held = b.set.iter().any(|&f| self.holder(f).is_some());
        let want = if held {
            Err(Status::OperationNotAllowed)
        } else {
            Ok(())
        };
        let got = self.engine_mut()?.end_backup(&paths);
        tracing::debug!(target: "sim", set = ?b.set, ok = got.is_ok(), "endbu");
        if !self.expect("endbu", &got, want)? {
            // Some files may have been rolled in, others' roll-in begun: the rest stay
            // in contops, but the data files are no longer the frozen instant, so the
            // cycle's copy phase is over.
            if let Some(b) = self.backup.as_mut() {
                b.copied = true;
            }
            self.reconcile_backup();
            return Ok(());
        }
        {
            if let Some(&f) = b.set.iter().find(|&&f| self.has_delta(f)) {
                return Err(format!(
                    "invariant 5 (roll-in): endbu returned, yet {} still has a delta",
                    self.files[f].path.display()
                ));
            }
            self.backup = None;
            self.backups.2 += 1;
        }
        Ok(())
    }

    /// The files of the backup set still in continuous operations are those with a
    /// delta (an endbu that failed part-way, or a recovery that finished a roll-in).
    fn reconcile_backup(&mut self) {
        let Some(b) = self.backup.take() else { return };
        let (set, instant): (Vec<usize>, Vec<Records>) = b
            .set
            .iter()
            .zip(b.instant)
            .filter(|(&f, _)| self.has_delta(f))
            .map(|(&f, i)| (f, i))
            .unzip();
        if set.is_empty() {
            self.backups.2 += 1;
        } else {
            self.backup = Some(BackupModel {
                set,
                instant,
                copied: b.copied,
            });
        }
    }

    /// After a crash, the operator may take the seeds' other way out of continuous
    /// operations: delete the deltas (if no roll-in had begun). Each file of the set
    /// must then be exactly at the `startbu` instant (invariant 5), read before any
    /// roll-forward.
    fn maybe_kill_backup(&mut self) -> Result<(), String> {
        let Some(b) = self.backup.clone() else {
            return Ok(());
        };
        if !self.rng.random_bool(0.4) {
            return Ok(());
        }
        let mut deltas = Vec::new();
        for &f in &b.set {
            let d = engine::contops::delta_path(&self.files[f].path).map_err(|e| e.to_string())?;
            match engine::contops::probe_delta(&self.vfs, &d) {
                Ok(engine::contops::DeltaProbe::Present) => {
                    match engine::contops::scan_delta(&self.vfs, &d) {
                        Ok(sc) if sc.header.state == engine::contops::DeltaState::Active => {}
                        // A roll-in had begun (or the delta is unreadable): only endbu.
                        _ => return Ok(()),
                    }
                }
                Ok(_) => {}
                Err(_) => return Ok(()),
            }
            deltas.push(d);
        }
        for d in &deltas {
            engine::contops::remove_delta(&self.vfs, d)
                .map_err(|e| format!("killbu {}: {e}", d.display()))?;
        }
        tracing::info!(target: "sim", set = ?b.set, "deltas killed");
        let mut scratch = Engine::new(
            Arc::new(self.vfs.clone()) as Arc<dyn Vfs>,
            Arc::new(ManualClock::new()),
            Config::default(),
        );
        for (i, &f) in b.set.iter().enumerate() {
            let path = self.files[f].path.clone();
            if self.damaged(f) {
                continue;
            }
            let found = check::recovered_state(&mut scratch, Arc::new(self.vfs.clone()), &path)
                .map_err(|m| format!("after killing the deltas: {m}"))?;
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
                self.files[f].recovered(found);
            }
        }
        self.backup = None;
        self.backups.2 += 1;
        Ok(())
    }

    /// An item's total on hand: the sum of its counts over every file.
    fn item_total(&self, id: u32) -> u32 {
        self.files
            .iter()
            .filter_map(|f| f.live.get(&id))
            .map(|r| workload::count_of(r))
            .sum()
    }

    /// Generation 5: the total on hand of every item is what the files started with.
    /// With a log that must hold after every recovery (a transfer is in both its files
    /// or neither); in Off mode a crash may split one, which is counted.
    fn check_inventory(&mut self, why: &str) -> Result<(), String> {
        if self.workload < 5 || self.files.len() < 2 {
            return Ok(());
        }
        for i in 0..workload::ITEMS {
            let want = self.item_totals[i as usize];
            let id = workload::item_id(i);
            let total = self.item_total(id);
            if total != want {
                if self.log_mode == LogMode::Off {
                    // Expected of Off: count it, and carry on from the new totals.
                    self.inventory_splits += 1;
                    for j in 0..workload::ITEMS {
                        self.item_totals[j as usize] = self.item_total(workload::item_id(j));
                    }
                    return Ok(());
                }
                return Err(format!(
                    "invariant 3 (inventory: total on hand = sum of per-location counts; log \
                     mode {}) after {why}: item {i} totals {total}, not {want}",
                    self.log_mode.name()
                ));
            }
        }
        Ok(())
    }

    /// Compare a result with what the model expects; fault statuses are accepted
    /// (the model is then unchanged, since operations are atomic).
    fn expect<T: Shown + PartialEq>(
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

    fn step(&mut self, step: Step) -> Result<(), String> {
        match step {
            Step::Insert => {
                let (k, f, h) = self.pick();
                let id = self.rng.random_range(0..workload::ID_RANGE);
                let r = workload::record(id, &mut self.rng);
                let view = self.view(k, f);
                let want = match self.locked_out(k, f) {
                    Some(s) => Err(s),
                    None if view.contains_key(&id)
                        || view
                            .values()
                            .any(|x| workload::tag_of(x) == workload::tag_of(&r)) =>
                    {
                        Err(Status::DuplicateKeyValue)
                    }
                    None => Ok(()),
                };
                let got = self.engine_mut()?.insert(h, &r);
                tracing::debug!(target: "sim", client = k, file = f, id, ok = got.is_ok(), "insert");
                let ok = self.expect("insert", &got, want)?;
                if want != Err(Status::FileInUse) {
                    self.sync_lock(k, f, ok)?;
                }
                self.changed(k, f, id, Some(r), ok)?;
            }
            Step::Update | Step::Delete | Step::GetEqual => {
                let (k, f, h) = self.pick();
                let view = self.view(k, f);
                let id = self.existing_id(&view);
                let want = view.get(&id).cloned().ok_or(Status::KeyValueNotFound);
                let got = self
                    .engine_mut()?
                    .get(h, GetOp::Equal, 0, &id.to_le_bytes());
                if !self.expect("get equal", &got, want)? || step == Step::GetEqual {
                    return Ok(());
                }
                let locked_out = self.locked_out(k, f);
                if step == Step::Delete {
                    let got = self.engine_mut()?.delete(h);
                    tracing::debug!(target: "sim", client = k, file = f, id, ok = got.is_ok(), "delete");
                    let want = locked_out.map_or(Ok(()), Err);
                    let ok = self.expect("delete", &got, want)?;
                    if locked_out.is_none() {
                        self.sync_lock(k, f, ok)?;
                    }
                    self.changed(k, f, id, None, ok)?;
                } else {
                    let r = workload::record(id, &mut self.rng);
                    let taken = view
                        .iter()
                        .any(|(&i, x)| i != id && workload::tag_of(x) == workload::tag_of(&r));
                    let want = match locked_out {
                        Some(s) => Err(s),
                        None if taken => Err(Status::DuplicateKeyValue),
                        None => Ok(()),
                    };
                    let got = self.engine_mut()?.update(h, &r);
                    tracing::debug!(target: "sim", client = k, file = f, id, ok = got.is_ok(), "update");
                    let ok = self.expect("update", &got, want)?;
                    if locked_out.is_none() {
                        self.sync_lock(k, f, ok)?;
                    }
                    self.changed(k, f, id, Some(r), ok)?;
                }
            }
            Step::Scan => {
                let (k, f, h) = self.pick();
                let view = self.view(k, f);
                let key = self.rng.random_range(0..3);
                let reverse = self.rng.random_bool(0.3);
                let got = check::scan(self.engine_mut()?, h, key, reverse, view.len() + 1);
                let what = format!("scan key {key}{}", if reverse { " backwards" } else { "" });
                let verdict = got.map(|g| {
                    check::scan_matches(&g, &view, key, reverse)
                        .then_some(())
                        .ok_or(g.len())
                });
                // The engine's status (or success) is checked as usual; the records
                // it returned then must be the model's, in key order.
                let status = verdict.as_ref().map(|_| ()).map_err(Clone::clone);
                self.expect(&what, &status, Ok(()))?;
                if let Ok(Err(n)) = verdict {
                    return Err(format!(
                        "read check: {what}: the engine returned {n} records that are not the \
                         model's {} in key order",
                        view.len()
                    ));
                }
            }
            Step::Begin => {
                let k = self.rng.random_range(0..CLIENTS);
                let k = self.ready(k);
                let want = if self.txns[k].is_some() {
                    Err(Status::TransactionAlreadyActive)
                } else {
                    Ok(())
                };
                let got = self.engine_mut()?.begin_transaction(client(k));
                if self.expect("begin transaction", &got, want)? {
                    self.txns[k] = Some(TxnModel::default());
                }
            }
            Step::End | Step::Abort => {
                let k = self.rng.random_range(0..CLIENTS);
                let k = self.ready(k);
                self.finish(k, step == Step::End)?;
            }
            Step::Transfer => self.transfer()?,
            Step::StartBackup => self.start_backup()?,
            Step::CopyBackup => self.copy_backup()?,
            Step::EndBackup => self.end_backup()?,
            Step::Flush => {
                let got = self.engine_mut()?.flush();
                self.expect("flush", &got, Ok(()))?;
            }
            Step::Background => {
                let ms = self.rng.random_range(0..100);
                self.clock.advance(Duration::from_millis(ms));
                let got = self.engine_mut()?.background_step();
                self.expect("background step", &got, Ok(()))?;
                self.group_sync()?;
            }
            Step::Reopen => {
                let f = self.rng.random_range(0..self.files.len());
                if self.holder(f).is_some() {
                    // A file an open transaction changed cannot close (status 36,
                    // covered by the engine's tests); the application waits.
                    return Ok(());
                }
                let hs = std::mem::take(&mut self.handles[f]);
                let path = self.files[f].path.clone();
                if self.damaged(f) {
                    // A damaged file may reopen at an older state; only a recovery
                    // can tell which. Restart the application.
                    return self.crash();
                }
                for h in hs {
                    let got = self.engine_mut()?.close(h);
                    if !self.expect("close", &got, Ok(()))? {
                        // The last close commits; if that failed, the engine closed
                        // the file and dropped what was not durable. The application
                        // restarts, and recovery decides which boundary survived.
                        return self.crash();
                    }
                }
                self.observe()?;
                let mut hs = Vec::new();
                for k in 0..CLIENTS {
                    match self
                        .engine_mut()?
                        .open_as(client(k), &path, OpenMode::Normal)
                    {
                        Ok(h) => hs.push(h),
                        // Could not reopen through injected faults: restart the
                        // application.
                        Err(e) if fault_status(e.status) => return self.crash(),
                        Err(e) => return Err(format!("reopen {}: {e}", path.display())),
                    }
                }
                self.handles[f] = hs;
                if self.damaged(f) {
                    // Damaged while it reopened: it may have come back at an older
                    // state (a corrupted last delta transaction reads as a torn
                    // tail); only a recovery can tell.
                    return self.crash();
                }
            }
            Step::ArmCrash => {
                let n = self.rng.random_range(1..400);
                self.vfs.set_crash_after(n);
            }
            Step::CrashNow => return self.crash(),
            Step::CrashInCommit => {
                let n = self.rng.random_range(1..5);
                self.vfs.set_crash_after(n);
                let got = self.engine_mut()?.flush();
                self.expect("flush", &got, Ok(()))?;
            }
        }
        Ok(())
    }

    /// The engine dies (crash or the end of the run): keep its counters.
    fn retire_engine(&mut self) {
        if let Some(e) = self.engine.take() {
            self.segments_recycled += e.stats().log_segments_recycled;
        }
    }

    /// End (or abort) client `k`'s transaction and check the answer: the model
    /// applies it at End, journals it in a log mode, and in Durability mode half the
    /// Ends wait for a group commit.
    fn finish(&mut self, k: usize, end: bool) -> Result<(), String> {
        // Durability mode: half the Ends wait for a group commit.
        let deferred = end
            && self.workload >= 4
            && self.log_mode == LogMode::Durability
            && self.rng.random_bool(0.5);
        let mut lsn = 0;
        let got = if deferred {
            self.engine_mut()?
                .end_transaction_deferred(client(k))
                .map(|l| lsn = l)
        } else if end {
            self.engine_mut()?.end_transaction(client(k))
        } else {
            self.engine_mut()?.abort_transaction(client(k))
        };
        let want = match self.txns[k] {
            Some(_) => Ok(()),
            None => Err(Status::EndAbortWithoutBegin),
        };
        tracing::debug!(target: "sim", client = k, end, ok = got.is_ok(), "end/abort transaction");
        let ok = self.expect(
            if end {
                "end transaction"
            } else {
                "abort transaction"
            },
            &got,
            want,
        )?;
        // An End the log failed under may or may not have reached the log.
        let uncertain = !ok && end && self.txns[k].is_some() && self.engine_ref()?.log_failed();
        if !ok && !uncertain {
            return Ok(());
        }
        let Some(t) = self.txns[k].take() else {
            return Ok(());
        };
        if !end {
            self.transactions.1 += 1;
            return Ok(());
        }
        if self.log_mode != LogMode::Off && !t.changes.is_empty() {
            let lsn = self.engine_ref()?.last_commit_lsn();
            let changes = t
                .changes
                .iter()
                .flat_map(|(&f, m)| m.iter().map(move |(&id, r)| (f, id, r.clone())))
                .collect();
            self.journal.entries.push(JournalEntry {
                lsn,
                uncertain,
                changes,
            });
            if uncertain {
                return Ok(());
            }
            if deferred {
                // Not acknowledged yet: the client waits for a group commit.
                self.awaiting[k] = Some(lsn);
            } else {
                self.acknowledged_durably()?;
            }
        }
        self.transactions.0 += 1;
        let mut touched = Vec::new();
        for (f, changes) in t.changes {
            // The first commit attempt of this file from now on carries it.
            touched.push((f, self.files[f].states.len()));
            for (id, rec) in changes {
                match rec {
                    Some(r) => self.files[f].put(id, r),
                    None => {
                        self.files[f].remove(id);
                    }
                }
            }
        }
        if touched.len() > 1 && self.log_mode == LogMode::Off {
            self.multi.push(touched);
        }
        Ok(())
    }

    fn engine_ref(&self) -> Result<&Engine, String> {
        self.engine.as_ref().ok_or_else(|| "no engine".to_string())
    }

    fn engine_mut(&mut self) -> Result<&mut Engine, String> {
        self.engine.as_mut().ok_or_else(|| "no engine".to_string())
    }
}

/// Which ids differ between a recovered state and the newest candidate.
fn diff_summary(found: &Records, want: Option<&Records>) -> String {
    let Some(want) = want else {
        return String::new();
    };
    let ids: std::collections::BTreeSet<u32> = found.keys().chain(want.keys()).copied().collect();
    let differ: Vec<String> = ids
        .into_iter()
        .filter(|id| found.get(id) != want.get(id))
        .take(8)
        .map(|id| {
            let tag = |r: Option<&Vec<u8>>| {
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
    format!("; differing (newest candidate): {}", differ.join(", "))
}
