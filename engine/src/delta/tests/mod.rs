//! Tests of the delta's writer and scan together: every delta here is made by the
//! writer, then damaged the way crashes and rot damage files, and the scan's answer is
//! compared with a model of what was committed.

use super::frame::{frame_len, FRAME_HEADER_LEN};
use super::*;
use crate::page::bytes::{get_u32, put_u32};
use crate::page::fcr::FileState;
use crate::status::Status;
use crate::vfs::testing::{Faults, Rng, TestVfs};
use crate::vfs::{OpenMode, Vfs};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

mod scan_damage;

const PS: u32 = 512;
const SET: u64 = 0x5E7;
const FCR_SEQ: u64 = 41;

fn dpath() -> PathBuf {
    PathBuf::from("/db/INVOICE.^^^")
}

/// A page image that differs for every (logical page, version).
fn image(ps: u32, logical: u32, version: u64) -> Vec<u8> {
    (0..ps as u64)
        .map(|i| (i.wrapping_mul(31) ^ (u64::from(logical) * 7 + version * 13)) as u8)
        .collect()
}

fn state(version: u64, nkeys: usize) -> FileState {
    FileState {
        record_count: version * 3,
        logical_pages: 64,
        free_data_head: (version % 64) as u32,
        next_serial: version + 100,
        applied_lsn: version * 2,
        roots: (0..nkeys as u32)
            .map(|k| (k * 5 + version as u32) % 64)
            .collect(),
    }
}

/// One transaction: `(logical, Some(image) | None = freed)` and the state it commits.
#[derive(Clone, Debug)]
struct Txn {
    pages: Vec<(u32, Option<Vec<u8>>)>,
    state: FileState,
}

impl Txn {
    /// Transaction `version`: images for `set`, freed for `freed`.
    fn new(ps: u32, version: u64, set: &[u32], freed: &[u32]) -> Txn {
        let mut pages: Vec<(u32, Option<Vec<u8>>)> = set
            .iter()
            .map(|&l| (l, Some(image(ps, l, version))))
            .collect();
        pages.extend(freed.iter().map(|&l| (l, None)));
        Txn {
            pages,
            state: state(version, 1 + (version % 3) as usize),
        }
    }
}

fn append(w: &mut DeltaWriter, t: &Txn) -> crate::Result<()> {
    let pages: Vec<(u32, Option<&[u8]>)> = t
        .pages
        .iter()
        .map(|(l, img)| (*l, img.as_deref()))
        .collect();
    w.append_transaction(&pages, &t.state)
}

/// What the delta should hold after `txns` committed: latest version of each page.
fn model(txns: &[Txn]) -> BTreeMap<u32, Option<Vec<u8>>> {
    let mut m = BTreeMap::new();
    for t in txns {
        for (l, img) in &t.pages {
            m.insert(*l, img.clone());
        }
    }
    m
}

/// Check that `scan` holds exactly the commits of `txns`, reading every image back.
fn assert_scan_is(vfs: &dyn Vfs, scan: &DeltaScan, txns: &[Txn]) {
    assert_eq!(scan.commits, txns.len() as u64, "commit count");
    assert_eq!(scan.state.as_ref(), txns.last().map(|t| &t.state), "state");
    let want = model(txns);
    assert_eq!(
        scan.pages.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "pages in the delta"
    );
    let file = vfs.open(&dpath(), OpenMode::ReadOnly).unwrap();
    let mut buf = vec![0u8; scan.header.page_size as usize];
    for (l, img) in &want {
        match (scan.pages[l], img) {
            (PageImage::Freed, None) => {}
            (PageImage::Image(at), Some(bytes)) => {
                read_image(file.as_ref(), &dpath(), &scan.header, *l, at, &mut buf).unwrap();
                assert_eq!(&buf, bytes, "image of logical page {l}");
            }
            (got, want) => panic!("page {l}: scan has {got:?}, model {:?}", want.is_some()),
        }
    }
}

/// A delta on `vfs` holding `txns`; returns the file offset after each commit
/// (`ends[0]` is the header's end).
fn build(vfs: &dyn Vfs, ps: u32, txns: &[Txn]) -> Vec<u64> {
    let mut w = DeltaWriter::create(vfs, &dpath(), ps, FCR_SEQ, SET).unwrap();
    let mut ends = vec![DELTA_HEADER_LEN as u64];
    for t in txns {
        append(&mut w, t).unwrap();
        ends.push(
            vfs.open(&dpath(), OpenMode::ReadOnly)
                .unwrap()
                .len()
                .unwrap(),
        );
    }
    ends
}

