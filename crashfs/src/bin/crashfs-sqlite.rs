//! The calibration peer for `crashfs`: SQLite (rusqlite, bundled) in WAL mode, and its oracle.
//!
//! A crash checker that reports nothing is only worth something if it demonstrably reports
//! a bug where one exists. SQLite is the reference: in WAL mode with `synchronous=FULL` every
//! acknowledged commit survives any power loss, with `synchronous=OFF` acknowledged commits
//! may be lost. `crashfs` is calibrated by recording `run` under both levels and judging every
//! crash state with `oracle`: FULL must give no failure, OFF must give `lost-ack` failures.
//!
//! Subcommands:
//! - `setup DIR`: a WAL database `DIR/test.db` with an empty table, closed cleanly so the
//!   snapshot `crashfs record` takes is the database file alone.
//! - `run DIR --sync full|normal|off --rows N`: rows 1..=N, one autocommit transaction each,
//!   `ack ID` on stdout after each commit returned.
//! - `oracle`: judges the state in `$CRASHFS_DIR` against the acknowledgements in
//!   `$CRASHFS_ACKS`; its last stdout line is the verdict (`KIND: message`).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use rusqlite::{Connection, OpenFlags};

/// The database file inside the directory under test. The WAL is `test.db-wal`; a
/// `test.db-shm` must never appear (see [`run`]).
const DB_NAME: &str = "test.db";

#[derive(Parser)]
#[command(
    name = "crashfs-sqlite",
    about = "SQLite calibration workload and oracle for crashfs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create DIR/test.db in WAL mode with table t(id INTEGER PRIMARY KEY, payload BLOB NOT NULL).
    Setup {
        /// Directory to create the database in (created if missing).
        dir: PathBuf,
    },
    /// Insert rows 1..=N, each its own transaction, printing `ack ID` after each commit.
    Run {
        /// Directory holding test.db (made by `setup`).
        dir: PathBuf,
        /// PRAGMA synchronous level for the run.
        #[arg(long, value_enum)]
        sync: SyncLevel,
        /// Number of rows to insert.
        #[arg(long)]
        rows: u32,
    },
    /// Judge a crash state: integrity, exact contents, no acknowledged row lost.
    Oracle {
        /// State directory; defaults to $CRASHFS_DIR.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Acknowledgements file; defaults to $CRASHFS_ACKS.
        #[arg(long)]
        acks: Option<PathBuf>,
    },
}

/// The synchronous levels worth calibrating against. NORMAL is not part of the calibration
/// contract (in WAL mode it may lose the last commits but never corrupts) but is handy to
/// see what crashfs reports for a durability-only weakening.
#[derive(Clone, Copy, ValueEnum)]
enum SyncLevel {
    Full,
    Normal,
    Off,
}

impl SyncLevel {
    fn pragma_value(self) -> &'static str {
        match self {
            SyncLevel::Full => "FULL",
            SyncLevel::Normal => "NORMAL",
            SyncLevel::Off => "OFF",
        }
    }

    /// What `PRAGMA synchronous` reads back for this level.
    fn pragma_number(self) -> i64 {
        match self {
            SyncLevel::Full => 2,
            SyncLevel::Normal => 1,
            SyncLevel::Off => 0,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Setup { dir } => report_plain(setup(&dir)),
        Command::Run { dir, sync, rows } => report_plain(run(&dir, sync, rows)),
        Command::Oracle { dir, acks } => oracle_main(dir, acks),
    }
}

/// Setup and run failures are the harness's, not a crash state's: a message on stderr and
/// exit 2, so that a broken workload is never mistaken for a verdict.
fn report_plain(result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("crashfs-sqlite: {message}");
            ExitCode::from(2)
        }
    }
}

