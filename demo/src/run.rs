//! The running application: bank transfers, each one user transaction over
//! `accounts.btr` and `ledger.btr`, until asked to stop.
//!
//! Everything the engine needs from a host happens here, in the open: the engine has
//! no threads, so the loop calls [`Engine::background_step`] between transactions
//! (that is what lets the Initiation Time Limit commit bundles, and in Logging mode
//! what syncs the log); a stop request is only looked at between transactions, so a
//! signal never splits one; and the shutdown flushes and closes both files, so a
//! directory left by a stopped demo is complete without the transaction log.

use crate::admin::{socket_path, Admin};
use crate::records::{data_files, Account, Entry, LIST_FILE, LOG_DIR};
use crate::DemoError;
use engine::host::StdClock;
use engine::vfs::StdVfs;
use engine::{Client, Config, Engine, FileSpec, GetOp, Handle, LogMode, OpenMode, Status};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Largest amount one transfer moves (less if the paying account has less).
const MAX_AMOUNT: i64 = 100;
/// How often a progress line is printed.
const REPORT_EVERY: Duration = Duration::from_secs(1);
/// Longest the loop sleeps without serving the engine's background work and checking
/// for a stop request: keeps shutdown and admin requests prompt at low `--rate`s.
const MAX_NAP: Duration = Duration::from_millis(50);
/// The pause after each transfer when no rate is set: enough to leave the machine
/// (and other processes, such as butil) some room, not enough to matter for the demo.
const TINY_SLEEP: Duration = Duration::from_micros(100);

/// What the running demo is asked to do.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// The demo directory (created if missing).
    pub dir: PathBuf,
    /// Accounts to create if `accounts.btr` is new (at least 2).
    pub accounts: u32,
    /// Each new account's opening balance.
    pub start_balance: i64,
    /// Seeds the choice of accounts and amounts.
    pub seed: u64,
    /// Transfers per second; `None`: as fast as the engine goes.
    pub rate: Option<u32>,
    /// Stop cleanly after this many transfers (tests, scripted runs); `None`: run
    /// until signalled.
    pub transfers: Option<u64>,
    /// `Logging` or `Durability`: a transfer touches two files, and only a log makes
    /// the pair atomic across a crash.
    pub log_mode: LogMode,
}

/// What a run did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunSummary {
    pub transfers: u64,
    /// Id of the last ledger entry written (0: none yet).
    pub last_entry: u64,
}

/// Run the demo until `stop` is set (by a signal handler) or `opts.transfers` are
/// done; progress lines go to `out`. Returns after a clean shutdown: files flushed
/// and closed.
pub fn run(
    opts: &RunOptions,
    stop: &AtomicBool,
    out: &mut dyn Write,
) -> Result<RunSummary, DemoError> {
    if !matches!(opts.log_mode, LogMode::Logging | LogMode::Durability) {
        return Err(DemoError::Usage(
            "the demo needs a transaction log (logging or durability): a transfer changes two files".into(),
        ));
    }
    let dir = prepare_dir(&opts.dir)?;
    let config = Config {
        log_mode: opts.log_mode,
        log_dir: dir.join(LOG_DIR),
        admin_socket: Some(socket_path(&dir)),
        ..Config::default()
    };
    let engine = Engine::new(Arc::new(StdVfs), Arc::new(StdClock::new()), config);
    // The list file first: it depends only on the paths, and a failure here leaves no
    // file open to clean up.
    write_list_file(&dir)?;
    // The endpoint before the files: a socket that cannot be bound leaves nothing open.
    let admin = Admin::bind(&engine)?;
    let mut app = App::open(engine, admin, &dir, opts)?;
    // Serve once before saying we run: the files are then registered, so a butil
    // started after the line below finds this process.
    if let Err(e) = app.between_transactions() {
        let _ = app.shutdown();
        return Err(e);
    }
    say(
        out,
        format_args!(
            "keel-demo: running in {} ({} accounts, seed {}, log mode {}, admin socket {}); \
             SIGTERM or Ctrl-C stops",
            dir.display(),
            app.accounts,
            opts.seed,
            opts.log_mode.name(),
            socket_path(&dir).display()
        ),
    );
    let looped = app.transfer_loop(opts, stop, out);
    let closed = app.shutdown();
    let summary = looped?;
    closed?;
    say(
        out,
        format_args!(
            "keel-demo: stopped cleanly after {} transfers (last ledger entry {})",
            summary.transfers, summary.last_entry
        ),
    );
    Ok(summary)
}

