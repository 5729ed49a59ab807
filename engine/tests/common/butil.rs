//! Running the `butil` binary from a test: one process per command, hermetic (no
//! transaction-log settings from the environment), failing the test if it panicked.

use engine::formats::SeqReader;
use std::ffi::OsStr;
use std::path::Path;
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

/// Exit code of a usage error (clap's message).
pub const USAGE: i32 = 64;

/// `args` as the test names them, with what butil printed: for assertion messages.
pub fn shown<S: AsRef<OsStr>>(args: &[S], r: &Run) -> String {
    format!(
        "butil {:?}:\n{}{}",
        args.iter().map(|a| a.as_ref()).collect::<Vec<_>>(),
        r.stdout,
        r.stderr
    )
}

/// Run `butil args` with nothing added.
pub fn butil<S: AsRef<OsStr>>(args: &[S]) -> Run {
    run(args, |_| {})
}

/// Run and expect success; returns stdout.
pub fn ok<S: AsRef<OsStr>>(args: &[S]) -> String {
    let r = butil(args);
    assert_eq!(r.code, 0, "{}", shown(args, &r));
    r.stdout
}

/// Run and expect a failure with Btrieve status `status`: its exit code, the status
/// first in stderr, and advice after it.
pub fn fails<S: AsRef<OsStr>>(args: &[S], status: u16) -> Run {
    let r = butil(args);
    assert_eq!(r.code, i32::from(status), "{}", shown(args, &r));
    assert!(
        r.stderr.starts_with(&format!("butil: status {status} (")),
        "{}",
        shown(args, &r)
    );
    assert!(r.stderr.contains("\nwhat to do: "), "{}", shown(args, &r));
    r
}

/// Run and expect a usage error (exit 64, clap's message).
pub fn usage<S: AsRef<OsStr>>(args: &[S]) -> Run {
    let r = butil(args);
    assert_eq!(r.code, USAGE, "{}", shown(args, &r));
    assert!(r.stderr.starts_with("error: "), "{}", shown(args, &r));
    r
}

/// The records of an unformatted sequential file.
pub fn read_seq(path: &Path) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(path).expect("read sequential file");
    SeqReader::new(&bytes)
        .map(|r| r.expect("valid sequential file").to_vec())
        .collect()
}

/// `-save FILE OUT N key`, returning the bytes written.
pub fn save(file: &Path, out: &Path, key: usize) -> Vec<u8> {
    let k = key.to_string();
    ok(&[
        OsStr::new("-save"),
        file.as_os_str(),
        out.as_os_str(),
        OsStr::new("N"),
        OsStr::new(&k),
    ]);
    std::fs::read(out).expect("read the -save output")
}
