//! Everything `butil` prints, and its exit-code policy.
//!
//! A command collects its confirmation lines in a [`Report`], printed to stdout when
//! it finishes (even after a failure, so a partial result is still said). A failure is
//! two lines on stderr — `butil: status N (meaning): context` and `what to do: advice`
//! — and the exit code is the status number. Writes to a closed pipe are ignored, never
//! a panic.

use engine::{Error, Status};
use std::io::Write;
use std::process::ExitCode;

/// Exit code for a usage error (BSD `EX_USAGE`); clap's own 2 would read as status 2.
pub const USAGE_EXIT: u8 = 64;

/// Lines for stdout.
#[derive(Debug, Default)]
pub struct Report {
    lines: Vec<String>,
}

impl Report {
    pub fn line(&mut self, line: impl Into<String>) {
        self.lines.push(line.into());
    }

    /// Print every line to stdout.
    pub fn print(&self) {
        let mut out = std::io::stdout().lock();
        for l in &self.lines {
            if writeln!(out, "{l}").is_err() {
                return;
            }
        }
        let _ = out.flush();
    }
}

/// The exit code for a status: its number, or 1 if that is 0 or does not fit.
pub fn exit_code(status: Status) -> u8 {
    match u8::try_from(status.code()) {
        Ok(0) | Err(_) => 1,
        Ok(n) => n,
    }
}

/// Print a failure and return its exit code.
pub fn failure(e: &Error) -> ExitCode {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "butil: {e}");
    let _ = writeln!(err, "what to do: {}", e.status.advice());
    ExitCode::from(exit_code(e.status))
}

/// Print clap's message (help and version to stdout, exit 0; errors to stderr, exit 64).
pub fn usage(e: &clap::Error) -> ExitCode {
    let _ = e.print();
    if e.use_stderr() {
        ExitCode::from(USAGE_EXIT)
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes() {
        assert_eq!(exit_code(Status::IoError), 2);
        assert_eq!(exit_code(Status::FileNotFound), 12);
        assert_eq!(exit_code(Status::FileFull), 132);
        assert_eq!(exit_code(Status::Success), 1);
        for s in engine::status::ALL {
            assert_ne!(exit_code(*s), 0);
            assert_ne!(
                exit_code(*s),
                USAGE_EXIT,
                "{s} collides with the usage exit code"
            );
        }
    }
}
