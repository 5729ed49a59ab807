//! The admin endpoint's OS side: a Unix socket beside an engine, served by the host
//! between its own calls ([`AdminServer::serve_pending`]), and the client `butil` uses
//! ([`send_request`]).
//!
//! Safety of the endpoint:
//! - The socket is created mode 0600 in a directory only its owner can write (made
//!   0700 if missing; a group/world-writable or foreign directory is refused), and
//!   every peer's uid is checked with SO_PEERCRED: another uid gets status 46 and
//!   nothing is executed.
//! - A request is executed only once its whole frame has arrived and decoded; a
//!   client that stalls (2 s read timeout) or disconnects mid-frame gets nothing done.
//!   A malformed frame gets an error reply; nothing a client sends can panic the
//!   server or make it allocate more than [`MAX_FRAME`].
//! - The host stays in control: the listener is non-blocking, so `serve_pending`
//!   answers what is waiting and returns.

use super::os::{euid, peer_cred};
use super::private_dir::{ensure_private_dir, runtime_dir};
use super::registry::{canonical, register, Endpoint};
use crate::admin::wire::{decode_header, HEADER_LEN, MAX_REPLY_FRAME};
use crate::admin::{decode_reply, decode_request, encode_reply, encode_request};
use crate::admin::{Reply, Request, MAX_FRAME};
use crate::status::Status;
use crate::Engine;
use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// How long a connected client may take to send its request or read its reply.
pub const IO_TIMEOUT: Duration = Duration::from_secs(2);

/// An engine's admin endpoint: the listening socket and the registry records it keeps.
pub struct AdminServer {
    listener: UnixListener,
    socket: PathBuf,
    registry_dir: PathBuf,
    /// Registered data files (canonical) and their record files.
    registered: Mutex<BTreeMap<PathBuf, PathBuf>>,
}

/// Where a host's endpoint listens when its config names no socket: in the per-user
/// runtime directory (owner-only, beside the registry), one socket per process.
pub fn default_socket() -> PathBuf {
    runtime_dir().join(format!("engine-{}.sock", std::process::id()))
}

impl AdminServer {
    /// Listen on `socket` (mode 0600; its directory created 0700 if missing and
    /// refused if others can write it). A leftover socket file from a dead engine is
    /// replaced; anything else at that path is refused.
    pub fn bind(socket: &Path) -> io::Result<AdminServer> {
        Self::bind_with_registry(socket, &runtime_dir())
    }

