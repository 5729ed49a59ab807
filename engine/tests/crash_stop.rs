//! The commit protocol, proven without the simulator: a `TestVfs` stop in front of the
//! filesystem lets the first `k` mutating I/O calls through, tears the `k`-th write
//! (only its first half of 512-byte sectors lands), and fails every later one — the
//! process "dies" there.
//! For every `k` over the workload, each reopened file must open, pass the structure
//! check, and hold exactly the records of a system-transaction boundary: the last
//! durable one or the one in flight at the crash.

mod common;
use common::*;
use engine::file::check::check_file;
use engine::vfs::testing::TestVfs;
use engine::vfs::{StdVfs, Vfs};
use engine::{Config, Engine, GetOp, OpenMode, StepOp};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

type State = BTreeSet<Vec<u8>>;

/// Per file: the record set at every commit attempt, and how many were durable.
struct Boundaries {
    path: PathBuf,
    states: Vec<State>,
    seen: engine::CommitCounters,
    durable: usize,
}

/// Run the workload; returns each file's boundaries and the number of mutating calls.
fn workload(vfs: Arc<dyn Vfs>, dir: &Path, counter: Option<&TestVfs>) -> (Vec<Boundaries>, u64) {
    let config = Config {
        operation_bundle_limit: 9,
        ..Config::default()
    };
    let mut e = Engine::new(vfs, Arc::new(engine::clock::ManualClock::new()), config);
    let paths: Vec<PathBuf> = (0..2).map(|i| dir.join(format!("f{i}.btr"))).collect();
    let mut handles = Vec::new();
    let mut model: Vec<State> = vec![State::new(); 2];
    let mut bounds: Vec<Boundaries> = paths
        .iter()
        .map(|p| Boundaries {
            path: p.clone(),
            states: vec![State::new()],
            seen: Default::default(),
            durable: 0,
        })
        .collect();
    for p in &paths {
        match e.open(p, OpenMode::Normal) {
            Ok(h) => handles.push(h),
            // Open syncs what it reads, so it is a crash point too: the files are
            // then still at their empty initial boundary.
            Err(_) => {
                let calls = counter.map(|c| c.mutating_calls()).unwrap_or(0);
                return (bounds, calls);
            }
        }
    }
    let observe = |e: &Engine, model: &[State], bounds: &mut [Boundaries]| {
        for (i, b) in bounds.iter_mut().enumerate() {
            let c = e.commit_counters(&b.path);
            assert!(
                c.attempts <= b.seen.attempts + 1,
                "two commits of one file in one call"
            );
            if c.attempts > b.seen.attempts {
                b.states.push(model[i].clone());
            }
            if c.durable > b.seen.durable {
                b.durable = b.states.len() - 1;
            }
            b.seen = c;
        }
    };
    for step in 0..160u32 {
        let f = (step % 2) as usize;
        let h = handles[f];
        let id = (step * 7) % 50;
        let r = person(id, (step % 5) as i16, &format!("p{id}-{step}"));
        let res = match step % 6 {
            0..=2 => e.insert(h, &r).map(|_| Some(r.clone())),
            3 => match e.get(h, GetOp::Equal, 0, &id.to_le_bytes()) {
                Ok(old) => {
                    let mut new = old.clone();
                    new[4..6].copy_from_slice(&((step % 3) as i16).to_le_bytes());
                    e.update(h, &new).map(|_| {
                        model[f].remove(&old);
                        Some(new)
                    })
                }
                Err(err) => Err(err),
            },
            4 => match e.step(h, StepOp::First) {
                Ok(old) => e.delete(h).map(|_| {
                    model[f].remove(&old);
                    None
                }),
                Err(err) => Err(err),
            },
            _ => e.flush().map(|_| None),
        };
        if let Ok(Some(rec)) = res {
            model[f].insert(rec);
        }
        observe(&e, &model, &mut bounds);
    }
    for h in handles {
        let _ = e.close(h);
        observe(&e, &model, &mut bounds);
    }
    let calls = counter.map(|c| c.mutating_calls()).unwrap_or(0);
    (bounds, calls)
}

fn read_all(vfs: Arc<dyn Vfs>, path: &Path) -> State {
    let mut e = Engine::new(
        vfs,
        Arc::new(engine::clock::ManualClock::new()),
        Config::default(),
    );
    let h = e
        .open(path, OpenMode::ReadOnly)
        .expect("reopen after crash");
    let mut s = State::new();
    let mut r = e.step(h, StepOp::First);
    while let Ok(rec) = r {
        s.insert(rec);
        r = e.step(h, StepOp::Next);
    }
    s
}

/// The workload's two empty files, created before any crash point is counted.
fn create_files(vfs: &Arc<dyn Vfs>, dir: &Path) {
    let mut e = Engine::new(
        vfs.clone(),
        Arc::new(engine::clock::ManualClock::new()),
        Config::default(),
    );
    for i in 0..2 {
        e.create(&dir.join(format!("f{i}.btr")), &people_spec(512))
            .unwrap();
    }
}

fn crash_at_every_step(
    make: &dyn Fn() -> (Arc<dyn Vfs>, PathBuf, Box<dyn std::any::Any>),
    stride: u64,
) {
    // A clean run counts the mutating calls.
    let (vfs, dir, _guard) = make();
    create_files(&vfs, &dir);
    let counter = TestVfs::over(vfs.clone());
    let (_, total) = workload(Arc::new(counter.clone()), &dir, Some(&counter));
    assert!(total > 100, "workload too small: {total} mutating calls");
    let mut k = 0;
    let mut outcomes = BTreeSet::new();
    while k <= total {
        let (vfs, dir, _guard) = make();
        create_files(&vfs, &dir);
        let stop = TestVfs::over(vfs.clone());
        stop.stop_after(Some(k));
        let (bounds, _) = workload(Arc::new(stop.clone()), &dir, Some(&stop));
        for b in &bounds {
            let rep = check_file(vfs.as_ref(), &b.path).unwrap_or_else(|e| {
                panic!("crash at call {k}: {} does not open: {e}", b.path.display())
            });
            assert!(
                rep.is_clean(),
                "crash at call {k}: {}: {:?}",
                b.path.display(),
                rep.problems
            );
            let got = read_all(vfs.clone(), &b.path);
            let pos = b.states[b.durable..].iter().position(|s| *s == got);
            assert!(
                pos.is_some(),
                "crash at call {k}: {} holds {} records, matching no system-transaction boundary \
                 at or after the last durable one (#{} of {}, sizes {:?})",
                b.path.display(),
                got.len(),
                b.durable,
                b.states.len(),
                b.states.iter().map(|s| s.len()).collect::<Vec<_>>()
            );
            outcomes.insert((b.durable, pos.unwrap_or(0)));
        }
        k += stride;
    }
    // The crash points reached both "in-flight commit lost" and "in-flight commit kept".
    assert!(
        outcomes.iter().any(|o| o.1 == 0) && outcomes.iter().any(|o| o.1 > 0),
        "{outcomes:?}"
    );
}

#[test]
fn every_crash_point_leaves_a_boundary_mem() {
    crash_at_every_step(
        &|| {
            let vfs = TestVfs::new();
            (
                Arc::new(vfs) as Arc<dyn Vfs>,
                PathBuf::from("/db"),
                Box::new(()),
            )
        },
        1,
    );
}

#[test]
fn every_crash_point_leaves_a_boundary_std() {
    crash_at_every_step(
        &|| {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().to_path_buf();
            (Arc::new(StdVfs) as Arc<dyn Vfs>, path, Box::new(dir))
        },
        3,
    );
}