/// The payload of row `id`: 200..=1500 bytes, so that rows share pages and a frame's page
/// image spans several 512-byte sectors, and content derived from the id so that a row
/// carrying another row's bytes (or torn bytes) is detected, not just a wrong length.
fn payload(id: i64) -> Vec<u8> {
    let id_bits = id as u64;
    let len = 200 + (id_bits.wrapping_mul(677) % 1301) as usize;
    // splitmix64: a fixed, dependency-free byte stream seeded by the id.
    let mut state = id_bits ^ 0x5153_4c49_5445_4353;
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        bytes.extend_from_slice(&z.to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

/// Names of the SQLite side files that must not be left behind where the snapshot or the run
/// could see them.
fn side_files(dir: &Path) -> Vec<String> {
    ["-wal", "-shm", "-journal"]
        .iter()
        .map(|suffix| format!("{DB_NAME}{suffix}"))
        .filter(|name| dir.join(name).exists())
        .collect()
}

/// Reads a single-valued pragma as text (journal_mode and locking_mode answer with a row).
fn pragma_text(conn: &Connection, pragma: &str) -> Result<String, String> {
    conn.query_row(&format!("PRAGMA {pragma}"), [], |row| {
        row.get::<_, String>(0)
    })
    .map_err(|e| format!("PRAGMA {pragma}: {e}"))
}

fn setup(dir: &Path) -> Result<(), String> {
    fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let path = dir.join(DB_NAME);
    if path.exists() {
        return Err(format!("{} already exists", path.display()));
    }
    let conn = Connection::open(&path).map_err(|e| format!("open {}: {e}", path.display()))?;
    // journal_mode=WAL is persistent (recorded in the database header), so `run` and the
    // oracle find a WAL database without having to convert it under record.
    let mode = pragma_text(&conn, "journal_mode=WAL")?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(format!("journal_mode=WAL answered {mode:?}"));
    }
    conn.execute_batch("CREATE TABLE t(id INTEGER PRIMARY KEY, payload BLOB NOT NULL)")
        .map_err(|e| format!("create table: {e}"))?;
    // A clean close of the last connection checkpoints the WAL into test.db and deletes it.
    conn.close()
        .map_err(|(_, e)| format!("close {}: {e}", path.display()))?;
    let left = side_files(dir);
    if !left.is_empty() {
        return Err(format!(
            "side files left after a clean close: {left:?} (the snapshot must be test.db alone)"
        ));
    }
    Ok(())
}

fn run(dir: &Path, sync: SyncLevel, rows: u32) -> Result<(), String> {
    let path = dir.join(DB_NAME);
    // No SQLITE_OPEN_CREATE: a missing database is a harness error, not a fresh rollback-journal
    // database that would silently calibrate the wrong thing.
    let conn = Connection::open_with_flags(
        &path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| format!("open {}: {e}", path.display()))?;
    // EXCLUSIVE before the first access in WAL mode puts the wal-index in heap memory instead of
    // an mmapped test.db-shm: crashfs sees only syscalls, and stores through a shared mapping
    // are invisible to it.
    let locking = pragma_text(&conn, "locking_mode=EXCLUSIVE")?;
    if !locking.eq_ignore_ascii_case("exclusive") {
        return Err(format!("locking_mode=EXCLUSIVE answered {locking:?}"));
    }
    let mode = pragma_text(&conn, "journal_mode=WAL")?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(format!("journal_mode=WAL answered {mode:?}"));
    }
    conn.execute_batch(&format!("PRAGMA synchronous={}", sync.pragma_value()))
        .map_err(|e| format!("PRAGMA synchronous: {e}"))?;
    // Read back: a level silently not applied would calibrate against the default (FULL).
    let level: i64 = conn
        .query_row("PRAGMA synchronous", [], |row| row.get(0))
        .map_err(|e| format!("PRAGMA synchronous: {e}"))?;
    if level != sync.pragma_number() {
        return Err(format!(
            "PRAGMA synchronous={} left the level at {level}",
            sync.pragma_value()
        ));
    }

    let mut insert = conn
        .prepare("INSERT INTO t(id, payload) VALUES (?1, ?2)")
        .map_err(|e| format!("prepare insert: {e}"))?;
    let stdout = std::io::stdout();
    for id in 1..=i64::from(rows) {
        // Autocommit: execute returns only after the commit (and, at FULL, the WAL fsync).
        insert
            .execute(rusqlite::params![id, payload(id)])
            .map_err(|e| format!("insert {id}: {e}"))?;
        // The acknowledgement is the promise crashfs checks: its own write(2), strictly after
        // the commit returned, so the recorded stdout ordering is the commit ordering.
        let mut out = stdout.lock();
        writeln!(out, "ack {id}")
            .and_then(|()| out.flush())
            .map_err(|e| format!("ack {id}: {e}"))?;
    }
    drop(insert);
    if dir.join(format!("{DB_NAME}-shm")).exists() {
        let why = "the wal-index is in shared memory, which crashfs cannot model";
        return Err(format!("test.db-shm exists: {why}"));
    }
    conn.close()
        .map_err(|(_, e)| format!("close {}: {e}", path.display()))?;
    Ok(())
}

