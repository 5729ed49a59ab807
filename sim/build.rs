//! Records the engine commit a `sim` binary was built from, so a result file can say
//! which engine produced it and `sim merge` can refuse to mix engines.
//!
//! `KEEL_COMMIT` at build time wins (container builds often have no `.git`); else
//! `git rev-parse HEAD`; else "unknown". Cargo reruns this when `KEEL_COMMIT` changes
//! or when HEAD or the branch it points at moves (a commit), so the recorded id
//! follows the tree it was built from. Uncommitted changes are not seen: the id is the
//! last commit, not a hash of the working tree.

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!s.is_empty()).then_some(s)
}

fn main() {
    println!("cargo:rerun-if-env-changed=KEEL_COMMIT");
    let commit = match std::env::var("KEEL_COMMIT") {
        Ok(c) if !c.trim().is_empty() => c.trim().to_string(),
        _ => {
            // Watch what a commit or checkout changes: HEAD, the branch ref, and
            // packed-refs. Only existing paths: a missing one would rerun every build.
            for p in ["HEAD", "packed-refs"] {
                watch(git(&["rev-parse", "--git-path", p]));
            }
            if let Some(r) = git(&["symbolic-ref", "-q", "HEAD"]) {
                watch(git(&["rev-parse", "--git-path", &r]));
            }
            git(&["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".into())
        }
    };
    println!("cargo:rustc-env=KEEL_SIM_COMMIT={commit}");
}

fn watch(path: Option<String>) {
    if let Some(p) = path {
        if Path::new(&p).exists() {
            println!("cargo:rerun-if-changed={p}");
        }
    }
}
