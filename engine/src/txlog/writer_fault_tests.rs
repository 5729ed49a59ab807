//! The log writer under failures and crashes: failed writes, syncs and recycles fail the
//! writer until it is reopened; rolling syncs the old segment first; random workloads
//! with stops and power losses never lose a synced record; a new segment is named only
//! when whole. Helpers come from the parent module (`writer_tests.rs`).

use super::*;

/// Open a writer on a `TestVfs`.
fn open_lossy(vfs: &TestVfs, seg: u64) -> Result<LogWriter> {
    let scan = read_log(vfs, &dir())?;
    LogWriter::open(Arc::new(vfs.clone()), &dir(), ENGINE, seg, &scan)
}

#[test]
fn a_failed_write_or_sync_fails_the_writer_until_reopened() {
    use std::io::ErrorKind::{Other, StorageFull};
    let fault = |write: Option<u32>, sync: Option<u32>, kind| Faults {
        fail_write_in: write,
        fail_sync_in: sync,
        fail_remove_in: None,
        kind,
        failed_sync_keeps_cache: false,
    };
    // (what fails, the fault, payload size of records 3–5, status). With 1024-byte
    // segments, a 400-byte record does not fit after records 1–2: it rolls.
    let cases = [
        (
            "record write",
            fault(Some(0), None, Other),
            30,
            Status::IoError,
        ),
        ("sync", fault(None, Some(0), Other), 30, Status::IoError),
        (
            "disk full",
            fault(Some(0), None, StorageFull),
            30,
            Status::DiskFull,
        ),
        (
            "roll: old segment's sync",
            fault(None, Some(0), Other),
            400,
            Status::IoError,
        ),
        (
            "roll: new header's write",
            fault(Some(0), None, Other),
            400,
            Status::IoError,
        ),
        (
            "roll: new header's sync",
            fault(None, Some(1), Other),
            400,
            Status::IoError,
        ),
    ];
    for (what, f, len, status) in cases {
        let vfs = TestVfs::new();
        let mut w = open_lossy(&vfs, MIN_SEGMENT_SIZE).unwrap();
        append_all(&mut w, &[rec(1, 100), rec(2, 100)]);
        assert_eq!(w.sync().unwrap(), 3);
        vfs.set_faults(f);
        append_all(&mut w, &(3..=5).map(|l| rec(l, len)).collect::<Vec<_>>());
        let e = w.sync().unwrap_err();
        assert_eq!(e.status, status, "{what}: {e}");
        assert!(w.is_failed(), "{what}");
        assert_eq!(w.durable_lsn(), 3, "{what}");
        for err in [
            w.append(kind(1), b"x").unwrap_err(),
            w.write_out().unwrap_err(),
            w.sync().unwrap_err(),
            w.recycle(u64::MAX).unwrap_err(),
        ] {
            assert_eq!(err.status, Status::IoError, "{what}");
            assert!(err.context.contains("failed earlier"), "{what}: {err}");
        }
        // A fresh scan and a reopened writer carry on after the durable records.
        let scan = read_log(&vfs, &dir()).unwrap();
        assert_eq!(scan.records[..2], [rec(1, 100), rec(2, 100)], "{what}");
        let mut w = open_lossy(&vfs, MIN_SEGMENT_SIZE).unwrap();
        let next = w.next_lsn();
        append_all(&mut w, &[rec(next, 8), rec(next + 1, 450)]);
        w.sync().unwrap();
        let after = read_log(&vfs, &dir()).unwrap();
        assert_eq!(
            after.records[..scan.records.len()],
            scan.records[..],
            "{what}"
        );
        assert_eq!(
            after.records[scan.records.len()..],
            [rec(next, 8), rec(next + 1, 450)]
        );
    }
}

#[test]
fn a_failed_recycle_fails_the_writer() {
    let vfs = TestVfs::new();
    let mut w = open_lossy(&vfs, MIN_SEGMENT_SIZE).unwrap();
    append_all(&mut w, &(1..=6).map(|l| rec(l, 300)).collect::<Vec<_>>());
    w.sync().unwrap();
    vfs.set_faults(Faults {
        fail_remove_in: Some(1),
        ..Faults::default()
    });
    assert_eq!(w.recycle(u64::MAX).unwrap_err().status, Status::IoError);
    assert!(w.is_failed());
    // One segment went before the failure; the rest still reads as a log.
    let scan = read_log(&vfs, &dir()).unwrap();
    assert_eq!(scan.segments[0].number, 2);
    assert_eq!(scan.next_lsn, 7);
}

