//! butil through the admin endpoint (issue 17): another process holds a data file
//! open (its engine has the file's lock) and serves an `AdminServer`; `butil -startbu`,
//! `-stat`, `-check`, `-endbu` from here succeed through it, `--direct` gets status 85,
//! and once the holder is gone its stale registry record sends butil back to the file.
#![cfg(target_os = "linux")]

mod common;

use common::butil::{run, Run};
use engine::host::admin::AdminServer;
use engine::host::StdClock;
use engine::vfs::StdVfs;
use engine::{Config, Engine, OpenMode};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

/// The holder process: this test binary again, running the ignored `holder` test.
#[test]
#[ignore = "the holder process of butil_through_the_holding_engine"]
fn holder() {
    let (Some(data), Some(socket)) = (
        std::env::var_os("KEEL_HOLDER_FILE"),
        std::env::var_os("KEEL_HOLDER_SOCKET"),
    ) else {
        return;
    };
    let config = Config {
        admin_socket: Some(PathBuf::from(socket)),
        ..Config::default()
    };
    let mut e = Engine::new(Arc::new(StdVfs), Arc::new(StdClock::new()), config);
    let _held = e.open(Path::new(&data), OpenMode::Normal).expect("open");
    let server = AdminServer::from_config(&e).expect("bind");
    server.serve_pending(&mut e).expect("serve");
    // Straight to the process's stdout: the test harness may capture `println!`.
    let mut out = std::io::stdout().lock();
    writeln!(out, "READY").expect("tell the test");
    out.flush().expect("tell the test");
    drop(out);
    loop {
        let _ = server.serve_pending(&mut e);
        let _ = e.background_step();
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Kills the holder when the test ends, however it ends.
struct Holder(Child);

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_holder(dir: &Path, xdg: &Path) -> Holder {
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--ignored",
            "--exact",
            "holder",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("KEEL_HOLDER_FILE", dir.join("a.btr"))
        .env("KEEL_HOLDER_SOCKET", dir.join("run/admin.sock"))
        .env("XDG_RUNTIME_DIR", xdg)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the holder");
    let out = child.stdout.take().expect("holder stdout");
    let holder = Holder(child);
    let mut lines = BufReader::new(out).lines();
    loop {
        match lines.next() {
            Some(Ok(l)) if l.trim_end().ends_with("READY") => break,
            Some(Ok(_)) => continue,
            other => panic!("the holder did not get ready: {other:?}"),
        }
    }
    // Keep reading (and dropping) its output so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    holder
}

fn butil(dir: &Path, xdg: &Path, args: &[&str]) -> Run {
    run(args, |c| {
        c.current_dir(dir).env("XDG_RUNTIME_DIR", xdg);
    })
}

#[test]
fn butil_through_the_holding_engine() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let xdg = dir.join("xdg");
    std::fs::create_dir(&xdg).unwrap();
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpora/demodata/course.des");
    std::fs::copy(demo, dir.join("course.des")).unwrap();
    let created = butil(dir, &xdg, &["-create", "a.btr", "course.des"]);
    assert_eq!(created.code, 0, "{}{}", created.stdout, created.stderr);
    // What butil prints for the file when nobody holds it.
    let direct_stat = butil(dir, &xdg, &["-stat", "a.btr"]);
    let direct_check = butil(dir, &xdg, &["-check", "a.btr"]);
    assert_eq!(direct_stat.code, 0, "{}", direct_stat.stderr);

    let holder = start_holder(dir, &xdg);
    // --direct: today's behaviour, the lock refuses.
    let r = butil(dir, &xdg, &["--direct", "-stat", "a.btr"]);
    assert_eq!(r.code, 85, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("status 85"), "{}", r.stderr);

    // Through the endpoint: identical output and exit codes.
    let r = butil(dir, &xdg, &["-stat", "a.btr"]);
    assert_eq!(
        (r.code, &r.stdout, &r.stderr),
        (0, &direct_stat.stdout, &direct_stat.stderr)
    );
    let r = butil(dir, &xdg, &["-check", "a.btr"]);
    assert_eq!(
        (r.code, &r.stdout),
        (0, &direct_check.stdout),
        "{}",
        r.stderr
    );

    let r = butil(dir, &xdg, &["-startbu", "a.btr"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.stdout, "a.btr: in continuous operations (delta a.^^^)\n");
    assert!(dir.join("a.^^^").exists());
    // The set is all or nothing through the endpoint too: a second startbu is refused.
    let r = butil(dir, &xdg, &["-startbu", "a.btr"]);
    assert_ne!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.starts_with("refused: a.btr: "), "{}", r.stdout);
    assert!(r.stderr.starts_with("butil: status "), "{}", r.stderr);

    // killbu never goes to the holder, and must not delete the delta under it: the
    // holding engine is writing the file's changes there. It is refused (85), the
    // delta kept.
    let r = butil(dir, &xdg, &["-killbu", "a.btr"]);
    assert_eq!(r.code, 85, "{}{}", r.stdout, r.stderr);
    assert!(dir.join("a.^^^").exists());
    let r = butil(dir, &xdg, &["-endbu", "a.btr"]);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "a.btr: continuous operations ended\n"),
        "{}",
        r.stderr
    );
    assert!(!dir.join("a.^^^").exists());
    let r = butil(dir, &xdg, &["--direct", "-startbu", "a.btr"]);
    assert_eq!(r.code, 85, "{}{}", r.stdout, r.stderr);
    let r = butil(dir, &xdg, &["-startbu", "a.btr"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let r = butil(dir, &xdg, &["-endbu", "-A"]);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "./a.btr: continuous operations ended\n"),
        "{}",
        r.stderr
    );

    // The holder dies without cleaning up: its record is stale, butil opens the file.
    drop(holder);
    let r = butil(dir, &xdg, &["-stat", "a.btr"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.stdout, direct_stat.stdout);
}
