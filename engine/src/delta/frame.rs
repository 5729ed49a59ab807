//! Delta frames: how one changed page, one freed page or one commit is laid out, and
//! the two-step decode the scan uses (the rules are in the [module doc](super)).
//!
//! A frame is a 32-byte header, the payload, and zero padding to an 8-byte boundary:
//!
//! ```text
//! [crc32c u32][kind u8][0 0 0][seq u64][logical u32][payload_len u32][txn_index u32][0 u32][payload][0-pad]
//! ```
//!
//! - The CRC-32C covers every byte after the CRC field, padding included, and is
//!   *seeded* with the delta header's identity ([`DeltaHeader::frame_seed`]): a frame of
//!   another delta (sequence numbers restart at 1 in each) never checks out here.
//! - `seq` numbers frames consecutively from 1 across the whole delta, so bytes of an
//!   abandoned tail can never pass as the frame expected next.
//! - `txn_index` is how many frames of the same transaction precede this one; for a
//!   commit it is therefore the number of page and freed frames it commits. It makes
//!   every frame a watermark: `seq − txn_index` is the first frame of its transaction,
//!   and the writer synced every frame before that one (the previous commit) before
//!   writing any frame of this transaction.
//! - Kind 0 is never valid, so zero-filled space never parses as a frame.
//!
//! Nothing here panics or allocates on the strength of a length read from disk: a
//! payload length is checked against the page size (the largest payload of a delta)
//! and the bytes present before anything is hashed, and payloads are borrowed. The
//! envelope (checksum, padding, stop classification) is [`crate::appendfile`]'s.

use super::header::DeltaHeader;
use crate::appendfile::{decode_envelope, seal_frame, Layout};
pub use crate::appendfile::{Stop, FRAME_ALIGN};
use crate::page::bytes::{get_u16, get_u32, get_u64, put_u16, put_u32, put_u64};
use crate::page::fcr::FileState;
use crate::page::pat;
use crate::page::spec::MAX_KEYS;

/// Bytes of a frame header.
pub const FRAME_HEADER_LEN: usize = 32;
/// Bytes of a commit payload before its key-root table.
pub const COMMIT_FIXED_LEN: usize = 40;

/// What a frame holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FrameKind {
    /// The new image of a logical page: a payload of exactly the header's page size.
    Page = 1,
    /// A logical page the transaction freed: no payload.
    Freed = 2,
    /// The end of a transaction: the file's new [`FileState`]; its `txn_index` is the
    /// number of page and freed frames it commits.
    Commit = 3,
}

impl FrameKind {
    pub fn from_u8(b: u8) -> Option<FrameKind> {
        match b {
            1 => Some(FrameKind::Page),
            2 => Some(FrameKind::Freed),
            3 => Some(FrameKind::Commit),
            _ => None,
        }
    }
}

/// Bytes a frame with a `payload_len`-byte payload occupies, padding included.
pub const fn frame_len(payload_len: usize) -> usize {
    crate::appendfile::frame_len(FRAME_HEADER_LEN, payload_len)
}

/// The frame layout of one delta (its checksum seed and page size), for the
/// append-file envelope and proof search.
pub(crate) struct DeltaLayout {
    pub seed: u32,
    pub page_size: u32,
}

impl DeltaLayout {
    pub fn of(header: &DeltaHeader) -> DeltaLayout {
        DeltaLayout {
            seed: header.frame_seed(),
            page_size: header.page_size,
        }
    }
}

impl Layout for DeltaLayout {
    const HEADER_LEN: usize = FRAME_HEADER_LEN;
    const TOO_LONG: &'static str = "payload longer than a page";

    fn max_payload(&self) -> usize {
        self.page_size as usize
    }

    fn payload_len(&self, h: &[u8]) -> u32 {
        get_u32(h, 20)
    }

    fn seed(&self) -> u32 {
        self.seed
    }

