//! Record frames: how one log record is laid out, and the scan of a segment's frames
//! that decides where its valid part ends (the rules are in the [module
//! doc](super)). The envelope — checksum, padding, the stop classification and the
//! search for a later frame that proves damage — is [`crate::appendfile`]'s; this file
//! is what a log record's frame header holds.
//!
//! A frame is a 24-byte header, the payload, and zero padding to an 8-byte boundary:
//!
//! ```text
//! [crc32c u32][payload_len u32][lsn u64][kind u8][0 0 0][sync_gap u32][payload][0-pad]
//! ```
//!
//! The CRC-32C (unseeded) covers every byte of the frame after the CRC field, padding
//! included. Kind 0 is never valid, so a zero-filled region can never parse as a record
//! even if its checksum happened to match. `sync_gap` is the watermark of the module
//! doc: `lsn − sync_gap` is the LSN below which every record was already synced when
//! this one was appended.
//!
//! Nothing here panics or allocates on the strength of a length read from disk: every
//! length is checked against [`MAX_RECORD_PAYLOAD`] and the bytes actually present
//! first, and payloads are borrowed from the input.

use crate::appendfile::{decode_envelope, seal_frame, search_for_proof, Layout, Search};
pub use crate::appendfile::{End, Stop, FRAME_ALIGN};
use crate::page::bytes::{get_u32, get_u64, put_u32, put_u64};
use crate::status::{Error, Result, Status};
use std::num::NonZeroU8;

/// Bytes of a frame header.
pub const FRAME_HEADER_LEN: usize = 24;
/// Largest payload of one record. It bounds what a frame header read from disk can
/// make the scan look at, and what one `append` can buffer.
pub const MAX_RECORD_PAYLOAD: usize = 16 << 20;

/// What a record is, as the layer above defines it. Never 0: zeroed space on disk must
/// not parse as a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordKind(NonZeroU8);

impl RecordKind {
    /// The kind with this code, or `None` for 0.
    pub const fn new(code: u8) -> Option<RecordKind> {
        match NonZeroU8::new(code) {
            Some(k) => Some(RecordKind(k)),
            None => None,
        }
    }

    /// The kind's code (1–255).
    pub const fn get(self) -> u8 {
        self.0.get()
    }
}

/// The log's frame layout, for the append-file envelope and proof search.
struct LogLayout;

impl Layout for LogLayout {
    const HEADER_LEN: usize = FRAME_HEADER_LEN;
    const TOO_LONG: &'static str = "payload length over the maximum";

    fn max_payload(&self) -> usize {
        MAX_RECORD_PAYLOAD
    }

    fn payload_len(&self, h: &[u8]) -> u32 {
        get_u32(h, 4)
    }

    fn seed(&self) -> u32 {
        0
    }

    /// A record's watermark is its durable-below LSN; kind 0, reserved bytes set or
    /// the last LSN are never written.
    fn watermark(&self, h: &[u8]) -> Option<(u64, u64)> {
        let lsn = get_u64(h, 8);
        let ok = h[16] != 0 && h[17..20] == [0, 0, 0] && lsn != u64::MAX;
        ok.then(|| (lsn, lsn.saturating_sub(u64::from(get_u32(h, 20)))))
    }
}

/// Bytes a frame with a `payload_len`-byte payload occupies, padding included.
/// `payload_len` must be at most [`MAX_RECORD_PAYLOAD`].
pub const fn frame_len(payload_len: usize) -> usize {
    crate::appendfile::frame_len(FRAME_HEADER_LEN, payload_len)
}

