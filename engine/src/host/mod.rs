//! Host-side implementations of the environment seams: the real monotonic clock
//! (the real filesystem is `vfs::StdVfs`), the thread adapter with group commit
//! (`shared`: threads, locks and its commit-delay timer), and the admin endpoint's
//! socket, peer check and discovery registry (`admin`, `registry`; Linux). Binaries and tests use
//! these; the engine core only sees the traits. This directory and `vfs/std_vfs.rs`
//! are the only places in the library that touch the OS (`.ci/run` checks).

#[cfg(target_os = "linux")]
pub mod admin;
#[cfg(target_os = "linux")]
mod os;
#[cfg(target_os = "linux")]
pub mod private_dir;
#[cfg(target_os = "linux")]
pub mod registry;
pub mod shared;

#[cfg(target_os = "linux")]
pub use os::pid_alive;

use crate::clock::Clock;
use std::time::{Duration, Instant};

/// The machine's monotonic clock.
pub struct StdClock(Instant);

impl Default for StdClock {
    fn default() -> Self {
        StdClock(Instant::now())
    }
}

impl StdClock {
    pub fn new() -> StdClock {
        StdClock::default()
    }
}

impl Clock for StdClock {
    fn now(&self) -> Duration {
        self.0.elapsed()
    }
}
