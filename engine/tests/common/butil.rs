//! Running the `butil` binary from a test: one process per command, hermetic (no
//! transaction-log settings from the environment), failing the test if it panicked.

use std::ffi::OsStr;
use std::process::Command;

/// The binary Cargo built for these tests.
pub const BUTIL: &str = env!("CARGO_BIN_EXE_butil");

/// What one run printed and how it exited.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Run `butil args`, after `setup` adds what the test needs (a working directory, more
/// environment). Any panic in its stderr fails the test.
pub fn run<S: AsRef<OsStr>>(args: &[S], setup: impl FnOnce(&mut Command)) -> Run {
    let mut cmd = Command::new(BUTIL);
    cmd.args(args)
        .env_remove("KEEL_LOG_MODE")
        .env_remove("KEEL_LOG_DIR");
    setup(&mut cmd);
    let out = cmd.output().expect("run butil");
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        !run.stderr.contains("panicked"),
        "butil {:?} panicked:\n{}",
        args.iter().map(|a| a.as_ref()).collect::<Vec<_>>(),
        run.stderr
    );
    run
}