/// Append the frame of record `lsn` to `out`. `durable_lsn` is the writer's durable LSN
/// now (every record below it has been synced); the frame records the distance to it
/// so a later scan can tell lost-in-a-crash from damaged-after-sync.
pub fn encode_frame(
    lsn: u64,
    durable_lsn: u64,
    kind: RecordKind,
    payload: &[u8],
    out: &mut Vec<u8>,
) -> Result<()> {
    if payload.len() > MAX_RECORD_PAYLOAD {
        return Err(Error::new(
            Status::InvalidRecordLength,
            format!(
                "a {}-byte log record exceeds the {MAX_RECORD_PAYLOAD}-byte limit; split it",
                payload.len()
            ),
        ));
    }
    if lsn == 0 || lsn == u64::MAX {
        return Err(Error::new(
            Status::InvalidOperation,
            format!("LSN {lsn} is outside the log's range 1..{}", u64::MAX),
        ));
    }
    // A durable LSN past this record is a caller bug; claiming less is always safe.
    let gap = lsn.saturating_sub(durable_lsn.min(lsn));
    let gap = u32::try_from(gap).unwrap_or(u32::MAX);
    let start = out.len();
    let len = frame_len(payload.len());
    out.resize(start + len, 0);
    let f = &mut out[start..];
    put_u32(f, 4, payload.len() as u32);
    put_u64(f, 8, lsn);
    f[16] = kind.get();
    put_u32(f, 20, gap);
    f[FRAME_HEADER_LEN..FRAME_HEADER_LEN + payload.len()].copy_from_slice(payload);
    seal_frame(LogLayout.seed(), f);
    Ok(())
}

/// One decoded frame; the payload is borrowed from the scanned bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    pub lsn: u64,
    pub kind: RecordKind,
    /// Distance from `lsn` back to the writer's durable LSN when it was appended.
    pub sync_gap: u32,
    pub payload: &'a [u8],
}

impl Frame<'_> {
    /// Bytes the frame occupies, padding included.
    pub fn encoded_len(&self) -> usize {
        frame_len(self.payload.len())
    }

    /// Every record below this LSN had been synced before this frame was written.
    pub fn durable_below(&self) -> u64 {
        self.lsn.saturating_sub(u64::from(self.sync_gap))
    }
}

/// Decode the frame at the start of `bytes`, checking everything but its LSN (which
/// only the scan knows to expect). A frame with a good checksum but fields no writer
/// produces is a torn end here ([`Stop::Malformed`]), like any other bad frame: the
/// log's scan treats every frame it cannot accept alike and lets the proof search
/// decide whether the stop is damage.
pub fn decode_frame(bytes: &[u8]) -> Result<Frame<'_>, Stop> {
    let len = decode_envelope(&LogLayout, bytes)?;
    debug_assert!(len >= FRAME_HEADER_LEN && len <= bytes.len());
    let payload_len = get_u32(bytes, 4) as usize;
    let Some(kind) = RecordKind::new(bytes[16]) else {
        return Err(Stop::Malformed("kind 0"));
    };
    if bytes[17..20] != [0, 0, 0] {
        return Err(Stop::Malformed("reserved bytes not zero"));
    }
    let lsn = get_u64(bytes, 8);
    if lsn == u64::MAX {
        return Err(Stop::Malformed("LSN at the end of the LSN space"));
    }
    Ok(Frame {
        lsn,
        kind,
        sync_gap: get_u32(bytes, 20),
        payload: &bytes[FRAME_HEADER_LEN..FRAME_HEADER_LEN + payload_len],
    })
}

/// Iterates over the valid frames of a byte slice (a segment's bytes after its
/// header): yields frames while each is complete, checks and carries exactly the next
/// expected LSN. When it returns `None`, [`FrameDecoder::stop`] says why.
pub struct FrameDecoder<'a> {
    bytes: &'a [u8],
    pos: usize,
    next_lsn: u64,
    stop: Option<Stop>,
}

impl<'a> FrameDecoder<'a> {
    /// Decode `bytes`, expecting the first frame to carry `first_lsn`.
    pub fn new(bytes: &'a [u8], first_lsn: u64) -> FrameDecoder<'a> {
        FrameDecoder {
            bytes,
            pos: 0,
            next_lsn: first_lsn,
            stop: None,
        }
    }

    /// Offset just past the last frame yielded: where the valid part ends.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The LSN the next valid frame would carry.
    pub fn next_lsn(&self) -> u64 {
        self.next_lsn
    }

    /// Why decoding ended, once it has.
    pub fn stop(&self) -> Option<&Stop> {
        self.stop.as_ref()
    }
}

impl<'a> Iterator for FrameDecoder<'a> {
    type Item = Frame<'a>;

