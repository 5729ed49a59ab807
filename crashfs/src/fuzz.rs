//! Fuzz target bodies (the `fuzz/` crate calls them; `tests/fuzz_corpus.rs` replays
//! their corpus on stable). Whatever strace prints, and whatever a trace file holds,
//! crashfs answers with an error, never a panic.

use crate::model::Model;
use crate::plan::{plan, PlanOptions, Replayer};
use crate::record::Recorder;
use crate::strace::LineParser;
use crate::trace::{Snapshot, Trace, TRACE_VERSION};

const FUZZ_FILE_LIMIT: u64 = 1 << 20;

/// Feeds `data` as an strace log through the parser and recorder, then plans and
/// builds every crash state of the ops it made.
pub fn strace_log(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut rec = Recorder::new("/d".into(), &Snapshot::default(), "/d".into());
    let mut parser = LineParser::default();
    for line in text.lines() {
        if let Ok(Some(call)) = parser.feed(line) {
            let _ = rec.handle(&call, &parser);
        }
    }
    let trace = Trace {
        version: TRACE_VERSION,
        dir: "/d".into(),
        command: vec![],
        snapshot: Snapshot::default(),
        ops: rec.into_ops(),
    };
    build_all(&trace);
}

/// Reads `data` as a trace file; a valid one is planned and its states built.
pub fn trace_file(data: &[u8]) {
    let Ok(trace) = serde_json::from_slice::<Trace>(data) else {
        return;
    };
    // The same check `Trace::load` makes; op count bounded only to keep runs fast.
    if trace.validate().is_err() || trace.ops.len() > 10_000 {
        return;
    }
    build_all(&trace);
}

/// Builds every planned state of a trace whose files stay small (a fuzzer's input can
/// ask for gigabytes with one `ftruncate`; the real limit is tested by `validate`).
fn build_all(trace: &Trace) {
    if trace.validate_within(FUZZ_FILE_LIMIT).is_err() {
        return;
    }
    let opts = PlanOptions {
        models: vec![Model::Conservative, Model::Ext4Ordered],
        max_states: 64,
        random: 1,
        seed: 0,
    };
    let p = plan(trace, &opts);
    let mut rep = Replayer::new(trace);
    for s in &p.states {
        let _ = rep.build(s).digest();
    }
}