    /// [`bind`](Self::bind), registering files in `registry_dir` instead of the
    /// per-user runtime directory (tests).
    pub fn bind_with_registry(socket: &Path, registry_dir: &Path) -> io::Result<AdminServer> {
        let dir = match socket.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        ensure_private_dir(&dir)?;
        match fs::symlink_metadata(socket) {
            Ok(m) if m.file_type().is_socket() => fs::remove_file(socket)?,
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!(
                        "{} exists and is not a socket; choose another admin_socket path",
                        socket.display()
                    ),
                ))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let listener = UnixListener::bind(socket)?;
        // The directory is ours alone, so the moment before this chmod exposes nothing.
        fs::set_permissions(socket, fs::Permissions::from_mode(0o600))?;
        listener.set_nonblocking(true)?;
        Ok(AdminServer {
            listener,
            socket: socket.to_path_buf(),
            registry_dir: registry_dir.to_path_buf(),
            registered: Mutex::new(BTreeMap::new()),
        })
    }

    /// Bind the socket `engine`'s config names (`Config::admin_socket`), or by default
    /// [`default_socket`]: a host that serves the endpoint needs no configuration for
    /// it (the endpoint is on by default; a host that does not want it does not bind).
    pub fn from_config(engine: &Engine) -> io::Result<AdminServer> {
        match &engine.config().admin_socket {
            Some(path) => Self::bind(path),
            None => Self::bind(&default_socket()),
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Answer every request waiting now, one connection at a time, and bring the
    /// registry up to date with the files `engine` holds for writing. Returns how many
    /// requests were executed. Never blocks for long: each connection has
    /// [`IO_TIMEOUT`] to send its frame; errors of one connection are that
    /// connection's and do not stop the server.
    pub fn serve_pending(&self, engine: &mut Engine) -> io::Result<usize> {
        self.refresh_registry(engine);
        let mut executed = 0;
        loop {
            let stream = match self.listener.accept() {
                Ok((s, _)) => s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if let Ok(true) = self.serve_one(stream, engine) {
                executed += 1;
            }
        }
        if executed > 0 {
            self.refresh_registry(engine);
        }
        Ok(executed)
    }

    /// One connection: check the peer, read one whole frame, execute it, reply.
    /// `Ok(true)` if a request was executed.
    fn serve_one(&self, mut s: UnixStream, engine: &mut Engine) -> io::Result<bool> {
        s.set_nonblocking(false)?;
        s.set_read_timeout(Some(IO_TIMEOUT))?;
        s.set_write_timeout(Some(IO_TIMEOUT))?;
        let (uid, _pid) = peer_cred(&s)?;
        if uid != euid() {
            let r = Reply::refused(
                Status::AccessDenied,
                format!(
                    "the admin endpoint serves only its own user (uid {}); uid {uid} was \
                     refused — run butil as the engine's user",
                    euid()
                ),
            );
            let _ = s.write_all(&encode_reply(&r));
            return Ok(false);
        }
        let frame = match read_frame(&mut s, MAX_FRAME) {
            Ok(f) => f,
            // A stalled or vanished client, or a header that is not ours: nothing is
            // executed; say why if the client is still there.
            Err(FrameError::Io(_)) => return Ok(false),
            Err(FrameError::Bad(e)) => {
                let _ = s.write_all(&encode_reply(&malformed(&e)));
                return Ok(false);
            }
        };
        let reply = match decode_request(&frame) {
            Ok(req) => {
                let open = engine.open_paths(false);
                let resolve = |p: &Path| {
                    let c = canonical(p);
                    open.iter()
                        .find(|o| canonical(o) == c)
                        .cloned()
                        .unwrap_or_else(|| p.to_path_buf())
                };
                let r = engine.admin_resolved(&req, &resolve);
                let _ = s.write_all(&encode_reply(&r));
                return Ok(true);
            }
            Err(e) => malformed(&e),
        };
        let _ = s.write_all(&encode_reply(&reply));
        Ok(false)
    }

    /// Register every file `engine` holds for writing; drop records of files it no
    /// longer holds. Best effort: a record that cannot be written only means butil
    /// will not find this engine for that file (and gets status 85 as before).
    fn refresh_registry(&self, engine: &Engine) {
        let held: Vec<PathBuf> = engine
            .open_paths(true)
            .iter()
            .map(|p| canonical(p))
            .collect();
        let mut reg = self.registered.lock().unwrap_or_else(|e| e.into_inner());
        let ep = Endpoint {
            socket: canonical(&self.socket),
            pid: std::process::id() as i32,
        };
        for f in &held {
            if !reg.contains_key(f) {
                if let Ok(rec) = register(&self.registry_dir, f, &ep) {
                    reg.insert(f.clone(), rec);
                }
            }
        }
        reg.retain(|f, rec| {
            let keep = held.contains(f);
            if !keep {
                let _ = fs::remove_file(rec);
            }
            keep
        });
    }
}

impl Drop for AdminServer {
    /// Remove the registry records and the socket: butil then opens files directly.
    fn drop(&mut self) {
        let reg = self.registered.get_mut().unwrap_or_else(|e| e.into_inner());
        for rec in reg.values() {
            let _ = fs::remove_file(rec);
        }
        let _ = fs::remove_file(&self.socket);
    }
}

/// The reply to a frame that is not a request this build understands.
fn malformed(e: &crate::admin::DecodeError) -> Reply {
    Reply::refused(
        Status::InvalidOperation,
        format!(
            "the admin endpoint refused a malformed request ({e}); use a butil of the same \
             version as the engine"
        ),
    )
}

enum FrameError {
    Io(io::Error),
    Bad(crate::admin::DecodeError),
}

/// Read exactly one frame (header, then the payload it announces, at most
/// `max_frame` bytes in all). Nothing is allocated beyond what the checked header
/// allows.
fn read_frame(s: &mut UnixStream, max_frame: usize) -> Result<Vec<u8>, FrameError> {
    let mut header = [0u8; HEADER_LEN];
    s.read_exact(&mut header).map_err(FrameError::Io)?;
    let h = decode_header(&header, max_frame).map_err(FrameError::Bad)?;
    let mut frame = Vec::with_capacity(HEADER_LEN + h.payload_len);
    frame.extend_from_slice(&header);
    frame.resize(HEADER_LEN + h.payload_len, 0);
    s.read_exact(&mut frame[HEADER_LEN..])
        .map_err(FrameError::Io)?;
    Ok(frame)
}

/// Send `req` to the endpoint at `socket` and wait (up to `timeout` per read or
/// write) for its reply. An error means no reply: the caller falls back to doing the
/// work itself.
pub fn send_request(socket: &Path, req: &Request, timeout: Duration) -> io::Result<Reply> {
    let bytes = encode_request(req).ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "the request cannot be encoded")
    })?;
    let mut s = UnixStream::connect(socket)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    s.write_all(&bytes)?;
    let frame = match read_frame(&mut s, MAX_REPLY_FRAME) {
        Ok(f) => f,
        Err(FrameError::Io(e)) => return Err(e),
        Err(FrameError::Bad(e)) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
    };
    decode_reply(&frame).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
#[path = "admin_tests.rs"]
mod tests;
