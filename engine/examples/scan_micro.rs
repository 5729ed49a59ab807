//! A read micro-benchmark for instruction counts (`valgrind --tool=callgrind
//! --toggle-collect=scan_micro::measured`: the timed pass only, not the warming scan), where wall time on a shared machine is too
//! noisy: builds a file of N 100-byte records with one unique 8-byte key (the bench's
//! layout) in the OS temp directory, then times one pass of the chosen reads.
//!
//! ```text
//! cargo run --release -p engine --example scan_micro -- [scan|scan-into|points|points-into|points-random|step] [N] [CACHE_PAGES] [LOOKUPS]
//! ```
//!
//! `CACHE_PAGES` is the clean-page cache (default 16384: the bench's 64 MiB of 4 KiB
//! pages, so that at 1 M records the file is larger than the cache, as in the bench);
//! `LOOKUPS` the point reads of one pass (default N). With `KEEL_MICRO_FILE=PATH` the
//! file is built there once and reused by later runs (so a run under callgrind need
//! not build a million records at valgrind's speed). With `KEEL_MICRO_COMPACT=1` the
//! file is made with compact index leaves (`FileSpec::compact_leaves`).

use engine::host::StdClock;
use engine::vfs::StdVfs;
use engine::{
    Config, Engine, FileFormat, FileSpec, GetOp, Handle, KeySpec, KeyType, OpenMode, Segment,
    Status, StepOp,
};
use std::sync::Arc;
use std::time::Instant;

fn record(id: u64) -> Vec<u8> {
    let mut r = vec![(id % 251) as u8; 100];
    r[..8].copy_from_slice(&id.to_le_bytes());
    r
}

/// One pass of `what` over the file's `n` records; returns how many were read.
#[inline(never)]
fn reads(e: &mut Engine, h: Handle, what: &str, n: u64, lookups: u64) -> u64 {
    let mut buf = Vec::new();
    let mut count = 0u64;
    match what {
        "scan" => {
            let mut r = e.get(h, GetOp::First, 0, &[]);
            while let Ok(rec) = r {
                assert_eq!(rec[..8], count.to_le_bytes());
                count += 1;
                r = e.get(h, GetOp::Next, 0, &[]);
            }
            assert_eq!(r.unwrap_err().status, Status::EndOfFile);
        }
        "scan-into" => {
            let mut r = e.get_into(h, GetOp::First, 0, &[], &mut buf);
            while r.is_ok() {
                assert_eq!(buf[..8], count.to_le_bytes());
                count += 1;
                r = e.get_into(h, GetOp::Next, 0, &[], &mut buf);
            }
            assert_eq!(r.unwrap_err().status, Status::EndOfFile);
        }
        "points-random" => {
            // Uniformly spread ids (splitmix64 of a counter), as the bench's random
            // lookups: the whole file is the working set.
            for i in 0..lookups {
                let mut z = i.wrapping_add(1).wrapping_mul(0x9e3779b97f4a7c15);
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
                let id = (z ^ (z >> 31)) % n;
                e.get_into(h, GetOp::Equal, 0, &id.to_le_bytes(), &mut buf)
                    .unwrap();
                assert_eq!(buf[..8], id.to_le_bytes());
                count += 1;
            }
        }
        "points" | "points-into" => {
            // A fixed pseudo-random order (an LCG over the ids; it cycles through few
            // of them, so this is a small working set: see points-random).
            let mut id = 7u64;
            for _ in 0..lookups {
                id = (id * 6364136223846793005 + 1442695040888963407) % n;
                if what == "points" {
                    let rec = e.get(h, GetOp::Equal, 0, &id.to_le_bytes()).unwrap();
                    assert_eq!(rec[..8], id.to_le_bytes());
                } else {
                    e.get_into(h, GetOp::Equal, 0, &id.to_le_bytes(), &mut buf)
                        .unwrap();
                    assert_eq!(buf[..8], id.to_le_bytes());
                }
                count += 1;
            }
        }
        "step" => {
            let mut r = e.step(h, StepOp::First);
            while r.is_ok() {
                count += 1;
                r = e.step(h, StepOp::Next);
            }
        }
        other => {
            panic!("unknown read {other}: scan|scan-into|points|points-into|points-random|step")
        }
    }
    count
}

/// The timed pass (a function of its own, for callgrind's `--toggle-collect`).
#[inline(never)]
fn measured(e: &mut Engine, h: Handle, what: &str, n: u64, lookups: u64) -> u64 {
    reads(e, h, what, n, lookups)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let what = args.next().unwrap_or_else(|| "scan".into());
    let n: u64 = args.next().map_or(100_000, |s| s.parse().expect("N"));
    let cache: usize = args
        .next()
        .map_or(16384, |s| s.parse().expect("CACHE_PAGES"));
    let lookups: u64 = args.next().map_or(n, |s| s.parse().expect("LOOKUPS"));
    let kept = std::env::var_os("KEEL_MICRO_FILE").map(std::path::PathBuf::from);
    let dir = std::env::temp_dir().join(format!("keel-scan-micro-{}", std::process::id()));
    let path = kept.clone().unwrap_or_else(|| dir.join("scan.dat"));
    let build = !path.exists();
    if kept.is_none() {
        std::fs::create_dir_all(&dir).expect("temp dir");
    }
    let spec = FileSpec {
        record_length: 100,
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
        format: FileFormat::V6,
        compact_leaves: std::env::var_os("KEEL_MICRO_COMPACT").is_some(),
        slot_serial_bytes: 8,
    };
    let config = Config {
        operation_bundle_limit: 10_000,
        clean_cache_pages: cache,
        ..Config::default()
    };
    let mut e = Engine::new(Arc::new(StdVfs), Arc::new(StdClock::new()), config);
    if build {
        e.create(&path, &spec).expect("create");
    }
    let h = e.open(&path, OpenMode::Normal).expect("open");
    if build {
        for id in 0..n {
            e.insert(h, &record(id)).expect("insert");
        }
        e.flush().expect("flush");
    }
    // Warm the clean cache (a key-order scan, as the bench's read rows do), then the
    // measured pass.
    reads(&mut e, h, "scan-into", n, 0);
    let start = Instant::now();
    let count = measured(&mut e, h, &what, n, lookups);
    let d = start.elapsed();
    println!(
        "{what}: {count} records in {:.3} s ({:.0} records/s)",
        d.as_secs_f64(),
        count as f64 / d.as_secs_f64()
    );
    e.close(h).expect("close");
    if kept.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
