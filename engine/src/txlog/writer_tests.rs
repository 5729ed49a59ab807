//! The log writer's tests: appending, rolling, reopening after torn tails, recycling,
//! checked against a fresh `read_log` of what is on disk. Failures, crashes and the
//! random-workload properties are in `writer_fault_tests.rs`, a child of this module
//! that shares its helpers.

use super::super::frame::{End, Stop};
use super::super::reader::{read_log, LogRecord};
use super::super::segment::MIN_SEGMENT_SIZE;
use super::*;
use crate::vfs::testing::{Faults, Rng, TestVfs};
use proptest::prelude::*;

const ENGINE: u64 = 0xE1;
const SEG: u64 = 2048;

fn dir() -> PathBuf {
    PathBuf::from("/db/log")
}

fn kind(k: u8) -> RecordKind {
    RecordKind::new(k).unwrap()
}

fn open(vfs: &Arc<dyn Vfs>, seg: u64) -> LogWriter {
    let scan = read_log(vfs.as_ref(), &dir()).unwrap();
    LogWriter::open(vfs.clone(), &dir(), ENGINE, seg, &scan).unwrap()
}

fn payload(lsn: u64, len: usize) -> Vec<u8> {
    (0..len).map(|i| (lsn as usize * 31 + i) as u8).collect()
}

fn rec(lsn: u64, len: usize) -> LogRecord {
    LogRecord {
        lsn,
        kind: kind(1 + (lsn % 200) as u8),
        payload: payload(lsn, len),
    }
}

fn append_all(w: &mut LogWriter, recs: &[LogRecord]) {
    for r in recs {
        assert_eq!(w.append(r.kind, &r.payload).unwrap(), r.lsn);
    }
}

fn file_of(vfs: &TestVfs, n: u32) -> Vec<u8> {
    vfs.contents(dir().join(segment_name(n))).unwrap()
}

#[test]
fn fresh_directory_gets_segment_1() {
    let mem = TestVfs::new();
    let vfs: Arc<dyn Vfs> = Arc::new(mem.clone());
    let mut w = open(&vfs, SEG);
    assert_eq!((w.next_lsn(), w.durable_lsn()), (1, 1));
    let h = SegmentHeader::decode(&file_of(&mem, 1), 1).unwrap();
    assert_eq!((h.engine_id, h.first_lsn, h.segment_size), (ENGINE, 1, SEG));
    let recs: Vec<LogRecord> = (1..=3).map(|l| rec(l, 10 * l as usize)).collect();
    append_all(&mut w, &recs);
    assert_eq!(w.durable_lsn(), 1, "append only buffers");
    let seg = file_of(&mem, 1);
    assert_eq!(seg.len() as u64, SEG, "preallocated to the segment size");
    assert!(seg[512..].iter().all(|&b| b == 0), "append writes nothing");
    w.write_out().unwrap();
    assert_eq!(w.durable_lsn(), 1, "write_out does not sync");
    assert_eq!(w.sync().unwrap(), 4);
    let scan = read_log(&mem, &dir()).unwrap();
    assert_eq!(scan.records, recs);
    assert_eq!((scan.next_lsn, scan.end), (4, End::Clean));
}

#[test]
fn records_roll_over_segments_and_never_straddle() {
    let mem = TestVfs::new();
    let vfs: Arc<dyn Vfs> = Arc::new(mem.clone());
    let mut w = open(&vfs, MIN_SEGMENT_SIZE);
    let max = w.max_payload();
    assert_eq!(frame_len(max), (MIN_SEGMENT_SIZE as usize) - 512);
    let recs: Vec<LogRecord> = (1..=40)
        .map(|l| rec(l, [0, 1, 100, 200, max][l as usize % 5]))
        .collect();
    append_all(&mut w, &recs);
    w.sync().unwrap();
    let scan = read_log(&mem, &dir()).unwrap();
    assert_eq!(scan.records, recs);
    assert!(scan.segments.len() > 5);
    for s in &scan.segments {
        assert!(
            s.file_len <= MIN_SEGMENT_SIZE,
            "segment {} overfull",
            s.number
        );
        assert_eq!(s.file_len, MIN_SEGMENT_SIZE, "preallocated");
        assert!(
            matches!(s.stop, Stop::Zeros | Stop::EndOfData),
            "{:?}",
            s.stop
        );
    }
    assert_eq!(w.segment_numbers().len(), scan.segments.len());
    // Too big for a segment: refused, writer unharmed.
    let e = w.append(kind(1), &vec![0; max + 1]).unwrap_err();
    assert_eq!(e.status, Status::InvalidRecordLength);
    assert!(!w.is_failed());
    assert_eq!(w.append(kind(1), b"fine").unwrap(), 41);
}

