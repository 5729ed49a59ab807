//! Segment files: their names and their one-sector header.
//!
//! A segment is named for its number, `00000001.LOG` … `FFFFFFFF.LOG`, so a directory
//! listing sorted by number is the log in order. The header fills exactly the first
//! 512-byte sector: a sector is the unit a crash tears at, so the header is either
//! entirely on disk or not, and a torn header can only mean a segment whose creation
//! never completed. Decoding validates every field; a header that fails is reported as
//! a [`HeaderError`], which says whether it looks torn (never fully written) or is
//! something else (another file, another version, a misnamed copy).

pub use crate::appendfile::HeaderError;
use crate::appendfile::{FileKind, HEADER_LEN};
use crate::page::bytes::{get_u32, get_u64, put_u32, put_u64};
use crate::status::{Error, Result, Status};
use std::path::Path;

/// Bytes of the segment header; frames start at this offset.
pub const SEGMENT_HEADER_LEN: usize = HEADER_LEN;
/// A segment as an append file: magic `KEELTLOG`, format version 1.
pub const SEGMENT: FileKind = FileKind {
    noun: "transaction log segment",
    magic: *b"KEELTLOG",
    version: 1,
};
/// What to do about a segment whose header is damaged.
const HEADER_ADVICE: &str = "restore the log directory from backup or run recovery manually";
/// Smallest segment size: a header and at least one sector of frames.
pub const MIN_SEGMENT_SIZE: u64 = 1024;
/// Largest segment size. A segment is read whole into memory by the scan, so this also
/// bounds what a (checksummed) header can make the reader allocate.
pub const MAX_SEGMENT_SIZE: u64 = 1 << 30;
/// Segment sizes are whole sectors.
pub const SEGMENT_SIZE_UNIT: u64 = 512;

/// Length of a segment file name: 8 hex digits and `.LOG`.
const NAME_LEN: usize = 12;

/// The file name of segment `n` (`n` ≥ 1): 8 uppercase hex digits and `.LOG`.
pub fn segment_name(n: u32) -> String {
    debug_assert!(n != 0, "segment numbers start at 1");
    format!("{n:08X}.LOG")
}

/// The segment number a file name stands for, or `None` if it is not a segment name.
/// Reading is case-insensitive (`0000000a.log` is segment 10) because a
/// case-insensitive filesystem may hand back names in any case; number 0 is invalid.
pub fn parse_segment_name(name: &str) -> Option<u32> {
    let b = name.as_bytes();
    if b.len() != NAME_LEN || !b[8..].eq_ignore_ascii_case(b".LOG") {
        return None;
    }
    // `from_str_radix` alone would accept a leading `+`.
    if !b[..8].iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let digits = std::str::from_utf8(&b[..8]).ok()?;
    match u32::from_str_radix(digits, 16) {
        Ok(0) | Err(_) => None,
        Ok(n) => Some(n),
    }
}

/// Check a configured segment size.
pub fn validate_segment_size(size: u64) -> Result<()> {
    if !(MIN_SEGMENT_SIZE..=MAX_SEGMENT_SIZE).contains(&size)
        || !size.is_multiple_of(SEGMENT_SIZE_UNIT)
    {
        return Err(Error::new(
            Status::InvalidOperation,
            format!(
                "transaction log segment size {size} is invalid: use a multiple of \
                 {SEGMENT_SIZE_UNIT} from {MIN_SEGMENT_SIZE} to {MAX_SEGMENT_SIZE} bytes"
            ),
        ));
    }
    Ok(())
}

/// The header of one segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentHeader {
    /// The segment's number; must match its file name.
    pub number: u32,
    /// The engine (log) the segment belongs to, as supplied by the engine: segments of
    /// different logs must never be mixed in one directory.
    pub engine_id: u64,
    /// LSN of the segment's first record (≥ 1); the previous segment ends just before.
    pub first_lsn: u64,
    /// The segment size the writer used for this segment: no frame extends past it.
    pub segment_size: u64,
}

/// The error for a damaged segment header (status 2), naming the segment at `path`.
pub fn header_error(e: &HeaderError, path: &Path) -> Error {
    e.to_error(&SEGMENT, path, HEADER_ADVICE)
}

impl SegmentHeader {
    /// The 512-byte header sector.
    pub fn encode(&self) -> [u8; SEGMENT_HEADER_LEN] {
        debug_assert!(self.number != 0 && self.first_lsn != 0);
        let mut b = [0u8; SEGMENT_HEADER_LEN];
        put_u32(&mut b, 16, self.number);
        put_u64(&mut b, 24, self.engine_id);
        put_u64(&mut b, 32, self.first_lsn);
        put_u64(&mut b, 40, self.segment_size);
        SEGMENT.seal(&mut b);
        b
    }

