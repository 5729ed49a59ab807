//! What a power loss leaves of a file's unsynced operations: the policy, drawn from the
//! seeded RNG and the honest power-loss kinds of `FaultConfig`.
//!
//! Starting from the durable image, the pending operations are split into *epochs* at
//! length changes (a length change is a barrier: writes are never reordered across it).
//! Then:
//! - each write and each length change is lost with probability `lost_unsynced_write`;
//! - a surviving write that spans several 512-byte sectors is *torn* with probability
//!   `torn_write`: a random non-empty proper subset of its sector pieces survives (pieces
//!   are cut at absolute sector boundaries, so tearing never splits a sector); with
//!   `torn_garbage` each piece a tear drops holds, with probability one half, random
//!   bytes instead of its old content (a sector caught mid-write: neither old nor new)
//!   — but only where the write changes the durable bytes: a rewrite of bytes already
//!   durable never turns them into garbage (see `FaultConfig::torn_garbage`);
//! - within an epoch, the surviving writes are applied in a random order with
//!   probability `reordered_writes` (only overlapping writes can tell), otherwise in
//!   issue order;
//! - a surviving length change is applied at its place between epochs.
//!
//! The file's length after the loss is whatever those survivors make it: a lost
//! extending write leaves the file short; a surviving later piece of a torn extending
//! write extends it with zeros before it (a hole). With `size_without_data`, a lost
//! extending write (or a torn one whose last piece was dropped) keeps its new size with
//! probability one half — zeros where its data should be, as ext4's writeback mode or
//! XFS may leave a file whose size update reached the journal before its data. Nothing
//! here reads the volatile image.

use super::faults::{chance, FaultConfig};
use super::image::Image;
use super::inode::{PendingOp, SECTOR};
use rand::seq::SliceRandom;
use rand::Rng;

/// What one file lost at a power loss.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct DataLoss {
    pub writes_dropped: u64,
    pub len_changes_dropped: u64,
    pub torn: u64,
    /// Epochs whose surviving writes were applied out of issue order.
    pub reordered: u64,
    /// Dropped pieces of torn writes left holding garbage.
    pub garbage: u64,
    /// Dropped or torn extending writes whose new size reached the disk without (all
    /// of) their data: zeros where the data should be.
    pub size_only: u64,
}

/// The `(start, end)` pieces of a write of `len` bytes at `offset`, relative to the
/// write's data, cut at absolute sector boundaries.
pub(super) fn sector_pieces(offset: usize, len: usize) -> Vec<(usize, usize)> {
    let mut pieces = Vec::with_capacity(len / SECTOR + 2);
    let mut start = 0;
    while start < len {
        let next_boundary = ((offset + start) / SECTOR + 1) * SECTOR;
        let end = len.min(next_boundary - offset);
        pieces.push((start, end));
        start = end;
    }
    pieces
}

/// One surviving write: the pieces of it that reach the disk.
struct Survivor<'a> {
    offset: usize,
    data: &'a [u8],
    pieces: Vec<(usize, usize)>,
    /// Garbage for dropped pieces: `(start relative to the write, bytes)`.
    garbage: Vec<(usize, Vec<u8>)>,
}

