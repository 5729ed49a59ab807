//! Runs one seed: draws the seed's swarm of faults, operation mix and engine
//! tunables, drives the engine on a `SimVfs`, compares every read and status with
//! the model while it runs, and after every crash recovers and checks the
//! invariants. Everything derives from the seed, so a seed replays exactly.

use crate::check;
use crate::model::{FileModel, Records};
use crate::vfs::{FaultConfig, FaultStats, SimVfs};
use crate::workload::{self, Step};
use engine::clock::ManualClock;
use engine::mutant::Mutant;
use engine::vfs::Vfs;
use engine::{Config, Engine, FileSpec, GetOp, Handle, OpenMode, Status};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
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
}

impl Default for Options {
    fn default() -> Self {
        Options {
            steps: 1000,
            mutant: None,
            only_steps: None,
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
    pub faults: FaultStats,
    /// The first invariant violation, if any.
    pub failure: Option<String>,
    /// Hash of the whole run (I/O trace and every result), for determinism checks.
    pub trace_hash: u64,
}

/// Run one seed. A panic anywhere in the engine is caught and reported as a failure
/// (invariant 8: errors are statuses, never panics).
pub fn run_seed(seed: u64, opts: &Options) -> Outcome {
    let mut out = Outcome {
        seed,
        ..Outcome::default()
    };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut w = World::new(seed, opts);
        let r = w.run(opts);
        (r, w.summary())
    }));
    match result {
        Ok((r, (ops, crashes, checked, detected, faults, hash))) => {
            out.operations = ops;
            out.crashes = crashes;
            out.recoveries_checked = checked;
            out.damage_detected = detected;
            out.faults = faults;
            out.trace_hash = hash;
            out.failure = r.err();
        }
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
    handles: Vec<Vec<Handle>>,
    weights: Vec<(Step, u32)>,
    ops: u64,
    crashes: u64,
    checked: u64,
    damage_detected: u64,
    hash: u64,
}

/// Statuses injected faults may legitimately cause.
fn fault_status(s: Status) -> bool {
    matches!(s, Status::IoError | Status::DiskFull)
}

impl World {
    fn new(seed: u64, opts: &Options) -> World {
        let mut rng = ChaCha8Rng::seed_from_u64(stream_seed(seed, u64::MAX, 0));
        let faults = FaultConfig::swarm(&mut rng);
        let vfs = SimVfs::new(rng.random(), faults);
        let config = Config {
            operation_bundle_limit: rng.random_range(1..60),
            initiation_time_limit: Duration::from_millis(rng.random_range(1..200)),
            max_dirty_pages: rng.random_range(8..400),
            clean_cache_pages: rng.random_range(4..256),
            mutant: opts.mutant,
        };
        let page_size = [512, 1024, 4096][rng.random_range(0..3)];
        let nfiles = rng.random_range(1..=3);
        let files: Vec<FileModel> = (0..nfiles)
            .map(|i| FileModel::new(PathBuf::from(format!("/data/f{i}.btr"))))
            .collect();
        let weights = workload::weights(&mut rng);
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
            weights,
            ops: 0,
            crashes: 0,
            checked: 0,
            damage_detected: 0,
            hash: 0xcbf2_9ce4_8422_2325,
        };
        w.vfs.with_faults_paused(|| {
            let mut e = w.new_engine();
            for f in &w.files {
                if let Err(err) = e.create(&f.path, &w.spec) {
                    panic!("creating {}: {err}", f.path.display());
                }
            }
        });
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

    fn summary(&self) -> (u64, u64, u64, u64, FaultStats, u64) {
        let h = self.hash ^ self.vfs.trace_hash().rotate_left(17);
        (
            self.ops,
            self.crashes,
            self.checked,
            self.damage_detected,
            self.vfs.stats(),
            h,
        )
    }

