//! Group commit across threads (`engine::shared::SharedEngine`) keeps Durability's
//! promise: eight client threads commit transactions concurrently on a `SimVfs`, the
//! log syncs run with the engine's lock released, and after a power loss (unsynced
//! writes lost, torn, reordered) every transaction whose End returned is in the
//! file, and nothing that was never committed is. The thread interleaving is the
//! OS's, so the run is not replayable — the property holds for every interleaving.
//!
//! With `Config::commit_delay` on, a would-be leader holds its sync back until every
//! client on its way has appended its End: rounds of eight Ends that arrive together
//! (the test holds the engine until all eight are inside) must then take exactly one
//! sync each — without the delay they take two — and a failed sync must fail every
//! End it was gathered for.

use engine::clock::ManualClock;
use engine::mutant::Mutant;
use engine::shared::SharedEngine;
use engine::vfs::testing::{Faults, TestVfs};
use engine::vfs::Vfs;
use engine::{Client, Config, Engine, GetOp, LogMode, OpenMode};
use sim::vfs::{FaultConfig, SimVfs};
use sim::workload;
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CLIENTS: u32 = 8;
const PER_CLIENT: u32 = 40;

/// Holds the first sync after it is armed until every client has appended its first
/// End. That sync is a leader's log sync, run with the engine's lock released (the
/// warm-up transaction already created the log, and no data page is committed during
/// the run), so the other clients append their Ends while it runs — deterministically,
/// not by luck of timing — and group commit must then cover all of them with the next
/// sync. If it never lets them in (a sync run under the lock), the wait times out and
/// the test fails saying so.
#[derive(Default)]
struct Gate {
    armed: std::sync::atomic::AtomicBool,
    appended: Mutex<u32>,
    changed: std::sync::Condvar,
}

impl Gate {
    fn appended(&self) {
        *self.appended.lock().expect("gate") += 1;
        self.changed.notify_all();
    }

