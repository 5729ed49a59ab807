//! The README's online-backup procedure with two processes: `keel-demo DIR` running,
//! `-startbu` of both files sent to it (found, as butil finds it, through the per-user
//! registry), a plain copy of the files, `-endbu`, the demo stopped, and
//! `keel-demo --verify` on the copy.
#![cfg(target_os = "linux")]

use engine::admin::Request;
use engine::host::admin::send_request;
use engine::host::registry::lookup;
use keel_demo::records::{data_files, ACCOUNTS_FILE, LEDGER_FILE, LIST_FILE};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const DEMO: &str = env!("CARGO_BIN_EXE_keel-demo");

/// A running demo: the child and a channel of its stdout lines after the first.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Running {
    /// Start `keel-demo DIR` and wait for its first line: from then on its handlers are
    /// installed and its files open (and registered for butil).
    fn start(dir: &Path) -> Running {
        let mut child = Command::new(DEMO)
            .arg(dir)
            .args(["--seed", "99", "--accounts", "20"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn keel-demo");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = lines
            .recv_timeout(Duration::from_secs(60))
            .expect("keel-demo printed nothing");
        assert!(first.contains("running in"), "{first}");
        Running { child, lines }
    }

    /// SIGTERM, and the clean exit that must follow.
    fn stop(mut self) -> Vec<String> {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits pid_t");
        // SAFETY: kill(2) on our own child, not yet waited for (so its pid is not reused).
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0, "kill");
        let status = self.child.wait().expect("wait for keel-demo");
        assert!(
            status.success(),
            "keel-demo exited with {status} on SIGTERM"
        );
        self.lines.iter().collect()
    }
}

impl Drop for Running {
    /// A test that failed midway must not leave the demo running over a deleted
    /// directory (after `stop` the child is reaped and this does nothing).
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn verify(dir: &Path) -> Output {
    let out = Command::new(DEMO)
        .arg("--verify")
        .arg(dir)
        .output()
        .expect("run keel-demo --verify");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    out
}

/// The ledger entries `--verify` reports.
fn entries(out: &Output) -> u64 {
    let text = String::from_utf8_lossy(&out.stdout);
    text.split(", ")
        .find(|p| p.contains(" ledger entries"))
        .and_then(|p| p.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no entry count in {text}"))
}

fn copy_files(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for f in [ACCOUNTS_FILE, LEDGER_FILE] {
        std::fs::copy(from.join(f), to.join(f)).unwrap();
    }
}

#[test]
fn startbu_sent_to_the_running_demo_makes_a_plain_copy_a_consistent_backup() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bank");
    let demo = Running::start(&dir);
    let files: Vec<PathBuf> = data_files(&dir.canonicalize().unwrap()).into();
    // butil's discovery: the registry names the demo's socket for each file.
    let ep = lookup(&files[0]).expect("the demo registered accounts.btr");
    assert_eq!(
        lookup(&files[1]).as_ref(),
        Some(&ep),
        "one endpoint for both"
    );
    assert_eq!(ep.pid, i32::try_from(demo.child.id()).unwrap());
    let ask = |req: Request| {
        let r = send_request(&ep.socket, &req, Duration::from_secs(30)).expect("admin request");
        assert_eq!(r.exit_code, 0, "{req:?}: {}{}", r.stdout, r.stderr);
    };

    std::thread::sleep(Duration::from_millis(300));
    ask(Request::StartBackup {
        paths: files.clone(),
    });
    // The demo goes on writing (into the deltas) while the copy is taken.
    std::thread::sleep(Duration::from_millis(300));
    let backup = tmp.path().join("backup");
    copy_files(&dir, &backup);
    std::thread::sleep(Duration::from_millis(300));
    ask(Request::EndBackup { paths: Some(files) });
    std::thread::sleep(Duration::from_millis(300));
    let lines = demo.stop();
    assert!(
        lines.last().is_some_and(|l| l.contains("stopped cleanly")),
        "{lines:?}"
    );

    let b = verify(&backup);
    assert_eq!(
        b.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&b.stdout),
        String::from_utf8_lossy(&b.stderr)
    );
    let live = verify(&dir);
    assert_eq!(
        live.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&live.stderr)
    );
    // The backup is the startbu instant; the demo went on past it (and its deltas'
    // changes were rolled in by endbu).
    assert!(entries(&b) > 0, "startbu came after some transfers");
    assert!(
        entries(&live) > entries(&b),
        "backup {} entries, live {}",
        entries(&b),
        entries(&live)
    );
}

/// butil, built by Cargo beside this test's binary (`target/<profile>/butil`): Cargo
/// gives `CARGO_BIN_EXE_*` only for a package's own binaries, and butil is the engine
/// crate's. The workspace's `cargo test` builds it (the engine's tests need it); alone,
/// `cargo test -p keel-demo` may not, hence the message.
fn butil() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/online_backup-HASH → target/<profile>/butil
    let path = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join(format!("butil{}", std::env::consts::EXE_SUFFIX)))
        .expect("test binary under target/<profile>/deps");
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p engine --bin butil` (the workspace's \
         `cargo test` builds it)",
        path.display()
    );
    path
}

/// `butil args`, without log settings from the environment; must exit 0.
fn butil_ok(args: &[&std::ffi::OsStr]) -> String {
    let out = Command::new(butil())
        .args(args)
        .env_remove("KEEL_LOG_MODE")
        .env_remove("KEEL_LOG_DIR")
        .output()
        .expect("run butil");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(
        out.status.success() && !stderr.contains("panicked"),
        "butil {args:?}: {}\n{stdout}{stderr}",
        out.status
    );
    stdout
}

#[test]
fn the_readme_procedure_with_butil_gives_a_backup_that_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bank");
    let demo = Running::start(&dir);
    let mut list = std::ffi::OsString::from("@");
    list.push(dir.join(LIST_FILE));
    std::thread::sleep(Duration::from_millis(300));
    butil_ok(&["-startbu".as_ref(), list.as_os_str()]);
    std::thread::sleep(Duration::from_millis(300));
    let backup = tmp.path().join("backup");
    copy_files(&dir, &backup);
    butil_ok(&["-endbu".as_ref(), list.as_os_str()]);
    std::thread::sleep(Duration::from_millis(200));
    let lines = demo.stop();
    assert!(
        lines.last().is_some_and(|l| l.contains("stopped cleanly")),
        "{lines:?}"
    );
    let b = verify(&backup);
    assert_eq!(
        b.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&b.stdout),
        String::from_utf8_lossy(&b.stderr)
    );
    assert!(entries(&b) > 0);
    assert!(entries(&verify(&dir)) > entries(&b));
}
