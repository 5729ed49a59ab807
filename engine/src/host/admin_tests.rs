//! The admin socket for real: a temp directory, a StdVfs engine holding a file, and
//! clients on threads (or, as root, a process of another uid).

use super::*;
use crate::admin::wire::MAGIC;
use crate::file::spec::FileSpec;
use crate::host::StdClock;
use crate::vfs::StdVfs;
use crate::{Config, Handle, OpenMode};
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::Instant;

fn spec() -> FileSpec {
    FileSpec::unique_u32_key(16, 512)
}

struct Fixture {
    dir: tempfile::TempDir,
    engine: Engine,
    handle: Handle,
    server: AdminServer,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let mut engine = Engine::new(
            Arc::new(StdVfs),
            Arc::new(StdClock::new()),
            Config::default(),
        );
        let data = dir.path().join("a.btr");
        engine.create(&data, &spec()).unwrap();
        let handle = engine.open(&data, OpenMode::Normal).unwrap();
        let mut r = vec![b'.'; 16];
        r[..4].copy_from_slice(&7u32.to_le_bytes());
        engine.insert(handle, &r).unwrap();
        let server = AdminServer::bind_with_registry(
            &dir.path().join("run/admin.sock"),
            &dir.path().join("reg"),
        )
        .unwrap();
        Fixture {
            dir,
            engine,
            handle,
            server,
        }
    }
    fn data(&self) -> PathBuf {
        self.dir.path().join("a.btr")
    }
    /// Serve until `done` says the clients are finished (at most 10 s).
    fn serve_until(&mut self, done: impl Fn() -> bool) -> usize {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut n = 0;
        while !done() && Instant::now() < deadline {
            n += self.server.serve_pending(&mut self.engine).unwrap();
            std::thread::sleep(Duration::from_millis(5));
        }
        n
    }
}

fn client<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> (
    std::thread::JoinHandle<T>,
    Arc<std::sync::atomic::AtomicBool>,
) {
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let d = done.clone();
    let h = std::thread::spawn(move || {
        let r = f();
        d.store(true, std::sync::atomic::Ordering::SeqCst);
        r
    });
    (h, done)
}

#[test]
fn a_request_round_trips_and_the_file_is_registered() {
    let mut fx = Fixture::new();
    let sock = fx.server.socket().to_path_buf();
    let mode = fs::metadata(&sock).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let data = fx.data();
    let req = Request::StartBackup {
        paths: vec![data.clone()],
    };
    let (h, done) = client(move || send_request(&sock, &req, IO_TIMEOUT));
    assert_eq!(
        fx.serve_until(|| done.load(std::sync::atomic::Ordering::SeqCst)),
        1
    );
    let reply = h.join().unwrap().unwrap();
    assert_eq!(reply.status, 0, "{reply:?}");
    assert!(
        reply.stdout.contains("in continuous operations"),
        "{reply:?}"
    );
    assert!(fx.engine.in_backup(&data));
    // The registry names this endpoint for the held file.
    let ep = super::super::registry::lookup_in(&fx.dir.path().join("reg"), &data).unwrap();
    assert_eq!(ep.pid, std::process::id() as i32);
    assert_eq!(ep.socket, canonical(fx.server.socket()));
    fx.engine.close(fx.handle).unwrap();
    fx.server.serve_pending(&mut fx.engine).unwrap();
    assert_eq!(
        super::super::registry::lookup_in(&fx.dir.path().join("reg"), &data),
        None,
        "a closed file is unregistered"
    );
}

#[test]
fn a_malformed_request_gets_an_error_reply_and_the_server_goes_on() {
    let mut fx = Fixture::new();
    let sock = fx.server.socket().to_path_buf();
    let data = fx.data();
    let (h, done) = client(move || {
        let mut s = UnixStream::connect(&sock).unwrap();
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        s.write_all(b"GARBAGE-FRAME-BYTES").unwrap();
        let mut bad = Vec::new();
        let _ = s.read_to_end(&mut bad);
        let bad = decode_reply(&bad).unwrap();
        // A well-formed header with a payload that does not decode.
        let mut s = UnixStream::connect(&sock).unwrap();
        let mut frame = MAGIC.to_vec();
        frame.extend_from_slice(&[1, 0, 1, 0, 2, 0, 0, 0, 0xff, 0xff]);
        s.write_all(&frame).unwrap();
        let mut bad2 = Vec::new();
        let _ = s.read_to_end(&mut bad2);
        let bad2 = decode_reply(&bad2).unwrap();
        let good = send_request(&sock, &Request::Stat { path: data }, IO_TIMEOUT).unwrap();
        (bad, bad2, good)
    });
    fx.serve_until(|| done.load(std::sync::atomic::Ordering::SeqCst));
    let (bad, bad2, good) = h.join().unwrap();
    for b in [&bad, &bad2] {
        assert_eq!(b.status, Status::InvalidOperation.code(), "{b:?}");
        assert!(b.stderr.contains("malformed request"), "{b:?}");
    }
    assert_eq!(good.status, 0, "{good:?}");
    assert!(good.stdout.contains("# records: 1\n"), "{good:?}");
}

