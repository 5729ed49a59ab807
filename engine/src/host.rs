//! Host-side implementations of the environment seams: the real monotonic clock.
//! (The real filesystem is `vfs::StdVfs`.) Binaries and tests use these; the engine
//! core only sees the traits.

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