/// Transactions that rewrite, free and re-create pages: page 1 imaged then freed,
/// page 2 freed then imaged, page 3 imaged twice, and so on.
fn history(ps: u32, n: u64) -> Vec<Txn> {
    (1..=n)
        .map(|v| match v % 4 {
            0 => Txn::new(ps, v, &[1, 3, 10 + v as u32 % 40], &[2]),
            1 => Txn::new(ps, v, &[2, 5], &[1]),
            2 => Txn::new(ps, v, &[3], &[]),
            _ => Txn::new(ps, v, &[], &[4, 6]),
        })
        .collect()
}

fn scan_mem(vfs: &TestVfs) -> crate::Result<DeltaScan> {
    scan_delta(vfs, &dpath())
}

fn with_bytes(bytes: Vec<u8>) -> TestVfs {
    let vfs = TestVfs::new();
    vfs.put(dpath(), bytes);
    vfs
}

#[test]
fn empty_delta_scans_clean_with_no_state() {
    let vfs = TestVfs::new();
    let w = DeltaWriter::create(&vfs, &dpath(), 4096, FCR_SEQ, SET).unwrap();
    assert_eq!((w.commits(), w.state()), (0, None));
    let s = scan_mem(&vfs).unwrap();
    let want = DeltaHeader {
        state: DeltaState::Active,
        page_size: 4096,
        fcr_seq: FCR_SEQ,
        set_id: SET,
    };
    assert_eq!(s.header, want);
    assert_eq!((s.commits, s.state, s.pages.len()), (0, None, 0));
    assert_eq!((s.valid_len, s.file_len, s.next_seq), (512, 512, 1));
    assert_eq!((s.end, s.stop), (End::Clean, Stop::EndOfData));
    assert_eq!(probe_delta(&vfs, &dpath()).unwrap(), DeltaProbe::Present);
}

#[test]
fn create_refuses_a_leftover_delta_and_bad_page_sizes() {
    let vfs = TestVfs::new();
    DeltaWriter::create(&vfs, &dpath(), PS, 1, 2).unwrap();
    let e = DeltaWriter::create(&vfs, &dpath(), PS, 1, 2).unwrap_err();
    assert_eq!(e.status, Status::FileAlreadyExists);
    assert!(
        e.context.contains("a delta from an earlier run remains"),
        "{e}"
    );
    let e = DeltaWriter::create(&vfs, Path::new("/db/OTHER.^^^"), 3000, 1, 2).unwrap_err();
    assert_eq!(e.status, Status::PageSizeError);
    assert!(!vfs.exists(Path::new("/db/OTHER.^^^")).unwrap());
}

#[test]
fn failed_create_leaves_no_file() {
    let vfs = TestVfs::new();
    vfs.set_faults(Faults {
        fail_sync_in: Some(0),
        ..Faults::default()
    });
    let e = DeltaWriter::create(&vfs, &dpath(), PS, 1, 2).unwrap_err();
    assert_eq!(e.status, Status::IoError);
    assert_eq!(probe_delta(&vfs, &dpath()).unwrap(), DeltaProbe::Absent);
    DeltaWriter::create(&vfs, &dpath(), PS, 1, 2).unwrap();
}

#[test]
fn round_trip_latest_committed_version_wins() {
    for ps in [512u32, 16384] {
        let vfs = TestVfs::new();
        // 16 KiB pages: the delta outgrows the scan's 1 MiB window. Both counts end
        // with a transaction that images page 2 and frees page 1 (`history`).
        let n = if ps == 512 { 61 } else { 89 };
        let txns = history(ps, n);
        let mut w = DeltaWriter::create(&vfs, &dpath(), ps, FCR_SEQ, SET).unwrap();
        for (i, t) in txns.iter().enumerate() {
            append(&mut w, t).unwrap();
            if i % 7 == 0 || i + 1 == txns.len() {
                let s = scan_mem(&vfs).unwrap();
                assert_scan_is(&vfs, &s, &txns[..=i]);
                assert_eq!(s.end, End::Clean);
                assert_eq!(&s.pages, w.pages(), "writer and scan agree");
                assert_eq!(s.state.as_ref(), w.state());
            }
        }
        let s = scan_mem(&vfs).unwrap();
        assert!(s.file_len > 1 << 20 || ps == 512);
        // The cases the brief names, explicitly.
        assert_eq!(s.pages[&1], PageImage::Freed, "freed after an image");
        assert!(
            matches!(s.pages[&2], PageImage::Image(_)),
            "image after freed"
        );
        // The writer reads its own committed images too.
        let mut buf = vec![0u8; ps as usize];
        let PageImage::Image(at) = *w.pages().get(&3).unwrap() else {
            panic!("page 3 has an image")
        };
        w.read_image(3, at, &mut buf).unwrap();
        assert_eq!(Some(&Some(buf)), model(&txns).get(&3));
        assert_eq!(w.pages().get(&63), None);
    }
}

