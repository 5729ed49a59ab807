//! `crashfs record`: run a command under strace and turn the system calls that
//! touch one directory into logical [`Op`]s with their exact bytes ([`Recorder`]),
//! then prove the trace complete: replayed on the snapshot it must give the
//! directory the run left, and its prints must be what the command printed.

mod recorder;

pub use recorder::Recorder;

use crate::fsstate;
use crate::strace::{self, LineParser};
use crate::trace::{Ino, Op, Snapshot, SnapshotFile, Trace, TRACE_VERSION};
use std::io::{BufRead, Read};
use std::path::Path;
use std::process::{Command, Stdio};

/// Reads a directory as the snapshot a trace starts from.
pub fn snapshot(dir: &Path) -> Result<Snapshot, String> {
    let mut s = Snapshot::default();
    for (i, (path, v)) in fsstate::read_dir(dir)?.into_iter().enumerate() {
        match v {
            fsstate::Visible::Dir => s.dirs.push(path),
            fsstate::Visible::File(data) => s.files.push(SnapshotFile {
                path,
                ino: i as Ino + 1,
                data,
            }),
        }
    }
    Ok(s)
}

/// What `record` reports.
pub struct Recorded {
    pub trace: Trace,
    pub stdout: Vec<u8>,
    pub calls: usize,
}

/// Runs `cmd` under strace and builds the trace of what it did to `dir`.
pub fn record(dir: &Path, cmd: &[String]) -> Result<Recorded, String> {
    let dir = dir
        .canonicalize()
        .map_err(|e| format!("cannot use directory {}: {e}", dir.display()))?;
    let snapshot = snapshot(&dir)?;
    match Command::new("strace").arg("-V").stdout(Stdio::null()).stderr(Stdio::null()).status() {
        Ok(_) => {}
        Err(e) => {
            return Err(format!(
                "crashfs record runs the system's strace, which cannot be started ({e}). \
                 Install it (Debian/Ubuntu: apt-get install strace); the README's test script does this."
            ))
        }
    }
    let log =
        tempfile::NamedTempFile::new().map_err(|e| format!("cannot make a temporary file: {e}"))?;
    let (program, args) = cmd.split_first().ok_or("record needs a command after --")?;
    let mut child = Command::new("strace")
        .args(strace::STRACE_FLAGS)
        .arg("-e")
        .arg(format!("trace={}", strace::TRACED_CALLS))
        .arg("-o")
        .arg(log.path())
        .arg("--")
        .arg(program)
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run strace: {e}"))?;
    let mut stdout = Vec::new();
    if let Some(mut out) = child.stdout.take() {
        out.read_to_end(&mut stdout)
            .map_err(|e| format!("cannot read the command's output: {e}"))?;
    }
    let status = child
        .wait()
        .map_err(|e| format!("cannot wait for strace: {e}"))?;
    if !status.success() {
        return Err(format!(
            "the recorded command failed ({status}); its output was:\n{}",
            String::from_utf8_lossy(&stdout)
        ));
    }
    let start_cwd = std::env::current_dir().map_err(|e| format!("no working directory: {e}"))?;
    let mut rec = Recorder::new(dir.clone(), &snapshot, start_cwd);
    let mut parser = LineParser::default();
    let file =
        std::fs::File::open(log.path()).map_err(|e| format!("cannot read strace's log: {e}"))?;
    let mut calls = 0;
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| format!("cannot read strace's log: {e}"))?;
        let at = |e: String| format!("strace log line {}: {e}", n + 1);
        if let Some(call) = parser.feed(&line).map_err(at)? {
            calls += 1;
            rec.handle(&call, &parser).map_err(at)?;
        }
    }
    verify(&rec, &dir, &stdout)?;
    let trace = Trace {
        version: TRACE_VERSION,
        dir: dir.display().to_string(),
        command: cmd.to_vec(),
        snapshot,
        ops: rec.into_ops(),
    };
    Ok(Recorded {
        trace,
        stdout,
        calls,
    })
}

/// The trace replayed on the snapshot must give the directory as the run left it,
/// and its prints must be what the command printed: otherwise a call was missed.
fn verify(rec: &Recorder, dir: &Path, stdout: &[u8]) -> Result<(), String> {
    let actual = fsstate::read_dir(dir)?;
    let diffs = fsstate::diff(&rec.state().visible(), &actual, 20);
    if !diffs.is_empty() {
        return Err(format!(
            "replaying the trace does not give the directory the command left:\n  {}",
            diffs.join("\n  ")
        ));
    }
    let printed: Vec<u8> = rec
        .ops
        .iter()
        .filter_map(|t| match &t.op {
            Op::Print { text } => Some(text.as_slice()),
            _ => None,
        })
        .flatten()
        .copied()
        .collect();
    if printed != stdout {
        return Err(format!(
            "the trace's prints ({} bytes) are not what the command printed ({} bytes)",
            printed.len(),
            stdout.len()
        ));
    }
    Ok(())
}
