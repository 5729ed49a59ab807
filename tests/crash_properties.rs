//! Cross-crate crash property: random workload steps interleaved with crash points
//! (power loss or process crash after N further I/O calls) on `SimVfs`; after every
//! crash each file reopens, passes the structure check, and holds a system-
//! transaction boundary at or after the last durable one. proptest shrinks a failure
//! to a minimal step sequence.

use engine::clock::ManualClock;
use engine::vfs::Vfs;
use engine::{Config, Engine, GetOp, OpenMode};
use proptest::prelude::*;
use rand::SeedableRng;
use sim::check::recovered_state;
use sim::model::FileModel;
use sim::vfs::{FaultConfig, SimVfs};
use sim::workload;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Clone, Debug)]
enum Action {
    Insert(u32),
    Update(u32),
    Delete(u32),
    Flush,
    /// Crash after this many more I/O calls (power loss if `true`).
    CrashAfter(u16, bool),
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        6 => (0u32..80).prop_map(Action::Insert),
        2 => (0u32..80).prop_map(Action::Update),
        2 => (0u32..80).prop_map(Action::Delete),
        1 => Just(Action::Flush),
        1 => (1u16..120, any::<bool>()).prop_map(|(n, p)| Action::CrashAfter(n, p)),
    ]
}

fn engine(vfs: &SimVfs) -> Engine {
    let config = Config {
        operation_bundle_limit: 5,
        ..Config::default()
    };
    Engine::new(
        Arc::new(vfs.clone()) as Arc<dyn Vfs>,
        Arc::new(ManualClock::new()),
        config,
    )
}

fn run(actions: Vec<Action>, seed: u64) -> Result<(), TestCaseError> {
    let vfs = SimVfs::new(seed, FaultConfig::crash_only());
    let path = PathBuf::from("/p/f.btr");
    let mut e = engine(&vfs);
    e.create(&path, &workload::spec(512))
        .map_err(|x| TestCaseError::fail(x.to_string()))?;
    let mut m = FileModel::new(path.clone());
    let mut h = e
        .open(&path, OpenMode::Normal)
        .map_err(|x| TestCaseError::fail(x.to_string()))?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut pending_crash: Option<bool> = None;
    for a in actions {
        let mut rec = |id: u32| {
            let mut r = workload::record(id, &mut rng);
            r[6..18].copy_from_slice(format!("k{id:011}").as_bytes());
            r
        };
        match a {
            Action::Insert(id) => {
                let r = rec(id);
                if e.insert(h, &r).is_ok() {
                    m.put(id, r.into());
                }
            }
            Action::Update(id) | Action::Delete(id) => {
                if e.get(h, GetOp::Equal, 0, &id.to_le_bytes()).is_ok() {
                    if matches!(a, Action::Delete(_)) {
                        if e.delete(h).is_ok() {
                            m.remove(id);
                        }
                    } else {
                        let r = rec(id);
                        if e.update(h, &r).is_ok() {
                            m.put(id, r.into());
                        }
                    }
                }
            }
            Action::Flush => {
                let _ = e.flush();
            }
            Action::CrashAfter(n, power) => {
                vfs.set_crash_after(u64::from(n));
                pending_crash = Some(power);
            }
        }
        let c = e.commit_counters(&path);
        m.observe(c.attempts, c.durable)
            .map_err(TestCaseError::fail)?;
        if vfs.is_crashed() {
            drop(e);
            vfs.clear_crash_point();
            if pending_crash.take().unwrap_or(true) {
                vfs.power_loss();
            } else {
                vfs.process_crash();
            }
            e = engine(&vfs);
            let found = recovered_state(&mut e, Arc::new(vfs.clone()), &path)
                .map_err(|m| TestCaseError::fail(m.to_string()))?;
            prop_assert!(
                m.candidates().iter().any(|c| **c == found),
                "recovered {} records; candidates {:?}",
                found.len(),
                m.candidates().iter().map(|s| s.len()).collect::<Vec<_>>()
            );
            m.recovered(found);
            h = e
                .open(&path, OpenMode::Normal)
                .map_err(|x| TestCaseError::fail(x.to_string()))?;
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn crashes_leave_a_boundary(actions in proptest::collection::vec(action(), 1..250), seed: u64) {
        run(actions, seed)?;
    }
}