    /// A frame's watermark is the first frame of its transaction: the writer synced
    /// every frame before it (the previous commit) before writing this transaction.
    fn watermark(&self, h: &[u8]) -> Option<(u64, u64)> {
        let p = peek(h);
        if FrameKind::from_u8(p.kind).is_none() || !p.reserved_zero {
            return None;
        }
        let first = p.seq.checked_sub(u64::from(p.txn_index))?;
        Some((p.seq, first))
    }
}

/// Bytes of the commit payload for a file with `nkeys` keys.
pub const fn commit_payload_len(nkeys: usize) -> usize {
    COMMIT_FIXED_LEN + 4 * nkeys
}

/// An upper bound on the logical page count of any file with this page size: the
/// PAT tree's limit ([`pat::LOGICAL_PAGE_LIMIT`], the same at every page size). It
/// bounds the page numbers a frame may name.
pub fn logical_page_bound(_page_size: u32) -> u32 {
    u32::try_from(pat::LOGICAL_PAGE_LIMIT).unwrap_or(u32::MAX)
}

/// The checks every [`FileState`] a commit carries must pass — the FCR decoder's, so a
/// state the delta accepts is one the data file could hold — for a file of
/// `page_size`-byte pages.
pub fn validate_state(s: &FileState, page_size: u32) -> Result<(), String> {
    if s.logical_pages > logical_page_bound(page_size) {
        return Err(format!(
            "logical page count {} is more than a file of {page_size}-byte pages can address",
            s.logical_pages
        ));
    }
    if s.roots.len() > MAX_KEYS {
        return Err(format!(
            "{} key roots; a file has at most {MAX_KEYS} keys",
            s.roots.len()
        ));
    }
    if s.logical_pages == 0 {
        return Err("logical page count 0 (logical page 0 always exists)".into());
    }
    if s.roots.iter().any(|&r| r >= s.logical_pages) || s.free_data_head >= s.logical_pages {
        return Err(format!(
            "a key root or the free-data head points past the last logical page ({})",
            s.logical_pages - 1
        ));
    }
    Ok(())
}

/// Append one frame to `out`; the caller has checked the payload against the kind.
fn encode_frame(
    seed: u32,
    kind: FrameKind,
    seq: u64,
    logical: u32,
    txn_index: u32,
    payload: &[u8],
    out: &mut Vec<u8>,
) {
    debug_assert!(seq != 0, "frame sequence numbers start at 1");
    let start = out.len();
    let len = frame_len(payload.len());
    out.resize(start + len, 0);
    let f = &mut out[start..];
    f[4] = kind as u8;
    put_u64(f, 8, seq);
    put_u32(f, 16, logical);
    put_u32(f, 20, payload.len() as u32);
    put_u32(f, 24, txn_index);
    f[FRAME_HEADER_LEN..FRAME_HEADER_LEN + payload.len()].copy_from_slice(payload);
    seal_frame(seed, f);
}

/// Append the frame of a changed (`Some(image)`) or freed (`None`) logical page. The
/// image must be exactly the delta's page size and `logical` non-zero (the writer
/// checks both before calling).
pub fn encode_change(
    header: &DeltaHeader,
    seq: u64,
    txn_index: u32,
    logical: u32,
    image: Option<&[u8]>,
    out: &mut Vec<u8>,
) {
    debug_assert!(logical != 0);
    let seed = header.frame_seed();
    match image {
        Some(img) => {
            debug_assert_eq!(img.len(), header.page_size as usize);
            encode_frame(seed, FrameKind::Page, seq, logical, txn_index, img, out);
        }
        None => encode_frame(seed, FrameKind::Freed, seq, logical, txn_index, &[], out),
    }
}