#[test]
fn reopening_continues_with_consecutive_lsns() {
    let mem = TestVfs::new();
    let vfs: Arc<dyn Vfs> = Arc::new(mem.clone());
    let mut all = Vec::new();
    for round in 0..4u64 {
        let mut w = open(&vfs, SEG);
        let first = w.next_lsn();
        let recs: Vec<LogRecord> = (first..first + 7)
            .map(|l| rec(l, 50 + 40 * round as usize))
            .collect();
        append_all(&mut w, &recs);
        w.sync().unwrap();
        all.extend(recs);
    }
    assert_eq!(read_log(&mem, &dir()).unwrap().records, all);
}

#[test]
fn a_larger_configured_size_applies_to_new_segments_only() {
    let mem = TestVfs::new();
    let vfs: Arc<dyn Vfs> = Arc::new(mem.clone());
    let mut w = open(&vfs, MIN_SEGMENT_SIZE);
    append_all(&mut w, &[rec(1, 100)]);
    w.sync().unwrap();
    drop(w);
    let mut w = open(&vfs, 4096);
    let big = rec(2, 2000); // fits 4096, not 1024
    append_all(&mut w, std::slice::from_ref(&big));
    w.sync().unwrap();
    let scan = read_log(&mem, &dir()).unwrap();
    assert_eq!(scan.records, [rec(1, 100), big]);
    let sizes: Vec<u64> = scan.segments.iter().map(|s| s.segment_size).collect();
    assert_eq!(sizes, [MIN_SEGMENT_SIZE, 4096]);
}

#[test]
fn torn_last_record_at_every_offset_ends_the_log_and_reopen_continues() {
    let mem = TestVfs::new();
    let vfs: Arc<dyn Vfs> = Arc::new(mem.clone());
    let mut w = open(&vfs, SEG);
    let recs: Vec<LogRecord> = (1..=12).map(|l| rec(l, 150 + l as usize)).collect();
    for r in &recs {
        append_all(&mut w, std::slice::from_ref(r));
        w.sync().unwrap();
    }
    drop(w);
    let scan = read_log(&mem, &dir()).unwrap();
    let last = scan.segments.last().unwrap().clone();
    assert!(last.number > 1, "the test wants several segments");
    let full = mem.contents(&last.path).unwrap();
    let start = last.valid_len - frame_len(recs[11].payload.len()) as u64;
    for cut in start..last.valid_len {
        let torn_vfs = TestVfs::new();
        for s in &scan.segments {
            torn_vfs.put(s.path.clone(), mem.contents(&s.path).unwrap());
        }
        torn_vfs.put(last.path.clone(), full[..cut as usize].to_vec());
        let torn = read_log(&torn_vfs, &dir()).unwrap();
        assert_eq!(torn.records, recs[..11], "cut at {cut}");
        assert_eq!(torn.next_lsn, 12);
        let want = if cut == start { End::Clean } else { End::Torn };
        assert_eq!(torn.end, want, "cut at {cut}");
        let v: Arc<dyn Vfs> = Arc::new(torn_vfs.clone());
        let mut w = LogWriter::open(v, &dir(), ENGINE, SEG, &torn).unwrap();
        let more = [rec(12, 7), rec(13, 300)];
        append_all(&mut w, &more);
        w.sync().unwrap();
        let after = read_log(&torn_vfs, &dir()).unwrap();
        assert_eq!(after.records[..11], recs[..11]);
        assert_eq!(after.records[11..], more, "cut at {cut}");
        assert_eq!((after.next_lsn, after.end), (14, End::Clean));
    }
}