    fn next(&mut self) -> Option<Frame<'a>> {
        if self.stop.is_some() {
            return None;
        }
        let rest = self.bytes.get(self.pos..).unwrap_or_default();
        match decode_frame(rest) {
            Ok(f) if f.lsn == self.next_lsn => {
                self.pos += f.encoded_len();
                // `decode_frame` refuses u64::MAX, so this cannot overflow.
                self.next_lsn += 1;
                Some(f)
            }
            Ok(f) => {
                self.stop = Some(Stop::Stale { seq: f.lsn });
                None
            }
            Err(stop) => {
                self.stop = Some(stop);
                None
            }
        }
    }
}

/// The valid part of one segment's frames.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentBody<'a> {
    /// The valid frames, LSNs consecutive from the segment's first LSN.
    pub frames: Vec<Frame<'a>>,
    /// Bytes of the scanned slice the valid frames occupy.
    pub valid_len: usize,
    /// LSN the next record continues with.
    pub next_lsn: u64,
    /// Why the valid part ended.
    pub stop: Stop,
}

/// Search `bytes[from..]` for a frame proving that record `expected` (which belonged at
/// `from`) had been synced; returns what it found and how many bytes it hashed. (A
/// slice source has no I/O to fail.)
fn search_body(bytes: &[u8], from: usize, expected: u64) -> Result<(Search, u64)> {
    let mut src = bytes;
    search_for_proof(&LogLayout, &mut src, from as u64, expected)
}

/// Scan the bytes of segment `segment` after its header (`body`, found at file offset
/// `body_offset`), expecting its first record to carry `first_lsn`. Returns the valid
/// part and why it ended; a damaged record followed by a frame proving it had been
/// synced is an error (status 2) naming the segment, the offset and the last LSN that
/// can be trusted.
pub fn scan_segment_body(
    body: &[u8],
    body_offset: u64,
    first_lsn: u64,
    segment: u32,
) -> Result<SegmentBody<'_>> {
    scan_segment_body_as(body, body_offset, first_lsn, segment, true)
}