#[test]
fn half_a_frame_then_a_disconnect_does_nothing() {
    let mut fx = Fixture::new();
    let sock = fx.server.socket().to_path_buf();
    let frame = encode_request(&Request::StartBackup {
        paths: vec![fx.data()],
    })
    .unwrap();
    for cut in [6, HEADER_LEN, frame.len() - 1] {
        let mut s = UnixStream::connect(&sock).unwrap();
        s.write_all(&frame[..cut]).unwrap();
        drop(s);
        assert_eq!(fx.server.serve_pending(&mut fx.engine).unwrap(), 0);
    }
    assert!(!fx.engine.in_backup(&fx.data()));
    let delta = crate::delta::delta_path(&fx.data()).unwrap();
    assert!(!delta.exists(), "no delta was created");
}

#[test]
fn a_directory_others_can_write_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for mode in [0o770, 0o777, 0o722] {
        let d = dir.path().join(format!("d{mode:o}"));
        fs::create_dir(&d).unwrap();
        fs::set_permissions(&d, fs::Permissions::from_mode(mode)).unwrap();
        let e = AdminServer::bind_with_registry(&d.join("s.sock"), &dir.path().join("reg"))
            .err()
            .expect("refused");
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{e}");
        assert!(e.to_string().contains("writable"), "{e}");
    }
    // A missing directory is created 0700.
    let d = dir.path().join("new/run");
    let _s = AdminServer::bind_with_registry(&d.join("s.sock"), &dir.path().join("reg")).unwrap();
    assert_eq!(
        fs::metadata(&d).unwrap().permissions().mode() & 0o777,
        0o700
    );
    // Something that is not a socket at the path is not replaced.
    let f = dir.path().join("new/run/plain");
    fs::write(&f, b"x").unwrap();
    assert!(AdminServer::bind_with_registry(&f, &dir.path().join("reg")).is_err());
}

/// Run by `another_uid_is_refused` as uid 65534: connect to the socket named in
/// `KEEL_ADMIN_TEST_SOCKET`, send a startbu, print the reply's status.
#[test]
#[ignore = "a helper process of another_uid_is_refused"]
fn peer_of_another_uid() {
    let Some(sock) = std::env::var_os("KEEL_ADMIN_TEST_SOCKET") else {
        return;
    };
    let data = std::env::var_os("KEEL_ADMIN_TEST_FILE").unwrap_or_default();
    let r = send_request(
        Path::new(&sock),
        &Request::StartBackup {
            paths: vec![PathBuf::from(data)],
        },
        IO_TIMEOUT,
    );
    match r {
        Ok(r) => println!("REPLY-STATUS={}", r.status),
        Err(e) => println!("REPLY-ERROR={e}"),
    }
}

#[test]
fn another_uid_is_refused() {
    if euid() != 0 {
        eprintln!("another_uid_is_refused: skipped, needs root to run a client as uid 65534");
        return;
    }
    let mut fx = Fixture::new();
    // Loosen the socket and its directories for this test only, so that the peer
    // check — not the file mode — is what refuses the other uid.
    let run = fx.dir.path().join("run");
    for d in [fx.dir.path(), run.as_path()] {
        fs::set_permissions(d, fs::Permissions::from_mode(0o755)).unwrap();
    }
    fs::set_permissions(fx.server.socket(), fs::Permissions::from_mode(0o666)).unwrap();
    // The test binary, copied where uid 65534 can run it.
    let exe = fx.dir.path().join("peer-test");
    fs::copy(std::env::current_exe().unwrap(), &exe).unwrap();
    fs::set_permissions(&exe, fs::Permissions::from_mode(0o755)).unwrap();
    let sock = fx.server.socket().to_path_buf();
    let data = fx.data();
    let (h, done) = client(move || {
        use std::os::unix::process::CommandExt;
        std::process::Command::new(&exe)
            .args([
                "--ignored",
                "--exact",
                "host::admin::tests::peer_of_another_uid",
            ])
            .args(["--nocapture", "--test-threads=1"])
            .env("KEEL_ADMIN_TEST_SOCKET", &sock)
            .env("KEEL_ADMIN_TEST_FILE", &data)
            .uid(65534)
            .gid(65534)
            .output()
            .unwrap()
    });
    let executed = fx.serve_until(|| done.load(std::sync::atomic::Ordering::SeqCst));
    let out = h.join().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("REPLY-STATUS={}", Status::AccessDenied.code())),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(executed, 0);
    assert!(!fx.engine.in_backup(&fx.data()));
}

#[test]
fn with_no_socket_configured_a_host_serves_on_the_default_one() {
    // The endpoint is on by default: a config naming no socket binds one per process
    // in the per-user runtime directory, and dropping the server removes it.
    let at = default_socket();
    assert_eq!(at.parent(), Some(runtime_dir().as_path()));
    assert_eq!(
        at.file_name().and_then(|n| n.to_str()),
        Some(format!("engine-{}.sock", std::process::id()).as_str())
    );
    let e = Engine::new(
        Arc::new(StdVfs),
        Arc::new(StdClock::new()),
        Config::default(),
    );
    assert_eq!(e.config().admin_socket, None);
    let server = AdminServer::from_config(&e).expect("bind the default socket");
    assert_eq!(server.socket(), at.as_path());
    let mode = std::fs::metadata(&at)
        .expect("socket exists")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "socket mode {mode:o}");
    drop(server);
    assert!(!at.exists(), "the socket is removed with the server");
}
