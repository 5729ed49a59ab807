//! endbu is idempotent and resumable: for every I/O step of an `endbu` over two files,
//! crash there (power loss or process crash, alternately), then resume — by opening
//! the files, or by running `endbu` again — and every file must hold every committed
//! record, pass the structure check, and have no delta left. Killing the deltas
//! instead, when no roll-in had begun, must give exactly the startbu instant.

use engine::clock::ManualClock;
use engine::delta::{delta_path, probe_delta, remove_delta, scan_delta, DeltaProbe, DeltaState};
use engine::vfs::Vfs;
use engine::{Config, Engine, OpenMode};
use rand::SeedableRng;
use sim::check::recovered_state;
use sim::model::Records;
use sim::vfs::{FaultConfig, SimVfs};
use sim::workload;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn engine(vfs: &SimVfs) -> Engine {
    Engine::new(
        Arc::new(vfs.clone()) as Arc<dyn Vfs>,
        Arc::new(ManualClock::new()),
        Config::default(),
    )
}

fn paths() -> Vec<PathBuf> {
    vec![PathBuf::from("/d/a.btr"), PathBuf::from("/d/b.btr")]
}

/// Two files with records, in continuous operations with more records in the deltas.
/// Returns the records at the startbu instant and at the end, per file.
fn setup(vfs: &SimVfs) -> (Vec<Records>, Vec<Records>) {
    let mut e = engine(vfs);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let mut instant = Vec::new();
    let mut all = Vec::new();
    let mut hs = Vec::new();
    for p in paths() {
        e.create(&p, &workload::spec(512)).unwrap();
        hs.push(e.open(&p, OpenMode::Normal).unwrap());
    }
    for (i, &h) in hs.iter().enumerate() {
        let mut recs = Records::new();
        for id in 0..30u32 {
            let mut r = workload::record(id, &mut rng);
            r[6..18].copy_from_slice(format!("s{i}{id:010}").as_bytes());
            e.insert(h, &r).unwrap();
            recs.insert(id, r.into());
        }
        instant.push(recs);
    }
    e.start_backup(&paths()).unwrap();
    for (i, &h) in hs.iter().enumerate() {
        let mut recs = instant[i].clone();
        for id in 30..70u32 {
            let mut r = workload::record(id, &mut rng);
            r[6..18].copy_from_slice(format!("m{i}{id:010}").as_bytes());
            e.insert(h, &r).unwrap();
            recs.insert(id, r.into());
        }
        all.push(recs);
    }
    for h in hs {
        e.close(h).unwrap();
    }
    (instant, all)
}

fn holds(vfs: &SimVfs, p: &Path) -> Records {
    let mut e = engine(vfs);
    recovered_state(&mut e, Arc::new(vfs.clone()), p).unwrap_or_else(|m| panic!("{m}"))
}

fn delta_state(vfs: &SimVfs, p: &Path) -> Option<DeltaState> {
    let d = delta_path(p).unwrap();
    match probe_delta(vfs, &d).unwrap() {
        DeltaProbe::Present => Some(scan_delta(vfs, &d).unwrap().header.state),
        _ => None,
    }
}

#[test]
fn endbu_resumes_after_a_crash_at_every_io() {
    let mut k = 1u64;
    let mut crashed_runs = 0;
    loop {
        let vfs = SimVfs::new(k, FaultConfig::crash_only());
        let (instant, all) = vfs.with_faults_paused(|| setup(&vfs));
        let mut e = engine(&vfs);
        let start = vfs.io_step();
        vfs.set_crash_at(start + k);
        let _ = e.end_backup(&paths());
        drop(e);
        if !vfs.is_crashed() {
            // k is past endbu's last I/O: the plain run must have finished.
            vfs.clear_crash_point();
            for (i, p) in paths().iter().enumerate() {
                assert!(holds(&vfs, p) == all[i], "uninterrupted endbu lost records");
                assert_eq!(delta_state(&vfs, p), None);
            }
            break;
        }
        crashed_runs += 1;
        if k.is_multiple_of(2) {
            vfs.power_loss();
        } else {
            vfs.process_crash();
        }
        vfs.clear_crash_point();
        // The operator's way out, chosen by k: kill the deltas (only if no roll-in had
        // begun), or finish by endbu, or by simply opening the files.
        let active = paths()
            .iter()
            .all(|p| delta_state(&vfs, p) == Some(DeltaState::Active));
        if active && k.is_multiple_of(3) {
            for p in paths() {
                remove_delta(&vfs, &delta_path(&p).unwrap()).unwrap();
            }
            for (i, p) in paths().iter().enumerate() {
                let got = holds(&vfs, p);
                assert!(
                    got == instant[i],
                    "k={k}: killed deltas: {} holds {} records, the startbu instant {}",
                    p.display(),
                    got.len(),
                    instant[i].len()
                );
            }
        } else {
            let mut e = engine(&vfs);
            if k % 3 == 1 {
                for p in paths() {
                    let h = e.open(&p, OpenMode::Normal).unwrap();
                    e.close(h).unwrap();
                }
            }
            e.end_backup(&paths())
                .unwrap_or_else(|err| panic!("k={k}: endbu again: {err}"));
            drop(e);
            for (i, p) in paths().iter().enumerate() {
                let got = holds(&vfs, p);
                assert!(
                    got == all[i],
                    "k={k}: {} holds {} records after resuming endbu, not all {}",
                    p.display(),
                    got.len(),
                    all[i].len()
                );
                assert_eq!(delta_state(&vfs, p), None, "k={k}: delta left");
            }
        }
        k += 1;
    }
    assert!(
        crashed_runs >= 10,
        "endbu did only {crashed_runs} I/O steps"
    );
}
