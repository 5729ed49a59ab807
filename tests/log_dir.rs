//! The transaction log directory survives a power loss: on a `SimVfs` whose directories
//! are objects (a new directory is lost at power loss unless its parent was synced),
//! a Durability-mode insert acknowledged right after the engine created its log
//! directory is there after the power loss — the engine syncs the parent of the log
//! directory (and of each directory above it that it had to create). The known-bad
//! engine `log-dir-not-synced` loses the directory, and the acknowledged insert with it.

use engine::clock::ManualClock;
use engine::mutant::Mutant;
use engine::vfs::Vfs;
use engine::{Config, Engine, GetOp, LogMode, OpenMode};
use sim::vfs::{Fault, FaultConfig, SimVfs};
use sim::workload;
use std::path::Path;
use std::sync::Arc;

/// A power loss keeps no unsynced write and no unsynced directory change.
fn lose_everything() -> FaultConfig {
    FaultConfig {
        lost_unsynced_write: Fault::on(1.0),
        lost_dir_op: Fault::on(1.0),
        ..FaultConfig::none()
    }
}

fn engine(vfs: &SimVfs, log_dir: &Path, mutant: Option<Mutant>) -> Engine {
    Engine::new(
        Arc::new(vfs.clone()) as Arc<dyn Vfs>,
        Arc::new(ManualClock::new()),
        Config {
            log_mode: LogMode::Durability,
            log_dir: log_dir.to_path_buf(),
            mutant,
            ..Config::default()
        },
    )
}

/// Create the data file, insert one record in Durability mode (the log directory is
/// created by that first change), lose power, recover: is the record there?
fn acknowledged_insert_survives(log_dir: &str, mutant: Option<Mutant>) -> bool {
    let vfs = SimVfs::new(1, lose_everything());
    vfs.set_dirs_are_objects(true).expect("empty filesystem");
    vfs.create_dir_durable("/data").expect("data directory");
    vfs.create_dir_durable("/srv")
        .expect("an existing directory");
    let path = Path::new("/data/f.btr");
    let log_dir = Path::new(log_dir);
    let mut e = engine(&vfs, log_dir, mutant);
    e.create(path, &workload::spec(512)).expect("create");
    let h = e.open(path, OpenMode::Normal).expect("open");
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(7);
    let rec = workload::record(42, &mut rng);
    e.insert(h, &rec)
        .expect("insert (Durability: acknowledged once the log is synced)");
    assert!(vfs.exists(log_dir).expect("exists"));
    drop(e);
    vfs.power_loss();

    let mut e = engine(&vfs, log_dir, mutant);
    let h = e
        .open(path, OpenMode::Normal)
        .expect("open rolls the file forward from the log");
    e.get(h, GetOp::Equal, 0, &42u32.to_le_bytes()).is_ok()
}

#[test]
fn the_log_directory_and_what_it_acknowledged_survive_power_loss() {
    assert!(acknowledged_insert_survives("/log", None));
    // Two directories to create: /srv exists, /srv/keel and /srv/keel/log do not.
    assert!(acknowledged_insert_survives("/srv/keel/log", None));
}

#[test]
fn a_log_directory_created_without_syncing_its_parent_is_lost() {
    assert!(!acknowledged_insert_survives(
        "/log",
        Some(Mutant::LogDirNotSynced)
    ));
}

#[test]
fn an_existing_but_unsynced_log_directory_is_made_durable() {
    // A process created the log directory and died before syncing its parent; the
    // engine finds it existing and must still make it durable before using it.
    let vfs = SimVfs::new(2, lose_everything());
    vfs.set_dirs_are_objects(true).expect("empty filesystem");
    vfs.create_dir_durable("/data").expect("data directory");
    vfs.create_dir_all(Path::new("/log")).expect("mkdir");
    vfs.process_crash();
    let path = Path::new("/data/f.btr");
    let mut e = engine(&vfs, Path::new("/log"), None);
    e.create(path, &workload::spec(512)).expect("create");
    let h = e.open(path, OpenMode::Normal).expect("open");
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(7);
    e.insert(h, &workload::record(5, &mut rng)).expect("insert");
    drop(e);
    vfs.power_loss();
    assert_eq!(vfs.stats().dirs_lost, 0);
    let mut e = engine(&vfs, Path::new("/log"), None);
    let h = e.open(path, OpenMode::Normal).expect("open");
    assert!(e.get(h, GetOp::Equal, 0, &5u32.to_le_bytes()).is_ok());
}