#[test]
fn an_abandoned_tail_never_comes_back() {
    // Records 1–2 synced; 3–5 written but not synced; a crash loses 3 and keeps 4
    // and 5. The reopened writer's new record 3 has the old one's length, so the
    // old 4 and 5 sit exactly where new records 4 and 5 belong, with those LSNs.
    let mem = TestVfs::new();
    let vfs: Arc<dyn Vfs> = Arc::new(mem.clone());
    let mut w = open(&vfs, SEG);
    append_all(&mut w, &[rec(1, 40), rec(2, 40)]);
    w.sync().unwrap();
    append_all(&mut w, &[rec(3, 40), rec(4, 40), rec(5, 40)]);
    w.write_out().unwrap();
    drop(w);
    let path = dir().join(segment_name(1));
    let mut bytes = mem.contents(&path).unwrap();
    let f = frame_len(40);
    let at3 = 512 + 2 * f;
    bytes[at3..at3 + f].fill(0);
    mem.put(path.clone(), bytes);
    let scan = read_log(&mem, &dir()).unwrap();
    assert_eq!(scan.records, [rec(1, 40), rec(2, 40)]);
    assert_eq!(scan.segments[0].stop, Stop::Zeros);
    let mut w = LogWriter::open(vfs.clone(), &dir(), ENGINE, SEG, &scan).unwrap();
    let new3 = LogRecord {
        lsn: 3,
        kind: kind(9),
        payload: vec![0xAB; 40],
    };
    append_all(&mut w, std::slice::from_ref(&new3));
    w.sync().unwrap();
    let after = read_log(&mem, &dir()).unwrap();
    assert_eq!(after.records, [rec(1, 40), rec(2, 40), new3]);
    assert_eq!(after.next_lsn, 4);
}

#[test]
fn damage_before_a_later_synced_record_is_an_error() {
    let mem = TestVfs::new();
    let vfs: Arc<dyn Vfs> = Arc::new(mem.clone());
    let mut w = open(&vfs, 4096);
    for l in 1..=6 {
        append_all(&mut w, &[rec(l, 64)]);
        w.sync().unwrap();
    }
    drop(w);
    let path = dir().join(segment_name(1));
    let good = mem.contents(&path).unwrap();
    let f = frame_len(64);
    // Middle record (LSN 3): its payload, its header, or zeroed outright.
    for (what, at) in [("payload", 512 + 2 * f + 40), ("header", 512 + 2 * f + 9)] {
        let mut bad = good.clone();
        bad[at] ^= 0x80;
        mem.put(path.clone(), bad);
        let e = read_log(&mem, &dir()).unwrap_err();
        assert_eq!(e.status, Status::IoError, "{what}");
        let off = 512 + 2 * f;
        assert!(
            e.context
                .contains(&format!("segment 1 offset {off} is damaged")),
            "{what}: {e}"
        );
        assert!(e.context.contains("cannot be trusted past LSN 2"), "{e}");
        // The writer refuses to build on it: opening needs a scan.
        assert!(read_log(&mem, &dir()).is_err());
    }
    // Last record: a torn tail, not an error.
    let mut bad = good.clone();
    bad[512 + 5 * f + 30] ^= 0x80;
    mem.put(path.clone(), bad);
    let scan = read_log(&mem, &dir()).unwrap();
    assert_eq!((scan.next_lsn, scan.end), (6, End::Torn));
    assert_eq!(scan.segments[0].stop, Stop::BadChecksum);
}

