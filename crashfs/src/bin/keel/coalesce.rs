//! Coalescing the transaction log's zero fill before `crashfs check`.
//!
//! Every butil process that writes in a log mode makes a fresh copy of the log's last
//! segment (`engine/src/txlog/writer.rs`: the valid records, then zeros up to the
//! 16 MiB segment size, written to `log/NNNNNNNN.NEW` 64 KiB at a time, synced, then
//! renamed over the segment). That is 256 back-to-back writes with no sync between,
//! and crashfs plans `omit` and `torn` states for every pending write at every crash
//! point, each built from a copy of the 16 MiB files: one such copy alone made
//! `crashfs check --max-states 150` run for more than five minutes.
//!
//! A run of consecutive writes of zeros to one file, each starting where the previous
//! ended, issued by one process with no other op between, is replaced by one write of
//! the same zeros. What this gives up: crash points inside the run, whose states
//! differ from states of the one write (all, none, omitted, torn, random sector
//! subsets) only in which of those zeros reached the file — that is, in the length
//! of a file the log reader ignores until the rename after its sync. Nothing else is
//! touched: writes of data, syncs, renames and acks keep their crash points.

use crashfs::fsstate::FsState;
use crashfs::trace::{Op, Trace, TraceOp};

/// How many zero writes were merged, and into how many.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Coalesced {
    pub writes_in: usize,
    pub writes_out: usize,
}

/// Whether `next` continues the zero run `run` ends with: same file, same process,
/// starting where it ended, all zeros.
fn continues(run: &TraceOp, next: &TraceOp) -> bool {
    let (
        Op::Write {
            ino: a,
            offset,
            data,
        },
        Op::Write {
            ino: b,
            offset: next_offset,
            data: next_data,
        },
    ) = (&run.op, &next.op)
    else {
        return false;
    };
    a == b
        && run.pid == next.pid
        && offset + data.len() as u64 == *next_offset
        && is_zeros(data)
        && is_zeros(next_data)
}

fn is_zeros(data: &[u8]) -> bool {
    data.iter().all(|&b| b == 0)
}

/// Merge every run of at least two zero writes in `trace` (see the module doc).
pub fn coalesce_zero_fill(trace: &mut Trace) -> Coalesced {
    let mut stats = Coalesced::default();
    let mut out: Vec<TraceOp> = Vec::with_capacity(trace.ops.len());
    let mut run_len = 0usize;
    for op in std::mem::take(&mut trace.ops) {
        let extend = out.last().is_some_and(|last| continues(last, &op));
        if !extend {
            finish_run(&mut out, &mut run_len, &mut stats);
            out.push(op);
            run_len = 1;
            continue;
        }
        if let (Some(last), Op::Write { data: more, .. }) = (out.last_mut(), &op.op) {
            if let Op::Write { data, .. } = &mut last.op {
                data.extend_from_slice(more);
            }
        }
        run_len += 1;
    }
    finish_run(&mut out, &mut run_len, &mut stats);
    trace.ops = out;
    stats
}

/// Whether `a` and `b` replay, from their snapshots, to the same directory: the
/// check that merging left the trace's end state (and so `record`'s proof) intact.
pub fn same_end_state(a: &Trace, b: &Trace) -> bool {
    let replay = |t: &Trace| {
        let mut st = FsState::from_snapshot(&t.snapshot);
        for op in &t.ops {
            st.apply(&op.op, None);
        }
        st.visible()
    };
    replay(a) == replay(b)
}

/// Label the last op of `out` as a merged run if it is one.
fn finish_run(out: &mut [TraceOp], run_len: &mut usize, stats: &mut Coalesced) {
    if *run_len >= 2 {
        if let Some(last) = out.last_mut() {
            last.call = format!(
                "{} zero writes coalesced, the first: {}",
                run_len, last.call
            );
        }
        stats.writes_in += *run_len;
        stats.writes_out += 1;
    }
    *run_len = 0;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(ino: u64, offset: u64, data: Vec<u8>, pid: u32) -> TraceOp {
        TraceOp {
            op: Op::Write { ino, offset, data },
            pid,
            call: "pwrite64".into(),
        }
    }

    fn trace(ops: Vec<TraceOp>) -> Trace {
        let mut t: Trace = serde_json::from_str(
            r#"{"version":1,"dir":"/x","command":[],"snapshot":{"dirs":[],"files":[]},"ops":[]}"#,
        )
        .expect("an empty trace");
        t.ops = ops;
        t
    }

    #[test]
    fn only_contiguous_zero_runs_of_one_file_and_process_merge() {
        let mut t = trace(vec![
            write(1, 0, vec![7; 4], 1),
            write(1, 4, vec![0; 4], 1),
            write(1, 8, vec![0; 4], 1),
            write(1, 12, vec![0; 4], 1),
            write(2, 16, vec![0; 4], 1), // another file
            write(2, 20, vec![0; 4], 2), // another process
            write(2, 30, vec![0; 4], 2), // not contiguous
            TraceOp {
                op: Op::FileSync { ino: 2 },
                pid: 2,
                call: "fsync".into(),
            },
            write(2, 34, vec![0; 4], 2), // after a sync
        ]);
        let before = t.clone();
        let stats = coalesce_zero_fill(&mut t);
        assert!(same_end_state(&before, &t));
        assert_eq!(
            stats,
            Coalesced {
                writes_in: 3,
                writes_out: 1
            }
        );
        assert_eq!(t.ops.len(), 7);
        assert_eq!(
            t.ops[1].op,
            Op::Write {
                ino: 1,
                offset: 4,
                data: vec![0; 12]
            }
        );
    }
}