    /// Decode and validate the header at the start of `buf` (the first bytes of the
    /// file named as segment `expected_number`). Checks, in order: length, checksum,
    /// magic, version, number, first LSN ≥ 1, segment size valid.
    pub fn decode(buf: &[u8], expected_number: u32) -> Result<SegmentHeader, HeaderError> {
        let b = SEGMENT.open(buf)?;
        let h = SegmentHeader {
            number: get_u32(b, 16),
            engine_id: get_u64(b, 24),
            first_lsn: get_u64(b, 32),
            segment_size: get_u64(b, 40),
        };
        if h.number != expected_number {
            return Err(HeaderError::Invalid(format!(
                "the header says segment {} (the file was renamed or copied)",
                h.number
            )));
        }
        if h.first_lsn == 0 {
            return Err(HeaderError::Invalid("the header's first LSN is 0".into()));
        }
        if let Err(e) = validate_segment_size(h.segment_size) {
            return Err(HeaderError::Invalid(format!("the header's {}", e.context)));
        }
        Ok(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SegmentHeader {
        SegmentHeader {
            number: 7,
            engine_id: 0xDEAD_BEEF_0123_4567,
            first_lsn: 1234,
            segment_size: 64 * 1024,
        }
    }

    #[test]
    fn names_round_trip_and_reject_lookalikes() {
        assert_eq!(segment_name(1), "00000001.LOG");
        assert_eq!(segment_name(0xABC), "00000ABC.LOG");
        assert_eq!(segment_name(u32::MAX), "FFFFFFFF.LOG");
        for n in [1, 9, 10, 0xFF, 0x1234_5678, u32::MAX] {
            assert_eq!(parse_segment_name(&segment_name(n)), Some(n));
        }
        assert_eq!(parse_segment_name("00000abc.log"), Some(0xABC));
        assert_eq!(parse_segment_name("0000000A.Log"), Some(10));
        for bad in [
            "00000000.LOG",  // number 0
            "0000001.LOG",   // 7 digits
            "000000001.LOG", // 9 digits
            "+0000001.LOG",  // from_str_radix would take the sign
            "0000000G.LOG",
            "00000001.LOX",
            "00000001.LOG ",
            "00000001LOG",
            "00000001.LOG.tmp",
            "0000000é.LOG", // multi-byte: must not panic on a char boundary
            "",
            "README",
        ] {
            assert_eq!(parse_segment_name(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn header_round_trips_and_fills_one_sector() {
        let h = sample();
        let b = h.encode();
        assert_eq!(b.len(), 512);
        assert_eq!(SegmentHeader::decode(&b, 7), Ok(h));
        // Longer input (the header followed by frames) decodes the same.
        let mut long = b.to_vec();
        long.extend_from_slice(&[0xAA; 100]);
        assert_eq!(SegmentHeader::decode(&long, 7), Ok(h));
    }

    #[test]
    fn every_flipped_byte_is_caught() {
        let b = sample().encode();
        for i in 0..b.len() {
            let mut q = b;
            q[i] ^= 0x10;
            assert!(
                SegmentHeader::decode(&q, 7).is_err(),
                "flip at {i} undetected"
            );
        }
    }

    /// Re-seal a modified header so only the field check can catch it.
    fn reseal(mut b: [u8; 512]) -> [u8; 512] {
        let crc = crc32c::crc32c(&b[4..]);
        put_u32(&mut b, 0, crc);
        b
    }

    #[test]
    fn each_validation_names_its_problem() {
        let good = sample().encode();
        assert_eq!(
            SegmentHeader::decode(&good[..511], 7),
            Err(HeaderError::Short { len: 511 })
        );
        assert_eq!(
            SegmentHeader::decode(&[0u8; 512], 7),
            Err(HeaderError::BadChecksum)
        );
        let mut b = good;
        b[4] = b'X';
        assert_eq!(
            SegmentHeader::decode(&reseal(b), 7),
            Err(HeaderError::BadMagic { noun: SEGMENT.noun })
        );
        let mut b = good;
        put_u32(&mut b, 12, 2);
        assert_eq!(
            SegmentHeader::decode(&reseal(b), 7),
            Err(HeaderError::BadVersion {
                noun: SEGMENT.noun,
                found: 2,
                reads: 1
            })
        );
        assert!(matches!(
            SegmentHeader::decode(&good, 8),
            Err(HeaderError::Invalid(w)) if w.contains("says segment 7") && w.contains("renamed")
        ));
        let mut b = good;
        put_u64(&mut b, 32, 0);
        assert!(matches!(
            SegmentHeader::decode(&reseal(b), 7),
            Err(HeaderError::Invalid(w)) if w.contains("first LSN")
        ));
        for size in [0, 1000, 1025, MAX_SEGMENT_SIZE + 512, u64::MAX] {
            let mut b = good;
            put_u64(&mut b, 40, size);
            assert!(
                matches!(SegmentHeader::decode(&reseal(b), 7), Err(HeaderError::Invalid(w)) if w.contains("segment size")),
                "size {size}"
            );
        }
        // Only a short or unchecksummed header may be an interrupted creation.
        assert!(HeaderError::Short { len: 0 }.is_torn());
        assert!(HeaderError::BadChecksum.is_torn());
        assert!(!HeaderError::BadMagic { noun: "x" }.is_torn());
        let e = header_error(
            &SegmentHeader::decode(
                &reseal({
                    let mut b = good;
                    b[4] = b'X';
                    b
                }),
                7,
            )
            .unwrap_err(),
            Path::new("log/00000007.LOG"),
        );
        assert_eq!(e.status, Status::IoError);
        assert!(e.context.contains("00000007.LOG") && e.context.contains("magic"));
    }

    #[test]
    fn segment_sizes() {
        for ok in [MIN_SEGMENT_SIZE, 1536, 4096, 16 << 20, MAX_SEGMENT_SIZE] {
            assert!(validate_segment_size(ok).is_ok(), "{ok}");
        }
        for bad in [0, 512, 1000, 1100, MAX_SEGMENT_SIZE + 512] {
            let e = validate_segment_size(bad).unwrap_err();
            assert_eq!(e.status, Status::InvalidOperation, "{bad}");
        }
    }
}