/// [`scan_segment_body`], with the search for a proof after a damaged record only if
/// `prove` (`false` is the `log-damage-as-torn-tail` known-bad engine).
pub fn scan_segment_body_as(
    body: &[u8],
    body_offset: u64,
    first_lsn: u64,
    segment: u32,
    prove: bool,
) -> Result<SegmentBody<'_>> {
    let mut dec = FrameDecoder::new(body, first_lsn);
    let frames: Vec<Frame<'_>> = dec.by_ref().collect();
    let valid_len = dec.position();
    let next_lsn = dec.next_lsn();
    let stop = dec.stop().cloned().unwrap_or(Stop::EndOfData);
    let at = body_offset + valid_len as u64;
    let trusted = next_lsn.saturating_sub(1);
    if stop != Stop::EndOfData && prove {
        match search_body(body, valid_len, next_lsn)?.0 {
            Search::Nothing => {}
            Search::Proof {
                offset,
                seq: lsn,
                watermark: durable_below,
            } => {
                return Err(Error::new(
                    Status::IoError,
                    format!(
                        "log record at segment {segment} offset {at} is damaged ({stop}) but \
                         later records exist (LSN {lsn} at offset {} was written after every \
                         LSN below {durable_below} was synced); the log cannot be trusted past \
                         LSN {trusted}; restore or run recovery manually",
                        body_offset + offset
                    ),
                ))
            }
            Search::Exhausted { offset } => {
                return Err(Error::new(
                    Status::IoError,
                    format!(
                        "log record at segment {segment} offset {at} is damaged ({stop}) and \
                         the rest of the segment could not be checked for later records (too \
                         many record-like fragments from offset {}); the log cannot be \
                         trusted past LSN {trusted}; restore or run recovery manually",
                        body_offset + offset
                    ),
                ))
            }
        }
    }
    Ok(SegmentBody {
        frames,
        valid_len,
        next_lsn,
        stop,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn kind(k: u8) -> RecordKind {
        RecordKind::new(k).expect("non-zero kind")
    }

    /// Frames `first..first + payloads.len()`, every one appended with `durable` as the
    /// durable LSN.
    fn frames(first: u64, durable: u64, payloads: &[&[u8]]) -> (Vec<u8>, Vec<usize>) {
        let mut out = Vec::new();
        let mut offsets = Vec::new();
        for (i, p) in payloads.iter().enumerate() {
            offsets.push(out.len());
            encode_frame(first + i as u64, durable, kind(3), p, &mut out).unwrap();
        }
        (out, offsets)
    }

    #[test]
    fn kind_zero_does_not_exist() {
        assert_eq!(RecordKind::new(0), None);
        assert_eq!(RecordKind::new(7).map(RecordKind::get), Some(7));
        assert_eq!(RecordKind::new(255).map(RecordKind::get), Some(255));
    }

    #[test]
    fn encode_decode_round_trip_with_padding() {
        for len in [0usize, 1, 7, 8, 9, 100, 4096] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 7 + 1) as u8).collect();
            let mut out = vec![0xEE; 5]; // appends after existing bytes
            encode_frame(42, 40, kind(9), &payload, &mut out).unwrap();
            let f = &out[5..];
            assert_eq!(f.len(), frame_len(len));
            assert_eq!(f.len() % FRAME_ALIGN, 0);
            assert!(f[FRAME_HEADER_LEN + len..].iter().all(|&b| b == 0));
            let d = decode_frame(f).unwrap();
            assert_eq!(
                (d.lsn, d.kind, d.sync_gap, d.payload),
                (42, kind(9), 2, &payload[..])
            );
            assert_eq!(d.durable_below(), 40);
            assert_eq!(d.encoded_len(), f.len());
        }
        assert_eq!(frame_len(0), 24);
        assert_eq!(frame_len(1), 32);
        assert_eq!(frame_len(8), 32);
        assert_eq!(frame_len(9), 40);
    }

    #[test]
    fn sync_gap_saturates_and_never_overclaims() {
        let mut out = Vec::new();
        encode_frame(u64::MAX - 1, 1, kind(1), b"", &mut out).unwrap();
        let f = decode_frame(&out).unwrap();
        assert_eq!(f.sync_gap, u32::MAX);
        // Saturated: claims less than was durable, never more.
        assert_eq!(f.durable_below(), u64::MAX - 1 - u64::from(u32::MAX));
        // A durable LSN past the record (a caller bug) is clamped to the record.
        let mut out = Vec::new();
        encode_frame(5, 9, kind(1), b"", &mut out).unwrap();
        assert_eq!(decode_frame(&out).unwrap().durable_below(), 5);
    }

    #[test]
    fn encode_rejects_what_decode_would() {
        let mut out = Vec::new();
        let big = vec![0u8; MAX_RECORD_PAYLOAD + 1];
        let e = encode_frame(1, 1, kind(1), &big, &mut out).unwrap_err();
        assert_eq!(e.status, Status::InvalidRecordLength);
        assert!(encode_frame(0, 0, kind(1), b"", &mut out).is_err());
        assert!(encode_frame(u64::MAX, 0, kind(1), b"", &mut out).is_err());
        assert!(out.is_empty());
    }

    /// A frame whose header was changed after sealing, then re-sealed.
    fn resealed(mut f: Vec<u8>, edit: impl FnOnce(&mut [u8])) -> Vec<u8> {
        edit(&mut f);
        let crc = crc32c::crc32c(&f[4..]);
        put_u32(&mut f, 0, crc);
        f
    }

    #[test]
    fn decode_classifies_every_failure() {
        let (good, _) = frames(1, 1, &[b"hello, log"]);
        assert_eq!(decode_frame(&[]), Err(Stop::EndOfData));
        assert_eq!(decode_frame(&[0; 10]), Err(Stop::Zeros));
        assert_eq!(decode_frame(&[0; 64]), Err(Stop::Zeros));
        assert_eq!(decode_frame(&good[..10]), Err(Stop::Incomplete));
        // Cut anywhere: never a frame.
        for cut in 1..good.len() {
            let d = decode_frame(&good[..cut]);
            assert!(matches!(d, Err(Stop::Incomplete)), "cut {cut}: {d:?}");
        }
        // Any flipped byte, padding included (the CRC covers it): never the frame.
        for i in 0..good.len() {
            let mut q = good.clone();
            q[i] ^= 0x01;
            let d = decode_frame(&q);
            assert!(d.is_err(), "flip at {i} decoded as {d:?}");
        }
        let zero_kind = resealed(good.clone(), |f| f[16] = 0);
        assert_eq!(decode_frame(&zero_kind), Err(Stop::Malformed("kind 0")));
        let reserved = resealed(good.clone(), |f| f[18] = 1);
        assert_eq!(
            decode_frame(&reserved),
            Err(Stop::Malformed("reserved bytes not zero"))
        );
        let max_lsn = resealed(good.clone(), |f| put_u64(f, 8, u64::MAX));
        assert!(matches!(decode_frame(&max_lsn), Err(Stop::Malformed(_))));
        // A huge length is refused before anything is sized by it.
        let mut huge = good.clone();
        put_u32(&mut huge, 4, u32::MAX);
        assert!(matches!(decode_frame(&huge), Err(Stop::Malformed(_))));
        let mut long = good.clone();
        put_u32(&mut long, 4, 1000);
        assert_eq!(decode_frame(&long), Err(Stop::Incomplete));
    }

    #[test]
    fn decoder_stops_at_the_first_unexpected_lsn() {
        let (mut bytes, offs) = frames(10, 10, &[b"a", b"bb", b"ccc"]);
        let (stale, _) = frames(4, 4, &[b"old"]);
        bytes.extend_from_slice(&stale);
        let mut dec = FrameDecoder::new(&bytes, 10);
        let lsns: Vec<u64> = dec.by_ref().map(|f| f.lsn).collect();
        assert_eq!(lsns, [10, 11, 12]);
        assert_eq!(dec.stop(), Some(&Stop::Stale { seq: 4 }));
        assert_eq!(dec.position(), offs[2] + frame_len(3));
        assert_eq!(dec.next_lsn(), 13);
        // Expecting another first LSN: nothing is valid.
        let mut dec = FrameDecoder::new(&bytes, 11);
        assert_eq!(dec.next(), None);
        assert_eq!(dec.stop(), Some(&Stop::Stale { seq: 10 }));
        assert_eq!(Stop::Stale { seq: 1 }.end(), End::Clean);
        assert_eq!(Stop::BadChecksum.end(), End::Torn);
    }

    #[test]
    fn hole_before_unsynced_frames_is_a_torn_end() {
        // Records 5..9 all appended with durable LSN 5 (none synced): losing 6 while 7
        // and 8 reach the disk is an ordinary crash.
        let (mut b, offs) = frames(5, 5, &[b"r5", b"r6", b"r7", b"r8"]);
        b[offs[1]..offs[2]].fill(0);
        let s = scan_segment_body(&b, 512, 5, 1).unwrap();
        assert_eq!(s.frames.len(), 1);
        assert_eq!(
            (s.next_lsn, s.valid_len, &s.stop),
            (6, offs[1], &Stop::Zeros)
        );
        // Same with a torn (bad-checksum) record 6.
        let (mut b, offs) = frames(5, 5, &[b"r5", b"r6", b"r7", b"r8"]);
        b[offs[1] + 30] ^= 0xFF;
        let s = scan_segment_body(&b, 512, 5, 1).unwrap();
        assert_eq!((s.next_lsn, s.stop.end()), (6, End::Torn));
    }

    #[test]
    fn hole_before_a_frame_that_vouches_for_it_is_an_error() {
        // Record 8 was appended after 5..7 were synced: damage to 6 is not a crash.
        let mut b = Vec::new();
        let mut offs = Vec::new();
        for (lsn, durable) in [(5, 5), (6, 5), (7, 5), (8, 8)] {
            offs.push(b.len());
            encode_frame(lsn, durable, kind(2), b"payload", &mut b).unwrap();
        }
        for damage in 0..4 {
            let mut b = b.clone();
            match damage {
                0 => b[offs[1] + 25] ^= 0x04,     // bad checksum
                1 => b[offs[1]..offs[2]].fill(0), // zeroed sector
                3 => b[offs[1]..offs[3]].fill(0), // zeros the search skips over
                _ => b.truncate(offs[1]),         // cut: nothing after, so nothing proves it
            }
            let r = scan_segment_body(&b, 512, 5, 3);
            if damage == 2 {
                assert_eq!(r.unwrap().stop, Stop::EndOfData);
                continue;
            }
            let e = r.unwrap_err();
            assert_eq!(e.status, Status::IoError);
            let at = 512 + offs[1];
            assert!(
                e.context
                    .contains(&format!("segment 3 offset {at} is damaged")),
                "{e}"
            );
            assert!(e.context.contains("cannot be trusted past LSN 5"), "{e}");
        }
        // Damage to the record the proof itself is: a torn last record, no error.
        let mut t = b.clone();
        t[offs[3] + 26] ^= 0x01;
        let s = scan_segment_body(&t, 512, 5, 3).unwrap();
        assert_eq!((s.next_lsn, s.stop.end()), (8, End::Torn));
    }

    #[test]
    fn stale_frames_never_prove_anything() {
        // A recycled region: old, valid frames of LSNs below the expected one.
        let (mut b, _) = frames(20, 20, &[b"new"]);
        let (old, _) = frames(3, 3, &[b"old one", b"old two", b"old three"]);
        b.extend_from_slice(&old);
        let s = scan_segment_body(&b, 512, 20, 2).unwrap();
        assert_eq!((s.next_lsn, &s.stop), (21, &Stop::Stale { seq: 3 }));
        assert_eq!(s.stop.end(), End::Clean);
    }

    #[test]
    fn forward_search_is_linear_on_crafted_damage() {
        // Every 24 bytes a candidate header that passes every cheap filter and
        // claims the whole rest of the segment: without the budget this is quadratic.
        let n = 256 * 1024;
        let mut b = vec![0u8; n];
        b[..8].fill(0xFF); // damage at offset 0
        let mut y = FRAME_HEADER_LEN;
        while y + FRAME_HEADER_LEN <= n {
            let rest = n - y;
            let plen = (rest - FRAME_HEADER_LEN) as u32 & !7;
            put_u32(&mut b, y, 0x1234_5678);
            put_u32(&mut b, y + 4, plen);
            put_u64(&mut b, y + 8, 2);
            b[y + 16] = 1;
            b[y + 17..y + 20].fill(0);
            put_u32(&mut b, y + 20, 0);
            y += FRAME_HEADER_LEN;
        }
        let (found, hashed) = search_body(&b, 0, 1).unwrap();
        assert!(matches!(found, Search::Exhausted { .. }), "{found:?}");
        assert!(
            hashed <= crate::appendfile::SEARCH_BUDGET_FACTOR * n as u64,
            "hashed {hashed}"
        );
        let e = scan_segment_body(&b, 512, 1, 1).unwrap_err();
        assert!(e.context.contains("could not be checked"), "{e}");
    }

    #[test]
    fn forward_search_hashes_little_on_ordinary_tails() {
        // A torn record followed by many unsynced ones: all filtered without hashing.
        let payloads: Vec<Vec<u8>> = (0..200).map(|i| vec![i as u8; i % 50]).collect();
        let refs: Vec<&[u8]> = payloads.iter().map(|p| &p[..]).collect();
        let (mut b, offs) = frames(1, 1, &refs);
        b[offs[3] + 2] ^= 1;
        let (found, hashed) = search_body(&b, offs[3], 4).unwrap();
        assert_eq!((found, hashed), (Search::Nothing, 0));
    }

    proptest! {
        #[test]
        fn scan_never_panics_on_arbitrary_bytes(
            bytes in proptest::collection::vec(any::<u8>(), 0..2048),
            first in 0u64..4,
        ) {
            if let Ok(s) = scan_segment_body(&bytes, 512, first, 1) {
                prop_assert!(s.valid_len <= bytes.len());
                prop_assert_eq!(s.next_lsn, first + s.frames.len() as u64);
            }
        }

        #[test]
        fn scan_never_panics_on_damaged_frames(
            lens in proptest::collection::vec(0usize..200, 1..12),
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
            cut in any::<usize>(),
        ) {
            let payloads: Vec<Vec<u8>> = lens.iter().map(|&n| vec![0x5A; n]).collect();
            let mut b = Vec::new();
            for (i, p) in payloads.iter().enumerate() {
                encode_frame(1 + i as u64, 1 + i as u64 / 2, kind(1), p, &mut b).unwrap();
            }
            for (at, x) in flips {
                let i = at % b.len();
                b[i] ^= x;
            }
            b.truncate(cut % (b.len() + 1));
            let _ = scan_segment_body(&b, 512, 1, 1);
        }
    }
}
