//! Calibration of `crashfs` on SQLite, and of the SQLite oracle on hand-made damage.
//!
//! A crash checker that finds nothing proves nothing unless it finds a bug where one exists.
//! SQLite in WAL mode is the reference: with `synchronous=FULL` every acknowledged commit
//! survives any crash state, with `synchronous=OFF` acknowledged commits can be lost. The two
//! `calibration_*` tests record `crashfs-sqlite run` under `crashfs record` and judge every
//! crash state with `crashfs-sqlite oracle`: FULL must give no failure (no false alarms),
//! OFF must give `lost-ack` failures (the checker can see a real durability bug).
//!
//! The `oracle_*` tests run the workload without crashfs and damage the result by hand, so
//! that a silent oracle cannot make the FULL calibration pass vacuously.
//!
//! The binaries are the ones Cargo builds for integration tests (`CARGO_BIN_EXE_*`); nothing
//! is built here. `crashfs record` needs `strace`: without it the calibration tests fail
//! loudly rather than pass.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const CRASHFS: &str = env!("CARGO_BIN_EXE_crashfs");
const PEER: &str = env!("CARGO_BIN_EXE_crashfs-sqlite");

/// Rows per calibration run: enough for a page split (row 7 splits the first leaf, writing
/// four frames in one commit) and several commits after it, few enough to keep the check
/// within the test budget.
const ROWS: u32 = 8;

/// Bound on the distinct crash states judged (both models together), so the test's run time
/// does not depend on how many states a model allows. FULL yields fewer than this (188 with
/// 8 rows, 4 random subsets, seed 0, when written), so all of them are judged; OFF yields
/// about 1070 and is sampled (deterministic families first), which still finds lost acks.
const MAX_STATES: u32 = 400;

/// FULL passing with few states explored would be vacuous: at least this many distinct crash
/// states must have been judged (188 when written: 39 crash points, the pending WAL frames
/// omitted or torn one at a time, plus random subsets).
const FULL_MIN_STATES: u64 = 120;

fn require_strace() {
    let ok = Command::new("strace")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "strace is not installed: `crashfs record` traces the workload with it, so the SQLite \
         calibration cannot run. Run the README's test script (./test.sh), which installs it \
         (as CI does); this test never passes without strace."
    );
}

fn describe(output: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn run_ok(command: &mut Command, what: &str) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    assert!(
        output.status.success(),
        "{what} failed: {}",
        describe(&output)
    );
    output
}

/// Quotes a path for `sh -c` (the oracle is a shell command line).
fn shell_quote(path: &str) -> String {
    format!("'{}'", path.replace('\'', r"'\''"))
}

fn setup(dir: &Path) {
    run_ok(
        Command::new(PEER).arg("setup").arg(dir),
        "crashfs-sqlite setup",
    );
}

/// Records `crashfs-sqlite run` at the given synchronous level and checks every crash state;
/// returns the `--json` summary.
fn calibrate(sync: &str) -> Value {
    require_strace();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("db");
    let trace = tmp.path().join("trace.json");
    setup(&dir);
    run_ok(
        Command::new(CRASHFS)
            .arg("record")
            .arg("--dir")
            .arg(&dir)
            .arg("--out")
            .arg(&trace)
            .arg("--")
            .arg(PEER)
            .arg("run")
            .arg(&dir)
            .args(["--sync", sync, "--rows", &ROWS.to_string()]),
        &format!("crashfs record (sync {sync})"),
    );
    let oracle = format!("{} oracle", shell_quote(PEER));
    let output = Command::new(CRASHFS)
        .arg("check")
        .arg("--trace")
        .arg(&trace)
        .args(["--oracle", &oracle, "--json", "--jobs", "2"])
        .args(["--max-states", &MAX_STATES.to_string()])
        .args(["--random", "4", "--seed", "0"])
        // Failing states are kept for inspection; keep them inside the test's tempdir so a
        // run of the OFF calibration leaves nothing behind.
        .arg("--keep")
        .arg(tmp.path().join("kept"))
        .output()
        .expect("start crashfs check");
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "crashfs check --json (sync {sync}) printed no JSON object ({e}): {}",
            describe(&output)
        )
    });
    let failures = summary["failures"]
        .as_u64()
        .unwrap_or_else(|| panic!("summary without a numeric \"failures\": {summary}"));
    // The exit status and the summary must agree: 0 exactly when nothing failed.
    assert_eq!(
        output.status.code(),
        Some(if failures == 0 { 0 } else { 1 }),
        "exit status disagrees with {failures} failures: {}",
        describe(&output)
    );
    // The counts, not the failure list (which carries each failing oracle's output).
    eprintln!(
        "calibration sync={sync}: ops {} crash_points {} states {} (capped {}) failures {} {} in {} s",
        summary["ops"],
        summary["crash_points"],
        summary["states"],
        summary["capped"],
        summary["failures"],
        summary["failures_by_kind"],
        summary["seconds"]
    );
    summary
}

