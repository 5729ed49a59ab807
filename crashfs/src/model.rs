//! Persistence models: which ops a crash may have lost.
//!
//! At a crash after op `k`, an op is *durable* once a later barrier (before `k`)
//! covers it; every other op is *pending* and the model says which combinations of
//! pending ops may have reached the disk.
//!
//! * **Conservative** (POSIX as written): a file's writes and length changes are
//!   durable after an fsync/fdatasync of that file; a name (create, rename, unlink,
//!   mkdir) after an fsync of its parent directory; everything after sync().
//!   Each pending op persists or not on its own, and a write may tear at 512-byte
//!   sectors. This is the model a portable program must survive.
//! * **ext4-ordered** (ext4, `data=ordered`): metadata (names and lengths) goes
//!   through one journal, so pending metadata persists as a prefix in program order,
//!   and any fsync commits the journal (all earlier metadata becomes durable, the
//!   new file's name included). Data writes are durable only by their own file's
//!   fsync, persist independently and may tear, as in the conservative model.
//!
//! Not modelled: other file systems' metadata quirks (btrfs, XFS, NFS), mmap writes,
//! hard and symbolic links, directory renames, reordering below the sector.

use crate::fsstate::sectors;
use crate::trace::{Op, Trace};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::collections::HashMap;

/// A persistence model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Model {
    Conservative,
    Ext4Ordered,
}

impl Model {
    pub fn name(self) -> &'static str {
        match self {
            Model::Conservative => "conservative",
            Model::Ext4Ordered => "ext4-ordered",
        }
    }
}

/// How a crash state was chosen (reports group by it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Choice {
    /// Every pending op persisted: the state the program itself saw.
    All,
    /// No pending op persisted.
    None,
    /// One pending op lost, the rest kept.
    Omit,
    /// One pending write torn at a sector boundary, the rest kept.
    Torn,
    /// The journal committed a prefix of the pending metadata (ext4).
    Prefix,
    /// A seeded random subset (with random tears).
    Random,
}

/// One crash state: ops `..crash` were issued; of the pending ones, `dropped`
/// never reached the disk and each of `torn` reached it only in the sectors marked.
#[derive(Clone, Debug, Serialize)]
pub struct CrashState {
    pub model: Model,
    pub crash: usize,
    pub choice: Choice,
    pub dropped: Vec<usize>,
    pub torn: Vec<(usize, Vec<bool>)>,
}

/// For every op, the index of the first later barrier that makes it durable under
/// a model (`usize::MAX` if none does). Op `i` is pending at crash `k` iff
/// `i < k <= cover[i]`.
pub fn cover(trace: &Trace, model: Model) -> Vec<usize> {
    let ops = &trace.ops;
    let n = ops.len();
    let mut cover = vec![usize::MAX; n];
    let mut next_file: HashMap<u64, usize> = HashMap::new();
    let mut next_dir: HashMap<String, usize> = HashMap::new();
    let mut next_all = usize::MAX;
    let mut next_any = usize::MAX;
    for i in (0..n).rev() {
        let op = &ops[i].op;
        let file_cover = |ino: &u64| {
            next_file
                .get(ino)
                .copied()
                .unwrap_or(usize::MAX)
                .min(next_all)
        };
        cover[i] = match (model, op) {
            (_, Op::Write { ino, .. }) => file_cover(ino),
            (Model::Conservative, Op::SetLen { ino, .. }) => file_cover(ino),
            (Model::Ext4Ordered, Op::SetLen { .. }) => next_any,
            (Model::Conservative, o) if o.is_name_op() => o
                .parents()
                .iter()
                .map(|p| next_dir.get(p).copied().unwrap_or(usize::MAX).min(next_all))
                .max()
                .unwrap_or(next_all),
            (Model::Ext4Ordered, o) if o.is_name_op() => next_any,
            _ => i, // barriers and prints change no disk state
        };
        match op {
            Op::FileSync { ino } => {
                next_file.insert(*ino, i);
                next_any = i;
            }
            Op::DirSync { path } => {
                next_dir.insert(path.clone(), i);
                next_any = i;
            }
            Op::SyncAll => {
                next_all = i;
                next_any = i;
            }
            _ => {}
        }
    }
    cover
}

/// Whether op `i` changes the disk (the rest need no choice).
fn mutates(op: &Op) -> bool {
    op.is_name_op() || matches!(op, Op::Write { .. } | Op::SetLen { .. })
}

/// The crash points worth checking: before the first op, and after every op that
/// changes the disk or prints. A crash right after a barrier allows a subset of
/// the states a crash right before it allows, with the same acknowledgements.
pub fn crash_points(trace: &Trace) -> Vec<usize> {
    let mut out = vec![0];
    for (i, t) in trace.ops.iter().enumerate() {
        if !t.op.is_barrier() {
            out.push(i + 1);
        }
    }
    out
}