#[test]
fn transactions_the_scan_would_refuse_are_refused_up_front() {
    let vfs = TestVfs::new();
    let mut w = DeltaWriter::create(&vfs, &dpath(), PS, FCR_SEQ, SET).unwrap();
    let img = image(PS, 1, 1);
    let st = state(1, 2);
    type Case<'a> = (Vec<(u32, Option<&'a [u8]>)>, FileState, &'static str);
    let cases: Vec<Case<'_>> = vec![
        (
            vec![(0, Some(&img))],
            st.clone(),
            "logical page 0 is outside",
        ),
        (vec![(64, None)], st.clone(), "logical page 64 is outside"),
        (
            vec![(5, None), (5, Some(&img))],
            st.clone(),
            "appears twice",
        ),
        (
            vec![(5, Some(&img[..100]))],
            st.clone(),
            "100 bytes, not 512",
        ),
        (
            vec![],
            FileState {
                logical_pages: 0,
                ..st.clone()
            },
            "invalid file state",
        ),
        (
            vec![],
            FileState {
                roots: vec![64],
                ..st.clone()
            },
            "invalid file state",
        ),
    ];
    for (pages, s, want) in cases {
        let e = w.append_transaction(&pages, &s).unwrap_err();
        assert_eq!(e.status, Status::InvalidOperation, "{want}");
        assert!(e.context.contains(want), "wanted {want:?}: {e}");
    }
    assert!(!w.is_failed());
    assert_eq!(scan_mem(&vfs).unwrap().file_len, 512, "nothing written");
    // An empty transaction (a state change alone) is fine.
    w.append_transaction(&[], &st).unwrap();
    assert_eq!(scan_mem(&vfs).unwrap().state, Some(st));
}

#[test]
fn ending_survives_reopen_and_power_loss_and_stops_appends() {
    let vfs = TestVfs::new();
    let txns = history(PS, 3);
    let mut w = DeltaWriter::create(&vfs, &dpath(), PS, FCR_SEQ, SET).unwrap();
    for t in &txns {
        append(&mut w, t).unwrap();
    }
    w.set_ending().unwrap();
    w.set_ending().unwrap();
    let e = append(&mut w, &Txn::new(PS, 9, &[1], &[])).unwrap_err();
    assert_eq!(e.status, Status::OperationNotAllowed);
    assert!(!w.is_failed());
    drop(w);
    vfs.power_loss(&mut Rng::new(1));
    let s = scan_delta(&vfs, &dpath()).unwrap();
    assert_eq!(s.header.state, DeltaState::Ending);
    assert_scan_is(&vfs, &s, &txns);
    let mut w = DeltaWriter::open(&vfs, &dpath(), &s).unwrap();
    assert_eq!(w.header().state, DeltaState::Ending);
    assert!(append(&mut w, &txns[0]).is_err());
    // Removing is durable and repeatable.
    drop(w);
    remove_delta(&vfs, &dpath()).unwrap();
    remove_delta(&vfs, &dpath()).unwrap();
    assert_eq!(probe_delta(&vfs, &dpath()).unwrap(), DeltaProbe::Absent);
}

#[test]
fn a_failed_write_or_sync_fails_the_writer_until_reopened() {
    for fault in ["write", "sync"] {
        let vfs = TestVfs::new();
        let txns = history(PS, 3);
        let mut w = DeltaWriter::create(&vfs, &dpath(), PS, FCR_SEQ, SET).unwrap();
        append(&mut w, &txns[0]).unwrap();
        vfs.set_faults(Faults {
            fail_write_in: (fault == "write").then_some(0),
            fail_sync_in: (fault == "sync").then_some(0),
            ..Faults::default()
        });
        assert!(append(&mut w, &txns[1]).is_err());
        assert!(w.is_failed());
        let e = append(&mut w, &txns[2]).unwrap_err();
        assert_eq!(e.status, Status::IoError);
        assert!(e.context.contains("failed earlier"), "{e}");
        assert!(w.set_ending().is_err());
        drop(w);
        let s = scan_delta(&vfs, &dpath()).unwrap();
        assert_scan_is(&vfs, &s, &txns[..1]);
        let mut w = DeltaWriter::open(&vfs, &dpath(), &s).unwrap();
        append(&mut w, &txns[2]).unwrap();
        let s = scan_delta(&vfs, &dpath()).unwrap();
        assert_scan_is(&vfs, &s, &[txns[0].clone(), txns[2].clone()]);
    }
}

