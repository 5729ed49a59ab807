//! Tests of the archival log's writer and reader together: every log here is made by
//! the writer, then damaged the way crashes and rot damage files, and what the reader
//! returns is compared with what was appended.

use super::format::{frame_len, ArchivalLayout, FRAME_HEADER_LEN};
use super::*;
use crate::appendfile::seal_frame;
use crate::file::change::Change;
use crate::page::bytes::put_u64;
use crate::status::Status;
use crate::vfs::testing::{Faults, Rng, TestVfs};
use crate::vfs::Vfs;
use proptest::prelude::*;
use std::path::{Path, PathBuf};

mod read_damage;

const BASE: u64 = 40;
const LOG_ID: u64 = 0xA5C1;

fn lpath() -> PathBuf {
    PathBuf::from("/logs/INVOICE.log")
}

fn header() -> ArchivalHeader {
    ArchivalHeader::for_data_file(Path::new("/db/INVOICE.btr"), BASE, LOG_ID).unwrap()
}

/// The changes of transaction `version`: a few inserts, updates and deletes whose
/// images differ per version.
fn changes(version: u64) -> Vec<Change> {
    let img = |n: usize, salt: u64| -> Vec<u8> {
        (0..n as u64).map(|i| (i * 7 + salt * 13) as u8).collect()
    };
    (0..version % 4)
        .map(|i| match (version + i) % 3 {
            0 => Change::Insert {
                serial: version * 10 + i,
                record: img(24, version + i),
            },
            1 => Change::Update {
                serial: i,
                old: img(24, version),
                new: img(24, version + 1),
            },
            _ => Change::Delete {
                serial: version,
                old: img(24, i),
            },
        })
        .collect()
}

/// What transaction `version` logs: FCR sequence `BASE + version` and its changes.
/// The applied LSN the tests log with FCR sequence `fcr_seq`.
fn lsn(fcr_seq: u64) -> u64 {
    fcr_seq * 3 + 1
}

fn entry(log_seq: u64, version: u64) -> Entry {
    Entry {
        log_seq,
        fcr_seq: BASE + version,
        applied_lsn: lsn(BASE + version),
        changes: changes(version),
    }
}

/// A log on `vfs` holding transactions 1..=n; returns the file offset after each frame
/// (`ends[0]` is the header's end).
fn build(vfs: &dyn Vfs, n: u64) -> Vec<u64> {
    let mut w = ArchivalWriter::create(vfs, &lpath(), header()).unwrap();
    let mut ends = vec![ARCHIVAL_HEADER_LEN as u64];
    for v in 1..=n {
        assert_eq!(w.append(BASE + v, lsn(BASE + v), &changes(v)).unwrap(), v);
        ends.push(crate::vfs::read_all(vfs, &lpath()).unwrap().len() as u64);
    }
    ends
}

/// The writer of a log whose frames were all acknowledged (appended and synced), as an
/// engine reopens it once its data file's FCR has reached the last one.
fn reopen(vfs: &dyn Vfs) -> ArchivalWriter {
    let mut w = ArchivalWriter::open(vfs, &lpath()).unwrap();
    w.vouch_last_frame_durable();
    w
}

fn with_bytes(bytes: Vec<u8>) -> TestVfs {
    let vfs = TestVfs::new();
    vfs.put(lpath(), bytes);
    vfs
}

/// Check that the log holds exactly transactions `versions`, as frames 1, 2, ….
fn assert_log_is(vfs: &dyn Vfs, versions: &[u64]) -> ArchivalScan {
    let (scan, entries) = read_log(vfs, &lpath()).unwrap();
    let want: Vec<Entry> = versions
        .iter()
        .enumerate()
        .map(|(i, &v)| entry(i as u64 + 1, v))
        .collect();
    assert_eq!(entries, want);
    assert_eq!(scan.entries, versions.len() as u64);
    assert_eq!(scan.next_seq, versions.len() as u64 + 1);
    assert_eq!(scan.last_fcr_seq, versions.last().map(|v| BASE + v));
    assert_eq!(scan.first_fcr_seq, versions.first().map(|v| BASE + v));
    scan
}

