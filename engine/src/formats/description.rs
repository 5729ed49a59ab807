//! Description files: the text form of a [`FileSpec`] that `butil -create FILE DESCFILE`
//! reads and `butil -stat` prints, in the style of Btrieve's BUTIL.
//!
//! # Grammar
//!
//! A description is a sequence of `name=value` tokens separated by ASCII whitespace.
//! Line breaks are ordinary whitespace (they only number lines for error messages); there
//! are no spaces around `=`. Names and keyword values are ASCII case-insensitive.
//!
//! ```text
//! description := file-field* segment*
//! file-field  := record=N        required; the record length in bytes (0..=65535)
//!              | key=N           required; how many keys the segments define
//!              | page=N          optional; default 4096 (DEFAULT_PAGE_SIZE)
//!              | version=5|6     optional; default 6. The on-disk format: 6 = shadow
//!                                paging, 5 = legacy pre-imaging to NAME.PRE
//!                                ([`FileFormat`]); the writer gives it only for 5
//!              | compactleaves=y|n   optional; default n. `y`: index leaves keep each
//!                                column's shared part once (`FileSpec::compact_leaves`);
//!                                the writer gives it only for `y`
//!              | serialbytes=N   optional; default 8. Bytes of each data-page slot's
//!                                serial, 1..=8 (`FileSpec::slot_serial_bytes`); the
//!                                writer gives it only when not 8
//!              | variable=n      optional; `y` (variable-length records) is not supported
//!              | replace=n       optional; `y` is not supported (-create never overwrites)
//!              | truncate=n | compress=n     optional; accepted only as `n`
//! segment     := position=P seg-field*      `position=` starts every segment
//! seg-field   := length=L        required; bytes (0..=65535)
//!              | type=T          required; T = string | integer | unsigned
//!                                (`unsigned binary`, Btrieve's spelling, is also accepted:
//!                                the bare token `binary` right after `type=unsigned`)
//!              | segment=y|n     required; `y`: the next segment belongs to the same key
//!              | duplicates=y|n  required on a key's first segment, optional on the rest
//!              | modifiable=y|n  required on a key's first segment, optional on the rest
//!              | descending=y|n  optional; default n
//!              | alternate=n | nullkey=n     optional; accepted only as `n`
//! ```
//!
//! `P` is the 1-based byte position in the record (1..=65536; stored 0-based in
//! [`Segment::offset`]). Numbers are decimal digits only. Each field may appear once per
//! segment (once in the file part), in any order after `position=`. All file fields come
//! before the first segment. Keys are numbered in order of appearance.
//!
//! A `#` or `;` at the start of a token begins a comment that runs to the end of the line.
//! A UTF-8 byte-order mark at the start and a single Ctrl-Z (0x1A) at the very end are
//! ignored, so files saved by DOS/Windows editors parse.
//!
//! # Errors
//!
//! Anything the grammar rejects — a token that is not `name=value`, an unknown field, a
//! missing or repeated field, a value that is not what the field takes, segments of one key
//! that disagree on `duplicates`/`modifiable`, `segment=y` on the last segment, a number of
//! keys that differs from `key=` — is [`Status::IncorrectDescriptor`] (62), with the line,
//! the token and what was expected. A description that parses is then checked with
//! [`FileSpec::validate`], whose errors keep their own statuses (24, 26, 27, 28, 29).
//!
//! # Guarantees
//!
//! Pure function of the bytes: no I/O, no panics on any input, and no allocation larger
//! than a small multiple of the input length (numbers from the input are compared, never
//! used as sizes). [`write_description`] produces text that [`parse_description`] turns
//! back into the same spec for every spec that passes [`FileSpec::validate`].

use crate::file::spec::{
    FileFormat, FileSpec, KeySpec, KeyType, Segment, DEFAULT_PAGE_SIZE, MAX_KEYS,
};
use crate::status::{Error, Result, Status};
use std::fmt::Write as _;

/// Parse a description file into a validated [`FileSpec`].
pub fn parse_description(input: &[u8]) -> Result<FileSpec> {
    let mut parser = Parser::default();
    let mut lexer = Lexer::new(input);
    while let Some(tok) = lexer.next_token() {
        parser.token(tok)?;
    }
    let (spec, key_lines) = parser.finish(lexer.line)?;
    spec.validate().map_err(|e| {
        // Say where the keys are, so "key 2 segment 0 ..." can be found in the text.
        let mut at = String::from("description");
        if !key_lines.is_empty() && key_lines.len() <= MAX_KEYS {
            let each: Vec<String> = key_lines
                .iter()
                .enumerate()
                .map(|(k, l)| format!("key {k} on line {l}"))
                .collect();
            let _ = write!(at, " ({})", each.join(", "));
        }
        e.during(at)
    })?;
    Ok(spec)
}

