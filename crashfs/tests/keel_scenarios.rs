//! Keel's crash scenarios (`crashfs-keel`): a bounded crashfs campaign over every
//! scenario must find no failure, every acknowledged step must recover in a directory
//! other than the one it ran in, and the oracle must be able to fail — lost acks,
//! damaged pages, a deleted file and foreign records each get their kind.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SCENARIOS: [&str; 5] = ["loads", "contops", "durability", "legacy", "archival"];

/// The scenario binary (this package's, so Cargo names it).
fn keel() -> &'static str {
    env!("CARGO_BIN_EXE_crashfs-keel")
}

/// butil, built by Cargo beside this test's binary (`target/<profile>/butil`): Cargo
/// gives `CARGO_BIN_EXE_*` only for a package's own binaries, and butil is the engine
/// crate's. The workspace's `cargo test` builds it; `cargo test -p crashfs` alone may
/// not, hence the message.
fn butil() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/keel_scenarios-HASH → target/<profile>/butil
    let path = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join(format!("butil{}", std::env::consts::EXE_SUFFIX)))
        .expect("test binary under target/<profile>/deps");
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p engine --bin butil` with this test's profile \
         (the workspace's `cargo test` builds it)",
        path.display()
    );
    path
}

/// `crashfs-keel ARGS` in `cwd` with butil named and `extra_env` set.
fn keel_run(args: &[&str], cwd: &Path, extra_env: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(keel());
    cmd.args(args).current_dir(cwd).env("BUTIL", butil());
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    cmd.output().expect("run crashfs-keel")
}

fn text(out: &Output) -> String {
    format!(
        "{}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The scenario's script, cut after its `ack k` (k = 0: before the first step).
fn script_through_ack(scenario: &str, k: usize) -> String {
    let out = keel_run(&["command", scenario], Path::new("."), &[]);
    assert!(out.status.success(), "command {scenario}: {}", text(&out));
    let script = String::from_utf8(out.stdout).expect("script is UTF-8");
    let mut kept = String::new();
    for line in script.lines() {
        if line.starts_with("\"$B\"") && kept.matches("echo 'ack").count() == k {
            break;
        }
        kept.push_str(line);
        kept.push('\n');
    }
    kept
}

/// Set `scenario` up in `dir` and run its script through ack `k`; the acks printed.
fn run_through_ack(scenario: &str, dir: &Path, k: usize) -> Vec<u8> {
    let out = keel_run(
        &["setup", scenario, &dir.display().to_string()],
        Path::new("."),
        &[],
    );
    assert!(out.status.success(), "setup {scenario}: {}", text(&out));
    let out = Command::new("sh")
        .args(["-c", &script_through_ack(scenario, k)])
        .current_dir(dir)
        .output()
        .expect("run sh");
    assert!(
        out.status.success(),
        "{scenario} through ack {k}: {}",
        text(&out)
    );
    out.stdout
}

/// The oracle on the state in `dir` with `acks` as CRASHFS_ACKS: (exit code, last line).
fn oracle(scenario: &str, dir: &Path, acks: &[u8]) -> (Option<i32>, String) {
    let acks_file = tempfile::NamedTempFile::new().expect("acks file");
    fs::write(acks_file.path(), acks).expect("write acks");
    let out = keel_run(
        &["oracle", scenario],
        dir,
        &[("CRASHFS_DIR", dir), ("CRASHFS_ACKS", acks_file.path())],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .to_string();
    (out.status.code(), last)
}

/// Copy the directory tree `from` to `to` (files and directories only).
fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for entry in fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

fn acks(n: usize) -> Vec<u8> {
    (1..=n)
        .map(|i| format!("ack {i}\n"))
        .collect::<String>()
        .into_bytes()
}

fn steps(scenario: &str) -> usize {
    script_through_ack(scenario, usize::MAX)
        .matches("echo 'ack")
        .count()
}

#[test]
fn every_ack_boundary_recovers_in_another_directory() {
    // The crash states crashfs builds live in fresh directories, so nothing a scenario
    // writes may depend on where it ran: run each prefix, move it, judge it there.
    for scenario in SCENARIOS {
        for k in 0..=steps(scenario) {
            let ran = tempfile::tempdir().expect("tempdir");
            let printed = run_through_ack(scenario, ran.path(), k);
            assert_eq!(
                printed,
                acks(k),
                "{scenario}: acks printed through step {k}"
            );
            let moved = tempfile::tempdir().expect("tempdir");
            copy_tree(ran.path(), moved.path());
            drop(ran);
            let (code, last) = oracle(scenario, moved.path(), &printed);
            assert_eq!(code, Some(0), "{scenario} after ack {k}: {last}");
        }
    }
}

#[test]
fn the_oracle_reports_acks_the_file_lost() {
    // Two steps ran (create, one load): claiming three is an acknowledged load lost.
    let dir = tempfile::tempdir().expect("tempdir");
    run_through_ack("loads", dir.path(), 2);
    let (code, last) = oracle("loads", dir.path(), &acks(3));
    assert_eq!(code, Some(1), "{last}");
    assert!(last.starts_with("lost-ack: "), "{last}");
    // The file removed after its create was acknowledged.
    fs::remove_file(dir.path().join("data.btr")).expect("rm");
    let (code, last) = oracle("loads", dir.path(), &acks(1));
    assert_eq!(
        (code, last.split(':').next()),
        (Some(1), Some("missing")),
        "{last}"
    );
    // Before any ack, no file is fine.
    assert_eq!(oracle("loads", dir.path(), b"").0, Some(0));
}

#[test]
fn the_oracle_reports_records_that_were_never_inserted() {
    // One record of the first load altered outside its key: the file then holds a
    // record the scenario never inserts.
    let dir = tempfile::tempdir().expect("tempdir");
    keel_run(
        &["setup", "loads", &dir.path().display().to_string()],
        Path::new("."),
        &[],
    );
    let l1 = dir.path().join("l1.seq");
    let mut bytes = fs::read(&l1).expect("read l1.seq");
    let at = bytes
        .windows(10)
        .position(|w| w == b"rec-000005")
        .expect("record 5 in l1.seq");
    bytes[at..at + 3].copy_from_slice(b"REC");
    fs::write(&l1, bytes).expect("write l1.seq");
    let out = keel_run(&["run", "loads", "."], dir.path(), &[]);
    assert!(out.status.success(), "{}", text(&out));
    let (code, last) = oracle("loads", dir.path(), &out.stdout);
    assert_eq!(code, Some(1), "{last}");
    assert!(last.starts_with("wrong-data: "), "{last}");
}

#[test]
fn the_oracle_reports_damaged_pages() {
    // Damage one page at a time of a fully loaded file: a damaged page in use must be
    // caught, by -check (`check`) or at open (`open`: the PAT) — or, for the newest of
    // the two control records, read as a torn commit: the file opens at the previous
    // one, a load short (`lost-ack`). A page no longer in use may pass.
    let ran = tempfile::tempdir().expect("tempdir");
    let printed = run_through_ack("loads", ran.path(), usize::MAX);
    let len = fs::metadata(ran.path().join("data.btr"))
        .expect("stat")
        .len();
    let pages = len / 512;
    let mut kinds = Vec::new();
    for page in 0..pages {
        let dir = tempfile::tempdir().expect("tempdir");
        copy_tree(ran.path(), dir.path());
        let file = dir.path().join("data.btr");
        let mut bytes = fs::read(&file).expect("read");
        let at = usize::try_from(page * 512 + 200).expect("offset");
        bytes[at] ^= 0xff;
        fs::write(&file, &bytes).expect("write");
        let (code, last) = oracle("loads", dir.path(), &printed);
        let kind = last.split(':').next().unwrap_or("").to_string();
        assert!(
            code == Some(0)
                || (code == Some(1) && ["check", "open", "lost-ack"].contains(&kind.as_str())),
            "page {page}: {code:?} {last}"
        );
        kinds.push(kind);
    }
    assert!(kinds.iter().any(|k| k == "check"), "{kinds:?}");
    assert!(kinds.iter().any(|k| k == "open"), "{kinds:?}");
}

/// Whether strace can trace here (installed, and ptrace allowed): crashfs records
/// through it. The same probe as ./test.sh.
fn strace_available() -> bool {
    Command::new("strace")
        .args(["-f", "-o", "/dev/null", "true"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Run `crashfs-keel campaign ARGS --json`: the outcomes, one per scenario.
fn campaign(args: &[&str]) -> Vec<serde_json::Value> {
    let mut all = vec!["campaign", "--jobs", "2", "--json"];
    all.extend_from_slice(args);
    let out = keel_run(&all, Path::new("."), &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let outcomes: serde_json::Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("campaign --json ({e}): {}", text(&out)));
    let list = outcomes.as_array().expect("an array of outcomes").clone();
    for o in &list {
        assert_eq!(o["failures"].as_u64(), Some(0), "{o}");
    }
    assert!(out.status.success(), "{}", text(&out));
    list
}

/// A bounded campaign over every scenario: at most 150 crash states each (100 in
/// Durability, one persistence model: every state there carries the 16 MiB log
/// segment, which makes crashfs's planning the slow part), two oracles at once; every
/// scenario must reach a real number of states and none may fail.
#[test]
fn a_bounded_campaign_finds_no_failure() {
    assert!(
        strace_available(),
        "strace is not installed or does not run: crashfs records through it; run ./test.sh \
         (it installs strace and checks that ptrace works) — this test must not pass \
         without it"
    );
    let mut outcomes = campaign(&[
        "--max-states",
        "150",
        "--scenario",
        "loads",
        "--scenario",
        "contops",
        "--scenario",
        "legacy",
        "--scenario",
        "archival",
    ]);
    outcomes.extend(campaign(&[
        "--max-states",
        "100",
        "--model",
        "conservative",
        "--scenario",
        "durability",
    ]));
    let mut total = 0;
    for name in SCENARIOS {
        let o = outcomes
            .iter()
            .find(|o| o["scenario"] == name)
            .unwrap_or_else(|| panic!("no outcome for {name}"));
        let states = o["states"].as_u64().unwrap_or(0);
        assert!(states >= MIN_STATES_EACH, "too few states: {o}");
        total += states;
    }
    assert!(total >= MIN_STATES_TOTAL, "{total} states: {outcomes:?}");
}

/// The calibration: the same scenario with each ack printed before its step runs
/// acknowledges work that is not yet durable, and crashfs with the same oracle must
/// say so (`lost-ack`); a checker that passes this finds nothing anywhere.
#[test]
fn acks_printed_before_their_steps_are_caught() {
    assert!(
        strace_available(),
        "strace cannot trace here: run ./test.sh"
    );
    let keep = tempfile::tempdir().expect("tempdir");
    let out = keel_run(
        &[
            "campaign",
            "--scenario",
            "loads",
            "--ack-before-step",
            "--max-states",
            "100",
            "--jobs",
            "2",
            "--json",
            "--keep",
            &keep.path().display().to_string(),
        ],
        Path::new("."),
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let outcomes: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    let loads = &outcomes[0];
    assert!(loads["failures"].as_u64().unwrap_or(0) > 0, "{loads}");
    assert!(
        loads["failures_by_kind"]["lost-ack"].as_u64().unwrap_or(0) > 0,
        "{loads}"
    );
}

/// Floors for the bounded campaign: far enough below what it reaches to survive small
/// changes in Keel's I/O, high enough that a recorder capturing nothing fails.
const MIN_STATES_EACH: u64 = 50;
const MIN_STATES_TOTAL: u64 = 500;