#[test]
fn a_new_log_is_empty_and_covers_its_base() {
    let vfs = TestVfs::new();
    let w = ArchivalWriter::create(&vfs, &lpath(), header()).unwrap();
    assert_eq!((w.entries(), w.next_seq(), w.last_fcr_seq()), (0, 1, None));
    assert_eq!(w.covered_fcr_seq(), BASE);
    let s = assert_log_is(&vfs, &[]);
    assert_eq!(s.header, header());
    assert_eq!((s.end, s.stop.clone()), (End::Clean, Stop::EndOfData));
    assert_eq!(s.valid_len, ARCHIVAL_HEADER_LEN as u64);
    assert_eq!(s.covered_fcr_seq(), BASE);
    assert_eq!(probe_log(&vfs, &lpath()).unwrap(), LogProbe::Present);
    assert_eq!(
        probe_log(&vfs, Path::new("/logs/none.log")).unwrap(),
        LogProbe::Absent
    );
}

#[test]
fn appended_transactions_read_back_in_order() {
    let vfs = TestVfs::new();
    let ends = build(&vfs, 6);
    let s = assert_log_is(&vfs, &[1, 2, 3, 4, 5, 6]);
    assert_eq!(s.valid_len, ends[6]);
    assert_eq!(s.last_frame_at, ends[5]);
    assert_eq!(s.end, End::Clean);
    assert_eq!(s.covered_fcr_seq(), BASE + 6);
    let mut offsets = Vec::new();
    visit_log(&vfs, &lpath(), |at, _| {
        offsets.push(at);
        Ok(())
    })
    .unwrap();
    assert_eq!(offsets, ends[..6]);
    // An error from the visitor stops the scan and comes back.
    let e = visit_log(&vfs, &lpath(), |_, e| {
        if e.log_seq == 3 {
            Err(crate::status::Error::new(Status::InvalidOperation, "stop"))
        } else {
            Ok(())
        }
    })
    .unwrap_err();
    assert_eq!(e.context, "stop");
}

#[test]
fn frames_longer_than_the_read_window_round_trip() {
    let vfs = TestVfs::new();
    let mut w = ArchivalWriter::create(&vfs, &lpath(), header()).unwrap();
    let big = vec![Change::Insert {
        serial: 1,
        record: vec![0x5A; 3 << 20],
    }];
    w.append(BASE + 1, lsn(BASE + 1), &big).unwrap();
    w.append(BASE + 2, lsn(BASE + 2), &changes(2)).unwrap();
    let (s, entries) = read_log(&vfs, &lpath()).unwrap();
    assert_eq!(s.entries, 2);
    assert_eq!(entries[0].changes, big);
    // Damage the big frame: the small one after it proves it had been synced.
    let mut b = vfs.contents(lpath()).unwrap();
    b[ARCHIVAL_HEADER_LEN + 100] ^= 1;
    let e = scan_log(&with_bytes(b), &lpath()).unwrap_err();
    assert!(e.context.contains("a later frame exists"), "{e}");
}

#[test]
fn create_refuses_an_existing_log_and_a_second_writer() {
    let vfs = TestVfs::new();
    let w = ArchivalWriter::create(&vfs, &lpath(), header()).unwrap();
    let e = ArchivalWriter::create(&vfs, &lpath(), header()).unwrap_err();
    assert_eq!(e.status, Status::FileAlreadyExists);
    let e = ArchivalWriter::open(&vfs, &lpath()).unwrap_err();
    assert_eq!(e.status, Status::FileInUse);
    drop(w);
    ArchivalWriter::open(&vfs, &lpath()).unwrap();
    let e = ArchivalWriter::open(&vfs, Path::new("/logs/none.log")).unwrap_err();
    assert_eq!(e.status, Status::FileNotFound);
}

#[test]
fn a_failed_create_leaves_no_file() {
    let vfs = TestVfs::new();
    vfs.set_faults(Faults {
        fail_sync_in: Some(0),
        ..Faults::default()
    });
    assert!(ArchivalWriter::create(&vfs, &lpath(), header()).is_err());
    assert_eq!(probe_log(&vfs, &lpath()).unwrap(), LogProbe::Absent);
    ArchivalWriter::create(&vfs, &lpath(), header()).unwrap();
}