/// An oracle verdict: `Ok` carries the success line, `Err` a `(kind, message)` failure.
type Verdict = Result<String, (&'static str, String)>;

fn oracle_main(dir: Option<PathBuf>, acks: Option<PathBuf>) -> ExitCode {
    let verdict = resolve_paths(dir, acks).and_then(|(dir, acks)| oracle(&dir, &acks));
    // The verdict is the last stdout line: crashfs reads the failure kind from it.
    match verdict {
        Ok(line) => {
            println!("ok: {line}");
            ExitCode::SUCCESS
        }
        Err((kind, message)) => {
            // integrity_check's first problem row embeds a newline ("*** in database main
            // ***\nPage 4: never used"): a verdict split over lines would let crashfs read
            // "Page 4" as the kind, so the message is folded onto one line.
            let message = message
                .lines()
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .collect::<Vec<_>>()
                .join(" | ");
            println!("{kind}: {message}");
            ExitCode::FAILURE
        }
    }
}

fn resolve_paths(
    dir: Option<PathBuf>,
    acks: Option<PathBuf>,
) -> Result<(PathBuf, PathBuf), (&'static str, String)> {
    let from_env = |name: &str| std::env::var_os(name).map(PathBuf::from);
    let dir = dir
        .or_else(|| from_env("CRASHFS_DIR"))
        .ok_or(("oracle-error", "no --dir and CRASHFS_DIR unset".to_string()))?;
    let acks = acks.or_else(|| from_env("CRASHFS_ACKS")).ok_or((
        "oracle-error",
        "no --acks and CRASHFS_ACKS unset".to_string(),
    ))?;
    Ok((dir, acks))
}

/// The highest id acknowledged in the acks file (0 when none). Every line must be `ack ID`;
/// anything else means the harness and the workload disagree, reported as `oracle-error`
/// rather than guessed around.
fn last_ack(acks: &Path) -> Result<i64, (&'static str, String)> {
    let bytes = fs::read(acks)
        .map_err(|e| ("oracle-error", format!("read acks {}: {e}", acks.display())))?;
    let text = String::from_utf8(bytes).map_err(|_| {
        (
            "oracle-error",
            format!("acks {} is not UTF-8", acks.display()),
        )
    })?;
    let mut last = 0i64;
    for line in text.lines().filter(|line| !line.trim().is_empty()) {
        let id = line
            .trim()
            .strip_prefix("ack ")
            .and_then(|rest| rest.trim().parse::<i64>().ok())
            .ok_or(("oracle-error", format!("malformed ack line {line:?}")))?;
        last = last.max(id);
    }
    Ok(last)
}

fn oracle(dir: &Path, acks: &Path) -> Verdict {
    let acked = last_ack(acks)?;
    let path = dir.join(DB_NAME);
    // Opening without CREATE: a crash state without test.db lost the database outright.
    if !path.exists() {
        return Err(("unreadable", format!("{} does not exist", path.display())));
    }
    let copy = working_copy(dir)?;
    let conn =
        Connection::open_with_flags(copy.path().join(DB_NAME), OpenFlags::SQLITE_OPEN_READ_WRITE)
            .map_err(|e| ("unreadable", format!("open {}: {e}", path.display())))?;
    // The first read runs SQLite's own WAL recovery; integrity_check then covers the b-trees
    // as recovered (an error here, e.g. SQLITE_NOTADB, means the file is not readable at all).
    let problems = integrity_problems(&conn).map_err(|e| {
        (
            error_kind(&e),
            format!("integrity_check on {}: {e}", path.display()),
        )
    })?;
    if !problems.is_empty() {
        return Err(("corrupt", problems.join("; ")));
    }
    let rows = read_rows(&conn).map_err(|e| (error_kind(&e), format!("read t: {e}")))?;
    let mut count = 0i64;
    for (index, (id, value)) in rows.iter().enumerate() {
        let expected_id = index as i64 + 1;
        if *id != expected_id {
            return Err((
                "wrong-data",
                format!("ids not contiguous from 1: expected {expected_id}, found {id}"),
            ));
        }
        let bytes = match value {
            rusqlite::types::Value::Blob(bytes) => bytes,
            other => {
                return Err((
                    "wrong-data",
                    format!("row {id}: payload is {:?}, not a blob", other.data_type()),
                ))
            }
        };
        if *bytes != payload(*id) {
            return Err((
                "wrong-data",
                format!(
                    "row {id}: payload of {} bytes differs from the expected {} bytes",
                    bytes.len(),
                    payload(*id).len()
                ),
            ));
        }
        count = expected_id;
    }
    if count < acked {
        return Err(("lost-ack", format!("acked {acked}, found {count} rows")));
    }
    Ok(format!("{count} rows, acked {acked}"))
}

/// A private copy of the database and its side files. Opening runs WAL recovery and closing
/// checkpoints and deletes the WAL, so judging the state in place would change it: the state
/// crashfs keeps for a failure (and its REPRODUCE line) would no longer be the crash state.
fn working_copy(dir: &Path) -> Result<tempfile::TempDir, (&'static str, String)> {
    let copy = tempfile::Builder::new()
        .prefix("crashfs-sqlite-oracle-")
        .tempdir()
        .map_err(|e| {
            (
                "oracle-error",
                format!("cannot make a working directory: {e}"),
            )
        })?;
    let entries =
        fs::read_dir(dir).map_err(|e| ("unreadable", format!("list {}: {e}", dir.display())))?;
    for entry in entries {
        let entry = entry.map_err(|e| ("unreadable", format!("list {}: {e}", dir.display())))?;
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with(DB_NAME) {
            continue;
        }
        fs::copy(entry.path(), copy.path().join(&name)).map_err(|e| {
            (
                "unreadable",
                format!("copy {}: {e}", entry.path().display()),
            )
        })?;
    }
    Ok(copy)
}

/// The verdict kind for an SQLite error while judging: SQLITE_CORRUPT (a b-tree SQLite itself
/// finds malformed, which integrity_check reports as an error rather than a row) is `corrupt`;
/// anything else (not a database, I/O, cannot open) is `unreadable`.
fn error_kind(error: &rusqlite::Error) -> &'static str {
    match error.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseCorrupt) => "corrupt",
        _ => "unreadable",
    }
}

/// `PRAGMA integrity_check` answers a single "ok" row when the database is sound, otherwise one
/// row per problem.
fn integrity_problems(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare("PRAGMA integrity_check")?;
    let lines = stmt
        .query_map([], |row| row.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(lines.into_iter().filter(|line| line != "ok").collect())
}

/// Every row of `t` in id order. The payload is read as a dynamic value so that a row whose
/// payload is not a blob is a `wrong-data` verdict instead of a read error.
fn read_rows(conn: &Connection) -> rusqlite::Result<Vec<(i64, rusqlite::types::Value)>> {
    let mut stmt = conn.prepare("SELECT id, payload FROM t ORDER BY id")?;
    let rows = stmt
        .query_map([], |row| Ok((row.get::<_, i64>(0)?, row.get(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}