#[test]
fn the_forward_search_is_linear_on_crafted_damage() {
    // After a damaged first frame, a candidate header every 32 bytes that passes
    // every cheap filter and claims a whole page: without the budget each is hashed.
    let vfs = TestVfs::new();
    build(&vfs, PS, &[]);
    let mut b = vfs.contents(dpath()).unwrap();
    let n = 256 * 1024;
    b.resize(512 + n, 0);
    b[512..520].fill(0xFF);
    let mut y = 512 + FRAME_HEADER_LEN;
    while y + FRAME_HEADER_LEN <= b.len() {
        put_u32(&mut b, y, 0x1234_5678);
        b[y + 4] = 1;
        b[y + 8..y + 16].copy_from_slice(&2u64.to_le_bytes());
        let claim = PS.min((b.len() - y - FRAME_HEADER_LEN) as u32 & !7);
        put_u32(&mut b, y + 20, claim);
        put_u32(&mut b, y + 24, 0);
        y += FRAME_HEADER_LEN;
    }
    let e = scan_mem(&with_bytes(b)).unwrap_err();
    assert!(e.context.contains("could not be checked"), "{e}");
}

proptest! {
    #[test]
    fn scan_never_panics_on_arbitrary_files(
        bytes in proptest::collection::vec(any::<u8>(), 0..3000),
        with_header in any::<bool>(),
    ) {
        let mut file = Vec::new();
        if with_header {
            let h = DeltaHeader { state: DeltaState::Active, page_size: PS, fcr_seq: 1, set_id: 2 };
            file.extend_from_slice(&h.encode());
        }
        file.extend_from_slice(&bytes);
        let m = with_bytes(file.clone());
        let _ = probe_delta(&m, &dpath());
        if let Ok(s) = scan_mem(&m) {
            prop_assert!(s.valid_len <= s.file_len && s.file_len == file.len() as u64);
            prop_assert!(s.stop_offset >= s.valid_len);
        }
    }

    #[test]
    fn scan_never_panics_on_damaged_deltas(
        n in 0u64..6,
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
        cut in any::<usize>(),
    ) {
        let vfs = TestVfs::new();
        build(&vfs, PS, &history(PS, n));
        let mut b = vfs.contents(dpath()).unwrap();
        for (at, x) in flips {
            let i = at % b.len();
            b[i] ^= x;
        }
        b.truncate(cut % (b.len() + 1));
        let m = with_bytes(b);
        if let Ok(s) = scan_mem(&m) {
            prop_assert!(s.commits <= n);
            prop_assert!(s.valid_len <= s.file_len);
            // Whatever it accepted, it can read back.
            let file = m.open(&dpath(), OpenMode::ReadOnly).unwrap();
            let mut buf = vec![0u8; PS as usize];
            for (&l, img) in &s.pages {
                if let PageImage::Image(at) = img {
                    prop_assert!(read_image(file.as_ref(), &dpath(), &s.header, l, *at, &mut buf).is_ok());
                }
            }
        }
    }
}

#[test]
fn a_power_failure_during_the_commit_sync_keeps_all_or_nothing_of_it() {
    let txns = history(PS, 4);
    let (mut kept, mut lost) = (0, 0);
    for seed in 0..64 {
        let vfs = TestVfs::new();
        let mut w = DeltaWriter::create(&vfs, &dpath(), PS, FCR_SEQ, SET).unwrap();
        for t in &txns[..3] {
            append(&mut w, t).unwrap();
        }
        vfs.crash_next_sync();
        assert!(append(&mut w, &txns[3]).is_err());
        assert!(w.is_failed());
        drop(w);
        vfs.crash_sync_in(None);
        vfs.set_faults(Faults::default());
        vfs.power_loss(&mut Rng::new(seed));
        let s = scan_delta(&vfs, &dpath()).unwrap();
        match s.commits {
            3 => lost += 1,
            4 => kept += 1,
            n => panic!("seed {seed}: {n} commits"),
        }
        assert_scan_is(&vfs, &s, &txns[..s.commits as usize]);
    }
    assert!(kept > 0 && lost > 0, "kept {kept}, lost {lost}");
}

