//! Shared by the archival-logging tests (archival.rs, archival_rollfwd.rs): one data
//! file under an archival root on the test filesystem, a workload, and the coverage
//! check of its log.

use super::*;
use engine::archival::{probe_log, read_log, LogProbe};
use engine::engine::{RollForward, RollOptions};
use engine::vfs::testing::TestVfs;
use engine::{Client, Config, Engine, OpenMode, Status, StepOp};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

pub type Records = BTreeSet<Vec<u8>>;

pub const ROOT: &str = "/r";
pub const DATA: &str = "/r/db/a.btr";
pub const LOG: &str = "/r/db/a.log";
pub const CFG: &str = "/r/blog/blog.cfg";
/// Where a backup copy is restored for roll-forward (the log names the file `a.btr`).
pub const RESTORED: &str = "/restore/a.btr";

pub fn config() -> Config {
    Config {
        operation_bundle_limit: 4,
        blog_root: Some(PathBuf::from(ROOT)),
        ..Config::default()
    }
}

pub fn engine(vfs: &TestVfs) -> Engine {
    mem_engine(vfs, config())
}

/// blog.cfg archiving `/db/a.btr`, and the empty data file (FCR sequence 1).
pub fn setup(vfs: &TestVfs) {
    vfs.put(CFG, b"/db/a.btr\n".to_vec());
    engine(vfs)
        .create(Path::new(DATA), &people_spec(512))
        .unwrap();
}

/// A file's records and durable FCR sequence, read through a read-only open.
pub fn read(vfs: &TestVfs, path: &str) -> (Records, u64) {
    let mut e = engine(vfs);
    let h = e
        .open(Path::new(path), OpenMode::ReadOnly)
        .unwrap_or_else(|err| panic!("read-only open of {path}: {err}"));
    let seq = e.stat(h).unwrap().durable_seq;
    let mut out = Records::new();
    let mut r = e.step(h, StepOp::First);
    while let Ok(rec) = r {
        out.insert(rec);
        r = e.step(h, StepOp::Next);
    }
    assert_eq!(r.unwrap_err().status, Status::EndOfFile);
    e.close(h).unwrap();
    (out, seq)
}

/// Inserts, updates, deletes, an aborted and an ended transaction, flushes — through
/// one writable open of `DATA`, ids from `from`. Errors are ignored (a stopped
/// filesystem fails every call after the stop).
pub fn work(e: &mut Engine, from: u32, steps: u32) {
    let c = Client(1);
    let Ok(h) = e.open_as(c, Path::new(DATA), OpenMode::Normal) else {
        return;
    };
    for i in from..from + steps {
        let _ = e.insert(h, &person(i, (i % 3) as i16, &format!("n{i}")));
        match i % 7 {
            2 if e.step(h, StepOp::First).is_ok() => {
                let _ = e.delete(h);
            }
            3 => {
                if let Ok(mut r) = e.step(h, StepOp::Last) {
                    r[4] ^= 1;
                    let _ = e.update(h, &r);
                }
            }
            4 => {
                let _ = e.begin_transaction(c);
                let _ = e.insert(h, &person(10_000 + i, 1, &format!("t{i}")));
                let _ = e.abort_transaction(c);
            }
            5 => {
                let _ = e.begin_transaction(c);
                let _ = e.insert(h, &person(20_000 + i, 1, &format!("u{i}")));
                let _ = e.insert(h, &person(30_000 + i, 2, &format!("v{i}")));
                let _ = e.end_transaction(c);
            }
            6 => {
                let _ = e.flush();
            }
            _ => {}
        }
    }
    let _ = e.close(h);
}

pub fn roll(vfs: &TestVfs, path: &str, to: Option<u64>) -> engine::Result<RollForward> {
    engine(vfs).roll_forward_archive(
        Path::new(path),
        RollOptions {
            log: Some(PathBuf::from(LOG)),
            to,
            dump: None,
        },
    )
}

/// Whether every durable FCR of `DATA` is covered by its log: the file's sequence is
/// the log's base or some frame's, and no frame is beyond the file's sequence + 1.
/// `None` if so, else what is wrong.
pub fn uncovered(vfs: &TestVfs) -> Option<String> {
    let (_, f) = read(vfs, DATA);
    match probe_log(vfs, Path::new(LOG)).unwrap() {
        LogProbe::Absent | LogProbe::Interrupted => {
            (f != 1).then(|| format!("the file is at {f} and has no log"))
        }
        LogProbe::Present => {
            let (scan, entries) = match read_log(vfs, Path::new(LOG)) {
                Ok(x) => x,
                Err(e) => return Some(format!("the log does not read: {e}")),
            };
            let covered = scan.header.base_fcr_seq == f || entries.iter().any(|e| e.fcr_seq == f);
            let ahead = entries.iter().any(|e| e.fcr_seq > f + 1);
            (!covered || ahead).then(|| {
                format!(
                    "the file is at {f}; the log (base {}) has frames for {:?}",
                    scan.header.base_fcr_seq,
                    entries.iter().map(|e| e.fcr_seq).collect::<Vec<_>>()
                )
            })
        }
    }
}

/// The bytes of an empty data file at FCR sequence 1 (as `setup` creates it).
pub fn initial_file() -> Vec<u8> {
    let vfs = TestVfs::new();
    setup(&vfs);
    vfs.contents(DATA).unwrap()
}

/// `setup`, then `work` in `rounds` writable opens of 20 steps each; returns the data
/// file's bytes, records and sequence after each round (index 0: before any).
pub fn history(vfs: &TestVfs, rounds: u32) -> Vec<(Vec<u8>, Records, u64)> {
    setup(vfs);
    let snap = |vfs: &TestVfs| {
        let (r, s) = read(vfs, DATA);
        (vfs.contents(DATA).unwrap(), r, s)
    };
    let mut out = vec![snap(vfs)];
    for round in 0..rounds {
        let mut e = engine(vfs);
        work(&mut e, round * 100, 20);
        out.push(snap(vfs));
    }
    out
}