/// Print a line; a closed stdout (the demo piped into `head`) must not stop the
/// transfers, so write errors are ignored.
fn say(out: &mut dyn Write, line: std::fmt::Arguments) {
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Create `dir` if missing and return its absolute, canonical path: the engine knows
/// an open file by its path, and butil (through the list file) must name the files
/// exactly as this process opened them.
fn prepare_dir(dir: &Path) -> Result<PathBuf, DemoError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| DemoError::Failed(format!("creating {}: {e}", dir.display())))?;
    dir.canonicalize()
        .map_err(|e| DemoError::Failed(format!("resolving {}: {e}", dir.display())))
}

/// Write `DIR/files.lst`, naming the two data files by absolute path (butil resolves
/// relative paths against its own working directory). Written to a temporary name and
/// renamed, so a reader never sees half a list. The text is parsed back with butil's
/// own parser first: a directory whose path a list file cannot carry (a newline, a
/// wildcard, surrounding spaces) is refused rather than written wrong.
fn write_list_file(dir: &Path) -> Result<(), DemoError> {
    let files = data_files(dir);
    let mut text = String::new();
    for f in &files {
        let Some(s) = f.to_str() else {
            return Err(DemoError::Failed(format!(
                "{} is not valid UTF-8, which a list file cannot name",
                f.display()
            )));
        };
        text.push_str(s);
        text.push('\n');
    }
    let parsed = engine::formats::parse_list(text.as_bytes())
        .map_err(|e| DemoError::Failed(format!("the list file cannot name the data files: {e}")))?;
    if parsed.iter().map(PathBuf::from).ne(files.iter().cloned()) {
        return Err(DemoError::Failed(format!(
            "the path {} cannot be written to a list file as it is (leading or trailing \
             spaces, a line break, or a `#`/`;` at the start)",
            dir.display()
        )));
    }
    let path = dir.join(LIST_FILE);
    let tmp = dir.join(format!("{LIST_FILE}.tmp"));
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|e| DemoError::Failed(format!("writing {}: {e}", path.display())))
}

/// The open application: the engine, its admin endpoint, a handle on each file, and
/// the transfer stream.
struct App {
    engine: Engine,
    /// `None` once shutdown has begun (dropping it removes the socket and the registry
    /// records, so butil goes back to opening the files itself).
    admin: Option<Admin>,
    accounts_h: Handle,
    ledger_h: Handle,
    /// Accounts in `accounts.btr` (ids `0..accounts`).
    accounts: u32,
    next_entry: u64,
    rng: ChaCha8Rng,
}

/// A Btrieve error from the engine, with what the demo was doing.
fn engine_err(what: impl std::fmt::Display) -> impl FnOnce(engine::Error) -> DemoError {
    move |e| DemoError::Failed(format!("{what}: {e}"))
}

impl App {
    /// Open (creating if missing) both files; fill a new accounts file in one
    /// transaction (so a crash leaves it empty or full, and an empty one is filled
    /// again); find where the ledger stands.
    fn open(
        mut engine: Engine,
        admin: Admin,
        dir: &Path,
        opts: &RunOptions,
    ) -> Result<App, DemoError> {
        let [accounts_path, ledger_path] = data_files(dir);
        let accounts_h = open_or_create(&mut engine, &accounts_path, &Account::spec())?;
        let ledger_h = match open_or_create(&mut engine, &ledger_path, &Entry::spec()) {
            Ok(h) => h,
            Err(e) => {
                let _ = engine.close(accounts_h);
                return Err(e);
            }
        };
        let mut app = App {
            engine,
            admin: Some(admin),
            accounts_h,
            ledger_h,
            accounts: 0,
            next_entry: 1,
            rng: ChaCha8Rng::seed_from_u64(opts.seed),
        };
        if let Err(e) = app.load(opts) {
            let _ = app.shutdown();
            return Err(e);
        }
        Ok(app)
    }