/// Write `spec` as a description file (one line for the file, one per key segment, a
/// comment naming each key). Total: any spec gives some text; a spec that passes
/// [`FileSpec::validate`] parses back to itself.
pub fn write_description(spec: &FileSpec) -> String {
    let mut out = String::new();
    // `write!` into a String cannot fail; ignore the always-Ok result.
    let _ = writeln!(
        out,
        "# Keel description file (butil -create); positions are 1-based"
    );
    // `version=` only when it is not the default, so every 6.x description (and every
    // `-stat` output, snapshot and script that reads one) stays as it always was.
    let version = match spec.format {
        FileFormat::V6 => String::new(),
        other => format!(" version={}", other.version()),
    };
    let compact = if spec.compact_leaves {
        " compactleaves=y"
    } else {
        ""
    };
    let serial = match spec.slot_serial_bytes {
        8 => String::new(),
        n => format!(" serialbytes={n}"),
    };
    let _ = writeln!(
        out,
        "record={} page={} key={}{version}{compact}{serial}",
        spec.record_length,
        spec.page_size,
        spec.keys.len()
    );
    for (k, key) in spec.keys.iter().enumerate() {
        let _ = writeln!(out, "# key {k}");
        let last = key.segments.len().saturating_sub(1);
        for (s, seg) in key.segments.iter().enumerate() {
            let _ = writeln!(
                out,
                "position={} length={} duplicates={} modifiable={} type={} descending={} segment={}",
                u32::from(seg.offset) + 1,
                seg.length,
                yn(key.duplicates),
                yn(key.modifiable),
                seg.key_type.name(),
                yn(seg.descending),
                yn(s != last),
            );
        }
    }
    out
}

fn yn(b: bool) -> char {
    if b {
        'y'
    } else {
        'n'
    }
}

/// One whitespace-separated token and the line it starts on (1-based).
#[derive(Clone, Copy)]
struct Token<'a> {
    line: usize,
    text: &'a [u8],
}

struct Lexer<'a> {
    input: &'a [u8],
    pos: usize,
    line: usize,
}

impl<'a> Lexer<'a> {
    fn new(input: &'a [u8]) -> Lexer<'a> {
        let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
        let input = input.strip_suffix(b"\x1A").unwrap_or(input);
        Lexer {
            input,
            pos: 0,
            line: 1,
        }
    }

    fn next_token(&mut self) -> Option<Token<'a>> {
        loop {
            let &b = self.input.get(self.pos)?;
            if is_space(b) {
                if b == b'\n' {
                    self.line += 1;
                }
                self.pos += 1;
            } else if b == b'#' || b == b';' {
                while self.input.get(self.pos).is_some_and(|&c| c != b'\n') {
                    self.pos += 1;
                }
            } else {
                let start = self.pos;
                while self.input.get(self.pos).is_some_and(|&c| !is_space(c)) {
                    self.pos += 1;
                }
                let text = self.input.get(start..self.pos)?;
                return Some(Token {
                    line: self.line,
                    text,
                });
            }
        }
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0B | 0x0C)
}

/// A field value together with the line it was given on.
type At<T> = Option<(T, usize)>;

#[derive(Default)]
struct FilePart {
    record: At<u16>,
    page: At<u32>,
    keys: At<u64>,
    format: At<FileFormat>,
    compact_leaves: At<bool>,
    serial_bytes: At<u8>,
    variable: At<bool>,
    replace: At<bool>,
    truncate: At<bool>,
    compress: At<bool>,
}

/// The fields of the segment being read.
struct SegPart {
    line: usize,
    offset: u16,
    length: At<u16>,
    key_type: At<KeyType>,
    segment: At<bool>,
    duplicates: At<bool>,
    modifiable: At<bool>,
    descending: At<bool>,
    alternate: At<bool>,
    nullkey: At<bool>,
}

#[derive(Default)]
struct Parser {
    file: FilePart,
    /// Line of the first `position=`, once the key part has begun.
    keys_begin: Option<usize>,
    seg: Option<SegPart>,
    /// Segments of a key whose last segment said `segment=y`, and the line it began on.
    open_key: Option<(KeySpec, usize)>,
    keys: Vec<KeySpec>,
    /// The line each key's first segment starts on.
    key_lines: Vec<usize>,
    /// The last token was `type=unsigned`: a bare `binary` may follow.
    after_unsigned: bool,
}

