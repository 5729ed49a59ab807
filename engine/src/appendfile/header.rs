//! The one-sector header every append file begins with.
//!
//! The header fills exactly the first 512-byte sector: a sector is the unit a crash tears
//! at (the `Vfs` contract), so the disk holds the whole header or a torn one, and a header
//! rewritten in place (the delta's Active → Ending) is the old one or the new one, never a
//! mix. Layout shared by every format:
//!
//! ```text
//! [crc32c u32 over bytes 4..512][magic 8 bytes][version u32][format's fields from 16 ...]
//! ```
//!
//! [`FileKind::open`] checks length, checksum, magic and version, in that order, and
//! says which failed; the format then decodes and validates its own fields.

use crate::page::bytes::{get_u32, put_u32};
use crate::status::{Error, Status};
use std::fmt;
use std::path::Path;

/// Bytes of the header; frames start at this offset.
pub const HEADER_LEN: usize = 512;
/// Where the format's own fields start.
pub const FIELDS_AT: usize = 16;

/// One kind of append file: how its header is recognised and how messages name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileKind {
    /// What an operator calls one such file ("transaction log segment", "delta file").
    pub noun: &'static str,
    /// Magic at header offset 4.
    pub magic: [u8; 8],
    /// The format version this engine writes and reads.
    pub version: u32,
}

/// Why a header failed to decode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeaderError {
    /// The file is shorter than a header.
    Short { len: usize },
    /// The checksum does not match (this includes an all-zero sector).
    BadChecksum,
    /// The checksum matches but the magic is not this kind's.
    BadMagic { noun: &'static str },
    /// A format version this engine does not read.
    BadVersion {
        noun: &'static str,
        found: u32,
        reads: u32,
    },
    /// A field outside its valid range (the format's own checks).
    Invalid(String),
}

/// What lies at an append file's path, before anything is scanned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    /// No file.
    Absent,
    /// A file whose creation a crash interrupted: no longer than a header, and the
    /// header torn (short or failing its checksum). Writers write no frame before the
    /// header is synced (rule 1), so nothing was ever written to it; it may be removed.
    Interrupted,
    /// A file with more than a torn header: scan it (which reports damage).
    Present,
}

impl Probe {
    /// An existing file `file_len` bytes long whose header decoded to `header`.
    pub fn of<T>(header: &Result<T, HeaderError>, file_len: u64) -> Probe {
        match header {
            Err(h) if h.is_torn() && file_len <= HEADER_LEN as u64 => Probe::Interrupted,
            _ => Probe::Present,
        }
    }
}

impl HeaderError {
    /// Could this header simply never have been (fully) written? Only a short or
    /// unchecksummed header can be a creation a crash interrupted (rule 1).
    pub fn is_torn(&self) -> bool {
        matches!(self, HeaderError::Short { .. } | HeaderError::BadChecksum)
    }

    /// The error (status 2) for the file at `path`: what is wrong, then `advice`.
    pub fn to_error(&self, kind: &FileKind, path: &Path, advice: &str) -> Error {
        Error::new(
            Status::IoError,
            format!("{} {}: {self}; {advice}", kind.noun, path.display()),
        )
    }
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderError::Short { len } => write!(
                f,
                "the file is {len} bytes, shorter than its {HEADER_LEN}-byte header"
            ),
            HeaderError::BadChecksum => {
                write!(
                    f,
                    "the header fails its checksum (torn, zeroed or corrupted)"
                )
            }
            HeaderError::BadMagic { noun } => write!(f, "not a Keel {noun} (bad magic)"),
            HeaderError::BadVersion { noun, found, reads } => write!(
                f,
                "{noun} format version {found} is not supported (this engine reads version \
                 {reads})"
            ),
            HeaderError::Invalid(why) => write!(f, "{why}"),
        }
    }
}

