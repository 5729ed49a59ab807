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
/// it found (and the structure check every entry of every index). `record` must be a
/// whole record (the spec puts every segment inside it).
pub fn entry_matches(key: &KeySpec, record: &[u8], serial: u64, entry: &[u8]) -> bool {
    // The serial suffix first; the segments then take the key part from the front,
    // and must use it up: that is `entry.len() == key.length() + SERIAL_LEN`, without
    // summing the segment lengths for every entry.
    let Some((mut rest, suffix)) = entry.split_last_chunk::<SERIAL_LEN>() else {
        return false;
    };
    if *suffix != serial.to_be_bytes() {
        return false;
    }
    for s in &key.segments {
        let (off, n) = (s.offset as usize, s.length as usize);
        let (Some(raw), Some((want, tail))) = (record.get(off..off + n), rest.split_at_checked(n))
        else {
            return false;
        };
        if !segment_matches(s, raw, want) {
            return false;
        }
        rest = tail;
    }
    rest.is_empty()
}

/// Whether `want` is `normalize_segment` of `raw` (both the segment's length).
fn segment_matches(s: &Segment, raw: &[u8], want: &[u8]) -> bool {
    let flip = if s.descending { 0xff } else { 0 };
    // `raw` reversed, each byte inverted for a descending segment, is `want`.
    let reversed =
        |raw: &[u8], want: &[u8]| raw.iter().rev().zip(want).all(|(r, w)| r ^ flip == *w);
    // The common binary keys (8-, 4- and 2-byte integers, key 0 of most files): one
    // word comparison. Normalizing an integer is writing its value big-endian, with
    // the sign bit flipped (Integer) and every bit for a descending segment, so the
    // raw little-endian value with those bits flipped must equal `want` read
    // big-endian. Every Get checks the entry it followed this way, so a scan pays it
    // once a record.
    if s.key_type != KeyType::String {
        let sign = u8::from(s.key_type == KeyType::Integer) << 7;
        let word = match raw.len() {
            8 => word_matches::<8>(raw, want, sign, flip),
            4 => word_matches::<4>(raw, want, sign, flip),
            2 => word_matches::<2>(raw, want, sign, flip),
            _ => None,
        };
        if let Some(same) = word {
            return same;
        }
    }
    match s.key_type {
        // Bytes as they are: one slice comparison, not a loop over the bytes.
        KeyType::String if flip == 0 => raw == want,
        KeyType::String => raw.iter().zip(want).all(|(r, w)| r ^ flip == *w),
        KeyType::Unsigned => reversed(raw, want),
        // Reversed with the sign bit flipped: on the most significant byte, which is
        // the last of `raw` and the first of `want`.
        KeyType::Integer => match (raw.split_last(), want.split_first()) {
            (Some((r0, raw)), Some((w0, want))) => r0 ^ 0x80 ^ flip == *w0 && reversed(raw, want),
            _ => true,
        },
    }
}

/// [`segment_matches`] for an `N`-byte integer segment (`N` ≤ 8) as one word
/// comparison: `raw` read little-endian, its top byte's `sign` bits and every byte's
/// `flip` bits flipped, against `want` read big-endian. `None` if either is not `N`
/// bytes long.
fn word_matches<const N: usize>(raw: &[u8], want: &[u8], sign: u8, flip: u8) -> Option<bool> {
    let (mut r, mut w) = ([0u8; 8], [0u8; 8]);
    r[..N].copy_from_slice(<&[u8; N]>::try_from(raw).ok()?);
    w[8 - N..].copy_from_slice(<&[u8; N]>::try_from(want).ok()?);
    let mask = u64::MAX >> (64 - 8 * N);
    let flips = (u64::from(sign) << (8 * N - 8)) ^ (u64::from_ne_bytes([flip; 8]) & mask);
    Some(u64::from_le_bytes(r) ^ flips == u64::from_be_bytes(w))
}

/// The index entry of a record for a key.
pub fn entry(key: &KeySpec, record: &[u8], serial: u64) -> Vec<u8> {
    // `normalize(key, &raw_key(key, record))` plus the serial, in one allocation: each
    // segment is normalized straight from the record, in the order `raw_key` would
    // have laid them out (every insert, update and delete builds entries).
    let mut e = Vec::with_capacity(key.length() + SERIAL_LEN);
    for s in &key.segments {
        let at = s.offset as usize;
        normalize_segment(s, &record[at..at + s.length as usize], &mut e);
    }
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
            record in proptest::collection::vec(any::<u8>(), 30),
            serial: u64,
            types in proptest::collection::vec((0u8..3, any::<bool>(), 1u16..=10), 3),
            flip in proptest::option::of((0usize..64, 1u8..=255)),
        ) {
            // Lengths 1-10 at offsets 0, 10, 20: the word-sized integers' fast path
            // (2, 4, 8) and the byte loop (the rest).
            let segments = types.iter().enumerate().map(|(i, &(t, descending, length))| Segment {
                offset: (i * 10) as u16,
                length,
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
            // An entry one byte short or long never matches, whatever its bytes.
            let good = entry(&k, &record, serial);
            // And an entry is the normalized raw key then the serial.
            let mut built = normalize(&k, &raw_key(&k, &record));
            built.extend_from_slice(&serial.to_be_bytes());
            prop_assert_eq!(&good, &built);
            for cut in 0..good.len() {
                prop_assert!(!entry_matches(&k, &record, serial, &good[..cut]));
            }
            let mut long = good.clone();
            long.insert(flip.map_or(0, |(at, _)| at % good.len()), 0);
            prop_assert!(!entry_matches(&k, &record, serial, &long));
        }
    }
}