fn show(text: &[u8]) -> String {
    const MAX: usize = 60;
    match text.get(..MAX) {
        Some(head) if text.len() > MAX => format!("{}...", head.escape_ascii()),
        _ => text.escape_ascii().to_string(),
    }
}

fn bad(tok: Token<'_>, expected: impl std::fmt::Display) -> Error {
    Error::new(
        Status::IncorrectDescriptor,
        format!(
            "description line {}: `{}`: expected {expected}",
            tok.line,
            show(tok.text)
        ),
    )
}

fn bad_at(line: usize, msg: impl std::fmt::Display) -> Error {
    Error::new(
        Status::IncorrectDescriptor,
        format!("description line {line}: {msg}"),
    )
}

/// A decimal number of at most `max`; digits only.
fn number(value: &[u8], max: u64) -> Option<u64> {
    if value.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &d in value {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
        if n > max {
            return None;
        }
    }
    Some(n)
}

fn flag(value: &[u8]) -> Option<bool> {
    if value.eq_ignore_ascii_case(b"y") {
        Some(true)
    } else if value.eq_ignore_ascii_case(b"n") {
        Some(false)
    } else {
        None
    }
}

fn key_type(value: &[u8]) -> Option<KeyType> {
    [KeyType::String, KeyType::Integer, KeyType::Unsigned]
        .into_iter()
        .find(|t| value.eq_ignore_ascii_case(t.name().as_bytes()))
}

/// Store a field, rejecting a second occurrence.
fn set<T>(slot: &mut At<T>, value: T, tok: Token<'_>, name: &str, scope: &str) -> Result<()> {
    if let Some((_, first)) = slot {
        return Err(bad(
            tok,
            format!("`{name}=` only once {scope} (first given on line {first})"),
        ));
    }
    *slot = Some((value, tok.line));
    Ok(())
}

const FILE_FIELDS: &str =
    "record=, key=, page=, version=, compactleaves=, serialbytes=, variable=, replace=, \
     truncate= or compress=";
const SEG_FIELDS: &str = "length=, type=, segment=, duplicates=, modifiable=, descending=, \
                          alternate=, nullkey= or position= (to start the next segment)";

impl Parser {
    fn token(&mut self, tok: Token<'_>) -> Result<()> {
        let after_unsigned = std::mem::take(&mut self.after_unsigned);
        let Some(eq) = tok.text.iter().position(|&b| b == b'=') else {
            if after_unsigned && tok.text.eq_ignore_ascii_case(b"binary") {
                return Ok(()); // `type=unsigned binary`
            }
            return Err(bad(tok, "`name=value` (no spaces around `=`)"));
        };
        let (name, rest) = tok.text.split_at(eq);
        let value = rest.get(1..).unwrap_or_default();
        if name.is_empty() {
            return Err(bad(tok, "a field name before `=` (no spaces around `=`)"));
        }
        if value.is_empty() {
            return Err(bad(tok, "a value after `=` (no spaces around `=`)"));
        }
        let name = name.to_ascii_lowercase();
        if name == b"position" {
            return self.position(tok, value);
        }
        if self.seg.is_some() {
            self.seg_field(tok, &name, value)
        } else if self.keys_begin.is_none() {
            self.file_field(tok, &name, value)
        } else {
            // Unreachable in practice: once the key part begins a segment is always open.
            Err(bad(tok, "`position=` to start a key segment"))
        }
    }

