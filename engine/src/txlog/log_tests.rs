//! `TxLog`'s own tests: what it knows of the files a transaction changed while it
//! runs must be what a reread of the log says (the redo a file gets, the segments
//! recycling keeps), and a read of the log takes only transactions whose commit
//! follows exactly its own changes.

use super::*;
use crate::txlog::reader::read_log;
use crate::txlog::writer::LogWriter;
use crate::vfs::testing::TestVfs;
use proptest::prelude::*;

const ENGINE: u64 = 0x10C;
const SEG: u64 = 64 * 1024;

fn dir() -> PathBuf {
    PathBuf::from("/db/log")
}

fn file(n: usize) -> PathBuf {
    PathBuf::from(format!("/db/F{n}.DAT"))
}

fn insert(serial: u64) -> Change {
    Change::Insert {
        serial,
        record: serial.to_le_bytes().to_vec(),
    }
}

fn try_open(vfs: &TestVfs) -> Result<TxLog> {
    TxLog::open(Arc::new(vfs.clone()), &dir(), ENGINE, SEG)
}

fn open(vfs: &TestVfs) -> TxLog {
    try_open(vfs).unwrap()
}

/// Write `entries` as the log's records, exactly as given (a writer's bug or a crafted
/// log: every frame whole and checksummed), and sync them.
fn write_raw(vfs: &TestVfs, entries: &[Entry]) {
    let v: Arc<dyn Vfs> = Arc::new(vfs.clone());
    create_dir_durable(v.as_ref(), &dir()).unwrap();
    let scan = read_log(v.as_ref(), &dir()).unwrap();
    let mut w = LogWriter::open(v, &dir(), ENGINE, SEG, &scan).unwrap();
    for e in entries {
        let (kind, payload) = e.encode();
        w.append(kind, &payload).unwrap();
    }
    w.sync().unwrap();
}

