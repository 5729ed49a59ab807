//! Shared helpers for the engine's integration tests.
#![allow(dead_code)]

pub mod archival;
pub mod butil;
pub mod butil_files;

use engine::clock::ManualClock;
use engine::vfs::testing::TestVfs;
use engine::vfs::{StdVfs, Vfs};
use engine::{Config, Engine, FileSpec, KeySpec, KeyType, Segment};
use std::sync::Arc;

pub fn seg(offset: u16, length: u16, key_type: KeyType) -> Segment {
    Segment {
        offset,
        length,
        key_type,
        descending: false,
    }
}

pub fn key(segments: Vec<Segment>, duplicates: bool, modifiable: bool) -> KeySpec {
    KeySpec {
        segments,
        duplicates,
        modifiable,
    }
}

/// A 32-byte record: id u32 (key 0, unique), group i16 (key 1, duplicates,
/// modifiable), name 16 bytes (key 2, unique, modifiable), then filler.
pub fn people_spec(page_size: u32) -> FileSpec {
    FileSpec {
        record_length: 32,
        page_size,
        keys: vec![
            key(vec![seg(0, 4, KeyType::Unsigned)], false, false),
            key(vec![seg(4, 2, KeyType::Integer)], true, true),
            key(vec![seg(6, 16, KeyType::String)], false, true),
        ],
        format: engine::FileFormat::V6,
        compact_leaves: false,
        slot_serial_bytes: 8,
    }
}

pub fn person(id: u32, group: i16, name: &str) -> Vec<u8> {
    let mut r = vec![0u8; 32];
    r[0..4].copy_from_slice(&id.to_le_bytes());
    r[4..6].copy_from_slice(&group.to_le_bytes());
    let n = name.as_bytes();
    r[6..6 + n.len().min(16)].copy_from_slice(&n[..n.len().min(16)]);
    r[22..32].copy_from_slice(&[0xab; 10]);
    r
}

pub fn name_key(name: &str) -> Vec<u8> {
    let mut k = vec![0u8; 16];
    k[..name.len()].copy_from_slice(name.as_bytes());
    k
}

pub fn std_engine() -> (Engine, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let e = Engine::new(
        Arc::new(StdVfs),
        Arc::new(ManualClock::new()),
        Config::default(),
    );
    (e, dir)
}

pub fn mem_engine(vfs: &TestVfs, config: Config) -> Engine {
    Engine::new(
        Arc::new(vfs.clone()) as Arc<dyn Vfs>,
        Arc::new(ManualClock::new()),
        config,
    )
}
