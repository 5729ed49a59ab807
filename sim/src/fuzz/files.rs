//! Whole data files: the checker and the engine's read path over arbitrary bytes.

use std::path::Path;
use std::sync::Arc;

use engine::clock::ManualClock;
use engine::file::check::check_file;
use engine::vfs::MemVfs;
use engine::{Config, Engine, GetOp, OpenMode, StepOp};

/// Where the input file lives in its `MemVfs`.
const PATH: &str = "/fuzz/f.btr";

/// Steps a walk may take beyond the record count the FCR claims: a damaged tree may
/// loop or hold more entries than records; the bound keeps the target finite.
const EXTRA_STEPS: u64 = 10;

/// A hostile FCR may claim any record count; walks are capped here whatever it says.
const MAX_STEPS: u64 = 100_000;

/// The bytes as a data file: `check_file` must report (never panic), and if the file
/// opens read-only, walking every key forwards and the file physically, within a
/// bound, must only ever return records or statuses.
pub fn data_file(data: &[u8]) {
    let vfs = MemVfs::new();
    vfs.insert(PATH, data.to_vec());
    let path = Path::new(PATH);
    let _ = check_file(&vfs, path);

    let clock = Arc::new(ManualClock::new());
    let mut eng = Engine::new(Arc::new(vfs), clock, Config::default());
    let Ok(h) = eng.open(path, OpenMode::ReadOnly) else {
        return;
    };
    let Ok(stat) = eng.stat(h) else {
        let _ = eng.close(h);
        return;
    };
    let bound = stat.records.saturating_add(EXTRA_STEPS).min(MAX_STEPS);
    for key in 0..stat.spec.keys.len() {
        let mut r = eng.get(h, GetOp::First, key, &[]);
        let mut steps = 0;
        while r.is_ok() && steps < bound {
            r = eng.get(h, GetOp::Next, key, &[]);
            steps += 1;
        }
    }
    let mut r = eng.step(h, StepOp::First);
    let mut steps = 0;
    while r.is_ok() && steps < bound {
        r = eng.step(h, StepOp::Next);
        steps += 1;
    }
    let _ = eng.close(h);
}
