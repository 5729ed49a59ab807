//! The workload: the record layout the simulator's files use, and the mix of
//! operations a seed draws from. Later features add their own operation kinds here
//! (transactions, contops, archival) without reshaping the runner.

use engine::{FileSpec, KeySpec, KeyType, Segment};
use rand::Rng;

/// Record length of simulated files.
pub const RECORD_LEN: usize = 40;
/// Ids are drawn from this range, so inserts collide and updates find records.
pub const ID_RANGE: u32 = 400;

fn seg(offset: u16, length: u16, key_type: KeyType) -> Segment {
    Segment {
        offset,
        length,
        key_type,
        descending: false,
    }
}

/// Key 0: id (unsigned, unique, not modifiable). Key 1: group (integer, duplicates,
/// modifiable). Key 2: tag (string, unique, modifiable). Then payload.
pub fn spec(page_size: u32) -> FileSpec {
    FileSpec {
        record_length: RECORD_LEN as u16,
        page_size,
        keys: vec![
            KeySpec {
                segments: vec![seg(0, 4, KeyType::Unsigned)],
                duplicates: false,
                modifiable: false,
            },
            KeySpec {
                segments: vec![seg(4, 2, KeyType::Integer)],
                duplicates: true,
                modifiable: true,
            },
            KeySpec {
                segments: vec![seg(6, 12, KeyType::String)],
                duplicates: false,
                modifiable: true,
            },
        ],
        format: engine::FileFormat::V6,
        compact_leaves: false,
        slot_serial_bytes: 8,
    }
}

/// A record with the given id; other fields from `rng`.
pub fn record(id: u32, rng: &mut impl Rng) -> Vec<u8> {
    let mut r = vec![0u8; RECORD_LEN];
    r[0..4].copy_from_slice(&id.to_le_bytes());
    r[4..6].copy_from_slice(&rng.random_range(-4i16..5).to_le_bytes());
    let tag = format!("t{:05}", rng.random_range(0..ID_RANGE * 2));
    r[6..6 + tag.len()].copy_from_slice(tag.as_bytes());
    rng.fill(&mut r[18..]);
    r
}

pub fn id_of(r: &[u8]) -> u32 {
    u32::from_le_bytes([r[0], r[1], r[2], r[3]])
}

pub fn group_of(r: &[u8]) -> i16 {
    i16::from_le_bytes([r[4], r[5]])
}

pub fn tag_of(r: &[u8]) -> &[u8] {
    &r[6..18]
}

/// One step of the workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, arbitrary::Arbitrary)]
pub enum Step {
    Insert,
    Update,
    Delete,
    GetEqual,
    Scan,
    Flush,
    Background,
    Reopen,
    /// Begin Transaction for a random client.
    Begin,
    /// End Transaction for a random client.
    End,
    /// Abort Transaction for a random client.
    Abort,
    /// An inventory transfer: one transaction moving a count between two files.
    Transfer,
    /// `startbu` on a random set of files.
    StartBackup,
    /// Copy every file of the backup set (a backup program), and check the copies.
    CopyBackup,
    /// `endbu` on the backup set.
    EndBackup,
    /// Arm a crash a few I/O steps ahead, then flush: a crash inside a commit.
    CrashInCommit,
    /// Arm a crash at a random upcoming I/O step.
    ArmCrash,
    /// Crash between operations.
    CrashNow,
    /// Generation 18: move a held cursor — a handle an earlier Get Equal (or move)
    /// positioned — with Get Next / Get Previous, while other steps' changes land
    /// between its moves.
    Cursor,
    /// Generation 18: insert a few records at once (`Engine::insert_batched`, the
    /// seed's small batch size), now and then with a duplicate part-way.
    BulkLoad,
}

/// Draw the next step. Weights are per seed (swarm), given as the table.
pub fn draw(rng: &mut impl Rng, weights: &[(Step, u32)]) -> Step {
    let total: u32 = weights.iter().map(|w| w.1).sum();
    let mut x = rng.random_range(0..total.max(1));
    for &(s, w) in weights {
        if x < w {
            return s;
        }
        x -= w;
    }
    Step::GetEqual
}

