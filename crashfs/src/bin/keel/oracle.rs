//! The oracle: an operator's recovery of a crash state with the real butil, then a
//! verdict on what it left.
//!
//! Recovery, in the state directory: open the file (`-stat`: every open finishes what
//! a crash interrupted), roll forward where the scenario has a log (`-recoverlog` for
//! the transaction log, `-rollfwd` for the archival log), `-endbu` if a delta remains.
//! Then `-check` must pass and `-save` must give exactly the first `m` records of the
//! scenario's insert sequence, where `m` is what the acknowledged steps left or what
//! the step in flight may leave (see [`allowed`]). Archival scenarios then restore the
//! backup setup took and roll it forward: it must reach the same records.

use crate::butil::Butil;
use crate::records::{parse_sequential, record};
use crate::scenario::Spec;
use std::fs;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

/// A failed verdict: `kind` is what crashfs counts (the text before the first ':').
#[derive(Debug, PartialEq, Eq)]
pub struct Failure {
    pub kind: &'static str,
    pub message: String,
}

fn failure(kind: &'static str, message: impl Into<String>) -> Failure {
    Failure {
        kind,
        message: message.into(),
    }
}

/// The number of acknowledged steps in `acks` (what the recorded command printed on
/// stdout before the crash): lines `ack 1`, `ack 2`, … in order. A partial last line
/// (the crash fell inside the echo's write) counts only if complete up to its newline;
/// anything else is an error, not a verdict on Keel.
pub fn count_acks(acks: &[u8]) -> Result<usize, String> {
    let text = std::str::from_utf8(acks).map_err(|_| "the acks are not UTF-8".to_string())?;
    let mut count = 0;
    let mut lines = text.split('\n').peekable();
    while let Some(line) = lines.next() {
        let last = lines.peek().is_none();
        if last {
            // Text after the last newline: an ack whose write the crash cut short is
            // not an acknowledgement yet.
            break;
        }
        if line != format!("ack {}", count + 1) {
            return Err(format!("ack line {} is {line:?}", count + 1));
        }
        count += 1;
    }
    Ok(count)
}

/// The record counts the file may hold after `acked` steps were acknowledged: at
/// least what the last acknowledged step left (else an acknowledgement was lost), at
/// most what the next step — the only one that can have been in flight, since each
/// step starts only after the previous ack was printed — leaves. An atomic step
/// leaves one or the other; a non-atomic one any count in between.
pub fn allowed(spec: &Spec, acked: usize) -> Allowed {
    let after = |k: usize| match k {
        0 => spec.initial_records,
        k => spec.steps[k - 1].records_after,
    };
    let low = after(acked);
    match spec.steps.get(acked) {
        None => Allowed::One(low),
        Some(next) if next.atomic => Allowed::Either(low, next.records_after),
        Some(next) => Allowed::Range(low..=next.records_after),
    }
}

/// See [`allowed`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Allowed {
    One(u32),
    Either(u32, u32),
    Range(RangeInclusive<u32>),
}

impl Allowed {
    fn low(&self) -> u32 {
        match self {
            Allowed::One(a) | Allowed::Either(a, _) => *a,
            Allowed::Range(r) => *r.start(),
        }
    }

    fn contains(&self, m: u32) -> bool {
        match self {
            Allowed::One(a) => m == *a,
            Allowed::Either(a, b) => m == *a || m == *b,
            Allowed::Range(r) => r.contains(&m),
        }
    }
}

impl std::fmt::Display for Allowed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Allowed::One(a) => write!(f, "{a}"),
            Allowed::Either(a, b) => write!(f, "{a} or {b}"),
            Allowed::Range(r) => write!(f, "{} to {}", r.start(), r.end()),
        }
    }
}