#[test]
fn damage_in_an_earlier_segment_is_an_error() {
    let mem = TestVfs::new();
    let vfs: Arc<dyn Vfs> = Arc::new(mem.clone());
    let mut w = open(&vfs, MIN_SEGMENT_SIZE);
    append_all(&mut w, &(1..=8).map(|l| rec(l, 200)).collect::<Vec<_>>());
    w.sync().unwrap();
    drop(w);
    let scan = read_log(&mem, &dir()).unwrap();
    assert!(scan.segments.len() >= 3);
    let path = dir().join(segment_name(1));
    let mut bad = mem.contents(&path).unwrap();
    let n = scan.segments[0].valid_len as usize;
    bad[n - 3] ^= 1; // last record of segment 1 (its padding)
    mem.put(path, bad);
    let e = read_log(&mem, &dir()).unwrap_err();
    assert!(e.context.contains("at segment 1 offset"), "{e}");
    assert!(e.context.contains("cannot be trusted past LSN 1"), "{e}");
}

#[test]
fn stale_frames_after_the_end_are_a_clean_end() {
    // A pre-extended or reused segment: zeros, then old frames of lower LSNs.
    let mem = TestVfs::new();
    let vfs: Arc<dyn Vfs> = Arc::new(mem.clone());
    let mut w = open(&vfs, 4096);
    append_all(&mut w, &(1..=30).map(|l| rec(l, 20)).collect::<Vec<_>>());
    w.sync().unwrap();
    append_all(&mut w, &(31..=40).map(|l| rec(l, 20)).collect::<Vec<_>>());
    w.sync().unwrap();
    w.recycle(31).unwrap();
    drop(w);
    let path = dir().join(segment_name(1));
    let mut seg = mem.contents(&path).unwrap();
    let valid = read_log(&mem, &dir()).unwrap().segments[0].valid_len as usize;
    seg.truncate(valid);
    // Stale frames right at the end, then zeros, then more stale frames.
    for (lsn, pad) in [(3u64, 0usize), (4, 0), (17, 256), (18, 0)] {
        seg.resize(seg.len() + pad, 0);
        encode_frame(lsn, lsn, kind(1), b"old old old", &mut seg).unwrap();
    }
    seg.resize(4096, 0);
    mem.put(path.clone(), seg);
    let scan = read_log(&mem, &dir()).unwrap();
    assert_eq!(scan.records.len(), 40);
    assert_eq!(scan.end, End::Clean);
    assert_eq!(scan.segments[0].stop, Stop::Stale { seq: 3 });
    assert_eq!(scan.segments[0].valid_len, valid as u64);
    // Reopening zeroes them (keeping the preallocated length); new records follow
    // the real ones.
    let mut w = LogWriter::open(vfs.clone(), &dir(), ENGINE, 4096, &scan).unwrap();
    let reopened = mem.contents(&path).unwrap();
    assert_eq!(reopened.len(), 4096);
    assert!(reopened[valid..].iter().all(|&b| b == 0));
    append_all(&mut w, &[rec(41, 5)]);
    w.sync().unwrap();
    let scan = read_log(&mem, &dir()).unwrap();
    assert_eq!(scan.records.last(), Some(&rec(41, 5)));
    assert_eq!(scan.end, End::Clean);
}

