//! The admin wire format: one frame per request and one per reply, length-framed and
//! versioned so a client and an engine of different builds refuse each other cleanly.
//!
//! ```text
//! [magic "KADM"][version u16 LE][kind u8][reserved u8 = 0][payload len u32 LE][payload]
//! ```
//!
//! Request payloads are lists of paths — `u32 count`, then per path `u32 len` and that
//! many bytes of UTF-8 (no NUL, not empty): Stat and Check carry exactly one path,
//! StartBackup, EndBackup and KillBackup at least one; EndBackupAll and Flush carry
//! nothing. A reply (kind [`KIND_REPLY`]) carries `status u16`, `exit code i32`, then
//! stdout and stderr as `u32 len` + UTF-8.
//!
//! Decoding never trusts a length: every length is checked against the bytes actually
//! present before anything is allocated, a frame is at most [`MAX_FRAME`] bytes, and
//! anything left over after the payload is an error. Bytes from a socket are
//! untrusted input (fuzz target `admin_request`).

use super::{Reply, Request};
use std::fmt;
use std::path::PathBuf;

/// The frame's first four bytes.
pub const MAGIC: [u8; 4] = *b"KADM";
/// The only version this build speaks.
pub const VERSION: u16 = 1;
/// Header length: magic, version, kind, reserved, payload length.
pub const HEADER_LEN: usize = 12;
/// The largest request frame, header included: paths are short, so anything bigger is
/// not a request this engine should read.
pub const MAX_FRAME: usize = 64 * 1024;
/// The largest reply frame; a reply's stdout is cut to fit (a check of a badly damaged
/// file can list many problems).
pub const MAX_REPLY_FRAME: usize = 4 * 1024 * 1024;

const KIND_STAT: u8 = 1;
const KIND_CHECK: u8 = 2;
const KIND_START_BACKUP: u8 = 3;
const KIND_END_BACKUP: u8 = 4;
const KIND_END_BACKUP_ALL: u8 = 5;
const KIND_KILL_BACKUP: u8 = 6;
const KIND_FLUSH: u8 = 7;
/// A reply frame's kind.
pub const KIND_REPLY: u8 = 0x80;

/// Why bytes are not a frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer bytes than the header or the payload length says.
    Truncated {
        needed: usize,
        got: usize,
    },
    /// Bigger than the frame limit.
    TooLarge {
        len: usize,
        max: usize,
    },
    BadMagic,
    BadVersion(u16),
    UnknownKind(u8),
    /// The reserved header byte is not 0.
    Reserved(u8),
    /// A path or text that is not UTF-8, or a path that is empty or holds a NUL.
    BadText,
    /// A path count the kind does not allow, or more paths than bytes to hold them.
    BadCount(u32),
    /// Bytes after the payload's last field, or after the frame.
    TrailingBytes(usize),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated { needed, got } => {
                write!(f, "truncated frame: {needed} bytes needed, {got} present")
            }
            DecodeError::TooLarge { len, max } => {
                write!(f, "frame of {len} bytes exceeds the limit of {max}")
            }
            DecodeError::BadMagic => write!(f, "not an admin frame (bad magic)"),
            DecodeError::BadVersion(v) => {
                write!(f, "admin protocol version {v}; this build speaks {VERSION}")
            }
            DecodeError::UnknownKind(k) => write!(f, "unknown request kind {k}"),
            DecodeError::Reserved(b) => write!(f, "reserved header byte is {b}, not 0"),
            DecodeError::BadText => {
                write!(f, "a path or text is not valid (UTF-8, non-empty, no NUL)")
            }
            DecodeError::BadCount(n) => write!(f, "{n} paths is not valid for this request"),
            DecodeError::TrailingBytes(n) => write!(f, "{n} bytes after the payload"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// A frame's header, checked: its kind and the payload length it announces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub kind: u8,
    pub payload_len: usize,
}