/// The oracle's work on the state in `dir` (cwd of butil), with `acked` steps
/// acknowledged; `scratch` is a directory outside the state for `-save` output.
/// `Ok` says what was found.
pub fn judge(
    spec: &Spec,
    dir: &Path,
    acked: usize,
    butil: &Butil,
    scratch: &Path,
) -> Result<String, Failure> {
    if acked > spec.steps.len() {
        return Err(failure(
            "oracle",
            format!(
                "{acked} acks but the scenario has {} steps",
                spec.steps.len()
            ),
        ));
    }
    let allowed = allowed(spec, acked);
    if !dir.join(spec.file).exists() {
        // The file is made by the first step: absent is fine until its ack.
        return match spec.creates_file && acked == 0 {
            true => Ok("no data file: its -create was never acknowledged".into()),
            false => Err(failure(
                "missing",
                format!("{} is gone after {acked} acknowledged steps", spec.file),
            )),
        };
    }
    let mut notes = String::new();
    // No relaxation for an unacknowledged -create: it writes NAME.creating and
    // renames it into place, so the file is absent or whole.
    open(spec, dir, butil, scratch, &mut notes).map_err(|why| failure("open", why))?;
    recover(spec, dir, butil)?;
    let records = check_and_save(spec, dir, butil, scratch, "check")?;
    let m = verify_records(&records, &allowed, acked)?;
    if let Some(backup) = spec.backup {
        restore_and_roll_forward(spec, dir, backup, butil, scratch, &records)?;
    }
    Ok(format!(
        "{m} records after {acked} acks (allowed {allowed}){notes}"
    ))
}

/// What butil says when a read-only open finds a legacy (5.x) file whose system
/// transaction a crash interrupted (`engine/src/pager/legacy.rs`, status 41).
const NEEDS_WRITE_OPEN: &str = "the first open for writing restores it";

/// The operator's first step: open the file (`-stat`). A legacy file left in the
/// middle of a system transaction refuses every read-only open (status 41, "the first
/// open for writing restores it") and butil has no command that only opens a file for writing,
/// so the operator does what the message asks with the one that changes nothing: a
/// `-load` of an empty sequential file. Its open writes the pre-images back. The
/// verdict says when this was needed.
fn open(
    spec: &Spec,
    dir: &Path,
    butil: &Butil,
    scratch: &Path,
    notes: &mut String,
) -> Result<(), String> {
    let run = butil.output(dir, &["-stat", spec.file])?;
    if run.code == Some(0) {
        return Ok(());
    }
    let why = format!("butil -stat {}: {}", spec.file, run.summary());
    if !(run.code == Some(41) && run.stderr.contains(NEEDS_WRITE_OPEN)) {
        return Err(why);
    }
    let empty = scratch.join("empty.seq");
    fs::write(&empty, [0x1a]).map_err(|e| format!("writing {}: {e}", empty.display()))?;
    let empty = empty.to_string_lossy().into_owned();
    butil
        .run(dir, &["-load", &empty, spec.file])
        .map_err(|e| format!("{why}; then the write open: {e}"))?;
    butil.run(dir, &["-stat", spec.file])?;
    notes.push_str("; a read-only open was refused (41), an empty -load restored the pre-images");
    Ok(())
}

/// Roll forward from the scenario's logs and end continuous operations if a delta is
/// left, as the operator would after the crash.
fn recover(spec: &Spec, dir: &Path, butil: &Butil) -> Result<(), Failure> {
    let recovery = |e: String| failure("recovery", e);
    if spec
        .env
        .iter()
        .any(|(k, v)| *k == "KEEL_LOG_MODE" && *v != "off")
    {
        butil.run(dir, &["-recoverlog"]).map_err(recovery)?;
    }
    if spec.backup.is_some() {
        butil.run(dir, &["-rollfwd", spec.file]).map_err(recovery)?;
    }
    let delta = delta_of(&dir.join(spec.file));
    if delta.exists() {
        butil.run(dir, &["-endbu", spec.file]).map_err(recovery)?;
        if delta.exists() {
            return Err(recovery(format!(
                "-endbu exited 0 but {} remains",
                delta.display()
            )));
        }
    }
    Ok(())
}

/// `NAME.^^^`: the continuous-operations delta of `file`.
fn delta_of(file: &Path) -> PathBuf {
    file.with_extension("^^^")
}

/// `-check` (a failure is `check_kind`), then `-save` in key 0 order: the records.
fn check_and_save(
    spec: &Spec,
    dir: &Path,
    butil: &Butil,
    scratch: &Path,
    check_kind: &'static str,
) -> Result<Vec<Vec<u8>>, Failure> {
    butil
        .run(dir, &["-check", spec.file])
        .map_err(|e| failure(check_kind, e))?;
    let out = scratch.join("saved.seq");
    let _ = fs::remove_file(&out);
    let out_arg = out.to_string_lossy().into_owned();
    butil
        .run(dir, &["-save", spec.file, &out_arg])
        .map_err(|e| failure(check_kind, format!("-check passed but {e}")))?;
    let bytes = fs::read(&out).map_err(|e| failure("oracle", format!("reading {out_arg}: {e}")))?;
    parse_sequential(&bytes).map_err(|e| failure("oracle", format!("-save output: {e}")))
}