    /// Count the accounts (creating them in a new file) and find the next entry id.
    fn load(&mut self, opts: &RunOptions) -> Result<(), DemoError> {
        let stat = self
            .engine
            .stat(self.accounts_h)
            .map_err(engine_err("stat accounts.btr"))?;
        if stat.records == 0 {
            self.populate(opts.accounts, opts.start_balance)?;
        }
        let stat = self
            .engine
            .stat(self.accounts_h)
            .map_err(engine_err("stat accounts.btr"))?;
        self.accounts = u32::try_from(stat.records)
            .ok()
            .filter(|&n| n >= 2)
            .ok_or_else(|| {
                DemoError::Failed(format!(
                    "accounts.btr holds {} accounts; the demo needs 2 or more",
                    stat.records
                ))
            })?;
        self.next_entry = match self.engine.get(self.ledger_h, GetOp::Last, 0, &[]) {
            Ok(r) => {
                let e = Entry::decode(&r).ok_or_else(|| {
                    DemoError::Failed("ledger.btr holds a record of the wrong length".into())
                })?;
                e.id.checked_add(1)
                    .ok_or_else(|| DemoError::Failed("ledger.btr: entry ids exhausted".into()))?
            }
            Err(e) if e.status == Status::EndOfFile => 1,
            Err(e) => return Err(engine_err("reading the last ledger entry")(e)),
        };
        Ok(())
    }

    /// Insert accounts `0..n`, each with `balance`, in one user transaction.
    fn populate(&mut self, n: u32, balance: i64) -> Result<(), DemoError> {
        let c = Client::DEFAULT;
        self.engine
            .begin_transaction(c)
            .map_err(engine_err("begin"))?;
        for id in 0..n {
            let a = Account {
                id,
                balance,
                opening: balance,
            };
            if let Err(e) = self.engine.insert(self.accounts_h, &a.encode()) {
                let _ = self.engine.abort_transaction(c);
                return Err(engine_err(format_args!("creating account {id}"))(e));
            }
        }
        self.engine
            .end_transaction(c)
            .map_err(engine_err("ending the transaction creating the accounts"))
    }

    /// Transfers until `stop` or the requested count; a progress line each second.
    fn transfer_loop(
        &mut self,
        opts: &RunOptions,
        stop: &AtomicBool,
        out: &mut dyn Write,
    ) -> Result<RunSummary, DemoError> {
        let started = Instant::now();
        let mut last_report = started;
        let mut reported = 0u64;
        let mut done = 0u64;
        let mut last_entry = self.next_entry - 1;
        while !stop.load(Ordering::SeqCst) && opts.transfers.is_none_or(|n| done < n) {
            last_entry = self.transfer()?.id;
            done += 1;
            // Pace: the next transfer is due at done / rate seconds after the start.
            let due = match opts.rate {
                Some(rate) => started + Duration::from_secs_f64(done as f64 / f64::from(rate)),
                None => Instant::now() + TINY_SLEEP,
            };
            loop {
                self.between_transactions()?;
                let now = Instant::now();
                if now >= due || stop.load(Ordering::SeqCst) {
                    break;
                }
                std::thread::sleep((due - now).min(MAX_NAP));
            }
            if last_report.elapsed() >= REPORT_EVERY {
                let secs = last_report.elapsed().as_secs_f64();
                say(
                    out,
                    format_args!(
                        "keel-demo: {done} transfers done ({:.0}/s), last ledger entry {last_entry}",
                        (done - reported) as f64 / secs
                    ),
                );
                last_report = Instant::now();
                reported = done;
            }
        }
        Ok(RunSummary {
            transfers: done,
            last_entry,
        })
    }

    /// Everything the host owes the engine between two user transactions, in one
    /// place: its background step (time-based system transactions; the log sync in
    /// Logging mode), then the admin requests waiting from other processes (butil's
    /// `-startbu/-endbu/-stat`), which so always see the files between transactions.
    fn between_transactions(&mut self) -> Result<(), DemoError> {
        self.engine
            .background_step()
            .map_err(engine_err("background step"))?;
        self.serve_admin_requests();
        Ok(())
    }

    /// THE one place admin requests are served (see [`crate::admin`]).
    fn serve_admin_requests(&mut self) {
        if let Some(admin) = &self.admin {
            admin.serve(&mut self.engine);
        }
    }

