//! `SharedEngine` from many threads (an integration test: the engine's own sources
//! never touch threads). The crash-safety of group commit is checked on `SimVfs` in
//! the root `tests/group_commit.rs`; this one checks the in-memory bookkeeping.

use engine::clock::ManualClock;
use engine::shared::SharedEngine;
use engine::vfs::MemVfs;
use engine::{Client, Config, Engine, FileSpec, KeySpec, KeyType, LogMode, OpenMode, Segment};
use std::path::Path;
use std::sync::Arc;

fn spec() -> FileSpec {
    FileSpec {
        record_length: 16,
        page_size: 4096,
        keys: vec![KeySpec {
            segments: vec![Segment {
                offset: 0,
                length: 8,
                key_type: KeyType::Unsigned,
                descending: false,
            }],
            duplicates: false,
            modifiable: false,
        }],
    }
}

/// Eight threads commit concurrently through the shared engine: every End is
/// durable when it returns (the log's durable LSN passes its commit), no commit
/// is lost, and the log counts one sync per leader, never more than commits.
#[test]
fn concurrent_ends_are_durable_and_all_kept() {
    let vfs = Arc::new(MemVfs::new());
    let config = Config {
        log_mode: LogMode::Durability,
        log_dir: "/log".into(),
        ..Config::default()
    };
    let mut e = Engine::new(vfs.clone(), Arc::new(ManualClock::new()), config.clone());
    let path = Path::new("/t.btr");
    e.create(path, &spec()).expect("create");
    let shared = Arc::new(SharedEngine::new(e));
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let shared = shared.clone();
            std::thread::spawn(move || {
                let c = Client(t as u32 + 1);
                let h = shared
                    .with(|e| e.open_as(c, path, OpenMode::Normal))
                    .expect("open");
                for i in 0..50u64 {
                    let mut rec = [0u8; 16];
                    rec[..8].copy_from_slice(&(t * 1000 + i).to_le_bytes());
                    let ((), lsn) = shared
                        .transaction_at(c, |e| e.insert(h, &rec))
                        .expect("transaction");
                    assert!(lsn > 0);
                    let durable = shared.with(|e| e.log_durable_lsn());
                    assert!(durable > lsn, "log durable below {durable} after {lsn}");
                }
                shared.with(|e| e.close(h)).expect("close");
            })
        })
        .collect();
    for t in threads {
        t.join().expect("client thread");
    }
    let mut e = Arc::into_inner(shared).expect("threads done").into_inner();
    let stats = e.stats().clone();
    assert_eq!(stats.log_commits, 400);
    assert!(stats.log_syncs >= 1 && stats.log_syncs <= 400, "{stats:?}");
    let h = e.open(path, OpenMode::Normal).expect("reopen");
    assert_eq!(e.stat(h).expect("stat").records, 400);
}
