//! Page layouts and checksums: the bytes of every page kind, and the common header
//! that makes every page self-identifying.
//!
//! Guarantees: [`seal`] stamps type, physical and logical page number, the writing
//! system-transaction sequence and a CRC-32C; [`verify`] rejects any page whose
//! checksum, kind, numbers or sequence differ from what its referrer expects — so a
//! torn, misdirected, stale (lost write) or rotten page is reported, never served.
//! Decoders never index out of bounds on any input. Byte layouts: `engine/FORMAT.md`.

/// A page image shared between the pager's maps and its readers: reads hand out a
/// reference, not a copy (a page is 512 B–16 KiB, and most reads only look).
pub type PageBuf = std::sync::Arc<Vec<u8>>;

pub mod bytes;
pub mod data;
pub mod fcr;
pub mod node;
pub mod pat;
pub mod spec;

use crate::status::{Error, Result, Status};
use bytes::{get_u32, get_u64, put_u32, put_u64};

/// Bytes of the common page header.
pub const HEADER_LEN: usize = 32;
/// Page format version written in every header.
pub const FORMAT_VERSION: u8 = 1;

/// What a page holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PageType {
    /// File Control Record (physical pages 0 and 1).
    Fcr = 1,
    /// Page Allocation Table: logical → physical mapping.
    Pat = 2,
    /// Fixed-length record slots.
    Data = 3,
    /// B+tree leaf.
    Leaf = 4,
    /// B+tree internal node.
    Internal = 5,
    /// Interior Page Allocation Table page: points at PAT pages of the level below.
    PatInterior = 6,
}

impl PageType {
    pub fn from_u8(b: u8) -> Option<PageType> {
        Some(match b {
            1 => PageType::Fcr,
            2 => PageType::Pat,
            3 => PageType::Data,
            4 => PageType::Leaf,
            5 => PageType::Internal,
            6 => PageType::PatInterior,
            _ => return None,
        })
    }
}

/// The common header of every page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub page_type: PageType,
    /// Where the page lives in the file.
    pub physical: u32,
    /// Logical page number ([`pat::page_id`] for PAT pages, slot number for FCRs).
    pub logical: u32,
    /// The system transaction that wrote it.
    pub seq: u64,
}

/// A fresh zeroed page buffer of the given type (header filled in by [`seal`]).
pub fn blank(page_size: usize, page_type: PageType) -> Vec<u8> {
    let mut buf = vec![0u8; page_size];
    buf[4] = page_type as u8;
    buf
}

/// The type byte of an unsealed or sealed page buffer.
pub fn type_of(buf: &[u8]) -> Option<PageType> {
    buf.get(4).copied().and_then(PageType::from_u8)
}

/// Stamp the header and checksum into `buf` (whose type byte is already set).
pub fn seal(buf: &mut [u8], physical: u32, logical: u32, seq: u64) {
    debug_assert!(buf.len() >= 512 && buf.len().is_power_of_two());
    debug_assert!(type_of(buf).is_some(), "sealing a page without a type");
    buf[5] = FORMAT_VERSION;
    buf[6] = 0;
    buf[7] = 0;
    put_u32(buf, 8, physical);
    put_u32(buf, 12, logical);
    put_u64(buf, 16, seq);
    put_u64(buf, 24, 0);
    let crc = crc32c::crc32c(&buf[4..]);
    put_u32(buf, 0, crc);
}

/// Read the header without checking anything but its shape.
pub fn header(buf: &[u8]) -> Option<Header> {
    if buf.len() < HEADER_LEN {
        return None;
    }
    Some(Header {
        page_type: PageType::from_u8(buf[4])?,
        physical: get_u32(buf, 8),
        logical: get_u32(buf, 12),
        seq: get_u64(buf, 16),
    })
}

/// Does the stored checksum match the contents?
pub fn checksum_ok(buf: &[u8]) -> bool {
    buf.len() >= HEADER_LEN && get_u32(buf, 0) == crc32c::crc32c(&buf[4..])
}

/// What a referrer expects of the page it points to.
#[derive(Clone, Copy, Debug)]
pub struct Expect {
    pub physical: u32,
    pub logical: u32,
    pub seq: u64,
    /// Acceptable types (one or two: a B+tree child may be a leaf or internal).
    pub types: &'static [PageType],
}

/// Verify a page read from disk against what its referrer expects.
pub fn verify(buf: &[u8], want: &Expect, what: &dyn std::fmt::Display) -> Result<Header> {
    let bad = |why: String| Err(Error::new(Status::IoError, format!("{what}: {why}")));
    if !checksum_ok(buf) {
        return bad(format!(
            "physical page {} fails its checksum (torn or corrupted write)",
            want.physical
        ));
    }
    let Some(h) = header(buf) else {
        return bad(format!(
            "physical page {} has an unknown page type",
            want.physical
        ));
    };
    if buf[5] != FORMAT_VERSION {
        return bad(format!(
            "physical page {} has format version {}",
            want.physical, buf[5]
        ));
    }
    if h.physical != want.physical {
        return bad(format!(
            "physical page {} holds the image of page {} (misdirected write)",
            want.physical, h.physical
        ));
    }
    if h.logical != want.logical || h.seq != want.seq {
        return bad(format!(
            "physical page {} holds logical page {} of sequence {}, expected logical {} of \
             sequence {} (lost or stale write)",
            want.physical, h.logical, h.seq, want.logical, want.seq
        ));
    }
    if !want.types.contains(&h.page_type) {
        return bad(format!(
            "physical page {} is a {:?} page, expected {:?}",
            want.physical, h.page_type, want.types
        ));
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_then_verify_and_every_mismatch_is_caught() {
        let mut p = blank(512, PageType::Data);
        p[100] = 7;
        seal(&mut p, 9, 3, 42);
        let ok = Expect {
            physical: 9,
            logical: 3,
            seq: 42,
            types: &[PageType::Data],
        };
        assert!(verify(&p, &ok, &"t").is_ok());
        for bad in [
            Expect { physical: 8, ..ok },
            Expect { logical: 4, ..ok },
            Expect { seq: 41, ..ok },
            Expect {
                types: &[PageType::Leaf],
                ..ok
            },
        ] {
            assert_eq!(verify(&p, &bad, &"t").unwrap_err().status, Status::IoError);
        }
        // Any single flipped byte (a torn or rotten sector) is detected.
        for i in 0..p.len() {
            let mut q = p.clone();
            q[i] ^= 0x40;
            assert!(verify(&q, &ok, &"t").is_err(), "flip at {i} undetected");
        }
    }
}