/// Append the commit frame of a transaction of `changes` page and freed frames. The
/// state must pass [`validate_state`].
pub fn encode_commit(
    header: &DeltaHeader,
    seq: u64,
    changes: u32,
    state: &FileState,
    out: &mut Vec<u8>,
) {
    debug_assert!(validate_state(state, header.page_size).is_ok());
    let mut p = vec![0u8; commit_payload_len(state.roots.len())];
    put_u64(&mut p, 0, state.record_count);
    put_u32(&mut p, 8, state.logical_pages);
    put_u32(&mut p, 12, state.free_data_head);
    put_u64(&mut p, 16, state.next_serial);
    put_u64(&mut p, 24, state.applied_lsn);
    put_u16(&mut p, 32, state.roots.len() as u16);
    for (k, &r) in state.roots.iter().enumerate() {
        put_u32(&mut p, COMMIT_FIXED_LEN + 4 * k, r);
    }
    let seed = header.frame_seed();
    encode_frame(seed, FrameKind::Commit, seq, 0, changes, &p, out);
}

/// Decode a commit payload of a delta of `page_size`-byte pages into the state it
/// carries.
pub fn decode_commit_payload(p: &[u8], page_size: u32) -> Result<FileState, String> {
    let Some(fixed) = p.get(..COMMIT_FIXED_LEN) else {
        return Err(format!(
            "commit payload of {} bytes is shorter than {COMMIT_FIXED_LEN}",
            p.len()
        ));
    };
    let nroots = get_u16(fixed, 32) as usize;
    if nroots > MAX_KEYS {
        return Err(format!(
            "commit names {nroots} key roots; a file has at most {MAX_KEYS}"
        ));
    }
    if p.len() != commit_payload_len(nroots) {
        return Err(format!(
            "commit payload is {} bytes, but {nroots} key roots make it {}",
            p.len(),
            commit_payload_len(nroots)
        ));
    }
    if fixed[34..40].iter().any(|&b| b != 0) {
        return Err("commit payload's reserved bytes are not zero".into());
    }
    let state = FileState {
        record_count: get_u64(fixed, 0),
        logical_pages: get_u32(fixed, 8),
        free_data_head: get_u32(fixed, 12),
        next_serial: get_u64(fixed, 16),
        applied_lsn: get_u64(fixed, 24),
        roots: (0..nroots)
            .map(|k| get_u32(p, COMMIT_FIXED_LEN + 4 * k))
            .collect(),
    };
    validate_state(&state, page_size)?;
    Ok(state)
}

/// A frame whose length and checksum are good; its fields are not yet checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawFrame<'a> {
    pub kind: u8,
    pub seq: u64,
    pub logical: u32,
    pub txn_index: u32,
    reserved_zero: bool,
    pub payload: &'a [u8],
}

/// What a checked frame holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameBody<'a> {
    Page(&'a [u8]),
    Freed,
    Commit(FileState),
}

/// A frame whose every field is well formed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    pub seq: u64,
    /// 0 for a commit.
    pub logical: u32,
    pub txn_index: u32,
    pub body: FrameBody<'a>,
}

/// The cheap header fields at the start of `h` (at least a header long), no checksum.
pub(crate) struct Peek {
    pub kind: u8,
    pub reserved_zero: bool,
    pub seq: u64,
    pub payload_len: u32,
    pub txn_index: u32,
}

pub(crate) fn peek(h: &[u8]) -> Peek {
    debug_assert!(h.len() >= FRAME_HEADER_LEN);
    Peek {
        kind: h[4],
        reserved_zero: h[5..8] == [0, 0, 0] && h[28..32] == [0, 0, 0, 0],
        seq: get_u64(h, 8),
        payload_len: get_u32(h, 20),
        txn_index: get_u32(h, 24),
    }
}

