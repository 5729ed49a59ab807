//! Unformatted sequential files: the record interchange format of `butil -save`,
//! `-load` and `-recover`, as in Btrieve's BUTIL.
//!
//! # Format
//!
//! ```text
//! file   := record* eof?
//! record := LENGTH "," DATA CR LF      LENGTH: 1 to 9 ASCII digits, value 0..=65535;
//!                                      DATA: exactly LENGTH bytes, any values
//! eof    := 0x1A                       one Ctrl-Z, only as the very last byte
//! ```
//!
//! An empty file (or one holding only the Ctrl-Z) has no records. The data is binary-safe:
//! it may itself contain CR, LF, commas or 0x1A, because the length, not a delimiter, says
//! where it ends; the CR LF after it is only a check that the length was right. Leading
//! zeros in the length are allowed. Anything else — a missing comma or CR LF, a file that
//! ends inside a record, bytes after the Ctrl-Z — is an error. That the length matches the
//! target file's record length is the loader's check, not this module's.
//!
//! # Guarantees
//!
//! [`SeqReader`] borrows the input and yields each record's data as a slice of it: no
//! copying, no allocation sized by a length read from the file, no panics on any input.
//! Errors are [`Status::InvalidRecordLength`] (28) and name the 1-based record number and
//! the byte offset where that record starts; after an error the reader yields nothing more.
//! [`write_record`] (plus an optional [`write_end`]) produces exactly what the reader
//! accepts, for records of at most [`MAX_RECORD_LENGTH`] bytes.

use crate::status::{Error, Result, Status};

/// The end-of-file marker (Ctrl-Z) a sequential file may end with.
pub const END_OF_FILE: u8 = 0x1A;
/// Most digits a length may have (leading zeros included).
pub const MAX_LENGTH_DIGITS: usize = 9;
/// Longest record a sequential file may hold (the longest record a data file can have).
pub const MAX_RECORD_LENGTH: usize = u16::MAX as usize;

/// Reads records from a sequential file held in memory, one at a time.
///
/// ```
/// use engine::formats::sequential::SeqReader;
/// let mut r = SeqReader::new(b"3,abc\r\n2,\r\n\r\n\x1a");
/// assert_eq!(r.next().unwrap().unwrap(), b"abc");
/// assert_eq!(r.next().unwrap().unwrap(), b"\r\n");
/// assert!(r.next().is_none());
/// ```
#[derive(Clone, Debug)]
pub struct SeqReader<'a> {
    input: &'a [u8],
    pos: usize,
    records: u64,
    done: bool,
}

impl<'a> SeqReader<'a> {
    pub fn new(input: &'a [u8]) -> SeqReader<'a> {
        SeqReader {
            input,
            pos: 0,
            records: 0,
            done: false,
        }
    }

    /// Byte offset of the next record (after the end: the input length).
    pub fn offset(&self) -> usize {
        self.pos
    }

    /// How many records have been returned so far.
    pub fn records_read(&self) -> u64 {
        self.records
    }

    fn error(&mut self, msg: impl std::fmt::Display) -> Error {
        self.done = true;
        Error::new(
            Status::InvalidRecordLength,
            format!(
                "sequential file, record {} at byte offset {}: {msg}",
                self.records + 1,
                self.pos
            ),
        )
    }

    fn read(&mut self) -> Option<Result<&'a [u8]>> {
        let rest = self.input.get(self.pos..).unwrap_or_default();
        match rest {
            [] => return None,
            [END_OF_FILE] => {
                self.pos += 1;
                return None;
            }
            [END_OF_FILE, after @ ..] => {
                let n = after.len();
                return Some(Err(self.error(format!(
                    "{n} byte(s) follow the end-of-file marker (Ctrl-Z, 0x1A); it may only be \
                     the last byte"
                ))));
            }
            _ => {}
        }
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return Some(Err(self.error(format!(
                "expected the record's length in decimal digits, found {}",
                describe(rest.first().copied())
            ))));
        }
        if digits > MAX_LENGTH_DIGITS {
            return Some(Err(self.error(format!(
                "the length has {digits} digits; at most {MAX_LENGTH_DIGITS} are allowed"
            ))));
        }
        let (len_text, rest) = rest.split_at(digits);
        // At most 9 digits: fits in u64 without overflow.
        let len = len_text
            .iter()
            .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
        if len > MAX_RECORD_LENGTH as u64 {
            return Some(Err(self.error(format!(
                "length {len} is larger than the longest record ({MAX_RECORD_LENGTH} bytes)"
            ))));
        }
        let len = len as usize;
        let Some(rest) = rest.strip_prefix(b",") else {
            return Some(Err(self.error(format!(
                "expected `,` after the length {len}, found {}",
                describe(rest.first().copied())
            ))));
        };
        let Some((data, rest)) = rest.split_at_checked(len) else {
            return Some(Err(self.error(format!(
                "the length says {len} bytes but only {} remain: the file is truncated or the \
                 length is wrong",
                rest.len()
            ))));
        };
        if !rest.starts_with(b"\r\n") {
            let hint = match rest {
                [] => "the file ends there",
                [b'\n', ..] => "found LF without CR: was the file converted to Unix line endings?",
                [b'\r'] => "the file ends after the CR",
                _ => "the length does not match the data",
            };
            return Some(Err(self.error(format!(
                "expected CR LF after the {len}-byte record; {hint}"
            ))));
        }
        self.pos += digits + 1 + len + 2;
        self.records += 1;
        Some(Ok(data))
    }
}