/// What a power loss did to one unsynced write, for the trace: `(offset, len, fate)`,
/// the fate being "kept", "dropped" or "torn" (some of its sectors kept).
pub(super) type Fate = (usize, usize, &'static str);

/// The durable image a power loss leaves, given the current durable image and the
/// pending operations in issue order; and each write's fate, in issue order.
pub(super) fn resolve_data<'a>(
    durable: &Image,
    pending: impl IntoIterator<Item = &'a PendingOp>,
    rng: &mut impl Rng,
    cfg: &FaultConfig,
) -> (Image, DataLoss, Vec<Fate>) {
    let mut fates = Vec::new();
    let p_lost = cfg.lost_unsynced_write.probability();
    let p_torn = cfg.torn_write.probability();
    let p_reorder = cfg.reordered_writes.probability();
    let mut image = durable.clone();
    let mut loss = DataLoss::default();
    let mut epoch: Vec<Survivor<'a>> = Vec::new();
    // The size dropped or torn extending writes of the epoch left without their data
    // (`FaultConfig::size_without_data`), applied with the epoch.
    let mut size_to = 0usize;
    let keep_size = |end: usize, rng: &mut dyn rand::RngCore, loss: &mut DataLoss| {
        if cfg.size_without_data && end > durable.len() && rng.random_bool(0.5) {
            loss.size_only += 1;
            Some(end)
        } else {
            None
        }
    };
    for op in pending {
        match op {
            PendingOp::Write { offset, data } => {
                let end = *offset + data.len();
                if chance(rng, p_lost) {
                    fates.push((*offset, data.len(), "dropped"));
                    loss.writes_dropped += 1;
                    if let Some(e) = keep_size(end, rng, &mut loss) {
                        size_to = size_to.max(e);
                    }
                    continue;
                }
                let mut pieces = sector_pieces(*offset, data.len());
                let mut garbage = Vec::new();
                if pieces.len() > 1 && chance(rng, p_torn) {
                    let kept = torn_subset(pieces.clone(), rng);
                    if cfg.torn_garbage {
                        for &(start, end) in pieces.iter().filter(|p| !kept.contains(p)) {
                            let at = *offset + start;
                            let unchanged = !cfg.garbage_even_if_unchanged
                                && durable.holds(at, &data[start..end]);
                            if !unchanged && rng.random_bool(0.5) {
                                let mut bytes = vec![0u8; end - start];
                                rng.fill(&mut bytes[..]);
                                garbage.push((start, bytes));
                            }
                        }
                        loss.garbage += garbage.len() as u64;
                    }
                    if kept.last() != pieces.last() {
                        if let Some(e) = keep_size(end, rng, &mut loss) {
                            size_to = size_to.max(e);
                        }
                    }
                    pieces = kept;
                    loss.torn += 1;
                    fates.push((*offset, data.len(), "torn"));
                } else {
                    fates.push((*offset, data.len(), "kept"));
                }
                epoch.push(Survivor {
                    offset: *offset,
                    data,
                    pieces,
                    garbage,
                });
            }
            PendingOp::SetLen(len) => {
                loss.reordered += flush_epoch(&mut image, &mut epoch, rng, p_reorder);
                extend(&mut image, &mut size_to);
                if chance(rng, p_lost) {
                    loss.len_changes_dropped += 1;
                } else {
                    image.resize(*len);
                }
            }
        }
    }
    loss.reordered += flush_epoch(&mut image, &mut epoch, rng, p_reorder);
    extend(&mut image, &mut size_to);
    (image, loss, fates)
}

/// Grow `image` with zeros to `*size_to` (if longer), and reset it.
fn extend(image: &mut Image, size_to: &mut usize) {
    if image.len() < *size_to {
        image.resize(*size_to);
    }
    *size_to = 0;
}

/// A random non-empty proper subset of `pieces` (at least two), in order.
fn torn_subset(pieces: Vec<(usize, usize)>, rng: &mut impl Rng) -> Vec<(usize, usize)> {
    debug_assert!(pieces.len() > 1);
    let mut keep: Vec<bool> = pieces.iter().map(|_| rng.random_bool(0.5)).collect();
    if keep.iter().all(|k| *k) || keep.iter().all(|k| !*k) {
        let i = rng.random_range(0..keep.len());
        keep[i] = !keep[i];
    }
    pieces
        .into_iter()
        .zip(keep)
        .filter(|(_, k)| *k)
        .map(|(p, _)| p)
        .collect()
}

/// Apply an epoch's survivors, maybe shuffled; returns 1 if they went out of order.
fn flush_epoch(
    image: &mut Image,
    epoch: &mut Vec<Survivor<'_>>,
    rng: &mut impl Rng,
    p_reorder: f64,
) -> u64 {
    let mut order: Vec<usize> = (0..epoch.len()).collect();
    let mut reordered = 0;
    if epoch.len() > 1 && chance(rng, p_reorder) {
        order.shuffle(rng);
        if order.windows(2).any(|w| w[0] > w[1]) {
            reordered = 1;
        }
    }
    for i in order {
        let s = &epoch[i];
        for &(start, end) in &s.pieces {
            image.write(s.offset + start, &s.data[start..end]);
        }
        for (start, bytes) in &s.garbage {
            image.write(s.offset + start, bytes);
        }
    }
    epoch.clear();
    reordered
}

#[cfg(test)]
mod tests {
    use super::super::faults::Fault;
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn write(offset: usize, data: &[u8]) -> PendingOp {
        PendingOp::Write {
            offset,
            data: data.to_vec(),
        }
    }

