//! Everything `butil` prints, and its exit-code policy.
//!
//! A command collects its confirmation lines in a [`Report`], printed to stdout when
//! it finishes (even after a failure, so a partial result is still said). A failure is
//! two lines on stderr — `butil: status N (meaning): context` and `what to do: advice`
//! — and the exit code is the status number. The texts and the policy live in the
//! library (`engine::admin::text`), because the admin endpoint must produce exactly
//! what butil would; this module only writes them. Writes to a closed pipe are
//! ignored, never a panic.

pub use engine::admin::text::Report;
use engine::admin::text::{exit_code, failure_text};
use engine::admin::Reply;
use engine::Error;
use std::io::Write;
use std::process::ExitCode;

/// Exit code for a usage error (BSD `EX_USAGE`); clap's own 2 would read as status 2.
pub const USAGE_EXIT: u8 = 64;

/// Print every line of `out` to stdout.
pub fn print(out: &Report) {
    let mut o = std::io::stdout().lock();
    for l in out.lines() {
        if writeln!(o, "{l}").is_err() {
            return;
        }
    }
    let _ = o.flush();
}

/// Print a failure and return its exit code.
pub fn failure(e: &Error) -> ExitCode {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(failure_text(e).as_bytes());
    ExitCode::from(exit_code(e.status))
}

/// Print what the engine holding the file answered, and return its exit code.
pub fn reply(r: &Reply) -> ExitCode {
    let _ = std::io::stdout().lock().write_all(r.stdout.as_bytes());
    let _ = std::io::stderr().lock().write_all(r.stderr.as_bytes());
    ExitCode::from(u8::try_from(r.exit_code).unwrap_or(1))
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
