//! `SharedEngine`: the engine behind a lock for a multi-threaded host, with group
//! commit. The engine core is single-threaded and deterministic (the simulator drives
//! it); this adapter is the only place threads meet it. Its one idea: a Durability
//! End must wait for a log sync, and that sync is slow (a disk flush) — so it runs
//! with the lock *released*. While one thread (the leader) syncs, the others append
//! their Ends and wait; when the sync is done, the next waiter whose End is not yet
//! covered leads the next sync, which covers every End appended meanwhile. N clients
//! then share syncs instead of queueing one sync each. (Tested from eight threads, with a
//! power loss after, in the root `tests/group_commit.rs`.)
//!
//! That alone groups poorly: when a sync finishes, the woken clients come back one by
//! one, and the first to append finds no sync under way and leads one covering little
//! more than its own End. With `Config::commit_delay` the would-be leader *gathers*
//! first: with the lock released it waits until no other client is on its way (inside
//! a commit call, End not yet appended — or covered by the last sync and not yet
//! returned, since a closed-loop client comes straight back), or until the delay is
//! over. Ends appended meanwhile wait for its sync. Time here is the host's, never the
//! engine core's: the core stays single-threaded and clock-driven.
//!
//! Guarantees: an End returns `Ok` only once the log's durable LSN is past it; a failed
//! sync fails every End it was to cover (the log is failed, so each waiter's own
//! attempt to sync reports it); every wait for another thread ends with a notify from
//! it (a sync's end, a gathering's end, an append, a client's leaving) — the gathering
//! leader's timeout is the delay's bound, not a safety net.

use crate::engine::{Client, Engine};
use crate::status::Result;
use crate::LogMode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Instant;

/// An [`Engine`] shared by threads. `Send + Sync`; wrap it in an `Arc`.
pub struct SharedEngine {
    state: Mutex<State>,
    /// Signalled when a leader's sync finishes, or a gathering leader stops gathering
    /// without syncing: followers look again.
    synced: Condvar,
    /// Signalled, while a leader gathers, when an End is appended or a client leaves:
    /// the gathering leader looks again whether anyone is still on the way.
    arrived: Condvar,
    /// Clients inside [`transaction_at`](Self::transaction_at) or
    /// [`end_at`](Self::end_at): counted before they take the lock (so a gathering
    /// leader knows they are coming), uncounted under the lock as they return (so a
    /// gathering leader cannot miss their leaving).
    inside: AtomicUsize,
}

struct State {
    engine: Engine,
    /// A leader is syncing the log with the lock released.
    syncing: bool,
    /// A would-be leader is holding its sync back (`Config::commit_delay`) for the
    /// clients still on their way; Ends appended meanwhile wait for its sync.
    gathering: bool,
    /// The commit LSN of every End appended whose caller has not returned yet.
    waiting: Vec<u64>,
    /// While gathering: the durable LSN the leader last looked at. A sync made under
    /// the lock meanwhile (a system transaction's write-ahead sync) covers waiters
    /// that no sync's end will wake; whoever sees the durable LSN pass this wakes the
    /// leader, which stops gathering (its own End is covered too) and wakes them.
    told: u64,
}

impl State {
    /// Clients inside a commit that its next sync would leave out if it began now:
    /// those that have not appended their End yet, and those whose End an earlier sync
    /// covered but who have not returned yet (in a closed loop, each comes straight
    /// back with its next End).
    fn on_their_way(&self, inside: usize) -> usize {
        let durable = self.engine.log_durable_lsn();
        let uncovered = self.waiting.iter().filter(|&&l| l >= durable).count();
        debug_assert!(uncovered <= inside, "a waiting End's client is inside");
        inside.saturating_sub(uncovered)
    }
}