    /// `resolve_data` on and to plain bytes.
    fn resolve_full(
        durable: &[u8],
        ops: &[PendingOp],
        rng: &mut ChaCha8Rng,
        cfg: &FaultConfig,
    ) -> (Vec<u8>, DataLoss, Vec<Fate>) {
        let (image, loss, fates) = resolve_data(&Image::from_slice(durable), ops, rng, cfg);
        (image.to_vec(), loss, fates)
    }

    fn resolve(durable: &[u8], ops: &[PendingOp], seed: u64, cfg: &FaultConfig) -> Vec<u8> {
        resolve_full(durable, ops, &mut ChaCha8Rng::seed_from_u64(seed), cfg).0
    }

    #[test]
    fn pieces_cut_at_absolute_sector_boundaries() {
        assert_eq!(sector_pieces(0, 1024), vec![(0, 512), (512, 1024)]);
        assert_eq!(sector_pieces(500, 100), vec![(0, 12), (12, 100)]);
        assert_eq!(sector_pieces(512, 512), vec![(0, 512)]);
        assert_eq!(sector_pieces(7, 0), vec![]);
        assert_eq!(sector_pieces(1000, 2000).len(), 5);
    }

    #[test]
    fn perfect_disk_keeps_everything_in_order() {
        let ops = [
            write(0, b"aaaa"),
            write(2, b"bb"),
            PendingOp::SetLen(3),
            write(5, b"c"),
        ];
        let out = resolve(b"", &ops, 1, &FaultConfig::none());
        assert_eq!(out, b"aab\0\0c");
    }

    #[test]
    fn total_loss_keeps_the_durable_image() {
        let cfg = FaultConfig {
            lost_unsynced_write: Fault::on(1.0),
            ..FaultConfig::none()
        };
        let ops = [write(0, b"new"), PendingOp::SetLen(0)];
        let (out, loss, _) = resolve_full(b"old", &ops, &mut ChaCha8Rng::seed_from_u64(3), &cfg);
        assert_eq!(out, b"old");
        assert_eq!(loss.writes_dropped, 1);
        assert_eq!(loss.len_changes_dropped, 1);
    }

    #[test]
    fn tearing_happens_only_at_sector_boundaries_and_is_never_total() {
        let cfg = FaultConfig {
            torn_write: Fault::on(1.0),
            ..FaultConfig::none()
        };
        let ops = [write(0, &[0xFF; 8 * SECTOR])];
        for seed in 0..200 {
            let out = resolve(&[0u8; 8 * SECTOR], &ops, seed, &cfg);
            let sectors: Vec<u8> = out
                .chunks(SECTOR)
                .map(|s| {
                    assert!(
                        s.iter().all(|b| *b == s[0]),
                        "seed {seed}: a sector was split"
                    );
                    s[0]
                })
                .collect();
            assert!(
                sectors.contains(&0) && sectors.contains(&0xFF),
                "seed {seed}"
            );
        }
    }

    #[test]
    fn torn_garbage_leaves_sectors_neither_old_nor_new() {
        let cfg = FaultConfig {
            torn_write: Fault::on(1.0),
            torn_garbage: true,
            ..FaultConfig::none()
        };
        let ops = [write(0, &[0xFF; 8 * SECTOR])];
        let mut garbage = 0;
        for seed in 0..100 {
            let (out, loss, _) = resolve_full(
                &[0u8; 8 * SECTOR],
                &ops,
                &mut ChaCha8Rng::seed_from_u64(seed),
                &cfg,
            );
            let odd = out
                .chunks(SECTOR)
                .filter(|s| !s.iter().all(|b| *b == 0) && !s.iter().all(|b| *b == 0xFF))
                .count() as u64;
            assert_eq!(odd, loss.garbage, "seed {seed}");
            assert!(out.chunks(SECTOR).any(|s| s.iter().all(|b| *b == 0xFF)));
            garbage += loss.garbage;
        }
        assert!(garbage > 0);
        // Off: the same seeds never leave garbage.
        let off = FaultConfig {
            torn_garbage: false,
            ..cfg
        };
        for seed in 0..100 {
            let (_, loss, _) = resolve_full(
                &[0u8; 8 * SECTOR],
                &ops,
                &mut ChaCha8Rng::seed_from_u64(seed),
                &off,
            );
            assert_eq!(loss.garbage, 0);
        }
    }