/// The records must be serials 1..=m in order (else `wrong-data`), with `m` at least
/// what the acknowledged steps left (else `lost-ack`) and one of the allowed counts.
fn verify_records(records: &[Vec<u8>], allowed: &Allowed, acked: usize) -> Result<u32, Failure> {
    for (i, r) in records.iter().enumerate() {
        let serial = u32::try_from(i + 1).unwrap_or(u32::MAX);
        if *r != record(serial) {
            let got = r.get(..4).map(|b| format!("{b:02x?}")).unwrap_or_default();
            return Err(failure(
                "wrong-data",
                format!(
                    "record {} (key 0 order) is not serial {serial} (starts {got})",
                    i + 1
                ),
            ));
        }
    }
    let m = u32::try_from(records.len()).unwrap_or(u32::MAX);
    if m < allowed.low() {
        return Err(failure(
            "lost-ack",
            format!(
                "{m} records, but {acked} acknowledged steps left {}",
                allowed.low()
            ),
        ));
    }
    if !allowed.contains(m) {
        return Err(failure(
            "wrong-data",
            format!("{m} records after {acked} acks; allowed {allowed}"),
        ));
    }
    Ok(m)
}

/// Archival: the disk dies after recovery; the backup setup took, restored over the
/// file and rolled forward from its archival log, must give the same records.
fn restore_and_roll_forward(
    spec: &Spec,
    dir: &Path,
    backup: &str,
    butil: &Butil,
    scratch: &Path,
    live: &[Vec<u8>],
) -> Result<(), Failure> {
    let rollfwd = |e: String| failure("rollfwd", e);
    fs::copy(dir.join(backup), dir.join(spec.file))
        .map_err(|e| failure("oracle", format!("restoring {backup}: {e}")))?;
    butil.run(dir, &["-rollfwd", spec.file]).map_err(rollfwd)?;
    let restored = check_and_save(spec, dir, butil, scratch, "rollfwd")?;
    if restored != live {
        return Err(rollfwd(format!(
            "the backup rolled forward holds {} records, the recovered file {}",
            restored.len(),
            live.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;

    #[test]
    fn acks_count_complete_lines_in_order() {
        assert_eq!(count_acks(b""), Ok(0));
        assert_eq!(count_acks(b"ack 1\nack 2\n"), Ok(2));
        assert_eq!(count_acks(b"ack 1\nack"), Ok(1));
        assert!(count_acks(b"ack 2\n").is_err());
        assert!(count_acks(b"hello\n").is_err());
    }

    #[test]
    fn the_step_in_flight_decides_what_is_allowed() {
        let loads = Scenario::Loads.spec();
        assert_eq!(allowed(&loads, 0), Allowed::Either(0, 0));
        assert_eq!(allowed(&loads, 1), Allowed::Either(0, 20));
        assert_eq!(allowed(&loads, 7), Allowed::One(120));
        let dur = Scenario::Durability.spec();
        assert_eq!(allowed(&dur, 2), Allowed::Range(8..=16));
        let cont = Scenario::Contops.spec();
        assert_eq!(allowed(&cont, 0), Allowed::Either(20, 20));
    }

    #[test]
    fn verdicts_name_lost_acks_and_wrong_data() {
        let recs: Vec<_> = (1..=20).map(record).collect();
        assert_eq!(verify_records(&recs, &Allowed::Either(20, 40), 2), Ok(20));
        let kind = |r: Result<u32, Failure>| r.map_err(|f| f.kind);
        assert_eq!(
            kind(verify_records(&recs, &Allowed::One(40), 3)),
            Err("lost-ack")
        );
        assert_eq!(
            kind(verify_records(&recs, &Allowed::Either(0, 40), 0)),
            Err("wrong-data")
        );
        let mut bad = recs.clone();
        bad[3] = record(99);
        assert_eq!(
            kind(verify_records(&bad, &Allowed::One(20), 1)),
            Err("wrong-data")
        );
    }
}
