//! The frame envelope: what every frame of every append file has in common, and how a
//! run of frames stops.
//!
//! A frame is a fixed-length frame header (its length is the format's), the payload, and
//! zero padding to a [`FRAME_ALIGN`]-byte boundary. Its first four bytes are a CRC-32C,
//! seeded by the format (0 for none), over every byte of the frame after them, *padding
//! included*: then every byte a frame occupies is vouched for, and the next frame's offset
//! (which depends on the padded length) derives only from verified bytes. A format
//! reserves a kind byte with 0 invalid, so zero-filled space never parses as a frame.
//!
//! [`decode_envelope`] checks a frame as far as a crash can damage it — present, not
//! zeros, a plausible length, complete, checksum — and classifies the failure ([`Stop`]).
//! The format checks its own fields after, because what a bad field means (a torn end or
//! damage) depends on whether the frame was the one expected. Nothing here panics or
//! allocates on the strength of a length read from disk.

use crate::page::bytes::{get_u32, put_u32};
use std::fmt;

/// Frames start at multiples of this (relative to the file start: the header is a
/// multiple of it too).
pub const FRAME_ALIGN: usize = 8;

/// A format's frame layout, as far as the envelope, the scan and the proof search need it.
pub trait Layout {
    /// Bytes of a frame header, the CRC included.
    const HEADER_LEN: usize;
    /// What a payload length over [`Layout::max_payload`] is called in a [`Stop::Malformed`].
    const TOO_LONG: &'static str;
    /// The largest payload a frame may carry.
    fn max_payload(&self) -> usize;
    /// The payload length recorded in frame header `h` (unchecked).
    fn payload_len(&self, h: &[u8]) -> u32;
    /// The CRC-32C seed of this file's frames.
    fn seed(&self) -> u32;
    /// For the proof search: if the cheap fields of frame header `h` (no checksum yet)
    /// are ones a writer produces, the frame's sequence number and its watermark — the
    /// sequence number below which every frame had been synced when it was written.
    fn watermark(&self, h: &[u8]) -> Option<(u64, u64)>;
}

/// Bytes a frame occupies with a `header_len`-byte header and a `payload_len`-byte
/// payload, padding included.
pub const fn frame_len(header_len: usize, payload_len: usize) -> usize {
    (header_len + payload_len).next_multiple_of(FRAME_ALIGN)
}

/// Stamp the checksum of `frame` (a whole frame, padding included, fields written)
/// under `seed`.
pub fn seal_frame(seed: u32, frame: &mut [u8]) {
    debug_assert!(frame.len().is_multiple_of(FRAME_ALIGN) && frame.len() >= 4);
    let crc = crc32c::crc32c_append(seed, &frame[4..]);
    put_u32(frame, 0, crc);
}

/// Whether `frame` (a whole frame) carries the checksum of its bytes under `seed`.
pub fn checksum_ok(seed: u32, frame: &[u8]) -> bool {
    frame.len() >= 4 && get_u32(frame, 0) == crc32c::crc32c_append(seed, &frame[4..])
}

/// Why a run of valid frames stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    /// No bytes left.
    EndOfData,
    /// A zero-filled frame header: space never written (or a write a crash lost).
    Zeros,
    /// A frame whose header or body extends past the end of the data.
    Incomplete,
    /// A complete frame whose checksum does not match.
    BadChecksum,
    /// A frame header no writer produces (a payload over the maximum, a kind or
    /// reserved bytes the format does not write, ...).
    Malformed(&'static str),
    /// A well-formed frame (checksum good) with another sequence number than the next
    /// one: stale content of a reused or pre-extended region, or another history.
    Stale { seq: u64 },
}

/// How a run of valid frames ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// At the end of the data, at never-written space, or at stale content.
    Clean,
    /// At a frame a crash left incomplete or damaged: normal after a crash, since what
    /// follows was never synced.
    Torn,
}

impl Stop {
    /// Whether this stop is a clean end or a torn one.
    pub fn end(&self) -> End {
        match self {
            Stop::EndOfData | Stop::Zeros | Stop::Stale { .. } => End::Clean,
            Stop::Incomplete | Stop::BadChecksum | Stop::Malformed(_) => End::Torn,
        }
    }
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stop::EndOfData => write!(f, "end of data"),
            Stop::Zeros => write!(f, "zero bytes"),
            Stop::Incomplete => write!(f, "an incomplete frame"),
            Stop::BadChecksum => write!(f, "a frame that fails its checksum"),
            Stop::Malformed(why) => write!(f, "a malformed frame ({why})"),
            Stop::Stale { seq } => write!(f, "a stale frame with sequence number {seq}"),
        }
    }
}

