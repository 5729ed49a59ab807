//! Regression: a system transaction whose pre-commit sync fails and drops the dirty
//! data (Linux fsync semantics) must, once retried successfully, be fully durable.

use engine::clock::ManualClock;
use engine::vfs::Vfs;
use engine::{Config, Engine, GetOp, OpenMode};
use rand::SeedableRng;
use sim::vfs::{Fault, FaultConfig, SimVfs};
use sim::workload;
use std::path::Path;
use std::sync::Arc;

#[test]
fn retried_commit_after_sync_drop_is_durable() {
    for updates_after_failure in [0usize, 1, 3] {
        let vfs = SimVfs::new(7, FaultConfig::none());
        let path = Path::new("/d/f.btr");
        let mk = || {
            Engine::new(
                Arc::new(vfs.clone()) as Arc<dyn Vfs>,
                Arc::new(ManualClock::new()),
                Config::default(),
            )
        };
        let mut e = mk();
        e.create(path, &workload::spec(512)).unwrap();
        let h = e.open(path, OpenMode::Normal).unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        for id in 0..60 {
            let mut r = workload::record(id, &mut rng);
            r[6..18].copy_from_slice(format!("i{id:011}").as_bytes());
            e.insert(h, &r).unwrap();
        }
        e.flush().unwrap();
        let mut want = std::collections::BTreeMap::new();
        let mut update = |e: &mut Engine, id: u32, rng: &mut rand_chacha::ChaCha8Rng| {
            e.get(h, GetOp::Equal, 0, &id.to_le_bytes()).unwrap();
            let mut r = workload::record(id, rng);
            r[6..18].copy_from_slice(format!("u{id:011}").as_bytes());
            e.update(h, &r).unwrap();
            want.insert(id, r);
        };
        update(&mut e, 10, &mut rng);
        let mut drop_all = FaultConfig::none();
        drop_all.sync_drop = Fault::on(1.0);
        vfs.set_config(drop_all);
        assert!(e.flush().is_err());
        vfs.set_config(FaultConfig::crash_only());
        for i in 0..updates_after_failure {
            update(&mut e, 20 + i as u32, &mut rng);
        }
        e.flush().unwrap();
        drop(e);
        vfs.power_loss();
        let mut e = mk();
        let h = e.open(path, OpenMode::Normal).unwrap();
        for (id, r) in &want {
            let got = e.get(h, GetOp::Equal, 0, &id.to_le_bytes()).unwrap();
            assert_eq!(
                &got, r,
                "id {id} lost its update (updates after failure: {updates_after_failure})"
            );
        }
        e.close(h).unwrap();
        let rep = engine::file::check::check_file(&vfs, path).unwrap();
        assert!(rep.is_clean(), "{:?}", rep.problems);
    }
}

// The simulator seeds that found this bug are shrunk regression cases in
// corpora/seeds (seed-41, seed-376, seed-585), replayed by tests/corpus.rs.