/// The ops pending at crash `k`, in order.
pub fn pending(trace: &Trace, cover: &[usize], k: usize) -> Vec<usize> {
    (0..k)
        .filter(|&i| cover[i] >= k && mutates(&trace.ops[i].op))
        .collect()
}

fn tearable(trace: &Trace, i: usize) -> bool {
    matches!(&trace.ops[i].op, Op::Write { offset, data, .. } if sectors(*offset, data.len()) >= 2)
}

fn sector_count(trace: &Trace, i: usize) -> usize {
    match &trace.ops[i].op {
        Op::Write { offset, data, .. } => sectors(*offset, data.len()),
        _ => 0,
    }
}

/// Every state the model yields at crash `k`: the deterministic families, then
/// `random` seeded random subsets.
pub fn states_at(
    trace: &Trace,
    model: Model,
    cover: &[usize],
    k: usize,
    random: usize,
    seed: u64,
) -> Vec<CrashState> {
    let pend = pending(trace, cover, k);
    let mk = |choice, dropped: Vec<usize>, torn: Vec<(usize, Vec<bool>)>| CrashState {
        model,
        crash: k,
        choice,
        dropped,
        torn,
    };
    let mut out = vec![mk(Choice::All, vec![], vec![])];
    if pend.is_empty() {
        return out;
    }
    out.push(mk(Choice::None, pend.clone(), vec![]));
    let (meta, data): (Vec<usize>, Vec<usize>) = match model {
        Model::Conservative => (vec![], pend.clone()),
        Model::Ext4Ordered => pend
            .iter()
            .partition(|&&i| !matches!(trace.ops[i].op, Op::Write { .. })),
    };
    for j in 0..meta.len() {
        out.push(mk(Choice::Prefix, meta[j..].to_vec(), vec![]));
    }
    for &p in &data {
        out.push(mk(Choice::Omit, vec![p], vec![]));
    }
    for &p in data.iter().filter(|&&p| tearable(trace, p)) {
        let n = sector_count(trace, p);
        let half = n / 2;
        out.push(mk(
            Choice::Torn,
            vec![],
            vec![(p, (0..n).map(|s| s < half).collect())],
        ));
        out.push(mk(
            Choice::Torn,
            vec![],
            vec![(p, (0..n).map(|s| s >= half).collect())],
        ));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(
        seed ^ (k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ model as u64,
    );
    for _ in 0..random {
        let mut dropped = Vec::new();
        if !meta.is_empty() {
            let j = rng.random_range(0..=meta.len());
            dropped.extend_from_slice(&meta[j..]);
        }
        let mut torn = Vec::new();
        for &p in &data {
            if rng.random_bool(0.5) {
                dropped.push(p);
            } else if tearable(trace, p) && rng.random_bool(0.25) {
                let n = sector_count(trace, p);
                torn.push((p, (0..n).map(|_| rng.random_bool(0.5)).collect()));
            }
        }
        dropped.sort_unstable();
        out.push(mk(Choice::Random, dropped, torn));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_fsync_covers_its_writes_and_only_ext4_covers_its_name() {
        let t = Trace::from_ops(vec![
            Op::Create {
                path: "a".into(),
                ino: 1,
            },
            Op::Write {
                ino: 1,
                offset: 0,
                data: vec![1; 10],
            },
            Op::FileSync { ino: 1 },
            Op::Print {
                text: b"ack".to_vec(),
            },
        ]);
        let c = cover(&t, Model::Conservative);
        assert_eq!(
            pending(&t, &c, 4),
            vec![0],
            "the name waits for a directory fsync"
        );
        let e = cover(&t, Model::Ext4Ordered);
        assert!(
            pending(&t, &e, 4).is_empty(),
            "ext4's fsync commits the journal"
        );
        assert_eq!(pending(&t, &e, 2), vec![0, 1]);
    }

    #[test]
    fn ext4_drops_only_a_suffix_of_pending_metadata() {
        let t = Trace::from_ops(vec![
            Op::Create {
                path: "a".into(),
                ino: 1,
            },
            Op::Create {
                path: "b".into(),
                ino: 2,
            },
            Op::Rename {
                from: "a".into(),
                to: "c".into(),
                ino: 1,
            },
        ]);
        let e = cover(&t, Model::Ext4Ordered);
        for s in states_at(&t, Model::Ext4Ordered, &e, 3, 20, 7) {
            let d = &s.dropped;
            assert!(
                d.windows(2).all(|w| w[1] == w[0] + 1) && d.last().is_none_or(|&l| l == 2),
                "{d:?}"
            );
        }
        let c = cover(&t, Model::Conservative);
        let omits: Vec<_> = states_at(&t, Model::Conservative, &c, 3, 0, 7)
            .into_iter()
            .filter(|s| s.choice == Choice::Omit)
            .map(|s| s.dropped)
            .collect();
        assert_eq!(omits, vec![vec![0], vec![1], vec![2]]);
    }
}