    fn run(&mut self, opts: &Options) -> Result<(), String> {
        self.recover("start")?;
        let all: Vec<usize>;
        let steps = match &opts.only_steps {
            Some(s) => s.as_slice(),
            None => {
                all = (0..opts.steps).collect();
                &all
            }
        };
        for &i in steps {
            self.rng = ChaCha8Rng::seed_from_u64(stream_seed(self.seed, i as u64, 0));
            self.vfs.reseed(stream_seed(self.seed, i as u64, 1));
            let step = workload::draw(&mut self.rng, &self.weights);
            self.mix(i as u64 ^ ((step as u64) << 32));
            tracing::debug!(target: "sim", i, ?step, "step");
            self.step(step)?;
            self.observe()?;
            if self.vfs.is_crashed() {
                self.crash()?;
            }
        }
        // Every seed ends with a power loss and a full check.
        self.crashes += 1;
        self.engine = None;
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
        Ok(())
    }

    /// Crash now (process crash or power loss, by the seed) and recover.
    fn crash(&mut self) -> Result<(), String> {
        // Whatever the engine attempted up to now is a candidate state.
        self.observe()?;
        self.crashes += 1;
        self.engine = None;
        self.vfs.clear_crash_point();
        let power = self.rng.random_bool(0.6);
        tracing::info!(target: "sim", power, io_step = self.vfs.io_step(), "crash");
        if power {
            self.vfs.power_loss();
        } else {
            self.vfs.process_crash();
        }
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
        let vfs = self.vfs.clone();
        vfs.with_faults_paused(|| {
            let mut e = self.new_engine();
            self.handles.clear();
            for i in 0..self.files.len() {
                self.recover_file(&mut e, i, why)?;
                self.checked += 1;
            }
            let mut hs = Vec::new();
            for f in &self.files {
                let a = e
                    .open(&f.path, OpenMode::Normal)
                    .map_err(|x| format!("reopen: {x}"))?;
                let b = e
                    .open(&f.path, OpenMode::Normal)
                    .map_err(|x| format!("reopen: {x}"))?;
                hs.push(vec![a, b]);
            }
            self.handles = hs;
            self.engine = Some(e);
            Ok(())
        })
    }