/// The workload's generation. A regression case records the one it was shrunk
/// under and replays with it, so adding step kinds does not change old cases:
/// 1 — single operations, flushes, reopens, crashes; 2 — plus user transactions;
/// 3 — plus the transaction log modes (Logging, Durability); 4 — plus group commit
/// (Durability-mode Ends that wait for a shared log sync); 5 — plus the inventory:
/// transfers between files in one transaction, conserving each item's total; 6 — plus
/// continuous operations (startbu on a set, backup copies, endbu; killing the deltas
/// as a recovery path); 7 — plus crashes aimed inside a commit (a few I/O steps
/// ahead, then a flush), so the middle of a system transaction, a delta append or a
/// log write is hit often; 8 — log segments preallocated (engine), the largest
/// simulated segment 256 KiB instead of 1 MiB (a seed fills neither); 9 — the disk
/// and recovery as unkind as Linux: directories are objects (a new one is lost at
/// power loss unless its parent is synced), Linux fsync-failure semantics for half the
/// seeds (a failed sync forgets the writes it did not make durable), and a third of recoveries first run with
/// the disk's faults on and an aimed crash or I/O error (open, log scan, roll-forward,
/// roll-in, endbu resume); 10 — more of Linux's unkindness, each a per-seed option
/// drawn from a setup stream of its own: a torn sector may hold garbage; a read error
/// may leave its sector bad until it is written; with disk full on, a creating open,
/// a rename and a sync may fail with ENOSPC too; 11 — on a lying disk, latent
/// corruption aimed at a delta of the backup set when it is copied; and, a per-seed
/// option, an extending write a power loss drops may leave its new size (zeros where
/// its data should be); 12 — a fifth of the log-mode seeds get latent corruption of
/// the transaction log (and of nothing else), judged against the journal by when it
/// happened; 13 — a torn sector may hold garbage even where the write rewrote bytes
/// already durable (the engine no longer rewrites durable data in place); 14 — archival
/// logging in about 30% of the seeds (setup stream 7; lying faults off there):
/// `blog.cfg` names some files, `CopyBackup` also takes an archival backup (a flush,
/// then a copy of an archived file), `startbu` picks only non-archived files (now and then one archived file too: refused, 88), and at
/// the end every backup is restored and rolled forward from its archival log — now and
/// then crashed part-way or run under faults first, and run again — and must equal the live file (invariant 7); in
/// half of those seeds one file joins `blog.cfg` only at the first crash, and its copy
/// taken before must be refused as older than its log (41); 15 — the legacy (5.x)
/// format in about a third of the seeds (setup stream 8): file 0 and each other file
/// with even odds are pre-imaged to `NAME.PRE` instead of shadow-paged, held to the
/// same invariants; `startbu` leaves them out (now and then one in the set: refused,
/// 88); Off-mode recovery opens them for writing (which restores an interrupted
/// transaction's originals) before checking them; 16 — half of the operator's startbu
/// and endbu requests arrive as `butil` sends them to a running application's engine:
/// through the admin endpoint's wire format and `Engine::admin` (without the socket); 17
/// — the operator also asks for `-stat` of a file after each startbu (its record count
/// must be the model's) and `-check` after each endbu (it must pass), both through the
/// admin path, and half the flushes are the operator's admin `Flush`; 18 — held
/// cursors and bulk loads (weights and the batch size from setup stream 9): a
/// `Cursor` step moves a handle that an earlier step positioned with Get Next / Get
/// Previous while other steps change the file between its moves, each answer checked
/// against the position's index entry as `engine/tests/model_cursors.rs` defines it;
/// a `BulkLoad` inserts up to [`BULK_MAX`] records through `insert_batched` in
/// batches of 1–16 (ids ascending past the file's last, or random, or with a
/// duplicate part-way), its statuses and count held to Insert by Insert and a crash
/// inside it to a prefix of whole batches (log Off) or of whole log transactions; 19 —
/// half the shadow-paged files' system transactions that fail (the engine going on)
/// have the next overwrite of their data file misdirected, a lying fault: most often
/// the retry's first page write, made with the failed attempt's sequence (log mode
/// Off only, not in archival seeds: where the disk may lie about data files anyway); 20
/// — half the shadow-paged files' system transactions that fail have a power cut aimed
/// at the next write to the file's control-record slots (the undo of a failed FCR, a
/// retry's FCR, or the next open's copy, perhaps in the next process): half its
/// sectors reach the disk, and a power loss follows; 21 — each file with even odds is
/// made with `compact_leaves` (setup stream 10): its index leaves keep each column's
/// shared part once, are rebuilt when an entry shortens one, and split where both
/// halves fit; 22 — each file's slot serial width (setup stream 11): 8 bytes in half
/// the files, 1 in a quarter, 2 to 4 in the rest; with one byte a data page takes a
/// record only within 256 insertions of its oldest live one, so inserts meet blocked
/// free-list heads and base moves within a seed.
pub const WORKLOAD_VERSION: u32 = 22;

/// Generation 18: the most records one bulk load inserts (small, so a seed's files
/// stay the size they were; small batches make loads span several).
pub const BULK_MAX: usize = 32;
/// Generation 18: bulk-loaded records' ids start here (above the inventory's), so the
/// appender's "beyond the last key" path runs; their tags are `z` and the id: unique, and past every other tag.
pub const BULK_BASE: u32 = 100_000;
/// Random bulk ids are drawn from `BULK_BASE..BULK_BASE + BULK_SPAN`.
pub const BULK_SPAN: u32 = 2_000;