#[test]
fn recycle_removes_whole_old_segments_only() {
    let mem = TestVfs::new();
    let vfs: Arc<dyn Vfs> = Arc::new(mem.clone());
    let mut w = open(&vfs, MIN_SEGMENT_SIZE);
    let recs: Vec<LogRecord> = (1..=30).map(|l| rec(l, 150)).collect();
    append_all(&mut w, &recs);
    w.sync().unwrap();
    let before = read_log(&mem, &dir()).unwrap();
    let segs: Vec<(u32, u64)> = before
        .segments
        .iter()
        .map(|s| (s.number, s.first_lsn))
        .collect();
    assert!(segs.len() >= 6, "{segs:?}");
    assert_eq!(w.recycle(0).unwrap(), Vec::<u32>::new());
    assert_eq!(
        w.recycle(segs[1].1 - 1).unwrap(),
        Vec::<u32>::new(),
        "segment 1 still holds a record to keep"
    );
    // Keep from a record in the middle of segment 3: 1 and 2 go, 3 stays.
    let keep = segs[2].1 + 1;
    assert_eq!(w.recycle(keep).unwrap(), [segs[0].0, segs[1].0]);
    let scan = read_log(&mem, &dir()).unwrap();
    assert_eq!(scan.segments[0].number, segs[2].0);
    assert_eq!(scan.records[0].lsn, segs[2].1);
    assert_eq!(scan.records, recs[(segs[2].1 - 1) as usize..]);
    // Everything: all but the segment being written.
    let removed = w.recycle(u64::MAX).unwrap();
    assert_eq!(removed.len(), segs.len() - 3);
    assert_eq!(w.segment_numbers(), [segs.last().unwrap().0]);
    let scan = read_log(&mem, &dir()).unwrap();
    assert_eq!(scan.segments.len(), 1);
    assert_eq!(scan.records, recs[(segs.last().unwrap().1 - 1) as usize..]);
    // The writer and a reopened writer both carry on.
    append_all(&mut w, &[rec(31, 10)]);
    w.sync().unwrap();
    drop(w);
    let mut w = open(&vfs, MIN_SEGMENT_SIZE);
    append_all(&mut w, &[rec(32, 10)]);
    w.sync().unwrap();
    let scan = read_log(&mem, &dir()).unwrap();
    assert_eq!(scan.records.last().map(|r| r.lsn), Some(32));
    assert_eq!(scan.next_lsn, 33);
}

#[test]
fn open_removes_an_interrupted_segment_creation() {
    let mem = TestVfs::new();
    let vfs: Arc<dyn Vfs> = Arc::new(mem.clone());
    let mut w = open(&vfs, SEG);
    append_all(&mut w, &[rec(1, 10), rec(2, 10)]);
    w.sync().unwrap();
    drop(w);
    let p2 = dir().join(segment_name(2));
    mem.put(p2.clone(), vec![0; 512]);
    let scan = read_log(&mem, &dir()).unwrap();
    assert_eq!(scan.incomplete, Some(p2.clone()));
    let mut w = LogWriter::open(vfs.clone(), &dir(), ENGINE, SEG, &scan).unwrap();
    assert!(mem.contents(&p2).is_none());
    append_all(&mut w, &[rec(3, 10)]);
    w.sync().unwrap();
    assert_eq!(read_log(&mem, &dir()).unwrap().next_lsn, 4);

    // The interrupted segment is the first one: it is recreated.
    let mem = TestVfs::new();
    let vfs: Arc<dyn Vfs> = Arc::new(mem.clone());
    mem.put(dir().join(segment_name(1)), vec![]);
    let mut w = open(&vfs, SEG);
    append_all(&mut w, &[rec(1, 10)]);
    w.sync().unwrap();
    assert_eq!(read_log(&mem, &dir()).unwrap().records, [rec(1, 10)]);
}

#[test]
fn open_checks_its_arguments() {
    let mem = TestVfs::new();
    let vfs: Arc<dyn Vfs> = Arc::new(mem.clone());
    let mut w = open(&vfs, SEG);
    append_all(&mut w, &[rec(1, 10)]);
    w.sync().unwrap();
    drop(w);
    let scan = read_log(&mem, &dir()).unwrap();
    let e = LogWriter::open(vfs.clone(), &dir(), ENGINE + 1, SEG, &scan).unwrap_err();
    assert!(e.context.contains("belongs to engine"), "{e}");
    let e = LogWriter::open(vfs.clone(), &dir(), ENGINE, 1000, &scan).unwrap_err();
    assert_eq!(e.status, Status::InvalidOperation);
    // A scan older than the file (the file shrank since): refused.
    let path = dir().join(segment_name(1));
    mem.put(path, vec![]);
    assert!(LogWriter::open(vfs.clone(), &dir(), ENGINE, SEG, &scan).is_err());
}

#[path = "writer_fault_tests.rs"]
mod faults;