fn describe(b: Option<u8>) -> String {
    match b {
        None => "the end of the file".to_string(),
        Some(b) => format!("byte 0x{b:02X} `{}`", [b].escape_ascii()),
    }
}

impl<'a> Iterator for SeqReader<'a> {
    type Item = Result<&'a [u8]>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = self.read();
        if item.is_none() {
            self.done = true;
        }
        item
    }
}

impl std::iter::FusedIterator for SeqReader<'_> {}

/// Append one record in sequential-file framing: `LENGTH,DATA\r\n`.
///
/// Records longer than [`MAX_RECORD_LENGTH`] are written as given but the reader will
/// reject them; the engine never has such records.
pub fn write_record(out: &mut Vec<u8>, record: &[u8]) {
    out.extend_from_slice(record.len().to_string().as_bytes());
    out.push(b',');
    out.extend_from_slice(record);
    out.extend_from_slice(b"\r\n");
}

/// Append the optional end-of-file marker (Ctrl-Z). Write it once, last.
pub fn write_end(out: &mut Vec<u8>) {
    out.push(END_OF_FILE);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::description::parse_description;
    use proptest::prelude::*;

    fn read_all(input: &[u8]) -> Result<Vec<&[u8]>> {
        SeqReader::new(input).collect()
    }

    fn err(input: &[u8]) -> Error {
        match read_all(input) {
            Ok(records) => panic!("expected an error for {input:?}, got {records:?}"),
            Err(e) => e,
        }
    }

    fn framing_err(input: &[u8], record: u64, offset: usize, needle: &str) {
        let e = err(input);
        assert_eq!(e.status, Status::InvalidRecordLength, "{e}");
        let at = format!("record {record} at byte offset {offset}:");
        assert!(e.context.contains(&at), "{at:?} not in: {e}");
        assert!(e.context.contains(needle), "{needle:?} not in: {e}");
    }

    #[test]
    fn empty_and_end_marker_only() {
        assert_eq!(read_all(b"").unwrap(), Vec::<&[u8]>::new());
        assert_eq!(read_all(b"\x1a").unwrap(), Vec::<&[u8]>::new());
    }

    #[test]
    fn records_are_binary_safe() {
        let input = b"5,a,b\r\n\r\n2,\x1a\n\r\n0,\r\n003,xyz\r\n\x1a";
        let mut r = SeqReader::new(input);
        assert_eq!(r.next().unwrap().unwrap(), b"a,b\r\n");
        assert_eq!((r.records_read(), r.offset()), (1, 9));
        assert_eq!(r.next().unwrap().unwrap(), b"\x1a\n");
        assert_eq!(r.next().unwrap().unwrap(), b"");
        assert_eq!(r.next().unwrap().unwrap(), b"xyz");
        assert!(r.next().is_none());
        assert!(r.next().is_none());
        assert_eq!((r.records_read(), r.offset()), (4, input.len()));
    }

    #[test]
    fn framing_errors_name_record_and_offset() {
        framing_err(b"x", 1, 0, "decimal digits, found byte 0x78");
        framing_err(b"3,abc\r\n\r\n", 2, 7, "decimal digits, found byte 0x0D");
        framing_err(b"3,abc\r\n,", 2, 7, "found byte 0x2C `,`");
        framing_err(b"1234567890,", 1, 0, "10 digits");
        framing_err(
            b"000000001,a\r\n1",
            2,
            13,
            "after the length 1, found the end of the file",
        );
        framing_err(b"65536,", 1, 0, "length 65536 is larger");
        framing_err(b"999999999,", 1, 0, "larger");
        framing_err(
            b"12",
            1,
            0,
            "`,` after the length 12, found the end of the file",
        );
        framing_err(b"3;abc\r\n", 1, 0, "found byte 0x3B `;`");
        framing_err(b"2,a", 1, 0, "says 2 bytes but only 1 remain");
        framing_err(b"3,abc\n", 1, 0, "LF without CR");
        framing_err(b"3,abcd\r\n", 1, 0, "does not match");
        framing_err(b"3,abc", 1, 0, "file ends there");
        framing_err(b"3,abc\r", 1, 0, "after the CR");
        framing_err(b"1,a\r\n\x1a\x1a", 2, 5, "follow the end-of-file marker");
        framing_err(b"\x1a1,a\r\n", 1, 0, "5 byte(s) follow");
    }

    #[test]
    fn stops_after_an_error() {
        let mut r = SeqReader::new(b"1,a\r\nbad1,b\r\n");
        assert_eq!(r.next().unwrap().unwrap(), b"a");
        assert!(r.next().unwrap().is_err());
        assert!(r.next().is_none());
        assert_eq!(r.records_read(), 1);
    }

    #[test]
    fn largest_record() {
        let big = vec![7u8; MAX_RECORD_LENGTH];
        let mut out = Vec::new();
        write_record(&mut out, &big);
        assert_eq!(read_all(&out).unwrap(), vec![&big[..]]);
    }

    /// Each demo file's records all have the length its description gives.
    #[test]
    fn demo_files_have_their_record_length() {
        let demo: [(&str, &[u8], &[u8], usize); 3] = [
            (
                "person",
                include_bytes!("../../../corpora/demodata/person.des"),
                include_bytes!("../../../corpora/demodata/person.seq"),
                50,
            ),
            (
                "course",
                include_bytes!("../../../corpora/demodata/course.des"),
                include_bytes!("../../../corpora/demodata/course.seq"),
                12,
            ),
            (
                "enrollment",
                include_bytes!("../../../corpora/demodata/enrollment.des"),
                include_bytes!("../../../corpora/demodata/enrollment.seq"),
                150,
            ),
        ];
        for (name, des, seq, count) in demo {
            let spec = parse_description(des).unwrap_or_else(|e| panic!("{name}.des: {e}"));
            let records = read_all(seq).unwrap_or_else(|e| panic!("{name}.seq: {e}"));
            assert_eq!(records.len(), count, "{name}.seq");
            for (i, r) in records.iter().enumerate() {
                assert_eq!(
                    r.len(),
                    usize::from(spec.record_length),
                    "{name}.seq record {i}"
                );
            }
        }
    }

    proptest! {
        #[test]
        fn round_trip(
            records in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..20),
            end in any::<bool>(),
        ) {
            let mut out = Vec::new();
            for r in &records {
                write_record(&mut out, r);
            }
            if end {
                write_end(&mut out);
            }
            let back = read_all(&out).unwrap();
            prop_assert_eq!(back.len(), records.len());
            for (a, b) in back.iter().zip(&records) {
                prop_assert_eq!(*a, &b[..]);
            }
        }

        #[test]
        fn any_bytes_give_records_or_error(input in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut r = SeqReader::new(&input);
            let mut n = 0u64;
            for item in r.by_ref() {
                match item {
                    Ok(rec) => {
                        n += 1;
                        prop_assert!(rec.len() <= input.len());
                    }
                    Err(e) => prop_assert_eq!(e.status, Status::InvalidRecordLength),
                }
            }
            prop_assert_eq!(r.records_read(), n);
            prop_assert!(r.offset() <= input.len());
        }

        /// Damage to a valid file is reported (or, if it still frames, read), never a panic.
        #[test]
        fn damaged_files(
            records in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..8),
            at in any::<proptest::sample::Index>(),
            byte in any::<u8>(),
            cut in any::<bool>(),
        ) {
            let mut out = Vec::new();
            for r in &records {
                write_record(&mut out, r);
            }
            let i = at.index(out.len());
            if cut { out.truncate(i) } else { out[i] = byte }
            for item in SeqReader::new(&out) {
                if let Err(e) = item {
                    prop_assert_eq!(e.status, Status::InvalidRecordLength);
                }
            }
        }
    }
}
