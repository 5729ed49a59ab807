//! Stand-in for `engine::shared::SharedEngine` until it is merged: the same API over a
//! plain `Mutex<Engine>`. Its `end_transaction` keeps the lock through the log sync, so
//! no two commits can share a sync here (commits per sync stays near 1); the real one
//! syncs outside the lock and lets concurrent Ends share one sync (group commit).
//! `keel.rs` reaches this through one `use` line, so swapping in the real type is a
//! one-line change.

use engine::{Client, Engine, LogMode};
use std::sync::{Mutex, PoisonError};

/// One engine shared by threads; every call runs under one lock.
pub struct SharedEngine {
    engine: Mutex<Engine>,
}

impl SharedEngine {
    pub fn new(engine: Engine) -> SharedEngine {
        SharedEngine {
            engine: Mutex::new(engine),
        }
    }

    /// Run `f` under the engine lock. A panic in another caller does not make the
    /// engine unusable here (its state is whatever that operation left, as after any
    /// failed operation).
    pub fn with<R>(&self, f: impl FnOnce(&mut Engine) -> R) -> R {
        let mut e = self.engine.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut e)
    }

    /// End Transaction for `client`, durable on return in Durability mode.
    pub fn end_transaction(&self, client: Client) -> engine::Result<()> {
        self.with(|e| {
            let lsn = e.end_transaction_deferred(client)?;
            if e.config().log_mode == LogMode::Durability && lsn > 0 {
                e.wait_durable(lsn)?;
            }
            Ok(())
        })
    }

    pub fn into_inner(self) -> Engine {
        self.engine
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
    }
}
