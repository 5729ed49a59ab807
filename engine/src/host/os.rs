//! The few OS calls the admin endpoint needs that std does not offer: who is on the
//! other end of a Unix socket (SO_PEERCRED), who we are, and whether a process lives.
//! Each `unsafe` block is a plain libc call on values we own, with the reason beside it.

use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;

/// The effective uid of this process.
pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions, cannot fail and touches no memory of ours.
    unsafe { libc::geteuid() }
}

/// The uid and pid of the process at the other end of `stream` (SO_PEERCRED: the
/// credentials the kernel recorded when the peer connected — the peer cannot forge
/// them).
pub fn peer_cred(stream: &UnixStream) -> io::Result<(u32, i32)> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: the fd is open for the life of `stream`, which we borrow; `cred` is a
    // properly aligned, writable ucred and `len` says exactly its size, so the kernel
    // writes at most that many bytes into it.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    if len as usize != std::mem::size_of::<libc::ucred>() {
        return Err(io::Error::other("SO_PEERCRED returned a short ucred"));
    }
    Ok((cred.uid, cred.pid))
}

/// Does process `pid` exist? (`kill(pid, 0)`: no signal is sent; EPERM means it
/// exists but is someone else's.)
pub fn pid_alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks whether `pid` could be signalled; nothing is sent
    // and no memory is touched.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}