/// Decode the frame at the start of `bytes` as far as its length and checksum (the
/// parts a crash can damage). Field checks come after, in [`RawFrame::check`], because
/// the scan treats a bad field in a frame it expected as damage, not as a torn end.
pub fn decode_raw(bytes: &[u8], seed: u32, page_size: u32) -> Result<RawFrame<'_>, Stop> {
    decode_envelope(&DeltaLayout { seed, page_size }, bytes)?;
    let h = &bytes[..FRAME_HEADER_LEN];
    let p = peek(h);
    Ok(RawFrame {
        kind: p.kind,
        seq: p.seq,
        logical: get_u32(h, 16),
        txn_index: p.txn_index,
        reserved_zero: p.reserved_zero,
        payload: &bytes[FRAME_HEADER_LEN..FRAME_HEADER_LEN + p.payload_len as usize],
    })
}

impl<'a> RawFrame<'a> {
    /// Bytes the frame occupies, padding included.
    pub fn encoded_len(&self) -> usize {
        frame_len(self.payload.len())
    }

    /// Check every field against what the writer produces for a delta of `page_size`.
    pub fn check(&self, page_size: u32) -> Result<Frame<'a>, String> {
        let Some(kind) = FrameKind::from_u8(self.kind) else {
            return Err(format!("unknown frame kind {}", self.kind));
        };
        if !self.reserved_zero {
            return Err("reserved frame header bytes are not zero".into());
        }
        if self.seq == 0 {
            return Err("frame sequence number 0".into());
        }
        let body = match kind {
            FrameKind::Page | FrameKind::Freed if self.logical == 0 => {
                return Err(format!("a {kind:?} frame for logical page 0"))
            }
            FrameKind::Page | FrameKind::Freed if self.logical >= logical_page_bound(page_size) => {
                return Err(format!(
                    "a {kind:?} frame for logical page {}, more than a file of {page_size}-byte \
                     pages can address",
                    self.logical
                ))
            }
            FrameKind::Page if self.payload.len() != page_size as usize => {
                return Err(format!(
                    "a page frame of {} bytes in a delta of {page_size}-byte pages",
                    self.payload.len()
                ))
            }
            FrameKind::Page => FrameBody::Page(self.payload),
            FrameKind::Freed if !self.payload.is_empty() => {
                return Err(format!(
                    "a freed-page frame with a {}-byte payload",
                    self.payload.len()
                ))
            }
            FrameKind::Freed => FrameBody::Freed,
            FrameKind::Commit if self.logical != 0 => {
                return Err(format!(
                    "a commit frame naming logical page {}",
                    self.logical
                ))
            }
            FrameKind::Commit => FrameBody::Commit(decode_commit_payload(self.payload, page_size)?),
        };
        Ok(Frame {
            seq: self.seq,
            logical: self.logical,
            txn_index: self.txn_index,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::header::DeltaState;
    use super::*;

    fn header(page_size: u32) -> DeltaHeader {
        DeltaHeader {
            state: DeltaState::Active,
            page_size,
            fcr_seq: 5,
            set_id: 9,
        }
    }

    pub(crate) fn state(nkeys: usize) -> FileState {
        FileState {
            record_count: 1234,
            logical_pages: 40,
            free_data_head: 7,
            next_serial: 99,
            applied_lsn: 3,
            roots: (0..nkeys as u32).map(|k| k + 1).collect(),
        }
    }

    /// A frame edited after sealing, then re-sealed with the seed.
    fn resealed(h: &DeltaHeader, mut f: Vec<u8>, edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        edit(&mut f);
        let crc = crc32c::crc32c_append(h.frame_seed(), &f[4..]);
        put_u32(&mut f, 0, crc);
        f
    }

    #[test]
    fn page_freed_and_commit_round_trip() {
        let h = header(512);
        let img: Vec<u8> = (0..512).map(|i| i as u8).collect();
        let mut out = Vec::new();
        encode_change(&h, 1, 0, 3, Some(&img), &mut out);
        assert_eq!(out.len(), frame_len(512));
        encode_change(&h, 2, 1, 4, None, &mut out);
        assert_eq!(out.len(), frame_len(512) + FRAME_HEADER_LEN);
        for nkeys in [0usize, 1, 2, MAX_KEYS] {
            let mut c = Vec::new();
            encode_commit(&h, 3, 2, &state(nkeys), &mut c);
            assert_eq!(c.len() % FRAME_ALIGN, 0);
            let raw = decode_raw(&c, h.frame_seed(), 512).unwrap();
            assert_eq!(raw.encoded_len(), c.len());
            let f = raw.check(512).unwrap();
            assert_eq!(
                (f.seq, f.logical, f.txn_index, f.body),
                (3, 0, 2, FrameBody::Commit(state(nkeys)))
            );
        }
        let seed = h.frame_seed();
        let f1 = decode_raw(&out, seed, 512).unwrap();
        assert_eq!(
            f1.check(512).unwrap(),
            Frame {
                seq: 1,
                logical: 3,
                txn_index: 0,
                body: FrameBody::Page(&img)
            }
        );
        let f2 = decode_raw(&out[f1.encoded_len()..], seed, 512).unwrap();
        assert_eq!(
            f2.check(512).unwrap(),
            Frame {
                seq: 2,
                logical: 4,
                txn_index: 1,
                body: FrameBody::Freed
            }
        );
    }

    #[test]
    fn decode_classifies_every_crash_damage() {
        let h = header(512);
        let seed = h.frame_seed();
        let mut good = Vec::new();
        encode_commit(&h, 8, 1, &state(3), &mut good); // 52-byte payload: 4 bytes of padding
        assert_eq!(decode_raw(&[], seed, 512), Err(Stop::EndOfData));
        assert_eq!(decode_raw(&[0; 10], seed, 512), Err(Stop::Zeros));
        assert_eq!(decode_raw(&[0; 600], seed, 512), Err(Stop::Zeros));
        for cut in 1..good.len() {
            let d = decode_raw(&good[..cut], seed, 512);
            assert_eq!(d, Err(Stop::Incomplete), "cut {cut}");
        }
        // Any flipped byte, padding included: never the frame.
        for i in 0..good.len() {
            let mut q = good.clone();
            q[i] ^= 0x01;
            assert!(decode_raw(&q, seed, 512).is_err(), "flip at {i}");
        }
        // Another delta's frame (another seed) never checks out.
        assert_eq!(
            decode_raw(&good, header(1024).frame_seed(), 1024),
            Err(Stop::BadChecksum)
        );
        let other = DeltaHeader { set_id: 10, ..h };
        assert_eq!(
            decode_raw(&good, other.frame_seed(), 512),
            Err(Stop::BadChecksum)
        );
        // A length past a page is refused before anything is hashed or sized by it.
        let mut huge = good.clone();
        put_u32(&mut huge, 20, u32::MAX);
        assert!(matches!(
            decode_raw(&huge, seed, 512),
            Err(Stop::Malformed(_))
        ));
        let mut long = good.clone();
        put_u32(&mut long, 20, 400);
        assert_eq!(decode_raw(&long, seed, 512), Err(Stop::Incomplete));
    }

    #[test]
    fn field_checks_refuse_what_no_writer_writes() {
        let h = header(512);
        let seed = h.frame_seed();
        let mut page = Vec::new();
        encode_change(&h, 1, 0, 3, Some(&[7u8; 512]), &mut page);
        let mut freed = Vec::new();
        encode_change(&h, 1, 0, 3, None, &mut freed);
        let mut commit = Vec::new();
        encode_commit(&h, 1, 0, &state(2), &mut commit);
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (
                resealed(&h, page.clone(), |f| f[4] = 0),
                "unknown frame kind 0",
            ),
            (
                resealed(&h, page.clone(), |f| f[4] = 4),
                "unknown frame kind 4",
            ),
            (resealed(&h, page.clone(), |f| f[6] = 1), "reserved"),
            (resealed(&h, page.clone(), |f| f[30] = 1), "reserved"),
            (resealed(&h, page.clone(), |f| put_u64(f, 8, 0)), "number 0"),
            (
                resealed(&h, page.clone(), |f| put_u32(f, 16, 0)),
                "logical page 0",
            ),
            (
                resealed(&h, freed.clone(), |f| put_u32(f, 16, 0)),
                "logical page 0",
            ),
            (
                resealed(&h, page.clone(), |f| {
                    put_u32(f, 20, 8);
                    f.truncate(40)
                }),
                "page frame of 8 bytes",
            ),
            (
                resealed(&h, page.clone(), |f| f[4] = 2),
                "freed-page frame with a 512",
            ),
            (
                resealed(&h, commit.clone(), |f| put_u32(f, 16, 5)),
                "naming logical page 5",
            ),
            (
                resealed(&h, commit.clone(), |f| f[32 + 35] = 1),
                "reserved bytes",
            ),
            (
                resealed(&h, commit.clone(), |f| put_u16(f, 32 + 32, 3)),
                "but 3 key roots make it",
            ),
            (
                resealed(&h, commit.clone(), |f| put_u16(f, 32 + 32, 200)),
                "at most 24",
            ),
            (
                resealed(&h, commit.clone(), |f| put_u32(f, 32 + 8, 0)),
                "logical page count 0",
            ),
            (
                resealed(&h, commit.clone(), |f| put_u32(f, 32 + 12, 40)),
                "past the last logical page (39)",
            ),
            (
                resealed(&h, commit.clone(), |f| put_u32(f, 32 + 40, 41)),
                "past the last logical page",
            ),
            (
                resealed(&h, commit.clone(), |f| {
                    put_u32(f, 20, 8);
                    f.truncate(40)
                }),
                "shorter than 40",
            ),
            (
                resealed(&h, page.clone(), |f| {
                    put_u32(f, 16, logical_page_bound(512))
                }),
                "more than a file of 512-byte pages can address",
            ),
        ];
        for (bytes, want) in cases {
            let raw = decode_raw(&bytes, seed, 512).expect("resealed frames check out");
            let why = raw.check(512).unwrap_err();
            assert!(why.contains(want), "wanted {want:?}, got {why:?}");
        }
    }

    #[test]
    fn validate_state_is_the_fcr_rules() {
        assert_eq!(validate_state(&state(3), 512), Ok(()));
        let mut s = state(MAX_KEYS + 1);
        s.logical_pages = 1000;
        assert!(validate_state(&s, 512)
            .unwrap_err()
            .contains("at most 24 keys"));
        let s = FileState {
            logical_pages: 1,
            free_data_head: 0,
            roots: vec![0, 0],
            ..state(0)
        };
        assert_eq!(validate_state(&s, 512), Ok(()));
        for ps in crate::page::spec::PAGE_SIZES {
            let bound = logical_page_bound(ps);
            let at = FileState {
                logical_pages: bound,
                ..s.clone()
            };
            assert_eq!(validate_state(&at, ps), Ok(()));
            let past = FileState {
                logical_pages: bound + 1,
                ..s.clone()
            };
            assert!(validate_state(&past, ps)
                .unwrap_err()
                .contains("can address"));
        }
    }

    #[test]
    fn logical_page_bound_covers_every_real_file() {
        use crate::page::spec::{FileSpec, PAGE_SIZES};
        for ps in PAGE_SIZES {
            // The smallest definition leaves the most room for PAT pointers.
            let spec = FileSpec::unique_u32_key(4, ps);
            let most = crate::page::fcr::max_logical_pages(&spec);
            assert!(u64::from(logical_page_bound(ps)) >= most, "page size {ps}");
            // …and is not wildly loose: it bounds what the scan keeps in memory.
            assert!(
                u64::from(logical_page_bound(ps)) < most * 2,
                "page size {ps}"
            );
        }
    }
}
