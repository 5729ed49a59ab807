//! End-to-end tests of the `keel-demo` binary: a run stopped by SIGTERM leaves a
//! directory `--verify` accepts, and `--verify` rejects a copy whose files disagree.

use engine::host::StdClock;
use engine::vfs::StdVfs;
use engine::{Config, Engine, GetOp, OpenMode};
use keel_demo::records::{Account, Entry, ACCOUNTS_FILE, LEDGER_FILE, LIST_FILE};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

const DEMO: &str = env!("CARGO_BIN_EXE_keel-demo");

/// `keel-demo args`, waited for.
fn demo(args: &[&std::ffi::OsStr]) -> Output {
    let out = Command::new(DEMO)
        .args(args)
        .output()
        .expect("run keel-demo");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked"),
        "keel-demo panicked:\n{stderr}"
    );
    out
}

fn verify(dir: &Path) -> Output {
    demo(&["--verify".as_ref(), dir.as_os_str()])
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Start `keel-demo DIR --seed SEED` and wait for its first line, printed once the
/// signal handlers are installed and the files are open (a SIGTERM sent before would
/// kill it, not stop it). Returns the child and a channel of its later stdout lines.
fn start(dir: &Path, seed: &str) -> (Child, mpsc::Receiver<String>) {
    let mut child = Command::new(DEMO)
        .arg(dir)
        .args(["--seed", seed])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn keel-demo");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("keel-demo printed nothing");
    assert!(first.contains("running in"), "{first}");
    (child, rx)
}

/// Send SIGTERM and wait: the demo must finish its transaction, flush, close and exit 0.
fn sigterm(mut child: Child, rx: mpsc::Receiver<String>) -> Vec<String> {
    let pid = libc::pid_t::try_from(child.id()).expect("pid fits pid_t");
    // SAFETY: kill(2) on our own child's pid; it cannot have been reaped (and its pid
    // reused) because we have not waited for it yet.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0, "kill");
    let status = child.wait().expect("wait for keel-demo");
    assert!(
        status.success(),
        "keel-demo exited with {status} on SIGTERM"
    );
    rx.iter().collect()
}

#[test]
fn sigterm_stops_cleanly_and_the_directory_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bank");
    let (child, rx) = start(&dir, "17");
    let socket = keel_demo::admin::socket_path(&dir);
    if cfg!(target_os = "linux") {
        assert!(socket.exists(), "no admin socket at {}", socket.display());
    }
    std::thread::sleep(Duration::from_millis(1200));
    let lines = sigterm(child, rx);
    assert!(!socket.exists(), "the admin socket outlived the demo");
    let last = lines.last().expect("a closing line");
    assert!(last.contains("stopped cleanly after"), "{lines:?}");
    assert!(
        !last.contains("after 0 transfers"),
        "no transfer in 1.2 s: {lines:?}"
    );

    // The list file names both data files, absolutely, as butil parses it.
    let list = std::fs::read(dir.join(LIST_FILE)).unwrap();
    let named = engine::formats::parse_list(&list).unwrap();
    let canon = dir.canonicalize().unwrap();
    assert_eq!(
        named,
        [ACCOUNTS_FILE, LEDGER_FILE].map(|f| canon.join(f).to_string_lossy().into_owned())
    );

    let out = verify(&dir);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(text(&out.stdout).contains("is consistent"));

    // A second run resumes the same files (ledger ids go on) and still verifies.
    let out = demo(&[dir.as_os_str(), "--transfers".as_ref(), "25".as_ref()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(verify(&dir).status.code(), Some(0));
}

/// A finished run of `n` transfers in a new directory under `tmp`.
fn bank(tmp: &Path, name: &str, n: &str) -> std::path::PathBuf {
    let dir = tmp.join(name);
    let out = demo(&[
        dir.as_os_str(),
        "--transfers".as_ref(),
        n.as_ref(),
        "--seed".as_ref(),
        "3".as_ref(),
        "--accounts".as_ref(),
        "10".as_ref(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    dir
}

/// Copy the two data files of `from` into a new directory `to`.
fn copy_files(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for f in [ACCOUNTS_FILE, LEDGER_FILE] {
        std::fs::copy(from.join(f), to.join(f)).unwrap();
    }
}

/// Through the engine (no log), rewrite record `key` of `file` in `dir` with `change`.
fn tamper(dir: &Path, file: &str, key: &[u8], change: impl FnOnce(Vec<u8>) -> Vec<u8>) {
    let mut e = Engine::new(
        Arc::new(StdVfs),
        Arc::new(StdClock::new()),
        Config::default(),
    );
    let h = e.open(&dir.join(file), OpenMode::Normal).unwrap();
    let r = e.get(h, GetOp::Equal, 0, key).unwrap();
    e.update(h, &change(r)).unwrap();
    e.close(h).unwrap();
}

#[test]
fn a_changed_balance_fails_verify_with_status_1() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = bank(tmp.path(), "bank", "200");
    assert_eq!(verify(&dir).status.code(), Some(0));

    let copy = tmp.path().join("copy");
    copy_files(&dir, &copy);
    assert_eq!(
        verify(&copy).status.code(),
        Some(0),
        "an exact copy verifies"
    );
    tamper(&copy, ACCOUNTS_FILE, &3u32.to_le_bytes(), |r| {
        let mut a = Account::decode(&r).unwrap();
        a.balance += 1;
        a.encode()
    });
    let out = verify(&copy);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(
        err.contains("INCONSISTENT") && err.contains("add up to"),
        "{err}"
    );
}

#[test]
fn balances_moved_between_accounts_fail_verify_naming_the_account() {
    // Money conserved, but account 1's balance no longer matches the ledger: the
    // two files are not of one instant.
    let tmp = tempfile::tempdir().unwrap();
    let dir = bank(tmp.path(), "bank", "200");
    for (id, delta) in [(1u32, 5i64), (2, -5)] {
        tamper(&dir, ACCOUNTS_FILE, &id.to_le_bytes(), |r| {
            let mut a = Account::decode(&r).unwrap();
            a.balance += delta;
            a.encode()
        });
    }
    let out = verify(&dir);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("account 1: balance") && err.contains("newest ledger entry"),
        "{err}"
    );
}

#[test]
fn an_altered_ledger_entry_fails_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = bank(tmp.path(), "bank", "50");
    tamper(&dir, LEDGER_FILE, &20u64.to_le_bytes(), |r| {
        let mut e = Entry::decode(&r).unwrap();
        e.to_balance += 1;
        e.encode()
    });
    let out = verify(&dir);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("ledger entry 20"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn verify_without_the_files_is_status_2() {
    let tmp = tempfile::tempdir().unwrap();
    let out = verify(&tmp.path().join("missing"));
    assert_eq!(out.status.code(), Some(2));
    let out = verify(tmp.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains(ACCOUNTS_FILE),
        "{}",
        text(&out.stderr)
    );
    let out = demo(&["--verify".as_ref()]);
    assert_eq!(out.status.code(), Some(2), "usage");
}

#[test]
fn a_corrupted_page_fails_the_structure_check_with_status_1() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = bank(tmp.path(), "bank", "300");
    let copy = tmp.path().join("copy");
    copy_files(&dir, &copy);
    // Flip one byte inside a page past the control records: its checksum fails.
    let path = copy.join(LEDGER_FILE);
    let mut bytes = std::fs::read(&path).unwrap();
    let at = 3 * 4096 + 200;
    assert!(bytes.len() > at, "ledger.btr has fewer than 4 pages");
    bytes[at] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    let out = verify(&copy);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("structure check") && err.contains(LEDGER_FILE),
        "{err}"
    );
}

#[test]
fn a_directory_a_list_file_cannot_name_is_refused_before_any_file_is_made() {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["star*dir", "line\nbreak"] {
        let dir = tmp.path().join(name);
        let out = demo(&[dir.as_os_str(), "--transfers".as_ref(), "1".as_ref()]);
        assert_eq!(out.status.code(), Some(2), "{name:?}");
        assert!(
            text(&out.stderr).contains("list file"),
            "{}",
            text(&out.stderr)
        );
        assert!(!dir.join(ACCOUNTS_FILE).exists(), "{name:?}");
    }
}