/// The whole frame's length if `payload_len` is at most the layout's maximum and the
/// frame fits in `avail` bytes.
pub fn checked_len<L: Layout>(layout: &L, payload_len: u32, avail: usize) -> Option<usize> {
    if u64::from(payload_len) > layout.max_payload() as u64 {
        return None;
    }
    let len = frame_len(L::HEADER_LEN, payload_len as usize);
    (len <= avail).then_some(len)
}

/// Check the frame at the start of `bytes` as far as its length and checksum; returns
/// the frame's length (padding included). The format's own fields are not checked.
pub fn decode_envelope<L: Layout>(layout: &L, bytes: &[u8]) -> Result<usize, Stop> {
    if bytes.is_empty() {
        return Err(Stop::EndOfData);
    }
    let Some(h) = bytes.get(..L::HEADER_LEN) else {
        return Err(if bytes.iter().all(|&b| b == 0) {
            Stop::Zeros
        } else {
            Stop::Incomplete
        });
    };
    if h.iter().all(|&b| b == 0) {
        return Err(Stop::Zeros);
    }
    let payload_len = layout.payload_len(h);
    if u64::from(payload_len) > layout.max_payload() as u64 {
        return Err(Stop::Malformed(L::TOO_LONG));
    }
    let len = frame_len(L::HEADER_LEN, payload_len as usize);
    if len > bytes.len() {
        return Err(Stop::Incomplete);
    }
    if !checksum_ok(layout.seed(), &bytes[..len]) {
        return Err(Stop::BadChecksum);
    }
    Ok(len)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::page::bytes::get_u64;

    /// A minimal layout for the envelope's own tests: 16-byte header
    /// `[crc][kind u8][0 0 0][seq u64]`, payload length in the kind's place is not
    /// needed — payloads are always 8 bytes.
    pub(crate) struct Toy {
        pub seed: u32,
    }

    impl Layout for Toy {
        const HEADER_LEN: usize = 16;
        const TOO_LONG: &'static str = "too long";
        fn max_payload(&self) -> usize {
            64
        }
        fn payload_len(&self, h: &[u8]) -> u32 {
            u32::from(h[5])
        }
        fn seed(&self) -> u32 {
            self.seed
        }
        fn watermark(&self, h: &[u8]) -> Option<(u64, u64)> {
            let seq = get_u64(h, 8);
            (h[4] != 0).then_some((seq, seq.saturating_sub(u64::from(h[6]))))
        }
    }

    /// A toy frame: kind 1, `payload` bytes, sequence `seq`, watermark gap `gap`.
    pub(crate) fn toy_frame(seed: u32, seq: u64, gap: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; frame_len(16, payload.len())];
        f[4] = 1;
        f[5] = payload.len() as u8;
        f[6] = gap;
        f[8..16].copy_from_slice(&seq.to_le_bytes());
        f[16..16 + payload.len()].copy_from_slice(payload);
        seal_frame(seed, &mut f);
        f
    }

    #[test]
    fn envelope_classifies_every_failure() {
        let toy = Toy { seed: 77 };
        let good = toy_frame(77, 1, 0, b"payload!");
        assert_eq!(decode_envelope(&toy, &good), Ok(24));
        assert_eq!(decode_envelope(&toy, &[]), Err(Stop::EndOfData));
        assert_eq!(decode_envelope(&toy, &[0; 10]), Err(Stop::Zeros));
        assert_eq!(decode_envelope(&toy, &[0; 40]), Err(Stop::Zeros));
        assert_eq!(decode_envelope(&toy, &good[..10]), Err(Stop::Incomplete));
        assert_eq!(decode_envelope(&toy, &good[..20]), Err(Stop::Incomplete));
        let mut long = good.clone();
        long[5] = 65;
        assert_eq!(
            decode_envelope(&toy, &long),
            Err(Stop::Malformed("too long"))
        );
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 1;
            assert!(decode_envelope(&toy, &bad).is_err(), "flip at {i}");
        }
        // Another seed (another file's frames) never checks out.
        assert_eq!(
            decode_envelope(&Toy { seed: 78 }, &good),
            Err(Stop::BadChecksum)
        );
        assert_eq!(Stop::Stale { seq: 3 }.end(), End::Clean);
        assert_eq!(Stop::BadChecksum.end(), End::Torn);
    }
}