impl SharedEngine {
    pub fn new(engine: Engine) -> SharedEngine {
        SharedEngine {
            state: Mutex::new(State {
                engine,
                syncing: false,
                gathering: false,
                waiting: Vec::new(),
                told: 0,
            }),
            synced: Condvar::new(),
            arrived: Condvar::new(),
            inside: AtomicUsize::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic inside the engine leaves it in an unknown state: do not go on.
        self.state
            .lock()
            .expect("a thread panicked while holding the engine")
    }

    /// Clients now inside [`transaction`](Self::transaction) or
    /// [`end_transaction`](Self::end_transaction) (waiting for the lock, running, or
    /// waiting for their sync): what a gathering leader waits for. Read without the
    /// lock, so a host (or a test) can watch clients pile up while it holds the engine.
    pub fn clients_committing(&self) -> usize {
        self.inside.load(Ordering::SeqCst)
    }

    /// Run `f` on the engine under the lock (any operation; Ends that should share
    /// log syncs go through [`end_transaction`](Self::end_transaction)).
    pub fn with<R>(&self, f: impl FnOnce(&mut Engine) -> R) -> R {
        let mut g = self.lock();
        let r = f(&mut g.engine);
        // `f` may have synced the log (a system transaction's write-ahead sync).
        self.tell_gatherer(&mut g);
        r
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
        self.commit(|e| {
            e.begin_transaction(client)?;
            let r = match f(e) {
                Ok(r) => r,
                Err(err) => {
                    // The transaction is still open (f failed inside it): undo it.
                    let _ = e.abort_transaction(client);
                    return Err(err);
                }
            };
            Ok((r, e.end_transaction_deferred(client)?))
        })
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
        self.commit(|e| Ok(((), e.end_transaction_deferred(client)?)))
            .map(|((), lsn)| lsn)
    }

    /// Run `body` (which ends a transaction, returning its commit LSN) under the
    /// lock, wait until that LSN is durable, and leave — counted in `inside` from
    /// before taking the lock to the return, so a gathering leader waits for it.
    fn commit<R>(&self, body: impl FnOnce(&mut Engine) -> Result<(R, u64)>) -> Result<(R, u64)> {
        self.inside.fetch_add(1, Ordering::SeqCst);
        let g = self.lock();
        let (mut g, r) = self.end_then_wait(g, body);
        // Uncounted under the lock: a gathering leader looks at `inside` only under
        // it, so it either sees this client gone or is woken below.
        self.inside.fetch_sub(1, Ordering::SeqCst);
        self.tell_gatherer(&mut g);
        drop(g);
        r
    }

    fn end_then_wait<'a, R>(
        &'a self,
        mut g: MutexGuard<'a, State>,
        body: impl FnOnce(&mut Engine) -> Result<(R, u64)>,
    ) -> (MutexGuard<'a, State>, Result<(R, u64)>) {
        let (r, lsn) = match body(&mut g.engine) {
            Ok(x) => x,
            Err(e) => return (g, Err(e)),
        };
        if g.engine.config().log_mode != LogMode::Durability || lsn == 0 {
            return (g, Ok((r, lsn)));
        }
        g.waiting.push(lsn);
        self.tell_gatherer(&mut g);
        let (mut g, waited) = self.wait_durable(g, lsn);
        let at = g.waiting.iter().position(|&l| l == lsn);
        debug_assert!(at.is_some(), "our End is listed as waiting");
        if let Some(at) = at {
            g.waiting.swap_remove(at);
        }
        (g, waited.map(|()| (r, lsn)))
    }

