//! The demo's admin endpoint: the socket through which `butil -startbu/-endbu/-stat`
//! in another process has this process's engine do the work on the files it holds
//! locked (`engine::host::admin`).
//!
//! The socket is `DIR/admin/keel.sock`: its own directory, which the engine's host side
//! creates owner-only (0700), so DIR itself may be shared. butil finds it through the
//! per-user registry the server keeps for every file the engine holds for writing,
//! so the operator names only the data files (`@DIR/files.lst`).
//!
//! Requests are served only where the demo's loop calls [`Admin::serve`]: between two
//! user transactions, so a `-startbu` never meets a transaction half done. The
//! endpoint exists on Linux only (as does the engine's); elsewhere `serve` does
//! nothing and butil is refused with status 85 as before.

use crate::DemoError;
use engine::Engine;
use std::path::{Path, PathBuf};

/// Directory of the admin socket inside the demo directory.
pub const ADMIN_DIR: &str = "admin";

/// Where the admin socket of the demo in `dir` lives.
pub fn socket_path(dir: &Path) -> PathBuf {
    dir.join(ADMIN_DIR).join("keel.sock")
}

/// The bound endpoint (none off Linux).
pub struct Admin {
    #[cfg(target_os = "linux")]
    server: Option<engine::host::admin::AdminServer>,
}

impl Admin {
    /// Bind the socket `engine`'s `Config::admin_socket` names. A socket that cannot
    /// be bound is an error: a demo butil cannot reach could not be backed up online.
    pub fn bind(engine: &Engine) -> Result<Admin, DemoError> {
        #[cfg(target_os = "linux")]
        {
            let server = engine::host::admin::AdminServer::from_config(engine).map_err(|e| {
                let at = engine
                    .config()
                    .admin_socket
                    .clone()
                    .unwrap_or_else(engine::host::admin::default_socket);
                DemoError::Failed(format!("binding the admin socket {}: {e}", at.display()))
            })?;
            Ok(Admin {
                server: Some(server),
            })
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = engine;
            Ok(Admin {})
        }
    }

    /// Answer every admin request waiting now; returns how many were executed. A
    /// failure to accept connections is reported and the transfers go on: the
    /// application must not stop because a client misbehaved or the socket broke.
    pub fn serve(&self, engine: &mut Engine) -> usize {
        #[cfg(target_os = "linux")]
        if let Some(server) = &self.server {
            return match server.serve_pending(engine) {
                Ok(n) => n,
                Err(e) => {
                    eprintln!("keel-demo: admin socket {}: {e}", server.socket().display());
                    0
                }
            };
        }
        let _ = engine;
        0
    }
}