    fn hold_first_sync(&self) {
        if !self.armed.swap(false, std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let g = self.appended.lock().expect("gate");
        let (g, timeout) = self
            .changed
            .wait_timeout_while(g, Duration::from_secs(20), |n| *n < CLIENTS)
            .expect("gate");
        assert!(
            !timeout.timed_out(),
            "only {} of {CLIENTS} clients could append an End while a log sync ran: \
             the sync held the engine's lock",
            *g
        );
    }
}

/// `SimVfs` with syncs that take time, as a disk's do (and, when armed, the gate):
/// a leader's sync leaves the other clients a real window to append their Ends — the
/// window a broken follower rule (acknowledging an End the sync in flight does not
/// cover) would lose, and the window group commit fills.
fn slow_sync(vfs: &SimVfs, gate: Arc<Gate>) -> TestVfs {
    let slow = TestVfs::over(Arc::new(vfs.clone()));
    slow.on_sync(move || {
        gate.hold_first_sync();
        std::thread::sleep(Duration::from_micros(300))
    });
    slow
}

fn engine(vfs: &SimVfs, mutant: Option<Mutant>, gate: Arc<Gate>, delay: Duration) -> Engine {
    engine_on(slow_sync(vfs, gate), mutant, delay, 1000)
}

/// An engine over `vfs` in Durability mode; a system transaction (whose write-ahead
/// log sync runs under the engine's lock) every `bundle_limit` operations.
fn engine_on(
    vfs: TestVfs,
    mutant: Option<Mutant>,
    commit_delay: Duration,
    bundle_limit: u64,
) -> Engine {
    Engine::new(
        Arc::new(vfs) as Arc<dyn Vfs>,
        Arc::new(ManualClock::new()),
        Config {
            log_mode: LogMode::Durability,
            log_dir: "/log".into(),
            // 1000: data pages reach the disk rarely, the log alone carries the
            // commits.
            operation_bundle_limit: bundle_limit,
            max_dirty_pages: 10_000,
            mutant,
            commit_delay,
            ..Config::default()
        },
    )
}

/// A record of id `id` whose key says so (the workload's records, keyed by id).
fn record(id: u32, rng: &mut rand_chacha::ChaCha8Rng) -> Vec<u8> {
    let mut rec = workload::record(id, rng);
    rec[6..18].copy_from_slice(format!("g{id:011}").as_bytes());
    rec
}

/// Every id in the file at `path`.
fn ids_in(e: &mut Engine, path: &Path) -> BTreeSet<u32> {
    let h = e.open(path, OpenMode::Normal).expect("recovery open");
    let mut found = BTreeSet::new();
    let mut next = e.get(h, GetOp::First, 0, &[]);
    while let Ok(r) = next {
        found.insert(workload::id_of(&r));
        next = e.get(h, GetOp::Next, 0, &[]);
    }
    found
}

/// What a run saw.
struct Run {
    /// Ids whose transaction's End returned.
    acked: BTreeSet<u32>,
    /// Ends that returned while the engine's own durable LSN did not cover them.
    early: Vec<String>,
    /// Ids in the file recovered after the power loss.
    found: BTreeSet<u32>,
    commits: u64,
    syncs: u64,
}

/// Run the clients (with `gated`, the first round deterministically shares a sync),
/// lose power, recover.
fn run(seed: u64, mutant: Option<Mutant>, gated: bool, commit_delay: Duration) -> Run {
    let vfs = SimVfs::new(seed, FaultConfig::crash_only());
    let path = Path::new("/data/g.btr");
    let gate = Arc::new(Gate::default());
    let mut e = engine(&vfs, mutant, gate.clone(), commit_delay);
    e.create(path, &workload::spec(1024)).expect("create");
    // Warm-up: one transaction opens the log (its segment's creation syncs under the
    // lock), so the first sync the gate sees is a leader's.
    let warm = Client(CLIENTS + 1);
    let h = e.open_as(warm, path, OpenMode::Normal).expect("open");
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(seed);
    let warm_id = CLIENTS * PER_CLIENT;
    e.begin_transaction(warm).expect("begin");
    e.insert(h, &record(warm_id, &mut rng)).expect("insert");
    e.end_transaction(warm).expect("end");
    gate.armed.store(gated, std::sync::atomic::Ordering::SeqCst);
    let shared = Arc::new(SharedEngine::new(e));
    let acked = Arc::new(Mutex::new((BTreeSet::new(), Vec::new())));
    let threads: Vec<_> = (0..CLIENTS)
        .map(|k| {
            let (shared, acked, gate) = (shared.clone(), acked.clone(), gate.clone());
            std::thread::spawn(move || {
                let c = Client(k + 1);
                let h = shared
                    .with(|e| e.open_as(c, path, OpenMode::Normal))
                    .expect("open");
                let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(
                    seed ^ u64::from(k),
                );
                for i in 0..PER_CLIENT {
                    let id = k * PER_CLIENT + i;
                    let rec = record(id, &mut rng);
                    let ((), lsn) = shared
                        .transaction_at(c, |e| {
                            let r = e.insert(h, &rec);
                            if i == 0 {
                                gate.appended(); // its End follows in this lock hold
                            }
                            r
                        })
                        .expect("transaction");
                    // Acknowledged: the engine must count it durable already.
                    let durable = shared.with(|e| e.log_durable_lsn());
                    let mut a = acked.lock().expect("acked");
                    a.0.insert(id);
                    if durable <= lsn {
                        a.1.push(format!(
                            "End at LSN {lsn} returned; the log is durable only below {durable}"
                        ));
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("client thread");
    }
    let e = Arc::into_inner(shared).expect("clients done").into_inner();
    let (commits, syncs) = (e.stats().log_commits, e.stats().log_syncs);
    drop(e); // no close: the power goes
    vfs.power_loss();

    let mut e = engine(&vfs, None, Arc::new(Gate::default()), Duration::ZERO);
    let found = ids_in(&mut e, path);
    let (mut acked, early) = acked.lock().expect("acked").clone();
    acked.insert(warm_id);
    Run {
        acked,
        early,
        found,
        commits,
        syncs,
    }
}

#[test]
fn every_acknowledged_commit_survives_power_loss() {
    survives_power_loss(Duration::ZERO);
}

/// The same with `commit_delay` on: gathering leaders, followers that wait for them,
/// and still every acknowledged End durable and none early.
#[test]
fn with_commit_delay_every_acknowledged_commit_survives_power_loss() {
    survives_power_loss(LONG_DELAY);
}

fn survives_power_loss(commit_delay: Duration) {
    for seed in 0..4 {
        let Run {
            acked,
            early,
            found,
            commits,
            syncs,
        } = run(seed, None, true, commit_delay);
        assert_eq!(acked.len() as u32, CLIENTS * PER_CLIENT + 1);
        assert!(early.is_empty(), "seed {seed}: {early:?}");
        let lost: Vec<_> = acked.difference(&found).collect();
        assert!(lost.is_empty(), "seed {seed}: acknowledged, lost: {lost:?}");
        assert!(found.is_subset(&acked), "seed {seed}: phantom records");
        assert_eq!(commits, u64::from(CLIENTS * PER_CLIENT + 1));
        // The gate makes the first round's eight Ends share at most two syncs (the
        // held leader's and the next): at least six syncs fewer than commits, whatever
        // the threads' timing. A follower that synced on its own would break this.
        assert!(
            syncs >= 1 && syncs + u64::from(CLIENTS) - 2 <= commits,
            "{syncs} syncs for {commits} commits"
        );
        eprintln!("seed {seed}: {commits} commits, {syncs} log syncs");
    }
}

/// The property has teeth: acknowledging before the sync loses acknowledged commits
/// after the power loss (checked by itself, not only by the engine's own claim).
#[test]
fn acknowledging_before_the_sync_is_caught() {
    let caught = (0..8).any(|seed| {
        let r = run(
            seed,
            Some(Mutant::DurabilityAckBeforeSync),
            false,
            Duration::ZERO,
        );
        !r.acked.is_subset(&r.found)
    });
    assert!(caught, "durability-ack-before-sync lost nothing in 8 runs");
}

const ROUNDS: u32 = 5;

/// What a run of rounds saw.
struct Rounds {
    /// Log syncs each round took.
    syncs: Vec<u64>,
    /// Ids whose End returned `Ok`, and how many returned an error.
    acked: BTreeSet<u32>,
    failed: usize,
    early: Vec<String>,
    found: BTreeSet<u32>,
}

/// `ROUNDS` rounds in which all eight clients commit one transaction each at once:
/// the main thread holds the engine until every client is inside
/// `SharedEngine::transaction_at` (counted before it takes the lock), then lets them
/// in. With `fail_last`, the last round's first sync fails. Then the power goes.
fn rounds(seed: u64, commit_delay: Duration, fail_last: bool, bundle_limit: u64) -> Rounds {
    let vfs = SimVfs::new(seed, FaultConfig::crash_only());
    let test_vfs = TestVfs::over(Arc::new(vfs.clone()));
    let path = Path::new("/data/r.btr");
    let mut e = engine_on(test_vfs.clone(), None, commit_delay, bundle_limit);
    e.create(path, &workload::spec(1024)).expect("create");
    // Warm-up: the log's first segment is made (and synced) before the rounds.
    let warm = Client(CLIENTS + 1);
    let h = e.open_as(warm, path, OpenMode::Normal).expect("open");
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(seed);
    let warm_id = CLIENTS * ROUNDS;
    e.begin_transaction(warm).expect("begin");
    e.insert(h, &record(warm_id, &mut rng)).expect("insert");
    e.end_transaction(warm).expect("end");
    let shared = Arc::new(SharedEngine::new(e));
    let start = Arc::new(std::sync::Barrier::new(CLIENTS as usize + 1));
    let done = Arc::new(std::sync::Barrier::new(CLIENTS as usize + 1));
    let seen = Arc::new(Mutex::new((BTreeSet::new(), 0usize, Vec::new())));
    let threads: Vec<_> = (0..CLIENTS)
        .map(|k| {
            let (shared, start, done, seen) =
                (shared.clone(), start.clone(), done.clone(), seen.clone());
            std::thread::spawn(move || {
                let c = Client(k + 1);
                let h = shared
                    .with(|e| e.open_as(c, path, OpenMode::Normal))
                    .expect("open");
                done.wait(); // opened: the main thread may hold the engine now
                let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(
                    seed ^ u64::from(k),
                );
                for r in 0..ROUNDS {
                    let id = r * CLIENTS + k;
                    let rec = record(id, &mut rng);
                    start.wait();
                    let outcome = shared.transaction_at(c, |e| e.insert(h, &rec));
                    let durable = shared.with(|e| e.log_durable_lsn());
                    {
                        let mut s = seen.lock().expect("seen");
                        match outcome {
                            Ok(((), lsn)) => {
                                s.0.insert(id);
                                if durable <= lsn {
                                    s.2.push(format!(
                                        "End at LSN {lsn} returned; durable only below {durable}"
                                    ));
                                }
                            }
                            Err(_) => s.1 += 1,
                        }
                    }
                    done.wait();
                }
            })
        })
        .collect();
    let mut syncs = Vec::new();
    done.wait(); // every client has its handle
    for r in 0..ROUNDS {
        let before = shared.with(|e| e.stats().log_syncs);
        if fail_last && r == ROUNDS - 1 {
            test_vfs.set_faults(Faults {
                fail_sync_in: Some(0),
                ..Faults::default()
            });
        }
        shared.with(|_| {
            start.wait();
            // Every client is on its way before any may append.
            let t = std::time::Instant::now();
            while shared.clients_committing() < CLIENTS as usize {
                assert!(t.elapsed() < Duration::from_secs(20), "clients never came");
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        done.wait();
        syncs.push(shared.with(|e| e.stats().log_syncs) - before);
    }
    for t in threads {
        t.join().expect("client thread");
    }
    drop(shared); // no close: the power goes
    vfs.power_loss();
    let mut e = engine_on(
        TestVfs::over(Arc::new(vfs.clone())),
        None,
        Duration::ZERO,
        1000,
    );
    let found = ids_in(&mut e, path);
    let (mut acked, failed, early) = seen.lock().expect("seen").clone();
    acked.insert(warm_id);
    Rounds {
        syncs,
        acked,
        failed,
        early,
        found,
    }
}

/// Ten seconds: far longer than the rounds need, so only a gathering that never ends
/// (a lost wake-up) would run into it.
const LONG_DELAY: Duration = Duration::from_secs(10);

/// Every End of every round (and the warm-up) returned `Ok`, none before its sync, and
/// the power loss kept exactly those records.
fn assert_all_acknowledged_and_kept(seed: u64, r: &Rounds) {
    assert!(r.early.is_empty(), "seed {seed}: {:?}", r.early);
    assert_eq!(r.failed, 0, "seed {seed}");
    assert_eq!(r.acked.len() as u32, CLIENTS * ROUNDS + 1);
    let lost: Vec<_> = r.acked.difference(&r.found).collect();
    assert!(lost.is_empty(), "seed {seed}: acknowledged, lost: {lost:?}");
    assert!(r.found.is_subset(&r.acked), "seed {seed}: phantom records");
}

/// [`rounds`] with [`LONG_DELAY`], every End acknowledged and kept, and no gathering
/// waiting out the delay: each one ended because nobody else was on the way, or its
/// leader's End was covered.
fn rounds_gathered(seed: u64, bundle_limit: u64) -> Rounds {
    let started = std::time::Instant::now();
    let r = rounds(seed, LONG_DELAY, false, bundle_limit);
    assert_all_acknowledged_and_kept(seed, &r);
    assert!(
        started.elapsed() < LONG_DELAY,
        "seed {seed}: a gathering timed out"
    );
    r
}

#[test]
fn commit_delay_gathers_a_round_into_one_sync() {
    for seed in 0..3 {
        let r = rounds_gathered(seed, 1000);
        // Eight Ends on their way together: the leader waits for all of them (and
        // nobody waited out the delay: the last End to arrive started the sync).
        assert_eq!(
            r.syncs,
            vec![1; ROUNDS as usize],
            "seed {seed}: log syncs per round of {CLIENTS} commits"
        );
    }
}

/// A sync made under the engine's lock while a leader gathers — every third operation
/// here ends in a system transaction, whose write-ahead log sync covers every End
/// appended, the leader's too — must end the gathering: the covered followers count
/// as on their way until they return, and they wait for the leader to wake them, so
/// a leader that kept gathering would wait out the whole delay.
#[test]
fn a_sync_under_the_lock_ends_the_gathering_it_covered() {
    for seed in 0..3 {
        let r = rounds_gathered(seed, 3);
        // The system transactions' own syncs: more than one a round.
        assert!(
            r.syncs.iter().all(|&s| s >= 2),
            "seed {seed}: log syncs per round: {:?}",
            r.syncs
        );
    }
}

/// The assertion above has teeth: with no delay the first End of a round syncs alone
/// and the other seven share a second sync.
#[test]
fn without_commit_delay_a_round_takes_two_syncs() {
    let r = rounds(0, Duration::ZERO, false, 1000);
    assert!(r.acked.is_subset(&r.found));
    assert!(
        r.syncs.iter().all(|&s| s >= 2),
        "log syncs per round: {:?}",
        r.syncs
    );
}

/// A failed sync fails every End gathered for it: none of the last round's eight is
/// acknowledged, and everything acknowledged before survives the power loss.
#[test]
fn a_failed_gathered_sync_fails_every_end() {
    for seed in 0..3 {
        let r = rounds(seed, LONG_DELAY, true, 1000);
        assert_eq!(r.failed, CLIENTS as usize, "seed {seed}");
        assert_eq!(r.acked.len() as u32, CLIENTS * (ROUNDS - 1) + 1);
        assert!(r.early.is_empty(), "seed {seed}: {:?}", r.early);
        let lost: Vec<_> = r.acked.difference(&r.found).collect();
        assert!(lost.is_empty(), "seed {seed}: acknowledged, lost: {lost:?}");
        assert_eq!(r.syncs.last(), Some(&1), "seed {seed}: one (failed) sync");
    }
}
