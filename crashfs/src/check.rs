//! Running the oracle on every planned crash state, in parallel, and collecting
//! verdicts.

use crate::model::CrashState;
use crate::plan::Replayer;
use crate::trace::Trace;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How to judge states.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub oracle: String,
    pub jobs: usize,
    pub timeout: Duration,
    /// Where failing states are kept (default: the system's temporary directory).
    pub keep: Option<PathBuf>,
    /// At most this many failing states are kept on disk.
    pub keep_limit: usize,
}

/// A failing state.
#[derive(Clone, Debug, Serialize)]
pub struct Failure {
    /// The models that allow this state.
    pub models: Vec<String>,
    pub crash_point: usize,
    pub choice: String,
    /// Ops lost in this state (indices into the trace).
    pub dropped: Vec<usize>,
    /// Ops torn in this state, with the sectors that reached the disk.
    pub torn: Vec<(usize, Vec<usize>)>,
    pub kind: String,
    pub message: String,
    /// The oracle's output (stdout then stderr, cut at 4 KiB).
    pub output: String,
    /// The last ops issued before the crash, described.
    pub ops_before: Vec<String>,
    /// The kept directory: `state/` (the crash state), `after-oracle/` (what the oracle
    /// left), `acks`, `REPRODUCE`.
    pub kept: Option<String>,
}

/// The verdict on one state.
#[derive(Clone, Debug)]
pub enum Verdict {
    Pass,
    Fail(Box<Failure>),
}

/// Judges every state; results come back in the order of `states`.
pub fn run(
    trace: &Trace,
    states: &[CrashState],
    opts: &RunOptions,
    progress: &indicatif::ProgressBar,
) -> Result<Vec<Verdict>, String> {
    let next = AtomicUsize::new(0);
    let kept = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Verdict>>> = Mutex::new(vec![None; states.len()]);
    let error: Mutex<Option<String>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..opts.jobs.max(1) {
            scope.spawn(|| {
                let mut rep = Replayer::new(trace);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= states.len() || error.lock().map(|e| e.is_some()).unwrap_or(true) {
                        break;
                    }
                    match judge(trace, &mut rep, &states[i], opts, &kept) {
                        Ok(v) => {
                            if let Ok(mut r) = results.lock() {
                                r[i] = Some(v);
                            }
                        }
                        Err(e) => {
                            if let Ok(mut slot) = error.lock() {
                                slot.get_or_insert(e);
                            }
                        }
                    }
                    progress.inc(1);
                }
            });
        }
    });
    if let Some(e) = error.into_inner().ok().flatten() {
        return Err(e);
    }
    let results = results
        .into_inner()
        .map_err(|_| "a worker panicked".to_string())?;
    results
        .into_iter()
        .map(|r| r.ok_or_else(|| "a state was not judged".to_string()))
        .collect()
}