fn change(txn: u64, n: usize, serial: u64) -> Entry {
    Entry::Change {
        txn,
        path: file(n),
        change: insert(serial),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The log answers "which files does it name, and what must each one redo after
    /// its applied LSN `a`" from what it noted while appending; a reopened log answers
    /// from a reread. The two must agree for every file and every `a` — a file the
    /// running log forgot would skip roll-forward of a committed transaction (and
    /// recycling, which asks the same knowledge, would remove the segments holding it).
    #[test]
    fn what_the_running_log_knows_of_each_file_is_what_a_reread_finds(
        txns in prop::collection::vec(prop::collection::vec(0..4usize, 1..6), 1..12),
    ) {
        let vfs = TestVfs::new();
        let mut live = open(&vfs);
        let mut serial = 0;
        let mut commits = vec![0];
        for files in &txns {
            let changes: Vec<(PathBuf, Change)> = files
                .iter()
                .map(|&n| {
                    serial += 1;
                    (file(n), insert(serial))
                })
                .collect();
            commits.push(live.append(&changes).unwrap());
        }
        live.sync().unwrap();
        let mut reread = open(&vfs);
        let named: std::collections::BTreeSet<PathBuf> =
            txns.iter().flatten().map(|&n| file(n)).collect();
        let named: Vec<PathBuf> = named.into_iter().collect();
        prop_assert_eq!(&live.paths(), &named);
        prop_assert_eq!(&reread.paths(), &named);
        for n in 0..4 {
            for &applied in &commits {
                let a = live.redo_for(&file(n), applied, false).unwrap();
                let b = reread.redo_for(&file(n), applied, false).unwrap();
                prop_assert_eq!(a, b, "file {} after LSN {}", n, applied);
            }
        }
    }
}

/// A transaction's changes to one file keep their order, and a file another
/// transaction changed in between gets only its own changes.
#[test]
fn redo_gives_each_file_its_own_changes_in_log_order() {
    let vfs = TestVfs::new();
    let mut log = open(&vfs);
    let t1 = log
        .append(&[
            (file(0), insert(1)),
            (file(1), insert(2)),
            (file(0), insert(3)),
        ])
        .unwrap();
    let t2 = log.append(&[(file(1), insert(4))]).unwrap();
    log.sync().unwrap();
    let redo = open(&vfs).redo_for(&file(1), 0, false).unwrap();
    assert_eq!(
        redo,
        vec![
            Redo {
                commit_lsn: t1,
                changes: vec![insert(2)]
            },
            Redo {
                commit_lsn: t2,
                changes: vec![insert(4)]
            },
        ]
    );
    let redo = open(&vfs).redo_for(&file(0), 0, false).unwrap();
    assert_eq!(redo.len(), 1);
    assert_eq!(redo[0].changes, vec![insert(1), insert(3)]);
}

/// `append` takes a transaction of no changes (its commit record says 0); reading it
/// back is not damage.
#[test]
fn a_transaction_of_no_changes_reads_back() {
    let vfs = TestVfs::new();
    let mut log = open(&vfs);
    log.append(&[]).unwrap();
    let t = log.append(&[(file(0), insert(1))]).unwrap();
    log.append(&[]).unwrap();
    log.sync().unwrap();
    let mut again = open(&vfs);
    assert_eq!(again.paths(), vec![file(0)]);
    let redo = again.redo_for(&file(0), 0, false).unwrap();
    assert_eq!(redo.len(), 1);
    assert_eq!(redo[0].commit_lsn, t);
}

/// A commit record must follow its own transaction's changes: one that names another
/// transaction than the changes before it — even with their count — is damage, never
/// a commit of those changes.
#[test]
fn a_commit_of_another_transaction_than_its_changes_is_damage() {
    let vfs = TestVfs::new();
    write_raw(
        &vfs,
        &[change(1, 0, 1), Entry::Commit { txn: 7, changes: 1 }],
    );
    let err = try_open(&vfs)
        .err()
        .expect("a commit of transaction 7 after the changes of 1 was taken");
    assert_eq!(err.status, Status::IoError);
    assert!(
        err.context
            .contains("commit of transaction 7 does not follow its changes"),
        "{}",
        err.context
    );
}

/// A commit with changes but nothing open before it, and a commit counting other
/// than the changes before it, are damage, each said as what it is.
#[test]
fn a_commit_whose_count_is_not_its_changes_is_damage() {
    let cases: [(&[Entry], &str); 3] = [
        (
            &[Entry::Commit { txn: 1, changes: 2 }],
            "commit of transaction 1 does not follow its changes",
        ),
        (
            &[
                change(1, 0, 1),
                change(1, 0, 2),
                Entry::Commit { txn: 1, changes: 3 },
            ],
            "transaction 1 commits 3 changes but 2 precede it",
        ),
        (
            &[change(1, 0, 1), Entry::Commit { txn: 1, changes: 0 }],
            "transaction 1 commits 0 changes but 1 precede it",
        ),
    ];
    for (entries, says) in cases {
        let vfs = TestVfs::new();
        write_raw(&vfs, entries);
        let err = try_open(&vfs)
            .err()
            .unwrap_or_else(|| panic!("taken: {entries:?}"));
        assert_eq!(err.status, Status::IoError);
        assert!(err.context.contains(says), "{entries:?}: {}", err.context);
    }
}

/// Recycling removes exactly the segments no file needs: a file needs everything after
/// its durable applied LSN only while its last logged change is beyond it. Files that
/// have applied all they logged hold nothing back, however early their last change.
#[test]
fn recycling_keeps_what_a_file_behind_needs_and_nothing_for_a_file_caught_up() {
    let vfs = TestVfs::new();
    let mut log = TxLog::open(Arc::new(vfs.clone()), &dir(), ENGINE, 1024).unwrap();
    // File 0 changes first, then file 1 fills segment after segment.
    let first = log.append(&[(file(0), insert(1))]).unwrap();
    let mut last = first;
    for serial in 2..60 {
        last = log.append(&[(file(1), insert(serial))]).unwrap();
    }
    log.sync().unwrap();
    let segments =
        |log: &TxLog| -> Vec<u32> { log.writer.segments.iter().map(|s| s.number).collect() };
    let all = segments(&log);
    assert!(all.len() >= 4, "the test needs several segments: {all:?}");
    // File 1 is behind (applied nothing durably): everything from file 0's change on
    // stays — no segment is removed.
    let behind = BTreeMap::from([(file(0), first), (file(1), 0)]);
    assert_eq!(log.recycle(&behind, false).unwrap(), 0);
    // File 1 is behind from its 30th change: the segments wholly before it go.
    let mid = BTreeMap::from([(file(0), first), (file(1), first + 2 * 30)]);
    let removed = log.recycle(&mid, false).unwrap();
    assert!(removed > 0, "{all:?}");
    // What stays starts with the segment holding the first LSN file 1 needs: the one
    // before it went, and so did every segment before that.
    let keep = first + 2 * 30 + 1;
    let firsts: Vec<u64> = log.writer.segments.iter().map(|s| s.first_lsn).collect();
    assert!(
        firsts[0] <= keep && firsts.get(1).is_none_or(|&f| f > keep),
        "{firsts:?}"
    );
    assert_eq!(removed + firsts.len(), all.len());
    // Both caught up: every segment but the one being written goes.
    let caught_up = BTreeMap::from([(file(0), first), (file(1), last)]);
    log.recycle(&caught_up, false).unwrap();
    assert_eq!(segments(&log), vec![*all.last().unwrap()]);
}