/// A creation whose header sync failed the Linux way (the write marked clean,
/// unwritten: reads still see it) and whose removal failed too leaves a log that
/// reads whole though the disk holds no header. The next open must make the header
/// durable before frames go after it — else the next power loss takes the header and
/// with it every frame appended since (found by the simulator, seed 1,048,397). With
/// a filesystem that cannot read past its cache the open cannot tell.
#[test]
fn an_open_makes_a_header_the_disk_never_got_durable() {
    let vfs = TestVfs::new();
    vfs.set_faults(Faults {
        fail_sync_in: Some(0),
        fail_remove_in: Some(0),
        failed_sync_keeps_cache: true,
        ..Faults::default()
    });
    assert!(ArchivalWriter::create(&vfs, &lpath(), header()).is_err());
    vfs.set_faults(Faults::default());
    assert_log_is(&vfs, &[]);
    let mut w = ArchivalWriter::open(&vfs, &lpath()).unwrap();
    // As the engine does once its data file's FCR vouches for the last frame.
    w.vouch_last_frame_durable();
    assert_eq!(w.append(BASE + 1, lsn(BASE + 1), &changes(1)).unwrap(), 1);
    drop(w);
    vfs.power_loss(&mut Rng::new(5));
    assert_log_is(&vfs, &[1]);
}

#[test]
fn reopen_after_a_torn_append_cuts_the_tail_and_continues_the_sequence() {
    // The process dies in the middle of writing frame 3: half its sectors land.
    let vfs = TestVfs::new();
    build(&vfs, 2);
    let mut w = reopen(&vfs);
    vfs.stop_after(Some(0));
    let big: Vec<Change> = (0..60).flat_map(|_| changes(3)).collect();
    assert!(w.append(BASE + 3, lsn(BASE + 3), &big).is_err());
    drop(w);
    vfs.stop_after(None);
    let torn = vfs.contents(lpath()).unwrap();
    let s = assert_log_is(&vfs, &[1, 2]);
    assert_eq!(s.end, End::Torn);
    assert!(
        torn.len() as u64 > s.valid_len,
        "the crash left a torn tail"
    );
    let mut w = ArchivalWriter::open(&vfs, &lpath()).unwrap();
    assert_eq!((w.next_seq(), w.last_fcr_seq()), (3, Some(BASE + 2)));
    assert_eq!(
        vfs.contents(lpath()).unwrap().len() as u64,
        s.valid_len,
        "the tail is cut before anything is appended"
    );
    assert_eq!(w.append(BASE + 3, lsn(BASE + 3), &changes(3)).unwrap(), 3);
    assert_eq!(w.append(BASE + 4, lsn(BASE + 4), &changes(4)).unwrap(), 4);
    drop(w);
    let s = assert_log_is(&vfs, &[1, 2, 3, 4]);
    assert_eq!(s.end, End::Clean);
}

#[test]
fn a_failed_write_or_sync_poisons_the_writer_until_reopened() {
    for fault in ["write", "sync"] {
        let vfs = TestVfs::new();
        build(&vfs, 1);
        let mut w = reopen(&vfs);
        vfs.set_faults(Faults {
            fail_write_in: (fault == "write").then_some(0),
            fail_sync_in: (fault == "sync").then_some(0),
            ..Faults::default()
        });
        assert!(w.append(BASE + 2, lsn(BASE + 2), &changes(2)).is_err());
        assert!(w.is_failed());
        let e = w.append(BASE + 2, lsn(BASE + 2), &changes(2)).unwrap_err();
        assert_eq!(e.status, Status::IoError);
        assert!(e.context.contains("failed earlier"), "{e}");
        drop(w);
        // TestVfs drops a failed sync's writes: the frame is gone either way. The
        // reopened writer cannot know that: its last frame is secured first.
        let mut w = ArchivalWriter::open(&vfs, &lpath()).unwrap();
        let e = w.append(BASE + 2, lsn(BASE + 2), &changes(2)).unwrap_err();
        assert_eq!(e.status, Status::InvalidOperation, "{e}");
        w.secure_last_frame(&vfs).unwrap();
        assert!(!w.is_failed());
        assert_eq!(w.append(BASE + 2, lsn(BASE + 2), &changes(2)).unwrap(), 2);
        drop(w);
        assert_log_is(&vfs, &[1, 2]);
    }
}

