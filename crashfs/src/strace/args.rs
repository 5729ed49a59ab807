//! Decoding strace's argument syntax (as printed with `-y -xx`).

/// Splits an argument list at its top-level commas.
pub fn split_args(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut quoted = false;
    let mut escaped = false;
    let mut cur = String::new();
    for c in s.chars() {
        if quoted {
            cur.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                quoted = false;
            }
            continue;
        }
        match c {
            '"' => quoted = true,
            '(' | '[' | '{' | '<' => depth += 1,
            ')' | ']' | '}' | '>' => depth -= 1,
            ',' if depth == 0 => {
                out.push(cur.trim().to_string());
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

/// Decodes an escaped string body up to its terminator (`"` or `>`), returning the bytes.
/// A string strace cut short (`"..."...`) is an error: its bytes are not all known.
pub fn decode_quoted(s: &str, terminator: char) -> Result<Vec<u8>, String> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' if i + 1 < b.len() => {
                let (byte, used) = match b[i + 1] {
                    b'x' if i + 3 < b.len() => {
                        let h = std::str::from_utf8(&b[i + 2..i + 4])
                            .map_err(|_| "bad escape".to_string())?;
                        (
                            u8::from_str_radix(h, 16).map_err(|_| format!("bad escape \\x{h}"))?,
                            4,
                        )
                    }
                    b'n' => (b'\n', 2),
                    b't' => (b'\t', 2),
                    b'r' => (b'\r', 2),
                    b'v' => (0x0b, 2),
                    b'f' => (0x0c, 2),
                    b'\\' => (b'\\', 2),
                    b'"' => (b'"', 2),
                    c if c.is_ascii_digit() => {
                        let digits = b[i + 1..]
                            .iter()
                            .take(3)
                            .take_while(|d| (b'0'..=b'7').contains(d))
                            .count();
                        let o = std::str::from_utf8(&b[i + 1..i + 1 + digits])
                            .map_err(|_| "bad escape".to_string())?;
                        (
                            u8::from_str_radix(o, 8).map_err(|_| format!("bad escape \\{o}"))?,
                            1 + digits,
                        )
                    }
                    c => return Err(format!("unknown escape \\{}", c as char)),
                };
                out.push(byte);
                i += used;
            }
            c if c as char == terminator => {
                if s[i + 1..].starts_with("...") {
                    return Err("strace cut the buffer short (raise -s)".to_string());
                }
                return Ok(out);
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Err(format!("unterminated string in strace output: {s:?}"))
}

/// A descriptor argument: its number (`None` for AT_FDCWD) and strace's path for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FdArg {
    pub fd: Option<i64>,
    pub path: Option<Vec<u8>>,
}

/// Reads `3</path>`, `3`, `0x3`, or `AT_FDCWD</cwd>`.
pub fn fd_arg(s: &str) -> Option<FdArg> {
    let (head, path) = match s.find('<') {
        Some(i) => (&s[..i], decode_quoted(&s[i + 1..], '>').ok()),
        None => (s, None),
    };
    let fd = if head == "AT_FDCWD" {
        None
    } else {
        Some(int_arg(head)?)
    };
    Some(FdArg { fd, path })
}

/// Reads a decimal, hex (`0x`) or octal (`0…`) integer.
pub fn int_arg(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Some(h) = s.strip_prefix("0x") {
        i64::from_str_radix(h, 16).ok()
    } else if s.len() > 1 && s.starts_with('0') && s.bytes().all(|b| b.is_ascii_digit()) {
        i64::from_str_radix(&s[1..], 8).ok()
    } else {
        s.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_nested_arguments_and_decodes_hex_strings() {
        let a = split_args(
            r#"3<\x2f\x61>, [{iov_base="\x68\x2c", iov_len=2}, {iov_base="\x69", iov_len=1}], 2"#,
        );
        assert_eq!(a.len(), 3);
        assert_eq!(decode_quoted("\\x68\\x2c\"", '"').unwrap(), b"h,");
        assert!(decode_quoted("\\x68\"...", '"').is_err());
        assert_eq!(
            fd_arg(r"AT_FDCWD<\x2f>"),
            Some(FdArg {
                fd: None,
                path: Some(b"/".to_vec())
            })
        );
        assert_eq!(
            fd_arg("0x3"),
            Some(FdArg {
                fd: Some(3),
                path: None
            })
        );
        assert_eq!(int_arg("0666"), Some(0o666));
    }
}
