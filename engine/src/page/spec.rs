//! What a data file is made of: record length, page size and key definitions
//! (Btrieve's Create / Stat parameters), and the checks that make a spec valid.
//!
//! It sits in the page layer because the layouts below the file layer need it (the FCR
//! stores a spec; the pager and the delta format check page sizes and key counts);
//! `file` re-exports it as `file::spec`.

use crate::status::{fail, Result, Status};

/// Page sizes a file may use.
pub const PAGE_SIZES: [u32; 6] = [512, 1024, 2048, 4096, 8192, 16384];
/// Default page size.
pub const DEFAULT_PAGE_SIZE: u32 = 4096;
/// Most keys a file may have.
pub const MAX_KEYS: usize = 24;
/// Most segments over all keys of a file.
pub const MAX_SEGMENTS: usize = 119;
/// Longest key (sum of its segments), as in Btrieve.
pub const MAX_KEY_LENGTH: usize = 255;
/// Shortest record: room for at least a 1-byte key.
pub const MIN_RECORD_LENGTH: usize = 1;

/// How a key segment's bytes compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// Byte string, compared as unsigned bytes left to right (Btrieve `string`).
    String,
    /// Little-endian unsigned integer of 1, 2, 4 or 8 bytes (Btrieve `unsigned binary`).
    Unsigned,
    /// Little-endian two's-complement integer of 1, 2, 4 or 8 bytes (Btrieve `integer`).
    Integer,
}

impl KeyType {
    pub fn code(self) -> u8 {
        match self {
            KeyType::String => 0,
            KeyType::Integer => 1,
            KeyType::Unsigned => 14,
        }
    }
    pub fn from_code(c: u8) -> Option<KeyType> {
        match c {
            0 => Some(KeyType::String),
            1 => Some(KeyType::Integer),
            14 => Some(KeyType::Unsigned),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            KeyType::String => "string",
            KeyType::Integer => "integer",
            KeyType::Unsigned => "unsigned",
        }
    }
}

/// One segment of a key: a field of the record.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Segment {
    /// Byte offset in the record (0-based; description files use 1-based positions).
    pub offset: u16,
    pub length: u16,
    pub key_type: KeyType,
    pub descending: bool,
}

/// A key (index): one or more segments, plus flags.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KeySpec {
    pub segments: Vec<Segment>,
    /// More than one record may have the same value.
    pub duplicates: bool,
    /// Update may change the value.
    pub modifiable: bool,
}

impl KeySpec {
    /// Total key length in bytes.
    pub fn length(&self) -> usize {
        self.segments.iter().map(|s| s.length as usize).sum()
    }
}

/// How a data file survives a crash: the on-disk format generation.
///
/// Both formats share pages, records, keys and operations; they differ only in how a
/// system transaction reaches the disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum FileFormat {
    /// The 6.x format: shadow paging, two FCR slots; the FCR write is the commit.
    #[default]
    V6,
    /// The pre-6.x (legacy) format: pages are overwritten in place after their
    /// original images are made durable in `NAME.PRE` (pre-imaging, `crate::preimage`).
    V5,
}

impl FileFormat {
    /// The version number operators use (`version=5` in a description, `-stat`).
    pub fn version(self) -> u8 {
        match self {
            FileFormat::V6 => 6,
            FileFormat::V5 => 5,
        }
    }

    /// The format with that version number.
    pub fn from_version(v: u64) -> Option<FileFormat> {
        match v {
            6 => Some(FileFormat::V6),
            5 => Some(FileFormat::V5),
            _ => None,
        }
    }

    /// How `-stat` names it.
    pub fn describe(self) -> &'static str {
        match self {
            FileFormat::V6 => "6.x (shadow paging)",
            FileFormat::V5 => "5.x legacy (pre-imaging to NAME.PRE)",
        }
    }
}

