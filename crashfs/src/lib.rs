//! crashfs: checks a real program against the crash states a real disk allows.
//!
//! The simulator proves Keel against `SimVfs`; it cannot see below the `Vfs` seam.
//! crashfs checks the real binary on the real file system interface, in the way of
//! ALICE (OSDI '14) and LazyFS (VLDB '24):
//!
//! 1. [`record`] runs a command under `strace` and turns the system calls that touch
//!    one directory into logical [`trace::Op`]s with their exact bytes, following
//!    offsets, O_APPEND, dup and fork, and keeps what the command printed (its
//!    acknowledgements). It proves the trace complete by replaying it on the snapshot
//!    and comparing with the directory the run left.
//! 2. [`model`] says, for a crash after any op, which pending ops may have reached the
//!    disk (a conservative POSIX model and an ext4 `data=ordered` model);
//!    [`plan`] enumerates the states (all, none, each one lost, torn, prefixes,
//!    seeded random subsets), removes duplicates and applies the cap.
//! 3. [`check`] materialises each state in a fresh directory and runs the oracle
//!    there; [`report`] summarises.
//!
//! Layers: `trace` (the format) ← `fsstate` (an in-memory disk) ← `strace` (parsing)
//! ← `record`; `trace`/`fsstate` ← `model` ← `plan` ← `check` ← `report`.

pub mod check;
pub mod fsstate;
pub mod fuzz;
pub mod model;
pub mod plan;
pub mod record;
pub mod report;
pub mod strace;
pub mod trace;
