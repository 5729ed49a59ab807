//! Invariant checks run after recovery: the structure check (invariant 1) through the
//! engine's read-only inspection API, and reading back a file's whole state.

use crate::model::{Record, Records};
use crate::workload;
use engine::file::check::check_file;
use engine::vfs::Vfs;
use engine::{Engine, GetOp, Handle, OpenMode, Status, StepOp};
use std::path::Path;
use std::sync::Arc;

/// Why a file's state could not be read back after recovery: the engine reported it
/// (its check found damage, or an operation failed with a status — what an operator
/// sees, and restores from backup), or the checker found what the engine served
/// wrong without noticing (corruption it missed: always a failure).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unrecovered {
    Reported(String),
    Undetected(String),
}

impl std::fmt::Display for Unrecovered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unrecovered::Reported(m) => write!(f, "{m}"),
            Unrecovered::Undetected(m) => write!(f, "{m} (the engine did not report it)"),
        }
    }
}

/// Check a file's structure, then read every record (physical order) and verify the
/// key-0 order agrees. Errors describe the violated invariant.
pub fn recovered_state(
    e: &mut Engine,
    vfs: Arc<dyn Vfs>,
    path: &Path,
) -> Result<Records, Unrecovered> {
    use Unrecovered::{Reported, Undetected};
    let rep = check_file(vfs.as_ref(), path).map_err(|err| {
        Reported(format!(
            "invariant 1 (structure): {} does not open: {err}",
            path.display()
        ))
    })?;
    if !rep.is_clean() {
        return Err(Reported(format!(
            "invariant 1 (structure): {}: {}",
            path.display(),
            rep.problems
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join("; ")
        )));
    }
    let h = e
        .open(path, OpenMode::ReadOnly)
        .map_err(|x| Reported(format!("open {}: {x}", path.display())))?;
    let mut recs = Records::new();
    // One buffer for every record stepped to: a record is copied into its shared
    // `Record` anyway, so a fresh `Vec` per Step was an allocation and free for nothing.
    let mut rec = Vec::new();
    let mut r = e.step_into(h, StepOp::First, &mut rec);
    while r.is_ok() {
        if recs
            .insert(workload::id_of(&rec), Record::from(rec.as_slice()))
            .is_some()
        {
            return Err(Undetected(format!(
                "invariant 1: {} holds two records with one id",
                path.display()
            )));
        }
        if recs.len() as u64 > rep.records {
            return Err(Undetected(format!(
                "invariant 1: {}: step scan never ends",
                path.display()
            )));
        }
        r = e.step_into(h, StepOp::Next, &mut rec);
    }
    match r {
        Err(x) if x.status == Status::EndOfFile => {}
        Err(x) => {
            return Err(Reported(format!(
                "reading {} after recovery: {x}",
                path.display()
            )))
        }
        Ok(_) => unreachable!(),
    }
    let ordered = key0_matches(e, h, &recs)
        .map_err(|over| Undetected(format!("invariant 1: {}: {over}", path.display())))?
        .map_err(|x| Reported(format!("scan {}: {x}", path.display())))?;
    if !ordered {
        return Err(Undetected(format!(
            "invariant 1: {}: key 0 order disagrees with the records",
            path.display()
        )));
    }
    e.close(h)
        .map_err(|x| Reported(format!("close {}: {x}", path.display())))?;
    Ok(recs)
}

/// Whether a scan in key-0 order gives exactly `recs`' records, in order: the verdict
/// [`scan`] then a comparison would give (the same outer and inner errors, from the
/// same Get calls), comparing as it goes with one buffer for every record. Collecting
/// the records only to compare and drop them cost an allocation per record.
pub fn key0_matches(
    e: &mut Engine,
    h: Handle,
    recs: &Records,
) -> Result<engine::Result<bool>, String> {
    let limit = recs.len();
    let mut want = recs.values();
    let mut same = true;
    let mut got = 0usize;
    let mut rec = Vec::new();
    let mut r = e.get_into(h, GetOp::First, 0, &[], &mut rec);
    loop {
        match r {
            Ok(()) => {
                got += 1;
                if got > limit {
                    return Err(over_long(0, false, limit));
                }
                same &= want.next().is_some_and(|w| **w == *rec);
            }
            Err(x) if x.status == Status::EndOfFile => {
                return Ok(Ok(same && want.next().is_none()))
            }
            Err(x) => return Ok(Err(x)),
        }
        r = e.get_into(h, GetOp::Next, 0, &[], &mut rec);
    }
}

/// The verdict on a scan of key `key` that returned more than `limit` records.
fn over_long(key: usize, reverse: bool, limit: usize) -> String {
    format!(
        "a scan of key {key}{} returned more than the {limit} records the file holds \
         (over-long or endless scan)",
        if reverse { " backwards" } else { "" }
    )
}

/// What a scan gave: the outer error is the checker's verdict that the engine
/// returned more records than the file can hold (an over-long or endless scan — an
/// invariant failure, never excused as a fault status); the inner result is the
/// engine's own answer (its records, or the status it stopped with).
pub type Scanned = Result<engine::Result<Vec<Vec<u8>>>, String>;

/// Every record in the order of key `key` (backwards if `reverse`). At most `limit`
/// records may come back: one more is an over-long scan.
pub fn scan(e: &mut Engine, h: Handle, key: usize, reverse: bool, limit: usize) -> Scanned {
    let (first, next) = if reverse {
        (GetOp::Last, GetOp::Previous)
    } else {
        (GetOp::First, GetOp::Next)
    };
    let mut out = Vec::new();
    let mut r = e.get(h, first, key, &[]);
    loop {
        match r {
            Ok(rec) => {
                out.push(rec);
                if out.len() > limit {
                    return Err(over_long(key, reverse, limit));
                }
            }
            Err(x) if x.status == Status::EndOfFile => return Ok(Ok(out)),
            Err(x) => return Ok(Err(x)),
        }
        r = e.get(h, next, key, &[]);
    }
}

/// Whether `got` is the model's `live` records in the order of the workload's key
/// `key` (backwards if `reverse`). Key 1 allows duplicates, ordered by insertion,
/// which the model does not track: there the groups must be in order and the records
/// must be exactly the live ones.
pub fn scan_matches(got: &[Vec<u8>], live: &Records, key: usize, reverse: bool) -> bool {
    let mut want: Vec<&[u8]> = live.values().map(|r| &**r).collect();
    match key {
        0 => {}
        1 => {
            let mut a: Vec<&[u8]> = got.iter().map(Vec::as_slice).collect();
            let groups: Vec<i16> = a.iter().map(|r| workload::group_of(r)).collect();
            let ordered = if reverse {
                groups.windows(2).all(|w| w[0] >= w[1])
            } else {
                groups.windows(2).all(|w| w[0] <= w[1])
            };
            a.sort();
            want.sort();
            return ordered && a == want;
        }
        _ => want.sort_by(|x, y| workload::tag_of(x).cmp(workload::tag_of(y))),
    }
    if reverse {
        want.reverse();
    }
    got.len() == want.len() && got.iter().zip(want).all(|(g, w)| g == w)
}