fn count(summary: &Value, key: &str) -> u64 {
    summary[key]
        .as_u64()
        .unwrap_or_else(|| panic!("summary without a numeric {key:?}: {summary}"))
}

#[test]
fn calibration_wal_full_has_no_failures() {
    let summary = calibrate("full");
    assert_eq!(
        count(&summary, "failures"),
        0,
        "SQLite WAL + synchronous=FULL never loses an acknowledged commit; a failure here is a \
         crashfs modelling error (or a real SQLite finding): {summary}"
    );
    let states = count(&summary, "states");
    assert!(
        states >= FULL_MIN_STATES,
        "only {states} crash states judged (< {FULL_MIN_STATES}): a pass this small proves \
         nothing: {summary}"
    );
    assert!(
        count(&summary, "crash_points") > u64::from(ROWS),
        "{summary}"
    );
}

#[test]
fn calibration_wal_off_loses_acknowledged_rows() {
    let summary = calibrate("off");
    assert!(
        count(&summary, "failures") >= 1,
        "SQLite WAL + synchronous=OFF acknowledges commits it never synced; crashfs must find \
         a crash state that lost one: {summary}"
    );
    assert!(
        summary["failures_by_kind"]["lost-ack"]
            .as_u64()
            .is_some_and(|n| n >= 1),
        "no \"lost-ack\" among the failures: {summary}"
    );
}

/// A finished workload outside crashfs: the database directory and an acks file holding
/// everything `run` printed.
struct Finished {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    acks: PathBuf,
}

fn finished_run(rows: u32) -> Finished {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("db");
    setup(&dir);
    let output = run_ok(
        Command::new(PEER).arg("run").arg(&dir).args([
            "--sync",
            "full",
            "--rows",
            &rows.to_string(),
        ]),
        "crashfs-sqlite run",
    );
    let expected: String = (1..=rows).map(|id| format!("ack {id}\n")).collect();
    assert_eq!(String::from_utf8_lossy(&output.stdout), expected);
    let acks = tmp.path().join("acks");
    std::fs::write(&acks, &output.stdout).expect("write acks");
    Finished {
        _tmp: tmp,
        dir,
        acks,
    }
}

/// Runs the oracle the way crashfs does (cwd = state directory, CRASHFS_* in the
/// environment) and returns (exit success, last non-empty stdout line).
fn oracle(run: &Finished) -> (bool, String) {
    let output = Command::new("sh")
        .arg("-c")
        .arg(format!("{} oracle", shell_quote(PEER)))
        .current_dir(&run.dir)
        .env("CRASHFS_DIR", &run.dir)
        .env("CRASHFS_ACKS", &run.acks)
        .env("CRASHFS_CRASH_POINT", "0")
        .output()
        .expect("start oracle");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("")
        .to_string();
    (output.status.success(), last)
}

fn assert_verdict(run: &Finished, kind: &str) {
    let (ok, last) = oracle(run);
    assert!(!ok, "oracle accepted a damaged state; last line {last:?}");
    assert!(
        last.starts_with(&format!("{kind}: ")),
        "expected a {kind:?} verdict, got {last:?}"
    );
}

fn sql(run: &Finished, statement: &str) {
    let conn = rusqlite::Connection::open(run.dir.join("test.db")).expect("open test.db");
    conn.execute_batch(statement).expect(statement);
}

#[test]
fn oracle_accepts_a_complete_run() {
    let run = finished_run(10);
    let (ok, last) = oracle(&run);
    assert!(ok, "oracle rejected an intact run: {last:?}");
    assert_eq!(last, "ok: 10 rows, acked 10");
}

/// Every file in `dir` with its bytes, to compare a directory before and after the oracle.
fn contents(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("list dir")
        .map(|entry| {
            let entry = entry.expect("dir entry");
            let name = entry.file_name().to_string_lossy().into_owned();
            (name, std::fs::read(entry.path()).expect("read file"))
        })
        .collect();
    files.sort();
    files
}