    /// One transfer: a random amount between two random accounts, and its ledger
    /// entry, in one user transaction (aborted if any step fails).
    fn transfer(&mut self) -> Result<Entry, DemoError> {
        // Every random draw comes first, so the seed alone fixes the transfer stream.
        let from = self.rng.random_range(0..self.accounts);
        let mut to = self.rng.random_range(0..self.accounts - 1);
        if to >= from {
            to += 1;
        }
        let want = self.rng.random_range(1..=MAX_AMOUNT);
        let id = self.next_entry;
        let c = Client::DEFAULT;
        self.engine
            .begin_transaction(c)
            .map_err(engine_err("begin"))?;
        match self.transfer_in_txn(id, from, to, want) {
            Ok(entry) => {
                self.engine
                    .end_transaction(c)
                    .map_err(engine_err(format_args!("ending transfer {id}")))?;
                self.next_entry += 1;
                Ok(entry)
            }
            Err(e) => {
                let _ = self.engine.abort_transaction(c);
                Err(e)
            }
        }
    }

    fn transfer_in_txn(
        &mut self,
        id: u64,
        from: u32,
        to: u32,
        want: i64,
    ) -> Result<Entry, DemoError> {
        let mut payer = self.read_account(from)?;
        // No overdrafts: an account pays at most what it has (possibly nothing).
        let amount = want.min(payer.balance.max(0));
        payer.balance -= amount;
        self.engine
            .update(self.accounts_h, &payer.encode())
            .map_err(engine_err(format_args!("updating account {from}")))?;
        let mut payee = self.read_account(to)?;
        payee.balance = payee
            .balance
            .checked_add(amount)
            .ok_or_else(|| DemoError::Failed(format!("account {to}'s balance overflows")))?;
        self.engine
            .update(self.accounts_h, &payee.encode())
            .map_err(engine_err(format_args!("updating account {to}")))?;
        let entry = Entry {
            id,
            from,
            to,
            amount,
            from_balance: payer.balance,
            to_balance: payee.balance,
        };
        self.engine
            .insert(self.ledger_h, &entry.encode())
            .map_err(engine_err(format_args!("inserting ledger entry {id}")))?;
        Ok(entry)
    }

    /// Read account `id`, positioning the accounts handle on it (for the update).
    fn read_account(&mut self, id: u32) -> Result<Account, DemoError> {
        let r = self
            .engine
            .get(self.accounts_h, GetOp::Equal, 0, &id.to_le_bytes())
            .map_err(engine_err(format_args!("reading account {id}")))?;
        Account::decode(&r)
            .ok_or_else(|| DemoError::Failed(format!("account {id}: record of the wrong length")))
    }

    /// Commit everything and close both files; the first failure is returned after
    /// trying all three steps.
    fn shutdown(&mut self) -> Result<(), DemoError> {
        // Endpoint first: a butil arriving from now on opens the files itself and is
        // refused (85) until they are closed, rather than waiting on a socket nobody
        // serves.
        self.admin = None;
        let flushed = self.engine.flush().map_err(engine_err("flush"));
        let a = self
            .engine
            .close(self.accounts_h)
            .map_err(engine_err("closing accounts.btr"));
        let l = self
            .engine
            .close(self.ledger_h)
            .map_err(engine_err("closing ledger.btr"));
        flushed.and(a).and(l)
    }
}

/// Open `path` (creating it with `spec` if missing) and check it has the demo's
/// layout, so the demo never writes its records into some other file.
fn open_or_create(engine: &mut Engine, path: &Path, spec: &FileSpec) -> Result<Handle, DemoError> {
    if !path.exists() {
        engine
            .create(path, spec)
            .map_err(engine_err(format_args!("creating {}", path.display())))?;
    }
    let h = engine
        .open(path, OpenMode::Normal)
        .map_err(engine_err(format_args!("opening {}", path.display())))?;
    let got = engine.stat(h).map(|s| s.spec);
    match got {
        Ok(got) if got.record_length == spec.record_length && got.keys == spec.keys => Ok(h),
        Ok(_) => {
            let _ = engine.close(h);
            Err(DemoError::Failed(format!(
                "{} exists but is not a keel-demo file (other record length or keys)",
                path.display()
            )))
        }
        Err(e) => {
            let _ = engine.close(h);
            Err(engine_err(format_args!("stat {}", path.display()))(e))
        }
    }
}