    fn recover_file(&mut self, e: &mut Engine, i: usize, why: &str) -> Result<(), String> {
        let path = self.files[i].path.clone();
        let damaged = self.vfs.was_damaged(&path);
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
                e.create(&path, &self.spec)
                    .map_err(|x| format!("recreating {}: {x}", path.display()))?;
                self.files[i].reset();
                return Ok(());
            }
            Err(m) => return Err(format!("after {why}: {m}")),
        };
        let f = &mut self.files[i];
        if !f.candidates().contains(&found) {
            if !damaged {
                return Err(format!(
                    "invariant 2 (per-file atomicity/durability) after {why}: {} holds {} records, \
                     which is no system-transaction boundary at or after the last durable one \
                     (candidate sizes {:?})",
                    path.display(),
                    found.len(),
                    f.candidates().iter().map(|s| s.len()).collect::<Vec<_>>()
                ) + &diff_summary(&found, f.candidates().last()));
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
        Ok(())
    }

    fn pick(&mut self) -> (usize, Handle) {
        let f = self.rng.random_range(0..self.files.len());
        let h = self.handles[f][self.rng.random_range(0..self.handles[f].len())];
        (f, h)
    }

    fn existing_id(&mut self, f: usize) -> u32 {
        let live = &self.files[f].live;
        if live.is_empty() || self.rng.random_bool(0.1) {
            return self.rng.random_range(0..workload::ID_RANGE);
        }
        let n = self.rng.random_range(0..live.len());
        live.keys().nth(n).copied().unwrap_or(0)
    }

    /// Compare a result with what the model expects; fault statuses are accepted
    /// (the model is then unchanged, since operations are atomic).
    fn expect<T: std::fmt::Debug + PartialEq>(
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
                "invariant 8 / read check: {what}: engine returned {:?}, model expects {:?}",
                got.as_ref().map_err(|e| e.to_string()),
                want
            )),
        }
    }

    fn step(&mut self, step: Step) -> Result<(), String> {
        match step {
            Step::Insert => {
                let (f, h) = self.pick();
                let id = self.rng.random_range(0..workload::ID_RANGE);
                let r = workload::record(id, &mut self.rng);
                let live = &self.files[f].live;
                let want = if live.contains_key(&id)
                    || live
                        .values()
                        .any(|x| workload::tag_of(x) == workload::tag_of(&r))
                {
                    Err(Status::DuplicateKeyValue)
                } else {
                    Ok(())
                };
                let got = self.engine_mut()?.insert(h, &r);
                tracing::debug!(target: "sim", file = f, id, ok = got.is_ok(), "insert");
                if self.expect("insert", &got, want)? {
                    self.files[f].put(id, r);
                }
            }
            Step::Update | Step::Delete | Step::GetEqual => {
                let (f, h) = self.pick();
                let id = self.existing_id(f);
                let want = self.files[f]
                    .live
                    .get(&id)
                    .cloned()
                    .ok_or(Status::KeyValueNotFound);
                let got = self
                    .engine_mut()?
                    .get(h, GetOp::Equal, 0, &id.to_le_bytes());
                if !self.expect("get equal", &got, want)? || step == Step::GetEqual {
                    return Ok(());
                }
                if step == Step::Delete {
                    let got = self.engine_mut()?.delete(h);
                    tracing::debug!(target: "sim", file = f, id, ok = got.is_ok(), "delete");
                    if self.expect("delete", &got, Ok(()))? {
                        self.files[f].live.remove(&id);
                    }
                } else {
                    let r = workload::record(id, &mut self.rng);
                    let taken = self.files[f]
                        .live
                        .iter()
                        .any(|(&k, x)| k != id && workload::tag_of(x) == workload::tag_of(&r));
                    let want = if taken {
                        Err(Status::DuplicateKeyValue)
                    } else {
                        Ok(())
                    };
                    let got = self.engine_mut()?.update(h, &r);
                    tracing::debug!(target: "sim", file = f, id, ok = got.is_ok(), "update");
                    if self.expect("update", &got, want)? {
                        self.files[f].put(id, r);
                    }
                }
            }
            Step::Scan => {
                let (f, h) = self.pick();
                let key = self.rng.random_range(0..3);
                let reverse = self.rng.random_bool(0.3);
                let limit = self.files[f].live.len() + 1;
                let got = check::scan(self.engine_mut()?, h, key, reverse, limit);
                let what = format!("scan key {key}{}", if reverse { " backwards" } else { "" });
                let verdict = got.map(|g| {
                    check::scan_matches(&g, &self.files[f].live, key, reverse)
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
                        self.files[f].live.len()
                    ));
                }
            }
            Step::Flush => {
                let got = self.engine_mut()?.flush();
                self.expect("flush", &got, Ok(()))?;
            }
            Step::Background => {
                let ms = self.rng.random_range(0..100);
                self.clock.advance(Duration::from_millis(ms));
                let got = self.engine_mut()?.background_step();
                self.expect("background step", &got, Ok(()))?;
            }
            Step::Reopen => {
                let f = self.rng.random_range(0..self.files.len());
                let hs = std::mem::take(&mut self.handles[f]);
                let path = self.files[f].path.clone();
                if self.vfs.was_damaged(&path) {
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
                for _ in 0..2 {
                    match self.engine_mut()?.open(&path, OpenMode::Normal) {
                        Ok(h) => hs.push(h),
                        Err(e) if fault_status(e.status) => break,
                        Err(e) => return Err(format!("reopen {}: {e}", path.display())),
                    }
                }
                self.handles[f] = hs;
                if self.handles[f].is_empty() {
                    // Could not reopen through injected faults: restart the application.
                    return self.crash();
                }
            }
            Step::ArmCrash => {
                let n = self.rng.random_range(1..400);
                self.vfs.set_crash_after(n);
            }
            Step::CrashNow => return self.crash(),
        }
        Ok(())
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