#[test]
fn oracle_recovers_from_the_wal_and_leaves_the_state_untouched() {
    // A crash state as crashfs builds it: test.db plus a WAL holding a committed transaction
    // not yet checkpointed. The oracle must replay the WAL (row 10's deletion is visible only
    // there), and must not change the state, or a kept failing state would not be the crash
    // state its REPRODUCE line claims.
    let run = finished_run(10);
    let state = run.dir.parent().expect("parent").join("state");
    std::fs::create_dir(&state).expect("mkdir state");
    let conn = rusqlite::Connection::open(run.dir.join("test.db")).expect("open");
    conn.execute_batch("PRAGMA wal_autocheckpoint=0; DELETE FROM t WHERE id = 10")
        .expect("delete in the WAL");
    for name in ["test.db", "test.db-wal"] {
        std::fs::copy(run.dir.join(name), state.join(name)).expect("copy as a crash would");
    }
    drop(conn);
    let crashed = Finished {
        _tmp: tempfile::tempdir().expect("tempdir"),
        dir: state.clone(),
        acks: run.acks.clone(),
    };
    let before = contents(&state);
    assert_eq!(
        oracle(&crashed).1,
        "lost-ack: acked 10, found 9 rows",
        "the WAL's deletion must be recovered"
    );
    std::fs::write(&run.acks, "ack 9\n").expect("write acks");
    assert_eq!(oracle(&crashed).1, "ok: 9 rows, acked 9");
    assert!(
        contents(&state) == before,
        "the oracle changed the state directory"
    );
}

#[test]
fn oracle_accepts_unacknowledged_extra_rows() {
    // A crash between a commit and its ack leaves one row more than acknowledged: allowed.
    let run = finished_run(10);
    std::fs::write(&run.acks, "ack 1\nack 2\nack 3\n").expect("write acks");
    let (ok, last) = oracle(&run);
    assert!(ok, "{last:?}");
    assert_eq!(last, "ok: 10 rows, acked 3");
}

#[test]
fn oracle_reports_lost_ack_for_a_higher_ack() {
    let run = finished_run(10);
    let mut acks = std::fs::read(&run.acks).expect("read acks");
    acks.extend_from_slice(b"ack 11\n");
    std::fs::write(&run.acks, acks).expect("write acks");
    assert_verdict(&run, "lost-ack");
    assert_eq!(oracle(&run).1, "lost-ack: acked 11, found 10 rows");
}

#[test]
fn oracle_reports_lost_ack_for_deleted_tail_rows() {
    let run = finished_run(10);
    sql(&run, "DELETE FROM t WHERE id > 8");
    assert_eq!(oracle(&run).1, "lost-ack: acked 10, found 8 rows");
}

#[test]
fn oracle_reports_wrong_data_for_a_gap() {
    let run = finished_run(10);
    sql(&run, "DELETE FROM t WHERE id = 3");
    assert_verdict(&run, "wrong-data");
}

#[test]
fn oracle_reports_wrong_data_for_a_changed_payload() {
    let run = finished_run(10);
    sql(
        &run,
        "UPDATE t SET payload = zeroblob(length(payload)) WHERE id = 5",
    );
    assert_verdict(&run, "wrong-data");
}

#[test]
fn oracle_reports_unreadable_for_a_missing_database() {
    let run = finished_run(3);
    std::fs::remove_file(run.dir.join("test.db")).expect("remove test.db");
    assert_verdict(&run, "unreadable");
}

#[test]
fn oracle_reports_corrupt_for_a_damaged_page() {
    let run = finished_run(10);
    let path = run.dir.join("test.db");
    let mut bytes = std::fs::read(&path).expect("read test.db");
    // Page 2 is the root of t (an interior page after the split): point its right-most child
    // at a page number past the end of the file.
    let page2 = 4096;
    bytes[page2 + 8..page2 + 12].copy_from_slice(&1000u32.to_be_bytes());
    std::fs::write(&path, bytes).expect("write test.db");
    assert_verdict(&run, "corrupt");
}

#[test]
fn oracle_reports_corrupt_on_one_line_for_an_unused_page() {
    // integrity_check's answer for an orphan page is a row with an embedded newline
    // ("*** in database main ***\nPage 11: never used"); the verdict must still be one
    // "corrupt: ..." line, or crashfs would read "Page 11" as the failure kind.
    let run = finished_run(10);
    let path = run.dir.join("test.db");
    let mut bytes = std::fs::read(&path).expect("read test.db");
    let pages = u32::try_from(bytes.len() / 4096).expect("page count") + 1;
    bytes.extend_from_slice(&[0u8; 4096]);
    // The in-header database size (offset 28) is trusted while the version-valid-for number
    // matches the change counter, so the appended page counts only if the header says so.
    bytes[28..32].copy_from_slice(&pages.to_be_bytes());
    std::fs::write(&path, bytes).expect("write test.db");
    let (ok, last) = oracle(&run);
    assert!(!ok, "oracle accepted an orphan page: {last:?}");
    assert!(
        last.starts_with("corrupt: ") && last.contains("never used"),
        "expected a one-line corrupt verdict naming the unused page, got {last:?}"
    );
}
