//! Reading the whole log: every segment in order, validated against its neighbours,
//! scanned to the end of its valid part (rules in the [module doc](super)).
//!
//! [`read_log`] is what both recovery and [`super::LogWriter::open`] start from: it
//! returns every valid record, where the log ends and why, and what the writer must
//! clean up (the valid length of the last segment, an interrupted segment creation).
//! Each segment is read whole (at most its header's segment size, itself bounded by
//! [`MAX_SEGMENT_SIZE`](super::MAX_SEGMENT_SIZE)), one at a time.

use super::frame::{scan_segment_body_as, End, Frame, RecordKind, Stop};
use super::segment::{
    header_error, parse_segment_name, HeaderError, SegmentHeader, SEGMENT, SEGMENT_HEADER_LEN,
};
use crate::appendfile::file::zero_from;
use crate::status::{Error, Result, Status};
use crate::vfs::{read_exact_at, OpenMode, Vfs};
use std::path::{Path, PathBuf};

/// One record of the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogRecord {
    pub lsn: u64,
    pub kind: RecordKind,
    pub payload: Vec<u8>,
}

/// One segment with a valid header, as scanned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentInfo {
    pub number: u32,
    pub path: PathBuf,
    /// LSN of the segment's first record (from its header).
    pub first_lsn: u64,
    /// LSN after the segment's last valid record (= `first_lsn` if it has none).
    pub next_lsn: u64,
    /// The segment size recorded in its header.
    pub segment_size: u64,
    /// File offset where the valid part ends (≥ the header length).
    pub valid_len: u64,
    /// The file's length when scanned (bytes past `valid_len` are a torn or stale tail).
    pub file_len: u64,
    /// Why the valid part ended.
    pub stop: Stop,
}

/// The result of scanning a log directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogScan {
    /// Every valid record, LSNs consecutive from the first segment's first LSN (empty
    /// from [`visit_log`]).
    pub records: Vec<LogRecord>,
    /// The segments with a valid header, in order; the last is where the writer
    /// continues.
    pub segments: Vec<SegmentInfo>,
    /// The LSN the next record gets: 1 for an empty log.
    pub next_lsn: u64,
    /// How the log ends: `Torn` if the last segment's valid part ended torn or the
    /// creation of a further segment was interrupted.
    pub end: End,
    /// The engine id in the segments' headers (`None` if there are none).
    pub engine_id: Option<u64>,
    /// A segment file after the last valid one whose creation a crash interrupted
    /// (header torn or zero, nothing but zeros after it); the writer removes it.
    pub incomplete: Option<PathBuf>,
}

impl LogScan {
    fn empty() -> LogScan {
        LogScan {
            records: Vec::new(),
            segments: Vec::new(),
            next_lsn: 1,
            end: End::Clean,
            engine_id: None,
            incomplete: None,
        }
    }
}

fn corrupt(msg: String) -> Error {
    Error::new(Status::IoError, msg)
}

/// A segment file's header (its body, up to the header's segment size once the
/// header is known, is in the buffer [`load`] was given; empty without a header).
struct Loaded {
    header: Result<SegmentHeader, HeaderError>,
    file_len: u64,
    /// With a damaged header: is every byte after the header zero? (A segment is
    /// preallocated with zeros before it holds a record.)
    zero_after_header: bool,
}