impl FileKind {
    /// Seal a header sector whose format fields (from [`FIELDS_AT`]) are filled in:
    /// stamp magic and version, then the checksum over everything after it.
    pub fn seal(&self, sector: &mut [u8; HEADER_LEN]) {
        debug_assert!(
            sector[..FIELDS_AT].iter().all(|&b| b == 0),
            "the envelope's bytes are the envelope's to write"
        );
        sector[4..12].copy_from_slice(&self.magic);
        put_u32(sector, 12, self.version);
        let crc = crc32c::crc32c(&sector[4..]);
        put_u32(sector, 0, crc);
    }

    /// The header sector at the start of `buf` (the first bytes of a file of this
    /// kind), once its length, checksum, magic and version are right.
    pub fn open<'a>(&self, buf: &'a [u8]) -> Result<&'a [u8], HeaderError> {
        let Some(b) = buf.get(..HEADER_LEN) else {
            return Err(HeaderError::Short { len: buf.len() });
        };
        if get_u32(b, 0) != crc32c::crc32c(&b[4..]) {
            return Err(HeaderError::BadChecksum);
        }
        if b[4..12] != self.magic {
            return Err(HeaderError::BadMagic { noun: self.noun });
        }
        let found = get_u32(b, 12);
        if found != self.version {
            return Err(HeaderError::BadVersion {
                noun: self.noun,
                found,
                reads: self.version,
            });
        }
        Ok(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIND: FileKind = FileKind {
        noun: "test file",
        magic: *b"KEELTEST",
        version: 3,
    };

    fn sealed(edit: impl FnOnce(&mut [u8; HEADER_LEN])) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[FIELDS_AT] = 7;
        b[HEADER_LEN - 1] = 9;
        KIND.seal(&mut b);
        edit(&mut b);
        b
    }

    fn reseal(b: &mut [u8; HEADER_LEN]) {
        let crc = crc32c::crc32c(&b[4..]);
        put_u32(b, 0, crc);
    }

    #[test]
    fn sealed_header_opens_and_keeps_fields() {
        let b = sealed(|_| {});
        let opened = KIND.open(&b).unwrap();
        assert_eq!((opened[FIELDS_AT], opened[HEADER_LEN - 1]), (7, 9));
        let mut longer = b.to_vec();
        longer.extend_from_slice(&[0xAA; 64]);
        assert_eq!(KIND.open(&longer).unwrap(), &b[..]);
    }

    #[test]
    fn every_failure_is_classified_in_order() {
        let b = sealed(|_| {});
        assert_eq!(KIND.open(&b[..511]), Err(HeaderError::Short { len: 511 }));
        assert_eq!(KIND.open(&[0u8; 512]), Err(HeaderError::BadChecksum));
        for i in 0..HEADER_LEN {
            let mut q = b;
            q[i] ^= 0x10;
            assert_eq!(KIND.open(&q), Err(HeaderError::BadChecksum), "flip at {i}");
        }
        let magic = sealed(|b| {
            b[4] = b'X';
            reseal(b)
        });
        assert_eq!(
            KIND.open(&magic),
            Err(HeaderError::BadMagic { noun: "test file" })
        );
        let version = sealed(|b| {
            put_u32(b, 12, 4);
            reseal(b)
        });
        let e = KIND.open(&version).unwrap_err();
        assert!(!e.is_torn());
        assert_eq!(
            e.to_string(),
            "test file format version 4 is not supported (this engine reads version 3)"
        );
        assert!(HeaderError::Short { len: 0 }.is_torn());
        assert!(HeaderError::BadChecksum.is_torn());
        assert!(!HeaderError::Invalid("x".into()).is_torn());
        let err = HeaderError::BadMagic { noun: "test file" }.to_error(
            &KIND,
            Path::new("/d/f"),
            "restore it",
        );
        assert_eq!(err.status, Status::IoError);
        assert_eq!(
            err.context,
            "test file /d/f: not a Keel test file (bad magic); restore it"
        );
    }
}