#[test]
fn rolling_syncs_the_old_segment_before_the_new_one_exists() {
    // If the roll did not sync the segment it leaves, a power loss could keep the
    // next segment while losing records of this one: the scan would call that
    // corruption (and a roll-forward would miss acknowledged records).
    for seed in 0..200 {
        let vfs = TestVfs::new();
        let mut w = open_lossy(&vfs, MIN_SEGMENT_SIZE).unwrap();
        append_all(&mut w, &(1..=5).map(|l| rec(l, 200)).collect::<Vec<_>>());
        w.write_out().unwrap(); // rolls, never syncs explicitly
        vfs.power_loss(&mut Rng::new(seed));
        let scan = read_log(&vfs, &dir()).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        // Every segment but the last is whole.
        for s in &scan.segments[..scan.segments.len() - 1] {
            assert!(
                matches!(s.stop, Stop::Zeros | Stop::EndOfData),
                "seed {seed}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    /// Random records — any kind, payloads from empty to the largest a segment
    /// holds — written in random batches, read back identical across segments.
    #[test]
    fn round_trip_random_records(
        recs in proptest::collection::vec(
            (1u8..=255, prop_oneof![Just(0usize), 1usize..100, 100usize..8000, Just(16_360usize)], any::<bool>()),
            1..60,
        ),
        seg_kb in prop_oneof![Just(16u64), Just(24), Just(64)],
    ) {
        let seg = seg_kb * 1024;
        let mem = TestVfs::new();
        let vfs: Arc<dyn Vfs> = Arc::new(mem.clone());
        let mut w = open(&vfs, seg);
        let mut want = Vec::new();
        for (i, (k, len, sync)) in recs.into_iter().enumerate() {
            let lsn = i as u64 + 1;
            let r = LogRecord { lsn, kind: kind(k), payload: payload(lsn, len.min(w.max_payload())) };
            prop_assert_eq!(w.append(r.kind, &r.payload).unwrap(), lsn);
            want.push(r);
            if sync {
                w.sync().unwrap();
            }
        }
        prop_assert_eq!(w.sync().unwrap(), want.len() as u64 + 1);
        let scan = read_log(&mem, &dir()).unwrap();
        prop_assert_eq!(&scan.records, &want);
        prop_assert_eq!(scan.end, End::Clean);
        let mut next = 1;
        for s in &scan.segments {
            prop_assert_eq!(s.first_lsn, next);
            prop_assert!(s.file_len <= seg);
            next = s.next_lsn;
        }
        let bytes: usize = want.iter().map(|r| frame_len(r.payload.len())).sum();
        prop_assert!(scan.segments.len() as u64 >= bytes as u64 / (seg - 512));
    }
}

/// What the crash property does at each step.
#[derive(Clone, Debug)]
enum Step {
    Append {
        kind: u8,
        len: usize,
    },
    WriteOut,
    Sync,
    Recycle {
        back: u64,
    },
    /// The process restarts: a fresh scan and writer, nothing lost.
    Restart,
    PowerLoss {
        seed: u64,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (1u8..=255, prop_oneof![0usize..64, 64usize..300, Just(456usize)])
            .prop_map(|(kind, len)| Step::Append { kind, len }),
        2 => Just(Step::WriteOut),
        2 => Just(Step::Sync),
        1 => (0u64..30).prop_map(|back| Step::Recycle { back }),
        1 => Just(Step::Restart),
        1 => any::<u64>().prop_map(|seed| Step::PowerLoss { seed }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Round trip under power loss: after any sequence of appends, write-outs,
    /// syncs, recycles and power losses (each dropping a random subset of unsynced
    /// sectors), the log always reads without error, holds every record that was
    /// durable and not recycled, holds nothing that was not appended, and the
    /// reopened writer continues it.
    #[test]
    fn crashes_lose_only_unsynced_records(steps in proptest::collection::vec(step(), 1..80)) {
        let vfs = TestVfs::new();
        let mut w = open_lossy(&vfs, MIN_SEGMENT_SIZE).unwrap();
        // model[lsn - 1] = the record appended with that LSN.
        let mut model: Vec<LogRecord> = Vec::new();
        // Every record below this has been handed to the filesystem.
        let mut written = 1u64;
        let mut steps = steps;
        steps.push(Step::Sync);
        steps.push(Step::PowerLoss { seed: 0 });
        for s in steps {
            match s {
                Step::Append { kind: k, len } => {
                    let lsn = model.len() as u64 + 1;
                    let r = LogRecord { lsn, kind: kind(k), payload: payload(lsn, len) };
                    prop_assert_eq!(w.append(r.kind, &r.payload).unwrap(), lsn);
                    model.push(r);
                }
                Step::WriteOut => {
                    w.write_out().unwrap();
                    written = model.len() as u64 + 1;
                }
                Step::Sync => {
                    prop_assert_eq!(w.sync().unwrap(), model.len() as u64 + 1);
                    written = model.len() as u64 + 1;
                }
                Step::Recycle { back } => {
                    let keep = w.durable_lsn().saturating_sub(back);
                    w.recycle(keep).unwrap();
                }
                Step::Restart => {
                    drop(w);
                    let scan = read_log(&vfs, &dir())
                        .map_err(|e| TestCaseError::fail(format!("after restart: {e}")))?;
                    // A restart loses what was only buffered, nothing written.
                    prop_assert_eq!(scan.next_lsn, written);
                    let first = scan.segments[0].first_lsn;
                    prop_assert_eq!(&scan.records[..], &model[(first - 1) as usize..(written - 1) as usize]);
                    model.truncate((written - 1) as usize);
                    w = LogWriter::open(Arc::new(vfs.clone()), &dir(), ENGINE, MIN_SEGMENT_SIZE, &scan).unwrap();
                }
                Step::PowerLoss { seed } => {
                    let durable = w.durable_lsn();
                    drop(w);
                    vfs.power_loss(&mut Rng::new(seed));
                    let scan = read_log(&vfs, &dir())
                        .map_err(|e| TestCaseError::fail(format!("after power loss: {e}")))?;
                    let first = scan.segments[0].first_lsn;
                    prop_assert!(scan.next_lsn >= durable, "lost durable records");
                    prop_assert!(scan.next_lsn <= model.len() as u64 + 1);
                    prop_assert_eq!(&scan.records[..], &model[(first - 1) as usize..(scan.next_lsn - 1) as usize]);
                    model.truncate((scan.next_lsn - 1) as usize);
                    written = scan.next_lsn;
                    w = LogWriter::open(Arc::new(vfs.clone()), &dir(), ENGINE, MIN_SEGMENT_SIZE, &scan).unwrap();
                }
            }
        }
    }
}

/// A segment's name only ever names a whole, synced segment: stopped at any call of
/// its creation, the directory holds no segment file, or one that reads as a whole
/// segment — never a half-made one a power loss could leave holding garbage.
#[test]
fn a_new_segment_is_named_only_when_whole() {
    let probe = TestVfs::new();
    let before = probe.mutating_calls();
    drop(open_lossy(&probe, MIN_SEGMENT_SIZE).unwrap());
    let calls = probe.mutating_calls() - before;
    assert!(calls > 3, "creating a segment took {calls} calls");
    let p1 = dir().join(segment_name(1));
    for n in 0..calls {
        let vfs = TestVfs::new();
        vfs.stop_after(Some(n));
        assert!(
            open_lossy(&vfs, MIN_SEGMENT_SIZE).is_err(),
            "stop after {n}"
        );
        vfs.stop_after(None);
        if let Some(bytes) = vfs.contents(&p1) {
            assert_eq!(bytes.len() as u64, MIN_SEGMENT_SIZE, "stop after {n}");
            let scan = read_log(&vfs, &dir()).unwrap();
            assert_eq!(scan.incomplete, None, "stop after {n}");
            assert_eq!(scan.segments.len(), 1, "stop after {n}");
        }
        // The next writer starts cleanly whatever the stop left.
        let mut w = open_lossy(&vfs, MIN_SEGMENT_SIZE).unwrap();
        append_all(&mut w, &[rec(1, 10)]);
        w.sync().unwrap();
        assert_eq!(read_log(&vfs, &dir()).unwrap().records, [rec(1, 10)]);
    }
}
