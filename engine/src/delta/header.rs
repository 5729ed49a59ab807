//! The delta file's one-sector header: which data file snapshot the delta extends,
//! which `startbu` made it, and whether it is still *active* or already *ending*.
//!
//! The header fills exactly the first 512-byte sector. A sector is the unit a crash
//! tears at (the `Vfs` contract), so when [`super::DeltaWriter::set_ending`] rewrites
//! it in place the disk holds either the old header or the new one, never a mix: the
//! Active → Ending change is atomic without a second copy. Decoding validates every
//! field and reports a [`HeaderError`] that says whether the header may simply never
//! have been written (torn) or is something else (another file, a newer format).

pub use crate::appendfile::HeaderError;
use crate::appendfile::{FileKind, HEADER_LEN};
use crate::page::bytes::{get_u32, get_u64, put_u32, put_u64};
use crate::page::spec::PAGE_SIZES;
use crate::status::{Error, Result, Status};
use std::path::Path;

/// Bytes of the header; frames start at this offset.
pub const DELTA_HEADER_LEN: usize = HEADER_LEN;
/// A delta as an append file: magic `KEELDLTA`, format version 1.
pub const DELTA: FileKind = FileKind {
    noun: "delta file",
    magic: *b"KEELDLTA",
    version: 1,
};
/// What to do about a delta whose header is damaged.
const HEADER_ADVICE: &str = "the frozen data file still holds the state of the startbu \
     instant: remove the delta to return to it (losing the changes made since), or restore \
     the data file and delta from backup";

/// Where the header's fields end; everything after is reserved (zero).
const FIELDS_END: usize = 40;

/// Whether the delta still takes transactions or is being rolled into its data file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DeltaState {
    /// Continuous operations are on: the data file is frozen, changes go to the delta.
    Active = 1,
    /// `endbu` has begun: the delta's committed images are being (or have been) rolled
    /// into the data file. Nothing is appended any more; an open finishes the roll-in.
    Ending = 2,
}

impl DeltaState {
    pub fn from_u8(b: u8) -> Option<DeltaState> {
        match b {
            1 => Some(DeltaState::Active),
            2 => Some(DeltaState::Ending),
            _ => None,
        }
    }
}

/// The decoded header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeltaHeader {
    pub state: DeltaState,
    /// Page size of the data file; every page frame's payload is exactly this long.
    pub page_size: u32,
    /// Sequence of the data file's durable FCR when `startbu` froze it: the snapshot
    /// the frozen file holds. Lets an opener check that the delta belongs to this data
    /// file (and not to a copy restored from another backup).
    pub fcr_seq: u64,
    /// Identifies the `startbu` that created the delta, supplied by the caller; every
    /// file of one `startbu` carries the same id, so deltas of one backup set can be
    /// recognised together.
    pub set_id: u64,
}

/// The error for a damaged delta header (status 2), naming the delta at `path`.
pub fn header_error(e: &HeaderError, path: &Path) -> Error {
    e.to_error(&DELTA, path, HEADER_ADVICE)
}

impl DeltaHeader {
    /// The 512-byte header sector.
    pub fn encode(&self) -> [u8; DELTA_HEADER_LEN] {
        debug_assert!(PAGE_SIZES.contains(&self.page_size));
        let mut b = [0u8; DELTA_HEADER_LEN];
        b[16] = self.state as u8;
        put_u32(&mut b, 20, self.page_size);
        put_u64(&mut b, 24, self.fcr_seq);
        put_u64(&mut b, 32, self.set_id);
        DELTA.seal(&mut b);
        b
    }

    /// Decode and validate the header at the start of `buf` (the first bytes of a delta
    /// file). Checks, in order: length, checksum, magic, version, state, page size,
    /// reserved bytes zero.
    pub fn decode(buf: &[u8]) -> Result<DeltaHeader, HeaderError> {
        let b = DELTA.open(buf)?;
        let Some(state) = DeltaState::from_u8(b[16]) else {
            return Err(HeaderError::Invalid(format!(
                "the header's state {} is neither active (1) nor ending (2)",
                b[16]
            )));
        };
        let page_size = get_u32(b, 20);
        if !PAGE_SIZES.contains(&page_size) {
            return Err(HeaderError::Invalid(format!(
                "the header's page size {page_size} is not one of {PAGE_SIZES:?}"
            )));
        }
        // A checksummed header with bytes this version never writes was made by
        // something else; reading on would guess at fields we do not know.
        if b[17..20].iter().chain(&b[FIELDS_END..]).any(|&x| x != 0) {
            return Err(HeaderError::Invalid(
                "the header's reserved bytes are not zero (written by a newer engine?)".into(),
            ));
        }
        Ok(DeltaHeader {
            state,
            page_size,
            fcr_seq: get_u64(b, 24),
            set_id: get_u64(b, 32),
        })
    }

    /// The CRC-32C seed of every frame of this delta: the checksum of the identifying
    /// fields. Frame sequence numbers restart at 1 in every delta, so without a seed a
    /// frame left on disk by an *earlier* delta (a deleted file's blocks reused, shown
    /// after a crash by a filesystem that does not zero them) could sit at the right
    /// offset with the right sequence number and pass. The state is left out: it
    /// changes while the frames stay.
    pub fn frame_seed(&self) -> u32 {
        let mut salt = [0u8; 20];
        put_u64(&mut salt, 0, self.set_id);
        put_u64(&mut salt, 8, self.fcr_seq);
        put_u32(&mut salt, 16, self.page_size);
        crc32c::crc32c(&salt)
    }

