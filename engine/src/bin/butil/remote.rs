//! Asking the engine that holds a file to run the command (issue 17): when butil's own
//! open fails with status 85 because an application's engine holds the file, butil
//! finds that engine's admin endpoint in the per-user registry
//! (`engine::host::registry`), sends the request, and prints the reply — the same
//! text and exit code it would have produced itself (`engine::admin::text`).
//!
//! Paths go over the socket canonical (the engine's working directory is not
//! butil's); the reply names them that way, so each is put back as the operator wrote
//! it before printing. A stale endpoint — no record, a dead pid, no socket, a refused
//! connection, a malformed reply — means no reply: butil then reports its own status
//! 85 as before. `--direct` skips all of this.

use engine::admin::{Reply, Request};
use engine::delta::delta_path;
use std::path::{Path, PathBuf};

/// How long butil waits for the endpoint per read or write.
#[cfg(target_os = "linux")]
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// `make(paths)` with every file canonical, sent to the engine holding the first file
/// that has a live endpoint; the reply with each file named as in `shown`. `None`: no
/// endpoint answered.
#[cfg(target_os = "linux")]
pub fn ask(shown: &[PathBuf], make: impl Fn(Vec<PathBuf>) -> Request) -> Option<Reply> {
    use engine::host::admin::send_request;
    use engine::host::registry::{canonical, lookup};
    let canon: Vec<PathBuf> = shown.iter().map(|p| canonical(p)).collect();
    let ep = canon
        .iter()
        .filter_map(|p| lookup(p))
        .find(|ep| engine::host::pid_alive(ep.pid))?;
    let reply = send_request(&ep.socket, &make(canon.clone()), TIMEOUT).ok()?;
    let mut names: Vec<(String, String)> = Vec::new();
    for (c, s) in canon.iter().zip(shown) {
        names.push((show(c), show(s)));
        if let (Ok(dc), Ok(ds)) = (delta_path(c), delta_path(s)) {
            names.push((show(&dc), show(&ds)));
        }
    }
    // Longest first, so a path is never rewritten inside a longer one.
    names.sort_by_key(|(c, _)| std::cmp::Reverse(c.len()));
    let rename = |text: &str| {
        names
            .iter()
            .filter(|(c, s)| c != s)
            .fold(text.to_string(), |t, (c, s)| t.replace(c.as_str(), s))
    };
    Some(Reply {
        stdout: rename(&reply.stdout),
        stderr: rename(&reply.stderr),
        ..reply
    })
}

/// No admin endpoints off Linux: butil always works directly.
#[cfg(not(target_os = "linux"))]
pub fn ask(_shown: &[PathBuf], _make: impl Fn(Vec<PathBuf>) -> Request) -> Option<Reply> {
    None
}

fn show(p: &Path) -> String {
    p.display().to_string()
}