/// Read the segment at `path`: its header, and its body into `body`. The buffer is
/// reused from segment to segment (and then by the writer): it is made exactly the
/// body's length and read over whole ([`VfsFile::read_exact_into`]), or the read fails
/// (and the scan with it) — nothing of an earlier segment can remain in it. Without a
/// valid header it is left empty.
fn load(vfs: &dyn Vfs, path: &Path, number: u32, body: &mut Vec<u8>) -> Result<Loaded> {
    let io = |e: std::io::Error| SEGMENT.io_error(&e, "reading", path);
    let file = vfs.open(path, OpenMode::ReadOnly).map_err(io)?;
    let file_len = file.len().map_err(io)?;
    let head_len = file_len.min(SEGMENT_HEADER_LEN as u64) as usize;
    let mut head = [0u8; SEGMENT_HEADER_LEN];
    let head = &mut head[..head_len];
    read_exact_at(file.as_ref(), head, 0).map_err(io)?;
    let header = SegmentHeader::decode(head, number);
    match &header {
        Ok(h) => {
            // Bytes past the segment size were never written by a writer: ignore them.
            let end = file_len.min(h.segment_size);
            let body_len = end.saturating_sub(SEGMENT_HEADER_LEN as u64);
            // Bounded by the validated segment size (≤ MAX_SEGMENT_SIZE).
            let body_len = usize::try_from(body_len).map_err(|e| io(std::io::Error::other(e)))?;
            file.read_exact_into(body, body_len, SEGMENT_HEADER_LEN as u64)
                .map_err(io)?;
        }
        Err(_) => body.clear(),
    }
    let zero_after_header = header.is_err()
        && zero_from(file.as_ref(), SEGMENT_HEADER_LEN as u64, file_len).map_err(io)?;
    Ok(Loaded {
        header,
        file_len,
        zero_after_header,
    })
}

/// Scan the transaction log in `dir`: every `NNNNNNNN.LOG` file (other names are
/// ignored), in number order. See the [module doc](super) for what is an end and what
/// is an error; every error is status 2 (or the status of an I/O failure) and says
/// which segment, where, and what to do.
pub fn read_log(vfs: &dyn Vfs, dir: &Path) -> Result<LogScan> {
    read_log_as(vfs, dir, ReadBugs::default())
}

/// How a known-bad engine reads the log wrong (every switch off on a correct one).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadBugs {
    /// `eio-reads-as-end-of-log`: a segment that cannot be read ends the log.
    pub eio_is_end: bool,
    /// `log-damage-as-torn-tail`: a damaged record ends the log, without looking for a
    /// later record (in its segment, or a later segment) that proves it was synced.
    pub damage_is_end: bool,
}

/// [`read_log`] as a known-bad engine would read it.
pub fn read_log_as(vfs: &dyn Vfs, dir: &Path, bugs: ReadBugs) -> Result<LogScan> {
    let mut records = Vec::new();
    let mut scan = visit_log_as(vfs, dir, bugs, &mut |f| {
        records.push(LogRecord {
            lsn: f.lsn,
            kind: f.kind,
            payload: f.payload.to_vec(),
        });
        Ok(())
    })?;
    scan.records = records;
    Ok(scan)
}