#[test]
fn refused_appends_leave_the_writer_usable() {
    let vfs = TestVfs::new();
    let mut w = ArchivalWriter::create(&vfs, &lpath(), header()).unwrap();
    let e = w.append(BASE, lsn(BASE), &changes(1)).unwrap_err();
    assert_eq!(e.status, Status::InvalidOperation);
    assert!(e.context.contains("behind its log"), "{e}");
    w.append(BASE + 2, lsn(BASE + 2), &changes(2)).unwrap();
    let e = w.append(BASE + 1, lsn(BASE + 1), &changes(1)).unwrap_err();
    assert_eq!(e.status, Status::InvalidOperation);
    let huge = vec![Change::Insert {
        serial: 1,
        record: vec![0; MAX_PAYLOAD],
    }];
    let e = w.append(BASE + 3, lsn(BASE + 3), &huge).unwrap_err();
    assert_eq!(e.status, Status::InvalidRecordLength);
    assert!(!w.is_failed());
    // The same FCR sequence again: a transaction tried again after a crash.
    assert_eq!(w.append(BASE + 2, lsn(BASE + 2), &changes(3)).unwrap(), 2);
    // A gap is the roll-forward's to report, not the writer's to refuse.
    assert_eq!(w.append(BASE + 9, lsn(BASE + 9), &[]).unwrap(), 3);
    drop(w);
    let (s, entries) = read_log(&vfs, &lpath()).unwrap();
    let seqs: Vec<(u64, u64)> = entries.iter().map(|e| (e.log_seq, e.fcr_seq)).collect();
    assert_eq!(seqs, [(1, BASE + 2), (2, BASE + 2), (3, BASE + 9)]);
    assert_eq!(s.covered_fcr_seq(), BASE + 9);
}

#[test]
fn a_power_failure_during_the_append_sync_keeps_all_or_nothing_of_the_frame() {
    let (mut kept, mut lost) = (0, 0);
    for seed in 0..64 {
        let vfs = TestVfs::new();
        build(&vfs, 2);
        let mut w = reopen(&vfs);
        vfs.crash_next_sync();
        assert!(w.append(BASE + 3, lsn(BASE + 3), &changes(3)).is_err());
        drop(w);
        vfs.crash_sync_in(None);
        vfs.power_loss(&mut Rng::new(seed));
        let s = scan_log(&vfs, &lpath()).unwrap();
        match s.entries {
            2 => lost += 1,
            3 => kept += 1,
            n => panic!("seed {seed}: {n} frames"),
        }
    }
    assert!(kept > 0 && lost > 0, "kept {kept}, lost {lost}");
}

#[test]
fn a_frame_left_only_in_the_cache_is_made_durable_by_securing_it() {
    // The sync of frame 2 fails at a power failure that has not happened yet: reads
    // see the frame. Securing it (a synced copy of the log renamed over it) makes it
    // durable before frame 3 vouches for it. (That the copy is made even where a sync
    // would find nothing dirty — Linux after a failed fsync — is the simulator's
    // SimVfs's to model.)
    for seed in 0..16 {
        let vfs = TestVfs::new();
        build(&vfs, 1);
        let mut w = reopen(&vfs);
        vfs.crash_next_sync();
        assert!(w.append(BASE + 2, lsn(BASE + 2), &changes(2)).is_err());
        drop(w);
        vfs.crash_sync_in(None);
        let mut w = ArchivalWriter::open(&vfs, &lpath()).unwrap();
        assert_eq!(w.next_seq(), 3);
        w.secure_last_frame(&vfs).unwrap();
        assert!(!vfs.exists(&PathBuf::from("/logs/INVOICE.log~")).unwrap());
        w.append(BASE + 3, lsn(BASE + 3), &changes(3)).unwrap();
        drop(w);
        vfs.power_loss(&mut Rng::new(seed));
        assert_log_is(&vfs, &[1, 2, 3]);
    }
}

