//! An application that holds a data file open and serves its admin endpoint until it
//! is killed — the other process of butil's admin tests (`tests/butil_admin.rs`), and
//! the smallest example of a host that serves one.
//!
//! `admin_holder DATAFILE SOCKET`: opens DATAFILE (Normal mode, so the engine holds
//! its lock), listens on SOCKET, registers the file in the runtime directory
//! (`XDG_RUNTIME_DIR`), prints `READY` and serves requests every 10 ms.

use engine::host::admin::AdminServer;
use engine::host::StdClock;
use engine::vfs::StdVfs;
use engine::{Config, Engine, OpenMode};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, data, socket] = args.as_slice() else {
        eprintln!("usage: admin_holder DATAFILE SOCKET");
        std::process::exit(64);
    };
    let config = Config {
        admin_socket: Some(PathBuf::from(socket)),
        ..Config::default()
    };
    let mut e = Engine::new(Arc::new(StdVfs), Arc::new(StdClock::new()), config);
    // The handle stays open until the process is killed: that is the point.
    let _held = match e.open(std::path::Path::new(data), OpenMode::Normal) {
        Ok(h) => h,
        Err(err) => {
            eprintln!("admin_holder: {err}");
            std::process::exit(1);
        }
    };
    let server = match AdminServer::from_config(&e) {
        Ok(s) => s,
        Err(err) => {
            eprintln!("admin_holder: {socket}: {err}");
            std::process::exit(1);
        }
    };
    let mut ready = false;
    loop {
        if let Err(err) = server.serve_pending(&mut e) {
            eprintln!("admin_holder: {err}");
        }
        if let Err(err) = e.background_step() {
            eprintln!("admin_holder: {err}");
        }
        if !ready {
            println!("READY");
            let _ = std::io::stdout().flush();
            ready = true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