    fn file_field(&mut self, tok: Token<'_>, name: &[u8], value: &[u8]) -> Result<()> {
        let f = &mut self.file;
        const SCOPE: &str = "per description";
        match name {
            b"record" => {
                let n = number(value, u64::from(u16::MAX))
                    .ok_or_else(|| bad(tok, "a record length in bytes, 0 to 65535"))?;
                set(&mut f.record, n as u16, tok, "record", SCOPE)
            }
            b"page" => {
                let n = number(value, u64::from(u32::MAX))
                    .ok_or_else(|| bad(tok, "a page size in bytes (e.g. 4096)"))?;
                set(&mut f.page, n as u32, tok, "page", SCOPE)
            }
            b"key" => {
                let n = number(value, u64::MAX)
                    .ok_or_else(|| bad(tok, "the number of keys (a decimal number)"))?;
                set(&mut f.keys, n, tok, "key", SCOPE)
            }
            b"version" => {
                let v = number(value, u64::MAX)
                    .and_then(FileFormat::from_version)
                    .ok_or_else(|| {
                        bad(
                            tok,
                            "version=6 (shadow paging, the default) or version=5 (legacy \
                             pre-imaging)",
                        )
                    })?;
                set(&mut f.format, v, tok, "version", SCOPE)
            }
            b"compactleaves" => {
                let v = flag(value)
                    .ok_or_else(|| bad(tok, "compactleaves=y or compactleaves=n"))?;
                set(&mut f.compact_leaves, v, tok, "compactleaves", SCOPE)
            }
            b"serialbytes" => {
                let n = number(value, 8)
                    .filter(|&n| n >= 1)
                    .ok_or_else(|| bad(tok, "serialbytes=N, N from 1 to 8"))?;
                set(&mut f.serial_bytes, n as u8, tok, "serialbytes", SCOPE)
            }
            b"variable" => no_only(tok, value, &mut f.variable, "variable", SCOPE, "variable-length records are not supported yet"),
            b"replace" => no_only(tok, value, &mut f.replace, "replace", SCOPE, "butil -create never replaces an existing file; remove it first"),
            b"truncate" => no_only(tok, value, &mut f.truncate, "truncate", SCOPE, "blank truncation applies only to variable-length records, which are not supported"),
            b"compress" => no_only(tok, value, &mut f.compress, "compress", SCOPE, "data compression is not supported"),
            b"length" | b"type" | b"segment" | b"duplicates" | b"modifiable" | b"descending"
            | b"alternate" | b"nullkey" => Err(bad(
                tok,
                "`position=` before the fields of a key segment (every segment starts with position=)",
            )),
            _ => Err(bad(tok, format!("a file field: {FILE_FIELDS}"))),
        }
    }

    fn seg_field(&mut self, tok: Token<'_>, name: &[u8], value: &[u8]) -> Result<()> {
        let Some(s) = self.seg.as_mut() else {
            return Err(bad(tok, "`position=` to start a key segment"));
        };
        const SCOPE: &str = "per segment";
        match name {
            b"length" => {
                let n = number(value, u64::from(u16::MAX))
                    .ok_or_else(|| bad(tok, "a segment length in bytes, 0 to 65535"))?;
                set(&mut s.length, n as u16, tok, "length", SCOPE)
            }
            b"type" => {
                let t = key_type(value).ok_or_else(|| {
                    bad(
                        tok,
                        "a key type: string, integer or unsigned (or `unsigned binary`)",
                    )
                })?;
                set(&mut s.key_type, t, tok, "type", SCOPE)?;
                self.after_unsigned = t == KeyType::Unsigned;
                Ok(())
            }
            b"segment" => yes_no(tok, value, &mut s.segment, "segment"),
            b"duplicates" => yes_no(tok, value, &mut s.duplicates, "duplicates"),
            b"modifiable" => yes_no(tok, value, &mut s.modifiable, "modifiable"),
            b"descending" => yes_no(tok, value, &mut s.descending, "descending"),
            b"alternate" => no_only(
                tok,
                value,
                &mut s.alternate,
                "alternate",
                SCOPE,
                "alternate collating sequences are not supported",
            ),
            b"nullkey" => no_only(
                tok,
                value,
                &mut s.nullkey,
                "nullkey",
                SCOPE,
                "null keys are not supported",
            ),
            b"record" | b"key" | b"page" | b"version" | b"compactleaves" | b"serialbytes"
            | b"variable" | b"replace" | b"truncate" | b"compress" => Err(bad(
                tok,
                format!(
                    "a key segment field ({SEG_FIELDS}); file fields must come before the first \
                         position= (line {})",
                    self.keys_begin.unwrap_or(s.line)
                ),
            )),
            _ => Err(bad(tok, format!("a key segment field: {SEG_FIELDS}"))),
        }
    }

    fn position(&mut self, tok: Token<'_>, value: &[u8]) -> Result<()> {
        let p = number(value, u64::from(u16::MAX) + 1)
            .filter(|&p| p >= 1)
            .ok_or_else(|| bad(tok, "a 1-based byte position in the record, 1 to 65536"))?;
        if self.keys_begin.is_none() {
            self.keys_begin = Some(tok.line);
            self.check_file_part(tok.line)?;
        }
        if let Some(prev) = self.seg.take() {
            self.end_segment(prev)?;
        }
        self.seg = Some(SegPart {
            line: tok.line,
            offset: (p - 1) as u16,
            length: None,
            key_type: None,
            segment: None,
            duplicates: None,
            modifiable: None,
            descending: None,
            alternate: None,
            nullkey: None,
        });
        Ok(())
    }

    /// The file part has ended (at `line`): check its required fields.
    fn check_file_part(&self, line: usize) -> Result<()> {
        let f = &self.file;
        let missing = if f.record.is_none() {
            "record="
        } else if f.keys.is_none() {
            "key="
        } else {
            return Ok(());
        };
        Err(bad_at(
            line,
            format!("the file part (before the first position=) is missing `{missing}`, which is required"),
        ))
    }