/// The definition of a data file.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FileSpec {
    pub record_length: u16,
    pub page_size: u32,
    pub keys: Vec<KeySpec>,
    /// How the file's system transactions reach the disk.
    pub format: FileFormat,
    /// Index leaves keep each column's shared part (the keys' and serials' common
    /// leading bytes, the record addresses' common high-order bytes) once per leaf,
    /// not once per entry: a smaller index (a quarter of the leaves, for an ascending
    /// load of 8-byte keys) for a little more work per leaf change. Off unless asked
    /// for (`compactleaves=y`), so files and descriptions made before it mean what
    /// they meant.
    pub compact_leaves: bool,
    /// Bytes of each data-page slot's serial, 1 to 8 (`serialbytes=N`; 8 unless asked
    /// for, the layout of files made before it). Below 8, a page keeps one 8-byte base
    /// and each slot the offset from it: 100-byte records with 3-byte serials fit 39
    /// to a 4096-byte page instead of 37. The price: a page takes a record only while
    /// its live records are less than `2^(8N)` insertions apart (an older one blocks
    /// its free slots for newer records until it is deleted), so a long-lived file
    /// with churn wants 4 or more.
    pub slot_serial_bytes: u8,
}

impl FileSpec {
    /// The simplest file: `record_length`-byte records in the 6.x format with one key,
    /// unique and not modifiable, over the record's first four bytes as an unsigned
    /// integer. Tests, fuzz targets and examples build on it.
    pub fn unique_u32_key(record_length: u16, page_size: u32) -> FileSpec {
        FileSpec {
            record_length,
            page_size,
            keys: vec![KeySpec {
                segments: vec![Segment {
                    offset: 0,
                    length: 4,
                    key_type: KeyType::Unsigned,
                    descending: false,
                }],
                duplicates: false,
                modifiable: false,
            }],
            format: FileFormat::V6,
            compact_leaves: false,
            slot_serial_bytes: 8,
        }
    }

    /// Check everything that does not depend on the page layout (the pager checks
    /// that records, keys and the control record fit the page size).
    pub fn validate(&self) -> Result<()> {
        if !PAGE_SIZES.contains(&self.page_size) {
            return fail(
                Status::PageSizeError,
                format!("page size {} is not one of {PAGE_SIZES:?}", self.page_size),
            );
        }
        if !(1..=8).contains(&self.slot_serial_bytes) {
            return fail(
                Status::InvalidRecordLength,
                format!(
                    "slot serials of {} bytes; they take 1 to 8",
                    self.slot_serial_bytes
                ),
            );
        }
        let rl = self.record_length as usize;
        if rl < MIN_RECORD_LENGTH {
            return fail(
                Status::InvalidRecordLength,
                "record length must be at least 1",
            );
        }
        if self.keys.is_empty() || self.keys.len() > MAX_KEYS {
            return fail(
                Status::InvalidNumberOfKeys,
                format!(
                    "{} keys defined; a file needs 1 to {MAX_KEYS}",
                    self.keys.len()
                ),
            );
        }
        let nseg: usize = self.keys.iter().map(|k| k.segments.len()).sum();
        if nseg > MAX_SEGMENTS {
            return fail(
                Status::InvalidNumberOfKeys,
                format!("{nseg} key segments defined; at most {MAX_SEGMENTS}"),
            );
        }
        for (k, key) in self.keys.iter().enumerate() {
            if key.segments.is_empty() {
                return fail(Status::InvalidKeyLength, format!("key {k} has no segments"));
            }
            for (s, seg) in key.segments.iter().enumerate() {
                let end = seg.offset as usize + seg.length as usize;
                if seg.length == 0 {
                    return fail(
                        Status::InvalidKeyLength,
                        format!("key {k} segment {s} has length 0"),
                    );
                }
                if end > rl {
                    return fail(
                        Status::InvalidKeyPosition,
                        format!(
                            "key {k} segment {s} covers bytes {}..{end} but records are {rl} bytes",
                            seg.offset
                        ),
                    );
                }
                if matches!(seg.key_type, KeyType::Unsigned | KeyType::Integer)
                    && ![1, 2, 4, 8].contains(&seg.length)
                {
                    return fail(
                        Status::InvalidKeyLength,
                        format!(
                            "key {k} segment {s}: {} keys are 1, 2, 4 or 8 bytes, not {}",
                            seg.key_type.name(),
                            seg.length
                        ),
                    );
                }
            }
            if key.length() > MAX_KEY_LENGTH {
                return fail(
                    Status::InvalidKeyLength,
                    format!(
                        "key {k} is {} bytes; at most {MAX_KEY_LENGTH}",
                        key.length()
                    ),
                );
            }
        }
        Ok(())
    }
}
