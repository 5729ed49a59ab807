//! Finding and running the real `butil`: the scenarios record it and the oracle's
//! recovery is what an operator would run, so neither goes through the engine's API.

use crate::scenario::KEEL_VARS;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `butil` with a scenario's environment.
#[derive(Clone, Debug)]
pub struct Butil {
    pub path: PathBuf,
    env: Vec<(&'static str, &'static str)>,
}

/// What a butil run printed, and its exit code (`None`: killed by a signal).
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// A one-line account of a failed run: exit code and the first line of stderr
    /// (butil's `butil: status N (meaning): context`).
    pub fn summary(&self) -> String {
        let first = self
            .stderr
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        match self.code {
            Some(c) => format!("exit {c}: {first}"),
            None => format!("killed by a signal: {first}"),
        }
    }
}

/// Where butil is: `$BUTIL`, else beside this executable (`target/<profile>/butil`,
/// where Cargo puts the engine's binaries). Integration tests get `CARGO_BIN_EXE_*`
/// only for their own package, so they pass `BUTIL` or rely on the sibling.
pub fn locate() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("BUTIL").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return match p.is_file() {
            true => Ok(p),
            false => Err(format!("BUTIL={} is not a file", p.display())),
        };
    }
    let exe = std::env::current_exe().map_err(|e| format!("locating this executable: {e}"))?;
    let path = exe
        .parent()
        .map(|d| d.join(format!("butil{}", std::env::consts::EXE_SUFFIX)))
        .ok_or("this executable has no directory")?;
    match path.is_file() {
        true => Ok(path),
        false => Err(format!(
            "{} is missing: build it with `cargo build --release -p engine --bin butil` \
             (same profile as crashfs-keel) or set BUTIL",
            path.display()
        )),
    }
}

impl Butil {
    pub fn new(path: PathBuf, env: Vec<(&'static str, &'static str)>) -> Butil {
        Butil { path, env }
    }

    /// Run `butil args` in `dir` with the scenario's environment (every other KEEL_*
    /// setting removed).
    pub fn output(&self, dir: &Path, args: &[&str]) -> Result<Run, String> {
        let mut cmd = Command::new(&self.path);
        cmd.args(args).current_dir(dir);
        for var in KEEL_VARS {
            cmd.env_remove(var);
        }
        cmd.envs(self.env.iter().copied());
        let out = cmd
            .output()
            .map_err(|e| format!("running {}: {e}", self.path.display()))?;
        Ok(Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// Run `butil args` in `dir`; it must exit 0.
    pub fn run(&self, dir: &Path, args: &[&str]) -> Result<String, String> {
        let run = self.output(dir, args)?;
        match run.code {
            Some(0) => Ok(run.stdout),
            _ => Err(format!("butil {}: {}", args.join(" "), run.summary())),
        }
    }
}