    fn end_segment(&mut self, s: SegPart) -> Result<()> {
        let key_no = self.keys.len();
        let seg_no = self.open_key.as_ref().map_or(0, |(k, _)| k.segments.len());
        let what = format!(
            "key {key_no} segment {seg_no} (position= on line {})",
            s.line
        );
        let need = |field: &str| {
            bad_at(
                s.line,
                format!("{what} is missing `{field}`, which is required"),
            )
        };
        let (length, _) = s.length.ok_or_else(|| need("length="))?;
        let (key_type, _) = s.key_type.ok_or_else(|| need("type="))?;
        let (more, _) = s.segment.ok_or_else(|| need("segment=y|n"))?;
        let descending = s.descending.is_some_and(|(d, _)| d);
        let seg = Segment {
            offset: s.offset,
            length,
            key_type,
            descending,
        };
        let (mut key, first_line) = match self.open_key.take() {
            None => {
                let (duplicates, _) = s.duplicates.ok_or_else(|| need("duplicates=y|n"))?;
                let (modifiable, _) = s.modifiable.ok_or_else(|| need("modifiable=y|n"))?;
                (
                    KeySpec {
                        segments: Vec::new(),
                        duplicates,
                        modifiable,
                    },
                    s.line,
                )
            }
            Some((key, first_line)) => {
                for (given, keyval, name) in [
                    (s.duplicates, key.duplicates, "duplicates"),
                    (s.modifiable, key.modifiable, "modifiable"),
                ] {
                    if let Some((v, line)) = given {
                        if v != keyval {
                            return Err(bad_at(
                                line,
                                format!(
                                    "{what} says {name}={} but the key's first segment (line \
                                     {first_line}) says {name}={}; a key's flags come from its \
                                     first segment, so its segments must agree",
                                    yn(v),
                                    yn(keyval)
                                ),
                            ));
                        }
                    }
                }
                (key, first_line)
            }
        };
        key.segments.push(seg);
        if more {
            self.open_key = Some((key, first_line));
        } else {
            self.keys.push(key);
            self.key_lines.push(first_line);
        }
        Ok(())
    }

    /// End of input: the spec, and the line each key starts on.
    fn finish(mut self, last_line: usize) -> Result<(FileSpec, Vec<usize>)> {
        if self.keys_begin.is_none() {
            self.check_file_part(last_line)?;
        }
        if let Some(s) = self.seg.take() {
            self.end_segment(s)?;
        }
        if let Some((key, line)) = self.open_key.take() {
            return Err(bad_at(
                line,
                format!(
                    "key {} ends with segment=y on its last segment ({} segment(s)), but no \
                     segment follows; use segment=n on a key's last segment",
                    self.keys.len(),
                    key.segments.len()
                ),
            ));
        }
        let (record_length, _) = self.file.record.unwrap_or((0, 0));
        let (declared, key_line) = self.file.keys.unwrap_or((0, 0));
        if declared != self.keys.len() as u64 {
            return Err(bad_at(
                key_line,
                format!(
                    "`key={declared}` but the segments define {} key(s); a key ends at a segment \
                     with segment=n",
                    self.keys.len()
                ),
            ));
        }
        let page_size = self.file.page.map_or(DEFAULT_PAGE_SIZE, |(p, _)| p);
        let format = self.file.format.map_or(FileFormat::default(), |(f, _)| f);
        Ok((
            FileSpec {
                record_length,
                page_size,
                keys: self.keys,
                format,
                compact_leaves: self.file.compact_leaves.is_some_and(|(c, _)| c),
                slot_serial_bytes: self.file.serial_bytes.map_or(8, |(n, _)| n),
            },
            self.key_lines,
        ))
    }
}

fn yes_no(tok: Token<'_>, value: &[u8], slot: &mut At<bool>, name: &str) -> Result<()> {
    let v = flag(value).ok_or_else(|| bad(tok, format!("{name}=y or {name}=n")))?;
    set(slot, v, tok, name, "per segment")
}

/// A Btrieve field Keel accepts only with the value `n`.
fn no_only(
    tok: Token<'_>,
    value: &[u8],
    slot: &mut At<bool>,
    name: &str,
    scope: &str,
    why: &str,
) -> Result<()> {
    match flag(value) {
        Some(false) => set(slot, false, tok, name, scope),
        Some(true) => Err(bad(tok, format!("{name}=n ({why})"))),
        None => Err(bad(tok, format!("{name}=n"))),
    }
}

#[cfg(test)]
#[path = "description_tests.rs"]
mod tests;
