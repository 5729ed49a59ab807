//! crashfs on small shell programs whose crash behaviour is known exactly: the
//! recorder follows descriptors through fork, dup, O_APPEND and lseek (its own
//! replay check fails otherwise), and each persistence model finds precisely the
//! bugs it should.

use std::path::Path;
use std::process::Command;

fn crashfs() -> Command {
    Command::new(env!("CARGO_BIN_EXE_crashfs"))
}

fn require_strace() {
    let ok = Command::new("strace")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "strace is not installed: run the README's test script (./test.sh), which installs it"
    );
}

/// Records `script` (run by sh inside `dir`) and returns the trace path.
fn record(dir: &Path, script: &str) -> std::path::PathBuf {
    require_strace();
    let trace = dir.parent().expect("a parent").join(format!(
        "{}.json",
        dir.file_name().and_then(|n| n.to_str()).unwrap_or("t")
    ));
    let out = crashfs()
        .args(["record", "--dir"])
        .arg(dir)
        .arg("--out")
        .arg(&trace)
        .args(["--", "sh", "-c"])
        .arg(format!("cd '{}' && {script}", dir.display()))
        .output()
        .expect("crashfs runs");
    assert!(
        out.status.success(),
        "record failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    trace
}

fn check(trace: &Path, oracle: &str, model: &str) -> serde_json::Value {
    let out = crashfs()
        .args([
            "check", "--json", "--jobs", "2", "--model", model, "--trace",
        ])
        .arg(trace)
        .args(["--oracle", oracle])
        .output()
        .expect("crashfs runs");
    let code = out.status.code();
    assert!(
        code == Some(0) || code == Some(1),
        "check errored: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(
        code == Some(1),
        v["failures"].as_u64() > Some(0),
        "exit status agrees with the report"
    );
    v
}

#[test]
fn descriptors_are_followed_through_fork_dup_append_and_seek() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("d");
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::write(dir.join("old"), b"0123456789").expect("seed file");
    // exec 3> opens once; the subshell (a fork) and the dup to fd 1 share its offset;
    // >> appends; dd seeks (lseek) before writing; mv renames; rm unlinks.
    let script = "exec 3>f; echo one >&3; (echo two >&3); echo three >>f; echo four >&3; \
                  printf XY | dd of=old bs=1 seek=4 conv=notrunc 2>/dev/null; \
                  mkdir sub; mv f sub/g; rm old; echo done";
    let trace = record(&dir, script);
    let t: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&trace).expect("trace")).expect("json");
    let ops = t["ops"].as_array().expect("ops");
    assert!(
        ops.iter().any(|o| o["op"] == "rename"),
        "the mv is recorded"
    );
    assert!(
        ops.iter().any(|o| o["op"] == "print"),
        "the echo to stdout is an acknowledgement"
    );
    // `record` succeeded, so replaying these ops rebuilt sub/g byte for byte, which needs
    // the offsets right: fd 3's offset (shared with the subshell) stays at 8 while `>>`
    // appends "three\n" at the end, so "four\n" overwrites it and one byte remains.
    assert_eq!(
        std::fs::read(dir.join("sub/g")).expect("g"),
        b"one\ntwo\nfour\n\n"
    );
}

/// "acked ⇒ file f holds x", a one-line oracle.
const ORACLE: &str = r#"if grep -q ack "$CRASHFS_ACKS"; then test "$(cat f 2>/dev/null)" = x || { echo "lost-ack: f does not hold x"; exit 1; }; fi"#;

#[test]
fn a_name_made_durable_only_by_a_file_fsync_is_lost_in_the_conservative_model_not_in_ext4() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("fsync-file");
    std::fs::create_dir(&dir).expect("mkdir");
    // coreutils `sync FILE` fsyncs FILE: the data is durable, the new name only on ext4.
    let trace = record(&dir, "printf x > f && sync f && echo ack");
    let c = check(&trace, ORACLE, "conservative");
    assert!(c["failures_by_kind"]["lost-ack"].as_u64() >= Some(1), "{c}");
    let e = check(&trace, ORACLE, "ext4-ordered");
    assert_eq!(
        e["failures"], 0,
        "ext4 commits the name with the fsync: {e}"
    );
}

#[test]
fn a_program_that_syncs_the_file_and_its_directory_survives_both_models() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("fsync-both");
    std::fs::create_dir(&dir).expect("mkdir");
    let trace = record(&dir, "printf x > f && sync f && sync . && echo ack");
    for model in ["conservative", "ext4-ordered"] {
        let r = check(&trace, ORACLE, model);
        assert_eq!(r["failures"], 0, "{model}: {r}");
        assert!(
            r["states"].as_u64() >= Some(3),
            "{model}: the unsynced states were judged: {r}"
        );
    }
}

#[test]
fn an_unsynced_acknowledgement_fails_and_the_failure_is_kept_for_reproduction() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("nosync");
    std::fs::create_dir(&dir).expect("mkdir");
    let trace = record(&dir, "printf x > f && echo ack");
    let keep = tmp.path().join("kept");
    let out = crashfs()
        .args(["check", "--jobs", "1", "--trace"])
        .arg(&trace)
        .args(["--oracle", ORACLE, "--keep"])
        .arg(&keep)
        .output()
        .expect("crashfs runs");
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("lost-ack") && text.contains("ops before the crash"),
        "{text}"
    );
    let kept: Vec<_> = std::fs::read_dir(&keep)
        .expect("kept dir")
        .flatten()
        .collect();
    assert!(!kept.is_empty(), "failing states are kept");
    assert!(kept.iter().all(|e| ["state", "after-oracle"]
        .iter()
        .all(|d| e.path().join(d).is_dir())
        && e.path().join("REPRODUCE").exists()));
}