fn judge(
    trace: &Trace,
    rep: &mut Replayer,
    s: &CrashState,
    opts: &RunOptions,
    kept: &AtomicUsize,
) -> Result<Verdict, String> {
    let root = match &opts.keep {
        Some(dir) => tempfile::Builder::new().prefix("state-").tempdir_in(dir),
        None => tempfile::Builder::new().prefix("crashfs-").tempdir(),
    }
    .map_err(|e| format!("cannot make a temporary directory: {e}"))?;
    let state_dir = root.path().join("state");
    std::fs::create_dir(&state_dir)
        .map_err(|e| format!("cannot make {}: {e}", state_dir.display()))?;
    rep.build(s)
        .materialise(&state_dir)
        .map_err(|e| format!("cannot write a crash state to {}: {e}", state_dir.display()))?;
    let acks = root.path().join("acks");
    std::fs::write(&acks, trace.printed_before(s.crash))
        .map_err(|e| format!("cannot write {}: {e}", acks.display()))?;
    let (code, stdout, stderr) = run_oracle(
        &opts.oracle,
        &state_dir,
        &acks,
        s.crash,
        root.path(),
        opts.timeout,
    )?;
    if code == Some(0) {
        return Ok(Verdict::Pass);
    }
    let last = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_string();
    let kind = match code {
        None => "timeout".to_string(),
        Some(c) => match last.split_once(':') {
            Some((k, _)) if !k.trim().is_empty() && !k.contains(' ') => k.trim().to_string(),
            _ => format!("oracle-exit-{c}"),
        },
    };
    let mut output = format!("{stdout}{stderr}");
    if output.len() > 4096 {
        let mut cut = 4096;
        while !output.is_char_boundary(cut) {
            cut -= 1;
        }
        output.truncate(cut);
        output.push_str("\n[…cut]");
    }
    let names = |ino| trace.name_of(ino);
    let from = s.crash.saturating_sub(8);
    let ops_before = (from..s.crash)
        .map(|i| {
            let t = &trace.ops[i];
            let fate = if s.dropped.binary_search(&i).is_ok() {
                "  [lost]"
            } else if s.torn.iter().any(|x| x.0 == i) {
                "  [torn]"
            } else {
                ""
            };
            format!(
                "#{i} pid {}: {} — {}{fate}",
                t.pid,
                t.call,
                t.op.describe(&names)
            )
        })
        .collect();
    let mut f = Failure {
        models: vec![s.model.name().to_string()],
        crash_point: s.crash,
        choice: format!("{:?}", s.choice).to_lowercase(),
        dropped: s.dropped.clone(),
        torn: s
            .torn
            .iter()
            .map(|(i, m)| {
                (
                    *i,
                    m.iter().enumerate().filter(|x| *x.1).map(|x| x.0).collect(),
                )
            })
            .collect(),
        kind,
        message: last,
        output,
        ops_before,
        kept: None,
    };
    if kept.fetch_add(1, Ordering::Relaxed) < opts.keep_limit {
        // The oracle may have changed the directory (recovery writes): keep what it
        // left as `after-oracle/`, and `state/` as the crash state itself, rebuilt.
        let after = root.path().join("after-oracle");
        std::fs::rename(&state_dir, &after)
            .map_err(|e| format!("cannot keep {}: {e}", after.display()))?;
        std::fs::create_dir(&state_dir)
            .map_err(|e| format!("cannot make {}: {e}", state_dir.display()))?;
        rep.build(s)
            .materialise(&state_dir)
            .map_err(|e| format!("cannot write a crash state to {}: {e}", state_dir.display()))?;
        let reproduce = format!(
            "# state/ is the crash state; after-oracle/ is what the oracle left. To judge again:\n\
             cp -a {state} /tmp/crashfs-repro && cd /tmp/crashfs-repro\n\
             CRASHFS_DIR=/tmp/crashfs-repro CRASHFS_CRASH_POINT={} CRASHFS_ACKS={acks} sh -c '{}'\n",
            s.crash,
            opts.oracle.replace('\'', "'\\''"),
            state = state_dir.display(),
            acks = acks.display(),
        );
        let _ = std::fs::write(root.path().join("REPRODUCE"), reproduce);
        f.kept = Some(root.keep().display().to_string());
    }
    Ok(Verdict::Fail(Box::new(f)))
}

/// Runs the oracle in `dir`; `None` for the exit code means it timed out (and was killed).
fn run_oracle(
    oracle: &str,
    dir: &Path,
    acks: &Path,
    crash: usize,
    scratch: &Path,
    timeout: Duration,
) -> Result<(Option<i32>, String, String), String> {
    let out_path = scratch.join("oracle.stdout");
    let err_path = scratch.join("oracle.stderr");
    let out = std::fs::File::create(&out_path)
        .map_err(|e| format!("cannot make {}: {e}", out_path.display()))?;
    let err = std::fs::File::create(&err_path)
        .map_err(|e| format!("cannot make {}: {e}", err_path.display()))?;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(oracle)
        .current_dir(dir)
        .env("CRASHFS_DIR", dir)
        .env("CRASHFS_CRASH_POINT", crash.to_string())
        .env("CRASHFS_ACKS", acks)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("cannot run the oracle: {e}"))?;
    let start = Instant::now();
    let code = loop {
        match child
            .try_wait()
            .map_err(|e| format!("cannot wait for the oracle: {e}"))?
        {
            Some(status) => break Some(status.code().unwrap_or(-1)),
            None if start.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            None => std::thread::sleep(Duration::from_millis(2)),
        }
    };
    let read =
        |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned();
    Ok((code, read(&out_path), read(&err_path)))
}
