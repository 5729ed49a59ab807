//! The shrunk trace of a failing seed, for the report: the seed is shrunk in-process
//! (`shrink::shrink_bounded`) and the shrunk workload replayed with the trace that
//! `sim replay --trace` prints captured into memory instead of stdout.
//!
//! Bounded on purpose — a report is made after a campaign, and must not turn into a
//! second one: at most `max_runs` runs to shrink each seed (the result is then the
//! smallest workload found, maybe not minimal), and the trace kept to its first and
//! last lines (the failure is at the end).

use crate::campaign::Failure;
use crate::runner::{run_seed, Options};
use crate::shrink;
use std::io::Write;
use std::sync::{Arc, Mutex};

/// Lines of a trace kept from its start and from its end.
pub const HEAD_LINES: usize = 60;
pub const TAIL_LINES: usize = 240;
/// Bytes captured at most (a runaway trace is cut, not held in memory).
const CAPTURE_LIMIT: usize = 8 << 20;

/// What the report shows for one failure.
pub struct ShrunkTrace {
    pub seed: u64,
    /// Steps kept of the seed's workload, and the runs the shrink took.
    pub steps_kept: usize,
    pub runs: usize,
    /// The failure the shrunk workload shows.
    pub failure: String,
    /// The command that reruns the shrunk workload: `sim shrink` writes the case file,
    /// then `sim replay --case` replays it with its trace.
    pub replay: String,
    /// The trace, cut to [`HEAD_LINES`] + [`TAIL_LINES`].
    pub trace: String,
}

/// Shrink `f`'s seed under `opts` and capture the shrunk workload's trace. `None` if
/// the seed no longer fails (a result file from another build).
pub fn shrunk_trace(f: &Failure, opts: &Options, max_runs: usize) -> Option<ShrunkTrace> {
    let (case, runs) = shrink::shrink_bounded(f.seed, opts, &mut (), max_runs)?;
    let shrunk = case.options().ok()?;
    let (outcome, text) = capture(|| run_seed(f.seed, &shrunk));
    let mutant = case
        .mutant
        .as_ref()
        .map(|m| format!(" --mutant {m}"))
        .unwrap_or_default();
    Some(ShrunkTrace {
        seed: f.seed,
        steps_kept: case.only_steps.len(),
        runs,
        failure: outcome.failure.unwrap_or_else(|| case.failure.clone()),
        replay: format!(
            "cargo run --release -p sim -- shrink {} --steps {}{mutant} --workload {} --out /tmp/case \
             && cargo run --release -p sim -- replay {} --case /tmp/case/{} --trace",
            f.seed,
            opts.steps,
            opts.workload,
            f.seed,
            case.file_name()
        ),
        trace: cut(&text),
    })
}

/// Run `f` with the simulator's and the engine's debug events formatted as
/// `sim replay --trace` prints them, into a string.
fn capture<T>(f: impl FnOnce() -> T) -> (T, String) {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&buf);
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("sim=debug,keel=debug"))
        .without_time()
        .with_ansi(false)
        .with_writer(move || Sink(Arc::clone(&sink)))
        .finish();
    let out = tracing::subscriber::with_default(subscriber, || {
        // A callsite another thread registered while this subscriber was being set
        // up may have cached "no one is interested" (tests run campaigns on other
        // threads at the same time): recompute every callsite's interest with this
        // subscriber in place, or the trace can come out empty.
        tracing::callsite::rebuild_interest_cache();
        f()
    });
    let bytes = buf.lock().map(|b| b.clone()).unwrap_or_default();
    (out, String::from_utf8_lossy(&bytes).into_owned())
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut v) = self.0.lock() {
            if v.len() < CAPTURE_LIMIT {
                v.extend_from_slice(b);
            }
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The first [`HEAD_LINES`] and last [`TAIL_LINES`] lines, with a marker between.
fn cut(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() <= HEAD_LINES + TAIL_LINES {
        return lines.join("\n");
    }
    let omitted = lines.len() - HEAD_LINES - TAIL_LINES;
    let mut out = lines[..HEAD_LINES].join("\n");
    out.push_str(&format!("\n… {omitted} lines omitted …\n"));
    out.push_str(&lines[lines.len() - TAIL_LINES..].join("\n"));
    out
}