#[test]
fn dump_renders_every_entry_and_the_summary() {
    let vfs = TestVfs::new();
    let mut w = ArchivalWriter::create(&vfs, &lpath(), header()).unwrap();
    w.append(
        BASE + 1,
        lsn(BASE + 1),
        &[
            Change::Insert {
                serial: 7,
                record: vec![0xAB, 1],
            },
            Change::Update {
                serial: 7,
                old: vec![0xAB, 1],
                new: vec![0xAB, 2],
            },
        ],
    )
    .unwrap();
    w.append(
        BASE + 2,
        lsn(BASE + 2),
        &[Change::Delete {
            serial: 7,
            old: vec![0xAB, 2],
        }],
    )
    .unwrap();
    w.append(BASE + 3, lsn(BASE + 3), &[]).unwrap();
    drop(w);
    let mut out = Vec::new();
    let s = dump(&vfs, &lpath(), &mut out).unwrap();
    assert_eq!(s.entries, 3);
    let f2 = 512 + frame_len(4 + 2 * 13 + 2 + 2 + 4 + 2) as u64;
    let f3 = f2 + frame_len(4 + 13 + 2) as u64;
    let end = f3 + frame_len(4) as u64;
    assert_eq!(
        String::from_utf8(out).unwrap(),
        format!(
            "# archival log /logs/INVOICE.log\n\
             frame 1 at offset 512: FCR sequence 41, applied LSN 124, 2 changes\n\
             \x20 insert serial 7: 2 bytes ab01\n\
             \x20 update serial 7: old 2 bytes ab01, new 2 bytes ab02\n\
             frame 2 at offset {f2}: FCR sequence 42, applied LSN 127, 1 change\n\
             \x20 delete serial 7: 2 bytes ab02\n\
             frame 3 at offset {f3}: FCR sequence 43, applied LSN 130, 0 changes\n\
             # data file INVOICE.btr, log id 0x000000000000a5c1, begun after FCR sequence 40\n\
             # 3 frames, FCR sequences 41 to 43; the log ends cleanly at offset {end} (end of data)\n"
        )
    );
    // A damaged log is dumped up to the damage, and the error returned.
    let mut b = vfs.contents(lpath()).unwrap();
    b[f2 as usize + 40] ^= 1;
    let mut out = Vec::new();
    assert!(dump(&with_bytes(b), &lpath(), &mut out).is_err());
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("frame 1 at") && !text.contains("frame 2 at"),
        "{text}"
    );
}

#[test]
fn the_forward_search_is_bounded_on_crafted_damage() {
    // After a damaged first frame, a candidate header every 32 bytes that passes the
    // cheap filters and claims a long payload: without the budget each is hashed.
    let vfs = TestVfs::new();
    build(&vfs, 0);
    let mut b = vfs.contents(lpath()).unwrap();
    let n = 256 * 1024;
    b.resize(512 + n, 0);
    b[512..520].fill(0xFF);
    let mut y = 512 + FRAME_HEADER_LEN;
    while y + FRAME_HEADER_LEN <= b.len() {
        b[y] = 0x12;
        b[y + 4] = 1;
        b[y + 8..y + 16].copy_from_slice(&2u64.to_le_bytes());
        b[y + 16..y + 24].copy_from_slice(&(BASE + 1).to_le_bytes());
        let claim = ((b.len() - y - FRAME_HEADER_LEN) as u32 & !7).min(4096);
        b[y + 24..y + 28].copy_from_slice(&claim.to_le_bytes());
        y += FRAME_HEADER_LEN;
    }
    let e = scan_log(&with_bytes(b), &lpath()).unwrap_err();
    assert!(e.context.contains("could not be checked"), "{e}");
}

proptest! {
    #[test]
    fn the_reader_never_panics_on_arbitrary_files(
        bytes in proptest::collection::vec(any::<u8>(), 0..3000),
        with_header in any::<bool>(),
    ) {
        let mut file = Vec::new();
        if with_header {
            file.extend_from_slice(&header().encode());
        }
        file.extend_from_slice(&bytes);
        let vfs = with_bytes(file.clone());
        let _ = probe_log(&vfs, &lpath());
        match read_log(&vfs, &lpath()) {
            Ok((s, entries)) => {
                prop_assert!(s.valid_len <= s.file_len && s.file_len == file.len() as u64);
                prop_assert_eq!(entries.len() as u64, s.entries);
            }
            Err(e) => prop_assert_eq!(e.status, Status::IoError),
        }
    }

    #[test]
    fn the_reader_never_panics_on_damaged_logs(
        n in 0u64..6,
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
        cut in any::<usize>(),
    ) {
        let vfs = TestVfs::new();
        build(&vfs, n);
        let mut b = vfs.contents(lpath()).unwrap();
        for (at, x) in flips {
            let i = at % b.len();
            b[i] ^= x;
        }
        b.truncate(cut % (b.len() + 1));
        match read_log(&with_bytes(b), &lpath()) {
            Ok((s, entries)) => {
                prop_assert!(s.entries <= n);
                // Whatever it accepted is what was written (checksums vouch for it).
                for (i, e) in entries.iter().enumerate() {
                    prop_assert_eq!(e, &entry(i as u64 + 1, i as u64 + 1));
                }
            }
            Err(e) => prop_assert_eq!(e.status, Status::IoError),
        }
    }
}

