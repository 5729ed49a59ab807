//! Key extraction and normalization: turn a record's key segments into bytes whose
//! `memcmp` order is the key's order, so the B+tree never needs to know key types.
//!
//! - string: bytes as they are;
//! - unsigned (little-endian, as Btrieve stores it): reversed to big-endian;
//! - integer (little-endian two's complement): big-endian with the sign bit flipped;
//! - descending segments: every byte inverted.
//!
//! An index entry is the normalized key followed by the record's serial (big-endian),
//! which orders duplicates by insertion and makes every entry unique.

use super::spec::{KeySpec, KeyType, Segment};

/// The serial suffix's length and an entry's key part are the page layout's: the
/// B-tree's unique check needs them too.
pub use crate::page::node::{key_part, SERIAL_LEN};

fn normalize_segment(seg: &Segment, raw: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    match seg.key_type {
        KeyType::String => out.extend_from_slice(raw),
        KeyType::Unsigned => out.extend(raw.iter().rev()),
        KeyType::Integer => {
            out.extend(raw.iter().rev());
            out[start] ^= 0x80;
        }
    }
    if seg.descending {
        for b in &mut out[start..] {
            *b = !*b;
        }
    }
}

/// The raw key value of a record (segments concatenated, as Btrieve's key buffer).
pub fn raw_key(key: &KeySpec, record: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.length());
    for s in &key.segments {
        out.extend_from_slice(&record[s.offset as usize..(s.offset + s.length) as usize]);
    }
    out
}

/// Normalize a raw key value (segments concatenated) of exactly `key.length()` bytes.
pub fn normalize(key: &KeySpec, raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.length() + SERIAL_LEN);
    normalize_into(key, raw, &mut out);
    out
}

/// [`normalize`], appending to `out` (a reader's reused buffer: no allocation once it
/// has grown to an entry's length).
pub fn normalize_into(key: &KeySpec, raw: &[u8], out: &mut Vec<u8>) {
    debug_assert_eq!(raw.len(), key.length());
    let mut at = 0;
    for s in &key.segments {
        let n = s.length as usize;
        normalize_segment(s, &raw[at..at + n], out);
        at += n;
    }
}

/// Whether `entry` is the index entry of `record` with `serial` for `key` — that is,
/// `entry(key, record, serial) == entry` — computed byte by byte without building
/// the entry, since every read checks the index entry it followed against the record
/// it found. `record` must be a whole record (the spec puts every segment inside it).
pub fn entry_matches(key: &KeySpec, record: &[u8], serial: u64, entry: &[u8]) -> bool {
    if entry.len() != key.length() + SERIAL_LEN {
        return false;
    }
    let mut at = 0;
    for s in &key.segments {
        let (off, n) = (s.offset as usize, s.length as usize);
        let Some(raw) = record.get(off..off + n) else {
            return false;
        };
        let want = &entry[at..at + n];
        let flip = if s.descending { 0xff } else { 0 };
        let same = match s.key_type {
            KeyType::String => raw.iter().zip(want).all(|(r, w)| r ^ flip == *w),
            KeyType::Unsigned => raw.iter().rev().zip(want).all(|(r, w)| r ^ flip == *w),
            KeyType::Integer => raw.iter().rev().zip(want).enumerate().all(|(i, (r, w))| {
                let sign = if i == 0 { 0x80 } else { 0 };
                r ^ sign ^ flip == *w
            }),
        };
        if !same {
            return false;
        }
        at += n;
    }
    entry[at..] == serial.to_be_bytes()
}

/// The index entry of a record for a key.
pub fn entry(key: &KeySpec, record: &[u8], serial: u64) -> Vec<u8> {
    let mut e = normalize(key, &raw_key(key, record));
    e.extend_from_slice(&serial.to_be_bytes());
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(t: KeyType, len: u16, descending: bool) -> KeySpec {
        KeySpec {
            segments: vec![Segment {
                offset: 0,
                length: len,
                key_type: t,
                descending,
            }],
            duplicates: false,
            modifiable: true,
        }
    }

    proptest! {
        #[test]
        fn order_is_preserved(a: i64, b: i64, ua: u32, ub: u32) {
            let k = key(KeyType::Integer, 8, false);
            let na = normalize(&k, &a.to_le_bytes());
            let nb = normalize(&k, &b.to_le_bytes());
            prop_assert_eq!(a.cmp(&b), na.cmp(&nb));
            let k = key(KeyType::Unsigned, 4, false);
            prop_assert_eq!(ua.cmp(&ub), normalize(&k, &ua.to_le_bytes()).cmp(&normalize(&k, &ub.to_le_bytes())));
            let k = key(KeyType::Integer, 2, true);
            let (a16, b16) = (a as i16, b as i16);
            prop_assert_eq!(b16.cmp(&a16), normalize(&k, &a16.to_le_bytes()).cmp(&normalize(&k, &b16.to_le_bytes())));
        }

        /// `entry_matches` is exactly `entry(..) == e`, for records and entries that
        /// match and that differ in one byte (of the key part or of the serial), over
        /// multi-segment keys of every type and direction.
        #[test]
        fn entry_matches_is_entry_equality(
            record in proptest::collection::vec(any::<u8>(), 12),
            serial: u64,
            types in proptest::collection::vec((0u8..3, any::<bool>()), 3),
            flip in proptest::option::of((0usize..64, 1u8..=255)),
        ) {
            let segments = types.iter().enumerate().map(|(i, &(t, descending))| Segment {
                offset: (i * 4) as u16,
                length: 2 + i as u16,
                key_type: [KeyType::String, KeyType::Unsigned, KeyType::Integer][t as usize],
                descending,
            }).collect();
            let k = KeySpec { segments, duplicates: true, modifiable: true };
            let mut e = entry(&k, &record, serial);
            if let Some((at, x)) = flip {
                let at = at % e.len();
                e[at] ^= x;
            }
            prop_assert_eq!(entry_matches(&k, &record, serial, &e), entry(&k, &record, serial) == e);
            prop_assert_eq!(entry_matches(&k, &record, serial, &e), flip.is_none());
        }
    }
}