    /// Check that this delta extends the data file at `data_path`, whose durable FCR
    /// has sequence `data_fcr_seq` and whose page size is `data_page_size`. While the
    /// delta is active the data file is frozen, so its sequence must be exactly the
    /// one recorded at `startbu`; once ending, the roll-in may already have committed
    /// (one or more system transactions), so it may be higher, never lower.
    pub fn check_data_file(
        &self,
        data_path: &Path,
        data_fcr_seq: u64,
        data_page_size: u32,
    ) -> Result<()> {
        let seq_ok = match self.state {
            DeltaState::Active => data_fcr_seq == self.fcr_seq,
            DeltaState::Ending => data_fcr_seq >= self.fcr_seq,
        };
        if seq_ok && data_page_size == self.page_size {
            return Ok(());
        }
        Err(Error::new(
            Status::IoError,
            format!(
                "the delta of {} does not belong to it: the delta was made for a {}-byte-page \
                 file at commit sequence {} ({:?}), the data file has {}-byte pages at \
                 sequence {data_fcr_seq}; the data file was replaced or restored without its \
                 delta — restore the matching pair, or remove the delta to keep the data file \
                 as it is",
                data_path.display(),
                self.page_size,
                self.fcr_seq,
                self.state,
                data_page_size,
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> DeltaHeader {
        DeltaHeader {
            state: DeltaState::Active,
            page_size: 4096,
            fcr_seq: 77,
            set_id: 0xABCD_0123_4567_89EF,
        }
    }

    /// Re-seal a header sector after editing it.
    fn resealed(mut b: [u8; DELTA_HEADER_LEN], edit: impl FnOnce(&mut [u8])) -> Vec<u8> {
        edit(&mut b);
        let crc = crc32c::crc32c(&b[4..]);
        put_u32(&mut b, 0, crc);
        b.to_vec()
    }

    #[test]
    fn round_trip_both_states() {
        for state in [DeltaState::Active, DeltaState::Ending] {
            let h = DeltaHeader { state, ..sample() };
            let b = h.encode();
            assert_eq!(DeltaHeader::decode(&b), Ok(h));
            // Extra bytes after the header (frames) are not the header's business.
            let mut longer = b.to_vec();
            longer.extend_from_slice(&[0xAA; 100]);
            assert_eq!(DeltaHeader::decode(&longer), Ok(h));
        }
    }

    #[test]
    fn every_damage_is_refused_and_classified() {
        let good = sample().encode();
        assert_eq!(
            DeltaHeader::decode(&good[..511]),
            Err(HeaderError::Short { len: 511 })
        );
        assert_eq!(
            DeltaHeader::decode(&[0u8; 512]),
            Err(HeaderError::BadChecksum)
        );
        for i in 0..DELTA_HEADER_LEN {
            let mut b = good;
            b[i] ^= 0x10;
            let e = DeltaHeader::decode(&b).unwrap_err();
            assert_eq!(e, HeaderError::BadChecksum, "flip at {i}");
            assert!(e.is_torn());
        }
        let magic = resealed(good, |b| b[4] = b'X');
        assert_eq!(
            DeltaHeader::decode(&magic),
            Err(HeaderError::BadMagic { noun: DELTA.noun })
        );
        let version = resealed(good, |b| put_u32(b, 12, 2));
        assert_eq!(
            DeltaHeader::decode(&version),
            Err(HeaderError::BadVersion {
                noun: DELTA.noun,
                found: 2,
                reads: 1
            })
        );
        for bad_state in [0u8, 3, 255] {
            let s = resealed(good, |b| b[16] = bad_state);
            let e = DeltaHeader::decode(&s).unwrap_err();
            assert!(
                matches!(&e, HeaderError::Invalid(m) if m.contains("state")),
                "{e}"
            );
            assert!(!e.is_torn());
        }
        let ps = resealed(good, |b| put_u32(b, 20, 3000));
        assert!(
            matches!(DeltaHeader::decode(&ps), Err(HeaderError::Invalid(m)) if m.contains("page size"))
        );
        for at in [17, 19, 40, 511] {
            let r = resealed(good, |b| b[at] = 1);
            assert!(
                matches!(DeltaHeader::decode(&r), Err(HeaderError::Invalid(m)) if m.contains("reserved")),
                "reserved byte {at}"
            );
        }
        let e = header_error(
            &DeltaHeader::decode(&magic).unwrap_err(),
            Path::new("/d/A.^^^"),
        );
        assert_eq!(e.status, Status::IoError);
        assert!(e.context.contains("/d/A.^^^") && e.context.contains("bad magic"));
        assert!(e.context.contains("remove the delta"), "{e}");
    }

    #[test]
    fn frame_seed_depends_on_identity_not_state() {
        let h = sample();
        let ending = DeltaHeader {
            state: DeltaState::Ending,
            ..h
        };
        assert_eq!(h.frame_seed(), ending.frame_seed());
        for other in [
            DeltaHeader { set_id: 1, ..h },
            DeltaHeader { fcr_seq: 78, ..h },
            DeltaHeader {
                page_size: 512,
                ..h
            },
        ] {
            assert_ne!(h.frame_seed(), other.frame_seed(), "{other:?}");
        }
    }

    #[test]
    fn data_file_check_follows_the_state() {
        let p = Path::new("/d/A.DAT");
        let active = sample();
        assert!(active.check_data_file(p, 77, 4096).is_ok());
        for (seq, ps) in [(76, 4096), (78, 4096), (77, 1024)] {
            let e = active.check_data_file(p, seq, ps).unwrap_err();
            assert_eq!(e.status, Status::IoError);
            assert!(e.context.contains("does not belong"), "{e}");
        }
        let ending = DeltaHeader {
            state: DeltaState::Ending,
            ..active
        };
        assert!(ending.check_data_file(p, 77, 4096).is_ok());
        assert!(ending.check_data_file(p, 79, 4096).is_ok());
        assert!(ending.check_data_file(p, 76, 4096).is_err());
    }
}