/// A bulk-loaded record with id `id`: a tag no other id has, other fields from `rng`.
pub fn bulk_record(id: u32, rng: &mut impl Rng) -> Vec<u8> {
    let mut r = vec![0u8; RECORD_LEN];
    r[0..4].copy_from_slice(&id.to_le_bytes());
    r[4..6].copy_from_slice(&rng.random_range(-4i16..5).to_le_bytes());
    let tag = format!("z{id:010}");
    r[6..6 + tag.len()].copy_from_slice(tag.as_bytes());
    rng.fill(&mut r[18..]);
    r
}

/// Inventory items (generation 5): every file holds each item once, with a count;
/// transfers move counts between files, so each item's total on hand — the sum of
/// its per-location counts — never changes.
pub const ITEMS: u32 = 8;
/// Each file's starting count of every item.
pub const ITEM_START: u32 = 100;

/// The id of inventory item `i` (above the random workload's ids).
pub fn item_id(i: u32) -> u32 {
    ID_RANGE + i
}

/// Is `id` an inventory item (which the random steps leave alone)? (Bulk-loaded ids,
/// generation 18, lie above the items.)
pub fn is_item(id: u32) -> bool {
    (ID_RANGE..ID_RANGE + ITEMS).contains(&id)
}

/// Item `i`'s record with this count.
pub fn item_record(i: u32, count: u32) -> Vec<u8> {
    let mut r = vec![0u8; RECORD_LEN];
    r[0..4].copy_from_slice(&item_id(i).to_le_bytes());
    let tag = format!("inv{i:03}");
    r[6..6 + tag.len()].copy_from_slice(tag.as_bytes());
    r[18..22].copy_from_slice(&count.to_le_bytes());
    r
}

/// An inventory record's count.
pub fn count_of(r: &[u8]) -> u32 {
    u32::from_le_bytes([r[18], r[19], r[20], r[21]])
}

/// The seed's log mode and log segment size (Off before generation 3). Small
/// segments so seeds roll over to new segments.
pub fn log_mode(ext: &mut impl Rng, version: u32) -> (engine::LogMode, u64) {
    let mode = match ext.random_range(0..3) {
        _ if version < 3 => engine::LogMode::Off,
        0 => engine::LogMode::Off,
        1 => engine::LogMode::Logging,
        _ => engine::LogMode::Durability,
    };
    let mut size = [2048u64, 8192, 65536, 1 << 20][ext.random_range(0..4)];
    if version >= 8 && size == 1 << 20 {
        // Generation 8: segments are preallocated, so every recovery reads (and scans)
        // the whole segment; a seed never fills 1 MiB of log, so that size only cost
        // time. 256 KiB is still a segment no seed rolls out of.
        size = 256 << 10;
    }
    (mode, size)
}

/// A per-seed operation mix. Step kinds added by later workload versions draw their
/// weights from `ext` (their own stream) and come last with weight 0 below their
/// version, so earlier versions draw exactly the steps they always did (generation 18's
/// from `g18`, a stream of their own).
pub fn weights(
    rng: &mut impl Rng,
    ext: &mut impl Rng,
    g18: &mut impl Rng,
    version: u32,
) -> Vec<(Step, u32)> {
    let since = |v: u32, w: u32| if version >= v { w } else { 0 };
    // Drawn unconditionally so the stream does not depend on the version.
    let (begin, end, abort) = (
        ext.random_range(0..6),
        ext.random_range(0..6),
        ext.random_range(0..2),
    );
    let transfer = ext.random_range(2..12);
    let backup = ext.random_range(0..4);
    let crash_in_commit = ext.random_range(0..3);
    let (cursor, bulk) = (g18.random_range(2..8), g18.random_range(0..3));
    vec![
        (Step::Insert, rng.random_range(20..40)),
        (Step::Update, rng.random_range(5..20)),
        (Step::Delete, rng.random_range(3..15)),
        (Step::GetEqual, rng.random_range(5..20)),
        (Step::Scan, rng.random_range(0..2)),
        (Step::Flush, rng.random_range(0..4)),
        (Step::Background, rng.random_range(1..5)),
        (Step::Reopen, rng.random_range(0..2)),
        (Step::ArmCrash, 1),
        (Step::CrashNow, rng.random_range(0..2)),
        // Version 2: transactions (some seeds run none: swarm).
        (Step::Begin, since(2, begin)),
        (Step::End, since(2, end)),
        (Step::Abort, since(2, abort)),
        // Version 5: inventory transfers.
        (Step::Transfer, since(5, transfer)),
        // Version 6: continuous operations (some seeds none).
        (Step::StartBackup, since(6, backup)),
        (Step::CopyBackup, since(6, backup * 2)),
        (Step::EndBackup, since(6, backup)),
        // Version 7.
        (Step::CrashInCommit, since(7, crash_in_commit)),
        // Version 18: held cursors and bulk loads.
        (Step::Cursor, since(18, cursor)),
        (Step::BulkLoad, since(18, bulk)),
    ]
}