/// Check a frame header (the first [`HEADER_LEN`] bytes) against a frame limit: what
/// a reader needs to know how many more bytes to read before decoding.
pub fn decode_header(bytes: &[u8], max_frame: usize) -> Result<Header, DecodeError> {
    let h: &[u8; HEADER_LEN] = bytes
        .get(..HEADER_LEN)
        .and_then(|b| b.try_into().ok())
        .ok_or(DecodeError::Truncated {
            needed: HEADER_LEN,
            got: bytes.len(),
        })?;
    if h[0..4] != MAGIC {
        return Err(DecodeError::BadMagic);
    }
    let version = u16::from_le_bytes([h[4], h[5]]);
    if version != VERSION {
        return Err(DecodeError::BadVersion(version));
    }
    if h[7] != 0 {
        return Err(DecodeError::Reserved(h[7]));
    }
    let payload_len = u32::from_le_bytes([h[8], h[9], h[10], h[11]]) as usize;
    let len = HEADER_LEN.saturating_add(payload_len);
    if len > max_frame {
        return Err(DecodeError::TooLarge {
            len,
            max: max_frame,
        });
    }
    Ok(Header {
        kind: h[6],
        payload_len,
    })
}

/// The header and payload of one whole frame (nothing before or after it).
fn split_frame(bytes: &[u8], max_frame: usize) -> Result<(u8, &[u8]), DecodeError> {
    if bytes.len() > max_frame {
        return Err(DecodeError::TooLarge {
            len: bytes.len(),
            max: max_frame,
        });
    }
    let h = decode_header(bytes, max_frame)?;
    let rest = &bytes[HEADER_LEN..];
    if rest.len() < h.payload_len {
        return Err(DecodeError::Truncated {
            needed: HEADER_LEN + h.payload_len,
            got: bytes.len(),
        });
    }
    if rest.len() > h.payload_len {
        return Err(DecodeError::TrailingBytes(rest.len() - h.payload_len));
    }
    Ok((h.kind, rest))
}

/// A cursor over a payload: every read checks the bytes are there.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.bytes.len() < n {
            return Err(DecodeError::Truncated {
                needed: n,
                got: self.bytes.len(),
            });
        }
        let (a, b) = self.bytes.split_at(n);
        self.bytes = b;
        Ok(a)
    }
    fn u16(&mut self) -> Result<u16, DecodeError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn text(&mut self) -> Result<&'a str, DecodeError> {
        let n = self.u32()? as usize;
        std::str::from_utf8(self.take(n)?).map_err(|_| DecodeError::BadText)
    }
    fn path(&mut self) -> Result<PathBuf, DecodeError> {
        let t = self.text()?;
        if t.is_empty() || t.contains('\0') {
            return Err(DecodeError::BadText);
        }
        Ok(PathBuf::from(t))
    }
    /// A path list of `min..=max` paths.
    fn paths(&mut self, min: u32, max: u32) -> Result<Vec<PathBuf>, DecodeError> {
        let count = self.u32()?;
        // Each path takes at least its 4-byte length: a count the payload
        // cannot hold is refused before anything is allocated.
        if count < min || count > max || count as usize > self.bytes.len() / 4 {
            return Err(DecodeError::BadCount(count));
        }
        (0..count).map(|_| self.path()).collect()
    }
    fn finish(&self) -> Result<(), DecodeError> {
        match self.bytes.len() {
            0 => Ok(()),
            n => Err(DecodeError::TrailingBytes(n)),
        }
    }
}

/// Decode one request frame.
pub fn decode_request(bytes: &[u8]) -> Result<Request, DecodeError> {
    let (kind, payload) = split_frame(bytes, MAX_FRAME)?;
    let mut r = Reader { bytes: payload };
    let req = match kind {
        KIND_STAT => Request::Stat {
            path: r.paths(1, 1)?.remove(0),
        },
        KIND_CHECK => Request::Check {
            path: r.paths(1, 1)?.remove(0),
        },
        KIND_START_BACKUP => Request::StartBackup {
            paths: r.paths(1, u32::MAX)?,
        },
        KIND_END_BACKUP => Request::EndBackup {
            paths: Some(r.paths(1, u32::MAX)?),
        },
        KIND_END_BACKUP_ALL => Request::EndBackup { paths: None },
        KIND_KILL_BACKUP => Request::KillBackup {
            paths: r.paths(1, u32::MAX)?,
        },
        KIND_FLUSH => Request::Flush,
        k => return Err(DecodeError::UnknownKind(k)),
    };
    r.finish()?;
    Ok(req)
}

fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.push(kind);
    out.push(0);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

fn put_text(out: &mut Vec<u8>, t: &str) {
    out.extend_from_slice(&(t.len() as u32).to_le_bytes());
    out.extend_from_slice(t.as_bytes());
}

/// Encode a request. `None` if it cannot be sent: a path that is not UTF-8 (or is
/// empty, or holds a NUL), a list the kind does not allow, or a frame over
/// [`MAX_FRAME`] — the caller then does the work itself.
pub fn encode_request(req: &Request) -> Option<Vec<u8>> {
    let one = |p: &PathBuf| std::slice::from_ref(p).to_vec();
    let (kind, paths): (u8, Vec<PathBuf>) = match req {
        Request::Stat { path } => (KIND_STAT, one(path)),
        Request::Check { path } => (KIND_CHECK, one(path)),
        Request::StartBackup { paths } => (KIND_START_BACKUP, paths.clone()),
        Request::EndBackup { paths: Some(paths) } => (KIND_END_BACKUP, paths.clone()),
        Request::EndBackup { paths: None } => return Some(frame(KIND_END_BACKUP_ALL, &[])),
        Request::KillBackup { paths } => (KIND_KILL_BACKUP, paths.clone()),
        Request::Flush => return Some(frame(KIND_FLUSH, &[])),
    };
    if paths.is_empty() {
        return None;
    }
    let mut payload = Vec::new();
    payload.extend_from_slice(&(paths.len() as u32).to_le_bytes());
    for p in &paths {
        let t = p.to_str()?;
        if t.is_empty() || t.contains('\0') {
            return None;
        }
        put_text(&mut payload, t);
    }
    (HEADER_LEN + payload.len() <= MAX_FRAME).then(|| frame(kind, &payload))
}

/// Encode a reply; a stdout too long for [`MAX_REPLY_FRAME`] is cut at a line
/// boundary, with a last line saying so.
pub fn encode_reply(reply: &Reply) -> Vec<u8> {
    let room = MAX_REPLY_FRAME - HEADER_LEN - 2 - 4 - 8 - reply.stderr.len().min(64 * 1024);
    let stderr = cut(&reply.stderr, 64 * 1024);
    let stdout = if reply.stdout.len() > room {
        let mut s = cut(&reply.stdout, room - 100).to_string();
        s.push_str("(output cut: too long for the admin endpoint's reply)\n");
        s
    } else {
        reply.stdout.clone()
    };
    let mut payload = Vec::new();
    payload.extend_from_slice(&reply.status.to_le_bytes());
    payload.extend_from_slice(&reply.exit_code.to_le_bytes());
    put_text(&mut payload, &stdout);
    put_text(&mut payload, stderr);
    frame(KIND_REPLY, &payload)
}

/// `s` cut to at most `max` bytes, at the end of a line (or a char boundary).
fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    match s[..end].rfind('\n') {
        Some(nl) => &s[..=nl],
        None => &s[..end],
    }
}

/// Decode one reply frame.
pub fn decode_reply(bytes: &[u8]) -> Result<Reply, DecodeError> {
    let (kind, payload) = split_frame(bytes, MAX_REPLY_FRAME)?;
    if kind != KIND_REPLY {
        return Err(DecodeError::UnknownKind(kind));
    }
    let mut r = Reader { bytes: payload };
    let status = r.u16()?;
    let exit_code = r.u32()? as i32;
    let stdout = r.text()?.to_string();
    let stderr = r.text()?.to_string();
    r.finish()?;
    Ok(Reply {
        status,
        exit_code,
        stdout,
        stderr,
    })
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
