//! The `.PRE` file's bytes: two header slots and fixed-size pre-image frames. Pure
//! encode and decode, no I/O (the fuzz target drives [`decode_slot`] and
//! [`decode_frame`] directly).
//!
//! ```text
//! offset 0     header slot 0 (one 512-byte append-file header)
//! offset 512   header slot 1
//! offset 1024  frame 0, frame 1, ...   each FRAME_HEADER_LEN + page_size bytes, padded
//! ```
//!
//! **Why two header slots.** The header is rewritten in place twice per system
//! transaction (armed, then void). A torn sector may hold garbage, so a header with one
//! copy could be lost by a power loss mid-rewrite — and with it the knowledge of
//! whether the data file is in the middle of a transaction. Each write goes to the slot
//! of its own sequence number (`hseq % 2`), so it overwrites the older copy; whatever a
//! crash tears, the other slot holds the state before, and the valid slot with the
//! highest `hseq` is the state.
//!
//! **Why frames sit at fixed offsets.** The armed header names the set's generation and
//! its frame count, so every frame of an armed set has a known place: a missing or
//! damaged frame there is damage (the frames were synced before the header armed
//! them), never a "torn tail" to stop at.

use crate::appendfile::{frame_len, seal_frame, FileKind, HeaderError, HEADER_LEN};
use crate::page::bytes::{get_u16, get_u32, get_u64, put_u16, put_u32, put_u64};
use crate::page::spec::PAGE_SIZES;

/// A pre-image file as an append file: magic `KEELPRE1`, format version 1.
pub const PRE: FileKind = FileKind {
    noun: "pre-image file",
    magic: *b"KEELPRE1",
    version: 1,
};

/// Header slots before the first frame.
pub const SLOTS: u64 = 2;
/// Where frame 0 starts.
pub const FRAMES_AT: u64 = SLOTS * HEADER_LEN as u64;
/// Bytes of a frame header: crc, kind, index, physical page, generation.
pub const FRAME_HEADER_LEN: usize = 24;
/// The one frame kind (0 is never valid, so zeros never parse as a frame).
const KIND_IMAGE: u8 = 1;
/// Longest owner name a header holds.
pub const MAX_OWNER: usize = 400;

const OWNER_AT: usize = 58;

/// What the pre-image file says about its data file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PreState {
    /// The pre-images of system transaction `generation` are durable and its pages may
    /// be (partly) overwritten: on open, write the `count` images back and cut the file
    /// to `orig_len` bytes — the file returns to the start of that transaction.
    Armed {
        generation: u64,
        count: u32,
        orig_len: u64,
    },
    /// No transaction is in flight: the data file is whole. The frames left from
    /// `generation` (`count` of them) are void and must never be applied.
    Void {
        generation: u64,
        count: u32,
        orig_len: u64,
    },
}

/// One decoded header slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slot {
    /// Header write counter; the valid slot with the highest wins.
    pub hseq: u64,
    /// The data file's page size: every frame's payload is this long.
    pub page_size: u32,
    /// The data file this pre-image file belongs to (its file name).
    pub owner: String,
    pub state: PreState,
}

impl Slot {
    /// Encode as a sealed header sector.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut s = [0u8; HEADER_LEN];
        put_u64(&mut s, 16, self.hseq);
        put_u32(&mut s, 24, self.page_size);
        let (code, generation, count, orig_len) = match self.state {
            PreState::Armed {
                generation,
                count,
                orig_len,
            } => (1u8, generation, count, orig_len),
            PreState::Void {
                generation,
                count,
                orig_len,
            } => (2u8, generation, count, orig_len),
        };
        s[28] = code;
        put_u64(&mut s, 32, generation);
        put_u32(&mut s, 40, count);
        put_u64(&mut s, 48, orig_len);
        let name = self.owner.as_bytes();
        debug_assert!(name.len() <= MAX_OWNER, "owner name checked by the caller");
        let name = &name[..name.len().min(MAX_OWNER)];
        put_u16(&mut s, 56, name.len() as u16);
        s[OWNER_AT..OWNER_AT + name.len()].copy_from_slice(name);
        PRE.seal(&mut s);
        s
    }
}

/// Decode one header slot (the 512 bytes at its offset).
pub fn decode_slot(buf: &[u8]) -> Result<Slot, HeaderError> {
    let h = PRE.open(buf)?;
    let invalid = |why: &str| Err(HeaderError::Invalid(why.to_string()));
    let page_size = get_u32(h, 24);
    if !PAGE_SIZES.contains(&page_size) {
        return invalid("page size field is not a valid page size");
    }
    let generation = get_u64(h, 32);
    let count = get_u32(h, 40);
    let orig_len = get_u64(h, 48);
    let state = match h[28] {
        1 => PreState::Armed {
            generation,
            count,
            orig_len,
        },
        2 => PreState::Void {
            generation,
            count,
            orig_len,
        },
        _ => return invalid("unknown state"),
    };
    let n = get_u16(h, 56) as usize;
    if n == 0 || n > MAX_OWNER {
        return invalid("owner name length out of range");
    }
    let Ok(owner) = std::str::from_utf8(&h[OWNER_AT..OWNER_AT + n]) else {
        return invalid("owner name is not UTF-8");
    };
    if h[OWNER_AT + n..].iter().any(|&b| b != 0) {
        return invalid("reserved bytes are not zero");
    }
    Ok(Slot {
        hseq: get_u64(h, 16),
        page_size,
        owner: owner.to_string(),
        state,
    })
}