/// [`read_log`] without collecting the records: each valid record is handed to
/// `visit` in LSN order (an error from `visit` ends the scan with that error), and the
/// returned scan's `records` is empty. Memory stays at one segment's bytes.
///
/// The visitor sees a segment's records before later segments are checked, and a
/// later segment can still make the whole log an error (damage that a successor
/// proves is not a torn tail). Act on the records only once this returns `Ok`.
pub fn visit_log(
    vfs: &dyn Vfs,
    dir: &Path,
    visit: &mut dyn FnMut(&Frame<'_>) -> Result<()>,
) -> Result<LogScan> {
    visit_log_as(vfs, dir, ReadBugs::default(), visit)
}

pub(super) fn visit_log_as(
    vfs: &dyn Vfs,
    dir: &Path,
    bugs: ReadBugs,
    visit: &mut dyn FnMut(&Frame<'_>) -> Result<()>,
) -> Result<LogScan> {
    visit_log_into(vfs, dir, bugs, visit, &mut Vec::new())
}

/// [`visit_log_as`] reading each segment's body into `body` (whatever it held is
/// overwritten; afterwards it holds a segment's bytes, for the caller to reuse as a
/// buffer — the transaction log's writer copies the last segment with it).
pub(super) fn visit_log_into(
    vfs: &dyn Vfs,
    dir: &Path,
    bugs: ReadBugs,
    visit: &mut dyn FnMut(&Frame<'_>) -> Result<()>,
    body: &mut Vec<u8>,
) -> Result<LogScan> {
    let names = vfs.list_dir(dir).map_err(|e| {
        Error::io(
            &e,
            format!("listing transaction log directory {}", dir.display()),
        )
    })?;
    let mut files: Vec<(u32, String)> = names
        .into_iter()
        .filter_map(|n| parse_segment_name(&n).map(|k| (k, n)))
        .collect();
    files.sort();
    if let Some(w) = files.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(corrupt(format!(
            "transaction log directory {} holds both {} and {} for segment {}; keep the \
             right one and remove the other",
            dir.display(),
            w[0].1,
            w[1].1,
            w[0].0
        )));
    }

    let mut scan = LogScan::empty();
    for (i, (number, name)) in files.iter().enumerate() {
        let number = *number;
        let path = dir.join(name);
        let is_last = i + 1 == files.len();
        let seg = match load(vfs, &path, number, body) {
            // Wrong (known-bad engine): a segment that cannot be read ends the log.
            Err(e) if bugs.eio_is_end && e.status == Status::IoError => break,
            loaded => loaded?,
        };
        let prev = scan.segments.last();
        if let Some(p) = prev {
            if number != p.number + 1 {
                return Err(corrupt(format!(
                    "transaction log segment {} follows segment {}: segments {}..{} are \
                     missing; the log cannot be trusted past LSN {}; restore them or run \
                     recovery manually",
                    path.display(),
                    p.number,
                    p.number + 1,
                    number - 1,
                    p.next_lsn - 1
                )));
            }
            // The writer syncs a segment completely before it creates the next one, so
            // any successor proves this segment was whole: it must end clean.
            if p.stop.end() != End::Clean && bugs.damage_is_end {
                // Wrong (known-bad engine): the damage ends the log.
                break;
            }
            if p.stop.end() != End::Clean {
                return Err(corrupt(format!(
                    "log record at segment {} offset {} is damaged ({}) but later records \
                     exist (segment {} follows); the log cannot be trusted past LSN {}; \
                     restore or run recovery manually",
                    p.number,
                    p.valid_len,
                    p.stop,
                    number,
                    p.next_lsn - 1
                )));
            }
        }
        let h = match seg.header {
            Ok(h) => h,
            Err(problem) => {
                // Only the last file, and only if nothing but zeros follows its header
                // (its preallocation, or nothing at all: records are written only after
                // the header and the zeros are synced), can be a creation a crash
                // interrupted.
                let interrupted = is_last && problem.is_torn() && seg.zero_after_header;
                if !interrupted {
                    return Err(header_error(&problem, &path));
                }
                if prev.is_none() && number != 1 {
                    return Err(corrupt(format!(
                        "transaction log segment {} has a damaged header and no segment \
                         precedes it, so where the log starts is unknown ({problem}); \
                         restore the log directory or run recovery manually",
                        path.display()
                    )));
                }
                scan.incomplete = Some(path);
                break;
            }
        };
        match scan.engine_id {
            Some(id) if id != h.engine_id => {
                return Err(corrupt(format!(
                    "transaction log segment {} belongs to engine {:#x}, the log to engine \
                     {id:#x}; a segment of another log was put into this directory — \
                     remove it or restore the directory",
                    path.display(),
                    h.engine_id
                )))
            }
            _ => scan.engine_id = Some(h.engine_id),
        }
        if let Some(p) = prev {
            if h.first_lsn != p.next_lsn {
                let what = if h.first_lsn > p.next_lsn {
                    format!("records {}..{} are missing", p.next_lsn, h.first_lsn - 1)
                } else {
                    "the segments overlap".to_string()
                };
                return Err(corrupt(format!(
                    "transaction log segment {} ends at LSN {} (offset {}) but segment {} \
                     starts at LSN {}: {what}; the log cannot be trusted past LSN {}; \
                     restore or run recovery manually",
                    p.number,
                    p.next_lsn,
                    p.valid_len,
                    number,
                    h.first_lsn,
                    p.next_lsn.min(h.first_lsn) - 1
                )));
            }
        }
        let scanned = scan_segment_body_as(
            body,
            SEGMENT_HEADER_LEN as u64,
            h.first_lsn,
            number,
            !bugs.damage_is_end,
        )
        .map_err(|e| e.during(format!("transaction log {}", path.display())))?;
        for f in &scanned.frames {
            visit(f)?;
        }
        scan.segments.push(SegmentInfo {
            number,
            path,
            first_lsn: h.first_lsn,
            next_lsn: scanned.next_lsn,
            segment_size: h.segment_size,
            valid_len: (SEGMENT_HEADER_LEN + scanned.valid_len) as u64,
            file_len: seg.file_len,
            stop: scanned.stop,
        });
    }
    if let Some(last) = scan.segments.last() {
        scan.next_lsn = last.next_lsn;
        scan.end = last.stop.end();
    }
    if scan.incomplete.is_some() {
        scan.end = End::Torn;
    }
    Ok(scan)
}

#[cfg(test)]
mod tests {
    use super::super::frame::encode_frame;
    use super::super::segment::segment_name;
    use super::*;
    use crate::vfs::testing::TestVfs;
    use proptest::prelude::*;

    const ENGINE: u64 = 0x5EED;
    const SIZE: u64 = 4096;

    fn dir() -> PathBuf {
        PathBuf::from("/log")
    }

    fn seg_path(n: u32) -> PathBuf {
        dir().join(segment_name(n))
    }

    fn kind(k: u8) -> RecordKind {
        RecordKind::new(k).unwrap()
    }

    /// A segment file holding records `first..first + n`, each appended after the
    /// previous was synced (so each vouches for the ones before it).
    fn segment(number: u32, first: u64, n: u64) -> Vec<u8> {
        let mut b = SegmentHeader {
            number,
            engine_id: ENGINE,
            first_lsn: first,
            segment_size: SIZE,
        }
        .encode()
        .to_vec();
        for lsn in first..first + n {
            let payload = format!("record {lsn}");
            encode_frame(
                lsn,
                lsn,
                kind(1 + (lsn % 5) as u8),
                payload.as_bytes(),
                &mut b,
            )
            .unwrap();
        }
        b
    }

    fn lsns(scan: &LogScan) -> Vec<u64> {
        scan.records.iter().map(|r| r.lsn).collect()
    }

    #[test]
    fn empty_directory_is_an_empty_log() {
        let vfs = TestVfs::new();
        let scan = read_log(&vfs, &dir()).unwrap();
        assert_eq!(scan, LogScan::empty());
        vfs.put(dir().join("notes.txt"), b"hello".to_vec());
        vfs.put(dir().join("00000001.LOG.bak"), vec![1; 600]);
        vfs.put(PathBuf::from("/elsewhere/00000001.LOG"), vec![1; 600]);
        assert_eq!(read_log(&vfs, &dir()).unwrap(), LogScan::empty());
    }

    #[test]
    fn segments_are_read_in_order_and_chained() {
        let vfs = TestVfs::new();
        vfs.put(seg_path(3), segment(3, 10, 4));
        vfs.put(seg_path(4), segment(4, 14, 3));
        vfs.put(dir().join("00000005.log"), segment(5, 17, 0)); // lower case: still ours
        let scan = read_log(&vfs, &dir()).unwrap();
        assert_eq!(lsns(&scan), (10..17).collect::<Vec<_>>());
        assert_eq!(scan.records[0].payload, b"record 10");
        assert_eq!(scan.records[0].kind, kind(1));
        assert_eq!(scan.next_lsn, 17);
        assert_eq!(scan.end, End::Clean);
        assert_eq!(scan.engine_id, Some(ENGINE));
        let nums: Vec<u32> = scan.segments.iter().map(|s| s.number).collect();
        assert_eq!(nums, [3, 4, 5]);
        let last = scan.segments.last().unwrap();
        assert_eq!(last.path, dir().join("00000005.log"));
        assert_eq!(
            (last.first_lsn, last.next_lsn, last.valid_len),
            (17, 17, 512)
        );
        assert_eq!(scan.segments[0].valid_len, scan.segments[0].file_len);
    }

    #[test]
    fn damaged_record_before_a_later_segment_is_an_error() {
        let vfs = TestVfs::new();
        let mut s1 = segment(1, 1, 5);
        let at = s1.len() - 10; // inside the last record of segment 1
        s1[at] ^= 0x20;
        vfs.put(seg_path(1), s1);
        vfs.put(seg_path(2), segment(2, 6, 2));
        let e = read_log(&vfs, &dir()).unwrap_err();
        assert_eq!(e.status, Status::IoError);
        assert!(e.context.contains("at segment 1 offset"), "{e}");
        assert!(e.context.contains("cannot be trusted past LSN 4"), "{e}");
        // Without segment 2 it is a torn tail.
        vfs.remove(&seg_path(2)).unwrap();
        let scan = read_log(&vfs, &dir()).unwrap();
        assert_eq!((scan.next_lsn, scan.end), (5, End::Torn));
    }

    #[test]
    fn gaps_and_overlaps_between_segments_are_errors() {
        let vfs = TestVfs::new();
        vfs.put(seg_path(1), segment(1, 1, 3));
        vfs.put(seg_path(3), segment(3, 4, 1));
        let e = read_log(&vfs, &dir()).unwrap_err();
        assert!(e.context.contains("segments 2..2 are missing"), "{e}");

        let vfs = TestVfs::new();
        vfs.put(seg_path(1), segment(1, 1, 3));
        vfs.put(seg_path(2), segment(2, 6, 1));
        let e = read_log(&vfs, &dir()).unwrap_err();
        assert!(e.context.contains("records 4..5 are missing"), "{e}");
        assert!(e.context.contains("cannot be trusted past LSN 3"), "{e}");

        let vfs = TestVfs::new();
        vfs.put(seg_path(1), segment(1, 1, 3));
        vfs.put(seg_path(2), segment(2, 3, 1));
        let e = read_log(&vfs, &dir()).unwrap_err();
        assert!(e.context.contains("overlap"), "{e}");

        // A segment shortened after it was complete (its successor exists).
        let vfs = TestVfs::new();
        let s1 = segment(1, 1, 3);
        vfs.put(seg_path(1), s1[..s1.len() - 32].to_vec());
        vfs.put(seg_path(2), segment(2, 4, 1));
        assert_eq!(read_log(&vfs, &dir()).unwrap_err().status, Status::IoError);
    }

    #[test]
    fn interrupted_creation_of_the_last_segment_ends_the_log() {
        // A torn header followed by nothing, or by the zeros of the preallocation.
        let mut torn_then_zeros = segment(2, 4, 0)[..512].to_vec();
        torn_then_zeros[7] ^= 0x40;
        torn_then_zeros.resize(8192, 0);
        for tail in [
            vec![],
            vec![0u8; 100],
            vec![0u8; 512],
            segment(2, 4, 0)[..300].to_vec(),
            vec![0u8; 8192],
            torn_then_zeros,
        ] {
            let vfs = TestVfs::new();
            vfs.put(seg_path(1), segment(1, 1, 3));
            vfs.put(seg_path(2), tail.clone());
            let scan = read_log(&vfs, &dir()).unwrap();
            assert_eq!(lsns(&scan), [1, 2, 3], "tail of {} bytes", tail.len());
            assert_eq!(scan.next_lsn, 4);
            assert_eq!(scan.end, End::Torn);
            assert_eq!(scan.incomplete, Some(seg_path(2)));
            assert_eq!(scan.segments.len(), 1);
        }
        // The very first segment, interrupted: an empty log.
        let vfs = TestVfs::new();
        vfs.put(seg_path(1), vec![0u8; 512]);
        let scan = read_log(&vfs, &dir()).unwrap();
        assert_eq!((scan.next_lsn, scan.records.len()), (1, 0));
        assert_eq!(scan.incomplete, Some(seg_path(1)));
    }

    /// A damaged header with anything but zeros after it held records once (they are
    /// written only after the header is synced): an error, never an empty segment.
    #[test]
    fn a_damaged_header_over_records_is_an_error() {
        let vfs = TestVfs::new();
        vfs.put(seg_path(1), segment(1, 1, 3));
        let mut seg2 = segment(2, 4, 2);
        seg2[7] ^= 0x40; // the header's checksum fails: reads as torn
        seg2.resize(8192, 0);
        vfs.put(seg_path(2), seg2);
        let e = read_log(&vfs, &dir()).unwrap_err();
        assert_eq!(e.status, Status::IoError, "{e}");
    }

    #[test]
    fn bad_headers_elsewhere_are_errors() {
        // In the middle.
        let vfs = TestVfs::new();
        vfs.put(seg_path(1), segment(1, 1, 3));
        vfs.put(seg_path(2), vec![0u8; 512]);
        vfs.put(seg_path(3), segment(3, 4, 1));
        let e = read_log(&vfs, &dir()).unwrap_err();
        assert_eq!(e.status, Status::IoError);
        assert!(
            e.context.contains("00000002.LOG") && e.context.contains("checksum"),
            "{e}"
        );
        // Last, but with records after it: the header was durable once.
        let vfs = TestVfs::new();
        vfs.put(seg_path(1), segment(1, 1, 3));
        let mut s2 = segment(2, 4, 2);
        s2[7] ^= 1;
        vfs.put(seg_path(2), s2);
        assert!(read_log(&vfs, &dir()).is_err());
        // Last and short, but checksummed and foreign: not an interrupted creation.
        let vfs = TestVfs::new();
        vfs.put(seg_path(1), segment(1, 1, 3));
        vfs.put(seg_path(2), segment(7, 4, 0));
        let e = read_log(&vfs, &dir()).unwrap_err();
        assert!(e.context.contains("says segment 7"), "{e}");
        // Alone, numbered past 1: the start of the log is unknown.
        let vfs = TestVfs::new();
        vfs.put(seg_path(4), vec![0u8; 512]);
        let e = read_log(&vfs, &dir()).unwrap_err();
        assert!(e.context.contains("where the log starts is unknown"), "{e}");
        // Last segment ended torn, yet a further (interrupted) segment exists.
        let vfs = TestVfs::new();
        let s1 = segment(1, 1, 3);
        vfs.put(seg_path(1), s1[..s1.len() - 5].to_vec());
        vfs.put(seg_path(2), vec![]);
        assert!(read_log(&vfs, &dir()).is_err());
    }

    #[test]
    fn segments_of_another_engine_or_twice_named_are_errors() {
        let vfs = TestVfs::new();
        vfs.put(seg_path(1), segment(1, 1, 3));
        let mut other = SegmentHeader {
            number: 2,
            engine_id: ENGINE + 1,
            first_lsn: 4,
            segment_size: SIZE,
        }
        .encode()
        .to_vec();
        encode_frame(4, 4, kind(1), b"x", &mut other).unwrap();
        vfs.put(seg_path(2), other);
        let e = read_log(&vfs, &dir()).unwrap_err();
        assert!(e.context.contains("another log"), "{e}");

        let vfs = TestVfs::new();
        vfs.put(seg_path(1), segment(1, 1, 3));
        vfs.put(dir().join("00000001.log"), segment(1, 1, 3));
        let e = read_log(&vfs, &dir()).unwrap_err();
        assert!(e.context.contains("both"), "{e}");
    }

    #[test]
    fn visit_log_streams_the_same_records() {
        let vfs = TestVfs::new();
        vfs.put(seg_path(1), segment(1, 1, 4));
        vfs.put(seg_path(2), segment(2, 5, 3));
        let mut seen = Vec::new();
        let scan = visit_log(&vfs, &dir(), &mut |f| {
            seen.push((f.lsn, f.payload.to_vec()));
            Ok(())
        })
        .unwrap();
        assert!(scan.records.is_empty());
        let full = read_log(&vfs, &dir()).unwrap();
        let want: Vec<(u64, Vec<u8>)> = full
            .records
            .iter()
            .map(|r| (r.lsn, r.payload.clone()))
            .collect();
        assert_eq!(seen, want);
        assert_eq!(
            LogScan {
                records: full.records.clone(),
                ..scan
            },
            full
        );
        // The visitor's error ends the scan.
        let e = visit_log(&vfs, &dir(), &mut |f| {
            if f.lsn == 6 {
                Err(Error::new(Status::TransactionError, "stop here"))
            } else {
                Ok(())
            }
        })
        .unwrap_err();
        assert_eq!(e.status, Status::TransactionError);
    }

    #[test]
    fn first_segment_may_start_past_lsn_1() {
        let vfs = TestVfs::new();
        vfs.put(seg_path(9), segment(9, 500, 2));
        let scan = read_log(&vfs, &dir()).unwrap();
        assert_eq!(lsns(&scan), [500, 501]);
        assert_eq!(scan.next_lsn, 502);
    }

    #[test]
    fn bytes_past_the_segment_size_are_ignored() {
        let vfs = TestVfs::new();
        let mut s = segment(1, 1, 2);
        s.resize(SIZE as usize, 0);
        let (mut more, mut extra) = (s.clone(), Vec::new());
        encode_frame(3, 3, kind(1), b"beyond", &mut extra).unwrap();
        more.extend_from_slice(&extra);
        vfs.put(seg_path(1), more);
        let scan = read_log(&vfs, &dir()).unwrap();
        assert_eq!(lsns(&scan), [1, 2]);
        assert_eq!(scan.segments[0].stop, Stop::Zeros);
    }

    #[test]
    fn io_errors_keep_their_status() {
        let vfs = TestVfs::new();
        // A directory listing that names a file the filesystem cannot open is the
        // filesystem's problem, reported with its status, not as a damaged log.
        vfs.set_listing(Some(vec![segment_name(1)]));
        let e = read_log(&vfs, &dir()).unwrap_err();
        assert_eq!(e.status, Status::FileNotFound);
        assert!(e.context.contains("00000001.LOG"), "{e}");
    }

    proptest! {
        #[test]
        fn arbitrary_segment_files_never_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..3000),
            with_header in any::<bool>(),
            with_predecessor in any::<bool>(),
        ) {
            let vfs = TestVfs::new();
            let number = if with_predecessor { 2 } else { 1 };
            if with_predecessor {
                vfs.put(seg_path(1), segment(1, 1, 2));
            }
            let file = if with_header {
                let mut f = segment(number, if with_predecessor { 3 } else { 1 }, 1);
                f.extend_from_slice(&bytes);
                f
            } else {
                bytes
            };
            vfs.put(seg_path(number), file);
            if let Ok(scan) = read_log(&vfs, &dir()) {
                let first = scan.segments.first().map_or(1, |s| s.first_lsn);
                let expect: Vec<u64> = (first..scan.next_lsn).collect();
                prop_assert_eq!(lsns(&scan), expect);
            }
        }
    }
}
