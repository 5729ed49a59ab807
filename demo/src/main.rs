//! `keel-demo DIR` runs the demo bank in DIR until SIGTERM or Ctrl-C;
//! `keel-demo --verify DIR` checks a copy of its files. Parsing, signals and exit
//! statuses live here; the work is in the library (`keel_demo::run`, `::verify`).

use clap::{Parser, ValueEnum};
use engine::LogMode;
use keel_demo::run::{run, RunOptions};
use keel_demo::verify::verify;
use keel_demo::DemoError;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// Keel's demo bank: transfers between accounts, one user transaction each, in
/// DIR/accounts.btr and DIR/ledger.btr; DIR/files.lst names both for
/// `butil -startbu @DIR/files.lst`.
#[derive(Parser, Debug)]
#[command(name = "keel-demo", version)]
struct Args {
    /// The demo directory (created if missing); with --verify, the directory holding
    /// the copies of accounts.btr and ledger.btr to check.
    dir: PathBuf,
    /// Check the copies in DIR instead of running: exit 0 if consistent, 1 if not,
    /// 2 if they could not be read.
    #[arg(long, conflicts_with_all = ["accounts", "start_balance", "seed", "rate", "transfers", "log_mode"])]
    verify: bool,
    /// Accounts to create in a new accounts.btr.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(2..=1_000_000))]
    accounts: u32,
    /// Each new account's opening balance.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(i64).range(0..=1_000_000_000_000))]
    start_balance: i64,
    /// Seed of the transfer stream (default: from the process id and the time).
    #[arg(long)]
    seed: Option<u64>,
    /// Transfers per second (default: as fast as the engine goes).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    rate: Option<u32>,
    /// Stop cleanly after this many transfers (default: run until SIGTERM / Ctrl-C).
    #[arg(long)]
    transfers: Option<u64>,
    /// Transaction log mode; the log is DIR/log.
    #[arg(long, value_enum, default_value_t = Mode::Durability)]
    log_mode: Mode,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Mode {
    /// End returns once the transaction is handed to the log writer.
    Logging,
    /// End returns once the transaction's log record is synced.
    Durability,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = if args.verify {
        verify(&args.dir).map(|s| {
            println!(
                "keel-demo: {} is consistent: {} accounts totalling {} (= {} × {}), {} ledger \
                 entries (newest {}), {} accounts touched",
                args.dir.display(),
                s.accounts,
                s.total,
                s.accounts,
                s.start_balance,
                s.entries,
                s.last_entry,
                s.touched
            );
        })
    } else {
        run_until_signalled(&args)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keel-demo: {e}");
            ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2))
        }
    }
}

/// Install the stop flag for SIGTERM and SIGINT, then run. The first signal asks the
/// loop to stop after the current transaction; a second one, if shutdown hangs, ends
/// the process at once (status 1) — the transaction log still protects the files.
fn run_until_signalled(args: &Args) -> Result<(), DemoError> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register_conditional_shutdown(sig, 1, Arc::clone(&stop))
            .and_then(|_| signal_hook::flag::register(sig, Arc::clone(&stop)))
            .map_err(|e| DemoError::Failed(format!("installing the signal handler: {e}")))?;
    }
    let opts = RunOptions {
        dir: args.dir.clone(),
        accounts: args.accounts,
        start_balance: args.start_balance,
        seed: args.seed.unwrap_or_else(default_seed),
        rate: args.rate,
        transfers: args.transfers,
        log_mode: match args.log_mode {
            Mode::Logging => LogMode::Logging,
            Mode::Durability => LogMode::Durability,
        },
    };
    run(&opts, &stop, &mut std::io::stdout()).map(|_| ())
}

/// A seed that differs from run to run (printed at start, so a run's transfer stream
/// can be repeated with `--seed`).
fn default_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    nanos ^ (u64::from(std::process::id()) << 32)
}
