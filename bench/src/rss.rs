//! Peak resident memory per engine per row (issue 20, item 6).
//!
//! Each (row, engine, run) runs in a child process of the bench binary itself
//! (`child`), so one engine's caches, allocator arenas and leftover threads never count
//! against another's, and a row's peak is that row's alone.
//!
//! Two measures are taken of every child:
//! * `VmHWM` from the child's own `/proc/self/status`, read as its last act — the high
//!   water mark of the address space the bench binary built after `exec`. This is the
//!   figure reported.
//! * `ru_maxrss` from `wait4(2)` in the parent, kept as a cross-check. It is not used
//!   as the figure because Linux folds the pre-`exec` image into it
//!   (`exec_mmap` → `setmax_mm_hiwater_rss` of the old mm): std spawns with
//!   `posix_spawn`/`vfork`, whose pre-`exec` mm is the parent's, so the parent's own
//!   peak would become every child's floor.

use crate::common::{BenchError, Ctx, Result};
use std::io::Read;
use std::process::{Command, Stdio};

/// The calling process's peak RSS in KiB (`VmHWM`), if `/proc` is readable.
pub fn own_peak_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// What a finished child left.
pub struct ChildRun {
    /// Everything it wrote on stdout.
    pub stdout: String,
    /// `ru_maxrss` from `wait4`, KiB (see the module documentation for its floor).
    pub ru_maxrss_kib: u64,
}

/// Run `cmd` with stdout captured (stderr passes through), reap it with `wait4` and
/// return its output and `ru_maxrss`; a non-zero exit is an error.
pub fn run_child(mut cmd: Command, what: &str) -> Result<ChildRun> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .ctx(format_args!("starting {what}"))?;
    let mut stdout = String::new();
    let read = match child.stdout.take() {
        Some(mut out) => out.read_to_string(&mut stdout).map(drop),
        None => Ok(()),
    };
    let pid = libc::pid_t::try_from(child.id())
        .map_err(|_| BenchError(format!("{what}: child pid out of range")))?;
    let mut status: libc::c_int = 0;
    // SAFETY: `rusage` is plain data the call fills in; `pid` is our own unreaped child
    // (std's `Child` is never waited on after this, so nothing reaps it twice).
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = loop {
        let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
        if rc == -1 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        break rc;
    };
    if rc != pid {
        return Err(BenchError(format!(
            "{what}: wait4: {}",
            std::io::Error::last_os_error()
        )));
    }
    read.ctx(format_args!("{what}: reading its output"))?;
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        return Err(BenchError(format!(
            "{what} failed (wait status {status:#x}); its error is above"
        )));
    }
    Ok(ChildRun {
        stdout,
        ru_maxrss_kib: u64::try_from(ru.ru_maxrss).unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_peak() {
        let kib = own_peak_kib().expect("VmHWM in /proc/self/status");
        assert!(kib > 0);
    }

    #[test]
    fn reaps_a_child() {
        let r = run_child(
            {
                let mut c = Command::new("sh");
                c.args(["-c", "echo hi"]);
                c
            },
            "sh",
        )
        .expect("sh runs");
        assert_eq!(r.stdout.trim(), "hi");
        assert!(r.ru_maxrss_kib > 0);
        let mut c = Command::new("sh");
        c.args(["-c", "exit 3"]);
        assert!(run_child(c, "sh").is_err());
    }
}