    #[test]
    fn rewriting_durable_bytes_never_leaves_garbage() {
        let cfg = FaultConfig {
            torn_write: Fault::on(1.0),
            torn_garbage: true,
            ..FaultConfig::none()
        };
        let old = [0x5Au8; 8 * SECTOR];
        let ops = [write(0, &old)];
        for seed in 0..50 {
            let (out, loss, _) =
                resolve_full(&old, &ops, &mut ChaCha8Rng::seed_from_u64(seed), &cfg);
            assert_eq!(out, old, "seed {seed}");
            assert_eq!(loss.garbage, 0);
        }
    }

    #[test]
    fn reordering_can_put_an_older_write_on_top() {
        let cfg = FaultConfig {
            reordered_writes: Fault::on(1.0),
            ..FaultConfig::none()
        };
        let ops = [write(0, b"old"), write(0, b"new")];
        let outcomes: std::collections::BTreeSet<Vec<u8>> =
            (0..64).map(|seed| resolve(b"", &ops, seed, &cfg)).collect();
        assert_eq!(outcomes.len(), 2);
        assert!(outcomes.contains(b"old".as_slice()) && outcomes.contains(b"new".as_slice()));
    }

    #[test]
    fn length_changes_are_barriers_to_reordering() {
        let cfg = FaultConfig {
            reordered_writes: Fault::on(1.0),
            ..FaultConfig::none()
        };
        let ops = [write(0, b"xxxx"), PendingOp::SetLen(2), write(2, b"yy")];
        for seed in 0..32 {
            assert_eq!(resolve(b"", &ops, seed, &cfg), b"xxyy");
        }
    }

    #[test]
    fn same_seed_same_outcome() {
        let cfg = FaultConfig::crash_only();
        let ops: Vec<_> = (0..20).map(|i| write(i * 300, &[i as u8; 700])).collect();
        for seed in 0..10 {
            assert_eq!(
                resolve(b"", &ops, seed, &cfg),
                resolve(b"", &ops, seed, &cfg)
            );
        }
    }

    #[test]
    fn a_lost_extending_write_may_keep_its_size_only_with_the_option() {
        let old = vec![7u8; SECTOR];
        let ops = [write(SECTOR, &[9u8; 2 * SECTOR])];
        let run = |size_without_data: bool| {
            let cfg = FaultConfig {
                lost_unsynced_write: Fault::on(1.0),
                size_without_data,
                ..FaultConfig::none()
            };
            let (mut sized, mut counted) = (0u64, 0u64);
            for seed in 0..64 {
                let (out, loss, _) =
                    resolve_full(&old, &ops, &mut ChaCha8Rng::seed_from_u64(seed), &cfg);
                // Old data intact; never the new data; either the old length or the
                // new one with zeros.
                assert_eq!(&out[..SECTOR], &old[..]);
                match out.len() {
                    n if n == SECTOR => {}
                    n if n == 3 * SECTOR => {
                        assert!(out[SECTOR..].iter().all(|&b| b == 0));
                        sized += 1;
                    }
                    n => panic!("length {n}"),
                }
                counted += loss.size_only;
            }
            assert_eq!(sized, counted);
            sized
        };
        assert_eq!(run(false), 0);
        let with = run(true);
        assert!(with > 10 && with < 54, "{with} of 64");
    }

    #[test]
    fn a_torn_extending_write_losing_its_tail_may_keep_its_size() {
        let cfg = FaultConfig {
            torn_write: Fault::on(1.0),
            size_without_data: true,
            ..FaultConfig::none()
        };
        let ops = [write(0, &[9u8; 4 * SECTOR])];
        let mut full_size_holes = 0;
        for seed in 0..128 {
            let (out, _, _) = resolve_full(b"", &ops, &mut ChaCha8Rng::seed_from_u64(seed), &cfg);
            // Every sector is either the new data or zeros; never anything else.
            for sector in out.chunks(SECTOR) {
                assert!(sector.iter().all(|&b| b == 9) || sector.iter().all(|&b| b == 0));
            }
            if out.len() == 4 * SECTOR && out[3 * SECTOR] == 0 {
                full_size_holes += 1;
            }
        }
        assert!(
            full_size_holes > 0,
            "the size never outlived a dropped last sector"
        );
    }
}