/// Bytes one frame occupies for this page size.
pub fn frame_bytes(page_size: u32) -> u64 {
    frame_len(FRAME_HEADER_LEN, page_size as usize) as u64
}

/// Offset of frame `index`.
pub fn frame_offset(page_size: u32, index: u32) -> u64 {
    FRAMES_AT + u64::from(index) * frame_bytes(page_size)
}

/// A pre-image frame: the original image of one physical page.
pub fn encode_frame(generation: u64, index: u32, physical: u32, image: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; frame_len(FRAME_HEADER_LEN, image.len())];
    f[4] = KIND_IMAGE;
    put_u32(&mut f, 8, index);
    put_u32(&mut f, 12, physical);
    put_u64(&mut f, 16, generation);
    f[FRAME_HEADER_LEN..FRAME_HEADER_LEN + image.len()].copy_from_slice(image);
    seal_frame(0, &mut f);
    f
}

/// Why a frame where an armed set says one must be is not that frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameError {
    Short,
    BadChecksum,
    /// A valid frame, but of another set or another place in it.
    Mismatch(String),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Short => write!(f, "the file ends before it"),
            FrameError::BadChecksum => write!(f, "it fails its checksum"),
            FrameError::Mismatch(why) => write!(f, "{why}"),
        }
    }
}

/// Decode frame `index` of set `generation` (the frame's bytes, `frame_bytes` long):
/// the physical page it restores and the image.
pub fn decode_frame(
    buf: &[u8],
    page_size: u32,
    generation: u64,
    index: u32,
) -> Result<(u32, &[u8]), FrameError> {
    let len = frame_bytes(page_size) as usize;
    let Some(f) = buf.get(..len) else {
        return Err(FrameError::Short);
    };
    if !crate::appendfile::frame::checksum_ok(0, f) || f[4] != KIND_IMAGE {
        return Err(FrameError::BadChecksum);
    }
    let (got_index, got_gen) = (get_u32(f, 8), get_u64(f, 16));
    if got_index != index || got_gen != generation {
        return Err(FrameError::Mismatch(format!(
            "it is frame {got_index} of set {got_gen}, not frame {index} of set {generation}"
        )));
    }
    let physical = get_u32(f, 12);
    Ok((
        physical,
        &f[FRAME_HEADER_LEN..FRAME_HEADER_LEN + page_size as usize],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(state: PreState) -> Slot {
        Slot {
            hseq: 7,
            page_size: 512,
            owner: "INVOICE.HDR".into(),
            state,
        }
    }

    #[test]
    fn slots_round_trip_and_any_flipped_bit_is_detected() {
        for state in [
            PreState::Armed {
                generation: 9,
                count: 3,
                orig_len: 4096,
            },
            PreState::Void {
                generation: 9,
                count: 3,
                orig_len: 4096,
            },
        ] {
            let s = slot(state);
            let b = s.encode();
            assert_eq!(decode_slot(&b).unwrap(), s);
            for bit in (0..HEADER_LEN * 8).step_by(37) {
                let mut c = b;
                c[bit / 8] ^= 1 << (bit % 8);
                assert!(decode_slot(&c).is_err(), "bit {bit}");
            }
        }
        assert!(decode_slot(&[0u8; HEADER_LEN]).is_err());
        assert!(decode_slot(&[0u8; 10]).is_err());
    }

    #[test]
    fn frames_round_trip_and_refuse_another_place_or_set() {
        let img = vec![0xAB; 512];
        let f = encode_frame(5, 2, 17, &img);
        assert_eq!(f.len() as u64, frame_bytes(512));
        assert_eq!(decode_frame(&f, 512, 5, 2).unwrap(), (17, &img[..]));
        assert!(matches!(
            decode_frame(&f, 512, 6, 2),
            Err(FrameError::Mismatch(_))
        ));
        assert!(matches!(
            decode_frame(&f, 512, 5, 3),
            Err(FrameError::Mismatch(_))
        ));
        assert_eq!(decode_frame(&f[..100], 512, 5, 2), Err(FrameError::Short));
        let mut bad = f.clone();
        bad[300] ^= 1;
        assert_eq!(decode_frame(&bad, 512, 5, 2), Err(FrameError::BadChecksum));
        assert_eq!(
            decode_frame(&vec![0u8; f.len()], 512, 5, 2),
            Err(FrameError::BadChecksum)
        );
    }
}