    /// Wake a gathering leader, if there is one, when the change just made under the
    /// lock lets it stop: the client just counted (an End appended, or a client gone)
    /// was the last it waits for, or the log became durable further meanwhile — a
    /// sync made under the lock (a system transaction's write-ahead sync) covers
    /// every End appended, the leader's too, and the followers it covered wait for
    /// the leader to wake them ([`State::told`]). Called after each change that can
    /// lower [`State::on_their_way`] — an append, a leaving client — or sync the log
    /// (an engine call); a client coming in only raises it. So the leader is woken
    /// once a gathering rather than once an arrival: on two cores each needless
    /// wake-up is a context switch that the clients it waits for queue behind.
    fn tell_gatherer(&self, g: &mut State) {
        if !g.gathering {
            return;
        }
        let durable = g.engine.log_durable_lsn();
        if durable > g.told || g.on_their_way(self.inside.load(Ordering::SeqCst)) == 0 {
            g.told = durable;
            // Only the gathering leader waits on `arrived`.
            self.arrived.notify_one();
        }
    }

    /// Wait (as a follower, or leading a sync with the lock released) until the log
    /// record at `lsn` is durable.
    fn wait_durable<'a>(
        &'a self,
        mut g: MutexGuard<'a, State>,
        lsn: u64,
    ) -> (MutexGuard<'a, State>, Result<()>) {
        loop {
            if g.engine.log_durable_lsn() > lsn {
                // Covered (by our own sync or a leader's): return at once, even if
                // another sync is under way now.
                return (g, Ok(()));
            }
            if g.syncing || g.gathering {
                // The sync under way (or being gathered) may or may not cover `lsn`:
                // look again when it is done.
                g = self
                    .synced
                    .wait(g)
                    .expect("a thread panicked while holding the engine");
                continue;
            }
            g = self.gather(g, lsn);
            let pending = match g.engine.begin_durable(lsn) {
                Ok(Some(p)) => p,
                Ok(None) => {
                    // Durable already; followers held by our gathering look again.
                    self.synced.notify_all();
                    return (g, Ok(()));
                }
                Err(e) => {
                    self.synced.notify_all();
                    return (g, Err(e));
                }
            };
            g.syncing = true;
            drop(g);
            let result = pending.run();
            g = self.lock();
            g.syncing = false;
            let finished = g.engine.finish_durable(&pending, result);
            self.synced.notify_all();
            if let Err(e) = finished {
                return (g, Err(e));
            }
            debug_assert!(
                g.engine.log_durable_lsn() > lsn,
                "our own sync covers our End"
            );
        }
    }

    /// The would-be leader's bounded wait (`Config::commit_delay`): with the lock
    /// released, wait until no other client is on its way to an End
    /// ([`State::on_their_way`]), our own End (`lsn`) is durable already, or the delay
    /// is over. Returns with `gathering` clear
    /// and the lock held; the caller begins the sync (or wakes the followers).
    fn gather<'a>(&'a self, mut g: MutexGuard<'a, State>, lsn: u64) -> MutexGuard<'a, State> {
        let delay = g.engine.config().commit_delay;
        if delay.is_zero() {
            return g;
        }
        debug_assert!(!g.syncing && !g.gathering, "one leader at a time");
        // The delay is the thread adapter's own: real time, never the engine's clock.
        let deadline = Instant::now() + delay;
        g.gathering = true;
        // Every follower asleep now was put to sleep by a sync or gathering whose end
        // woke it (both flags are clear): only later durability needs telling. The
        // clients tell us as they append or leave (`tell_gatherer`) — else we would
        // wait out the delay for a client that waits for us.
        g.told = g.engine.log_durable_lsn();
        // Our own End covered meanwhile (by a sync made under the lock) needs no sync
        // of ours: stop gathering. Else we would wait out the delay, counting
        // ourselves among the covered clients that have not returned yet.
        while g.engine.log_durable_lsn() <= lsn
            && g.on_their_way(self.inside.load(Ordering::SeqCst)) > 0
        {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break;
            };
            g = self
                .arrived
                .wait_timeout(g, left)
                .expect("a thread panicked while holding the engine")
                .0;
        }
        g.gathering = false;
        g
    }

    /// The engine back, once no other thread holds the `SharedEngine`.
    pub fn into_inner(self) -> Engine {
        self.state
            .into_inner()
            .expect("a thread panicked while holding the engine")
            .engine
    }
}