/// One step of the crash property.
#[derive(Clone, Debug)]
enum Step {
    /// Commit a transaction writing `set` and freeing `freed` (logical pages 1..24).
    Append {
        set: Vec<u32>,
        freed: Vec<u32>,
    },
    /// The next write (or sync) fails; a failed sync drops what it had to sync.
    FailWrite,
    FailSync,
    /// The power fails during the next sync: what it had to sync stays unsynced (the
    /// next power loss tears it; a restart without one finds it all).
    CrashDuringSync,
    /// `endbu` begins.
    Ending,
    /// The process restarts: a fresh scan and writer, nothing lost.
    Restart,
    /// Power fails: each unsynced sector piece survives or not.
    PowerLoss {
        seed: u64,
    },
}

fn step() -> impl Strategy<Value = Step> {
    let pages = || proptest::collection::btree_set(1u32..24, 0..5);
    prop_oneof![
        8 => (pages(), pages()).prop_map(|(set, freed)| Step::Append {
            freed: freed.difference(&set).copied().collect(),
            set: set.into_iter().collect(),
        }),
        1 => Just(Step::FailWrite),
        1 => Just(Step::FailSync),
        2 => Just(Step::CrashDuringSync),
        1 => Just(Step::Ending),
        1 => Just(Step::Restart),
        3 => any::<u64>().prop_map(|seed| Step::PowerLoss { seed }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// After any sequence of appends, write and sync failures, `endbu` starts, restarts
    /// and power losses, the scan always succeeds and returns the state of some
    /// transaction at or after the last acknowledged one — never an unattempted one,
    /// with exactly that transaction's page images — and the reopened writer continues.
    #[test]
    fn crashes_lose_only_unacknowledged_transactions(steps in proptest::collection::vec(step(), 1..40)) {
        let vfs = TestVfs::new();
        let mut w = DeltaWriter::create(&vfs, &dpath(), PS, FCR_SEQ, SET).unwrap();
        // Transactions of the current history, in commit order; those after `acked`
        // were attempted but not acknowledged (their append failed).
        let mut history: Vec<Txn> = Vec::new();
        let mut acked = 0usize;
        let mut ending_acked = false;
        let mut version = 0u64;
        let mut steps = steps;
        steps.push(Step::PowerLoss { seed: 0 });
        for s in steps {
            match s {
                Step::Append { set, freed } => {
                    version += 1;
                    let t = Txn::new(PS, version, &set, &freed);
                    let was_failed = w.is_failed();
                    let ending = w.header().state == DeltaState::Ending;
                    match append(&mut w, &t) {
                        Ok(()) => {
                            prop_assert!(!was_failed && !ending);
                            history.truncate(acked);
                            history.push(t);
                            acked = history.len();
                        }
                        Err(e) if ending && !was_failed => {
                            prop_assert_eq!(e.status, Status::OperationNotAllowed);
                        }
                        Err(_) => {
                            prop_assert!(w.is_failed());
                            if !was_failed {
                                history.truncate(acked);
                                history.push(t);
                            }
                        }
                    }
                }
                Step::FailWrite => vfs.set_faults(Faults { fail_write_in: Some(0), ..Faults::default() }),
                Step::FailSync => vfs.set_faults(Faults { fail_sync_in: Some(0), ..Faults::default() }),
                Step::CrashDuringSync => vfs.crash_next_sync(),
                Step::Ending => {
                    if w.set_ending().is_ok() {
                        ending_acked = true;
                    }
                }
                Step::Restart | Step::PowerLoss { .. } => {
                    drop(w);
                    vfs.crash_sync_in(None);
                    vfs.set_faults(Faults::default());
                    if let Step::PowerLoss { seed } = s {
                        vfs.power_loss(&mut Rng::new(seed));
                    }
                    let scan = scan_delta(&vfs, &dpath())
                        .map_err(|e| TestCaseError::fail(format!("after {s:?}: {e}")))?;
                    let k = scan.commits as usize;
                    prop_assert!(k >= acked, "lost an acknowledged transaction: {} < {}", k, acked);
                    prop_assert!(k <= history.len(), "found {} transactions, {} attempted", k, history.len());
                    assert_scan_is(&vfs, &scan, &history[..k]);
                    if ending_acked {
                        prop_assert_eq!(scan.header.state, DeltaState::Ending);
                    }
                    ending_acked = scan.header.state == DeltaState::Ending;
                    history.truncate(k);
                    acked = k;
                    w = DeltaWriter::open(&vfs, &dpath(), &scan)
                        .map_err(|e| TestCaseError::fail(format!("reopen after {s:?}: {e}")))?;
                    prop_assert_eq!(w.pages(), &scan.pages);
                }
            }
        }
    }
}
