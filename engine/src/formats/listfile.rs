//! List files: the `@LISTFILE` argument of `butil -startbu` and `-endbu`, naming the
//! data files to put into (or take out of) continuous operations together.
//!
//! # Format
//!
//! One path per line; lines end with LF or CR LF. Each line is trimmed of leading and
//! trailing ASCII whitespace (so CR, and indentation, never become part of a path). After
//! trimming, empty lines and lines starting with `#` or `;` are ignored. A UTF-8 byte-order
//! mark at the start and a single Ctrl-Z (0x1A) at the very end are ignored.
//!
//! Paths are returned as written, in order; they are not normalised, checked for
//! existence or de-duplicated (that is `startbu`'s all-or-nothing check). An empty list is
//! returned as an empty `Vec`; the caller decides whether that is an error.
//!
//! # Errors
//!
//! All [`Status::InvalidFileName`] (11), naming the 1-based line: a path with a wildcard
//! (`*` or `?` — Btrieve's continuous operations take no wildcards), a path with a NUL
//! byte, or a path that is not valid UTF-8.
//!
//! # Guarantees
//!
//! Pure function of the bytes: no I/O, no panics, output no larger than the input.

use crate::status::{fail, Result, Status};

/// Parse a list file into the paths it names.
pub fn parse_list(input: &[u8]) -> Result<Vec<String>> {
    let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let input = input.strip_suffix(b"\x1A").unwrap_or(input);
    let mut paths = Vec::new();
    for (i, raw) in input.split(|&b| b == b'\n').enumerate() {
        let line = i + 1;
        let text = raw.trim_ascii();
        if text.is_empty() || text.starts_with(b"#") || text.starts_with(b";") {
            continue;
        }
        let Ok(path) = std::str::from_utf8(text) else {
            return fail(
                Status::InvalidFileName,
                format!(
                    "list file line {line}: `{}` is not valid UTF-8",
                    shown(text)
                ),
            );
        };
        if let Some(w) = path.chars().find(|&c| c == '*' || c == '?') {
            return fail(
                Status::InvalidFileName,
                format!(
                    "list file line {line}: `{}` contains the wildcard `{w}`; continuous \
                     operations take no wildcards, so name every file",
                    path.escape_debug()
                ),
            );
        }
        if path.contains('\0') {
            return fail(
                Status::InvalidFileName,
                format!(
                    "list file line {line}: `{}` contains a NUL byte",
                    path.escape_debug()
                ),
            );
        }
        paths.push(path.to_string());
    }
    Ok(paths)
}

/// A path for an error message: escaped, and cut short if very long.
fn shown(text: &[u8]) -> String {
    const MAX: usize = 200;
    match text.get(..MAX) {
        Some(head) if text.len() > MAX => format!("{}...", head.escape_ascii()),
        _ => text.escape_ascii().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn err(input: &[u8]) -> crate::status::Error {
        match parse_list(input) {
            Ok(paths) => panic!("expected an error for {input:?}, got {paths:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn paths_comments_blanks_and_line_endings() {
        let input = b"\xEF\xBB\xBF# files of the invoice set\r\n\
                      /data/invoice.hdr\r\n\
                      \r\n\
                      \t  ; indented comment with a * wildcard and \xFF\r\n\
                      \t/data/my files/customer.btr  \t\r\n\
                      C:\\BTI\\DATA\\ITEMS.DAT\n\
                      relative/M\xC3\xBCller.btr\
                      \x1a";
        assert_eq!(
            parse_list(input).unwrap(),
            vec![
                "/data/invoice.hdr",
                "/data/my files/customer.btr",
                "C:\\BTI\\DATA\\ITEMS.DAT",
                "relative/Müller.btr",
            ]
        );
    }

    #[test]
    fn empty_lists() {
        for input in [&b""[..], b"\n\n", b"# nothing\r\n  \r\n", b"\x1a"] {
            assert_eq!(parse_list(input).unwrap(), Vec::<String>::new());
        }
        // Only ASCII whitespace is trimmed (vertical tab is not, as in `trim_ascii`).
        assert_eq!(parse_list(b"\x0b").unwrap(), vec!["\u{b}"]);
    }

    #[test]
    fn wildcards_are_rejected_with_their_line() {
        let e = err(b"a.btr\n\n*.btr\n");
        assert_eq!(e.status, Status::InvalidFileName);
        assert!(
            e.context.contains("line 3") && e.context.contains("`*.btr`"),
            "{e}"
        );
        assert!(e.context.contains("wildcard `*`"), "{e}");
        let e = err(b"# c\r\ndata/file?.btr\r\n");
        assert_eq!(e.status, Status::InvalidFileName);
        assert!(
            e.context.contains("line 2") && e.context.contains("wildcard `?`"),
            "{e}"
        );
    }

    #[test]
    fn bad_bytes_are_rejected_with_their_line() {
        let e = err(b"ok.btr\nbad\xFF.btr\n");
        assert_eq!(e.status, Status::InvalidFileName);
        assert!(
            e.context.contains("line 2") && e.context.contains("not valid UTF-8"),
            "{e}"
        );
        assert!(e.context.contains("bad\\xff.btr"), "{e}");
        let e = err(b"a\0b\n");
        assert_eq!(e.status, Status::InvalidFileName);
        assert!(
            e.context.contains("line 1") && e.context.contains("NUL"),
            "{e}"
        );
    }

    proptest! {
        #[test]
        fn any_bytes_give_paths_or_error(input in proptest::collection::vec(any::<u8>(), 0..256)) {
            match parse_list(&input) {
                Ok(paths) => {
                    let total: usize = paths.iter().map(String::len).sum();
                    prop_assert!(total <= input.len());
                    for p in paths {
                        prop_assert!(!p.is_empty() && p.trim_ascii() == p);
                        prop_assert!(!p.contains(['*', '?', '\0', '\n']));
                        prop_assert!(!p.starts_with(['#', ';']));
                    }
                }
                Err(e) => prop_assert_eq!(e.status, Status::InvalidFileName),
            }
        }

        #[test]
        fn listed_paths_come_back(paths in proptest::collection::vec("[a-zA-Z0-9_./ -]{0,20}[a-zA-Z0-9_.]", 0..10), crlf in any::<bool>()) {
            let eol = if crlf { "\r\n" } else { "\n" };
            let text: String = paths.iter().map(|p| format!("  {p}{eol}# comment{eol}")).collect();
            let expected: Vec<String> = paths.iter().map(|p| p.trim().to_string()).collect();
            prop_assert_eq!(parse_list(text.as_bytes()).unwrap(), expected);
        }
    }
}
