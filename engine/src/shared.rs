//! `SharedEngine`: the engine behind a lock for a multi-threaded host, with group
//! commit. The engine core is single-threaded and deterministic (the simulator drives
//! it); this adapter is the only place threads meet it. Its one idea: a Durability
//! End must wait for a log sync, and that sync is slow (a disk flush) — so it runs
//! with the lock *released*. While one thread (the leader) syncs, the others append
//! their Ends and wait; when the sync is done, the next waiter whose End is not yet
//! covered leads the next sync, which covers every End appended meanwhile. N clients
//! then share syncs instead of queueing one sync each. (Tested from eight threads, with a
//! power loss after, in the root `tests/group_commit.rs`.)

use crate::engine::{Client, Engine};
use crate::status::Result;
use crate::LogMode;
use std::sync::{Condvar, Mutex, MutexGuard};

/// An [`Engine`] shared by threads. `Send + Sync`; wrap it in an `Arc`.
pub struct SharedEngine {
    state: Mutex<State>,
    /// Signalled when a leader's sync finishes.
    synced: Condvar,
}

struct State {
    engine: Engine,
    /// A leader is syncing the log with the lock released.
    syncing: bool,
}

impl SharedEngine {
    pub fn new(engine: Engine) -> SharedEngine {
        SharedEngine {
            state: Mutex::new(State {
                engine,
                syncing: false,
            }),
            synced: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic inside the engine leaves it in an unknown state: do not go on.
        self.state
            .lock()
            .expect("a thread panicked while holding the engine")
    }

    /// Run `f` on the engine under the lock (any operation; Ends that should share
    /// log syncs go through [`end_transaction`](Self::end_transaction)).
    pub fn with<R>(&self, f: impl FnOnce(&mut Engine) -> R) -> R {
        f(&mut self.lock().engine)
    }

    /// Run `f` as one transaction of `client`: Begin, `f`, End — all under one hold
    /// of the lock, so no other client meets the files it holds (Keel's transactions
    /// lock the files they change until End; a client that found one held would get
    /// status 85) — then wait, without the lock, until it is durable (Durability
    /// mode), sharing the log sync with every other End appended meanwhile. An error
    /// from `f` aborts the transaction and is returned.
    pub fn transaction<R>(
        &self,
        client: Client,
        f: impl FnOnce(&mut Engine) -> Result<R>,
    ) -> Result<R> {
        self.transaction_at(client, f).map(|(r, _)| r)
    }

    /// [`transaction`](Self::transaction), also returning the commit LSN (0 if it
    /// logged nothing), for callers that track durability themselves.
    pub fn transaction_at<R>(
        &self,
        client: Client,
        f: impl FnOnce(&mut Engine) -> Result<R>,
    ) -> Result<(R, u64)> {
        let mut g = self.lock();
        g.engine.begin_transaction(client)?;
        let r = match f(&mut g.engine) {
            Ok(r) => r,
            Err(e) => {
                // The transaction is still open (f failed inside it): undo it.
                let _ = g.engine.abort_transaction(client);
                return Err(e);
            }
        };
        let lsn = g.engine.end_transaction_deferred(client)?;
        self.wait_durable(g, lsn)?;
        Ok((r, lsn))
    }

    /// End Transaction (20) for `client`. In Durability mode it returns once the
    /// transaction is durable; concurrent callers share log syncs (group commit), and
    /// no caller holds the lock while the log syncs.
    pub fn end_transaction(&self, client: Client) -> Result<()> {
        self.end_at(client).map(|_| ())
    }

    /// [`end_transaction`](Self::end_transaction), returning the commit LSN (0 if
    /// the transaction logged nothing).
    pub fn end_at(&self, client: Client) -> Result<u64> {
        let mut g = self.lock();
        let lsn = g.engine.end_transaction_deferred(client)?;
        self.wait_durable(g, lsn)?;
        Ok(lsn)
    }

    /// Wait (as a follower, or leading a sync with the lock released) until the log
    /// record at `lsn` is durable; nothing to wait for outside Durability mode.
    fn wait_durable<'a>(&'a self, mut g: MutexGuard<'a, State>, lsn: u64) -> Result<()> {
        if g.engine.config().log_mode != LogMode::Durability || lsn == 0 {
            return Ok(());
        }
        loop {
            if g.syncing {
                // The sync under way may or may not cover `lsn` (it was begun before or
                // after our append); either way, look again when it is done.
                g = self
                    .synced
                    .wait(g)
                    .expect("a thread panicked while holding the engine");
                continue;
            }
            let Some(pending) = g.engine.begin_durable(lsn)? else {
                return Ok(()); // durable already (a leader's sync covered it)
            };
            g.syncing = true;
            drop(g);
            let result = pending.run();
            g = self.lock();
            g.syncing = false;
            let finished = g.engine.finish_durable(&pending, result);
            self.synced.notify_all();
            finished?;
            debug_assert!(
                g.engine.log_durable_lsn() > lsn,
                "our own sync covers our End"
            );
        }
    }

    /// The engine back, once no other thread holds the `SharedEngine`.
    pub fn into_inner(self) -> Engine {
        self.state
            .into_inner()
            .expect("a thread panicked while holding the engine")
            .engine
    }
}