/// One step of the crash property.
#[derive(Clone, Debug)]
enum Step {
    Append,
    /// The next write (or sync) fails; a failed sync drops what it had to sync.
    FailWrite,
    FailSync,
    /// The power fails during the next sync: what it had to sync stays unsynced.
    CrashDuringSync,
    /// The process restarts: a fresh writer, nothing lost.
    Restart,
    /// Power fails: each unsynced sector piece survives or not.
    PowerLoss {
        seed: u64,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => Just(Step::Append),
        1 => Just(Step::FailWrite),
        1 => Just(Step::FailSync),
        2 => Just(Step::CrashDuringSync),
        1 => Just(Step::Restart),
        3 => any::<u64>().prop_map(|seed| Step::PowerLoss { seed }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// After any sequence of appends, write and sync failures, restarts and power
    /// losses, the log always reads, holds every acknowledged transaction (and at most
    /// the one attempt after them), and the reopened writer continues its sequence.
    #[test]
    fn crashes_lose_only_unacknowledged_frames(steps in proptest::collection::vec(step(), 1..40)) {
        let vfs = TestVfs::new();
        let mut w = ArchivalWriter::create(&vfs, &lpath(), header()).unwrap();
        // Versions logged, in order; those after `acked` were attempted, not acknowledged.
        let mut history: Vec<u64> = Vec::new();
        let mut acked = 0usize;
        let mut version = 0u64;
        let mut steps = steps;
        steps.push(Step::PowerLoss { seed: 0 });
        for s in steps {
            match s {
                Step::Append => {
                    version += 1;
                    let was_failed = w.is_failed();
                    match w.append(BASE + version, lsn(BASE + version), &changes(version)) {
                        Ok(seq) => {
                            prop_assert!(!was_failed);
                            history.truncate(acked);
                            history.push(version);
                            acked = history.len();
                            prop_assert_eq!(seq, acked as u64);
                        }
                        Err(_) => {
                            prop_assert!(w.is_failed());
                            if !was_failed {
                                history.truncate(acked);
                                history.push(version);
                            }
                        }
                    }
                }
                Step::FailWrite => vfs.set_faults(Faults { fail_write_in: Some(0), ..Faults::default() }),
                Step::FailSync => vfs.set_faults(Faults { fail_sync_in: Some(0), ..Faults::default() }),
                Step::CrashDuringSync => vfs.crash_next_sync(),
                Step::Restart | Step::PowerLoss { .. } => {
                    drop(w);
                    vfs.crash_sync_in(None);
                    vfs.set_faults(Faults::default());
                    if let Step::PowerLoss { seed } = s {
                        vfs.power_loss(&mut Rng::new(seed));
                    }
                    let (scan, entries) = read_log(&vfs, &lpath())
                        .map_err(|e| TestCaseError::fail(format!("after {s:?}: {e}")))?;
                    let k = entries.len();
                    prop_assert!(k >= acked, "lost an acknowledged frame: {} < {}", k, acked);
                    prop_assert!(k <= history.len(), "found {} frames, {} attempted", k, history.len());
                    for (i, e) in entries.iter().enumerate() {
                        prop_assert_eq!(e, &entry(i as u64 + 1, history[i]));
                    }
                    history.truncate(k);
                    acked = k;
                    w = ArchivalWriter::open(&vfs, &lpath())
                        .map_err(|e| TestCaseError::fail(format!("reopen after {s:?}: {e}")))?;
                    // What was read is acknowledged from here on: make it durable.
                    w.secure_last_frame(&vfs)
                        .map_err(|e| TestCaseError::fail(format!("secure after {s:?}: {e}")))?;
                    prop_assert_eq!(w.next_seq(), scan.next_seq);
                }
            }
        }
    }
}
