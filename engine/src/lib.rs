//! Keel's engine: a Btrieve-style transactional record engine.
//!
//! Layers, bottom first; each uses only the ones below it (`tests/layering.rs` checks
//! every `crate::` path against this order):
//!
//! | layer | modules | what it is |
//! |---|---|---|
//! | 0 | [`status`], [`clock`], [`mutant`] | Btrieve status codes; the clock seam; known-bad engine switches (test feature) |
//! | 1 | [`vfs`] | the filesystem seam (`Vfs`, `StdVfs`, `MemVfs`; `vfs::testing` under the `testing` feature) |
//! | 2 | [`page`] | page layouts, checksums, the file specification (`page::spec`) |
//! | 3 | [`appendfile`] | checksummed framed append-only files: header, frames, proof search, durable create/remove — under every log |
//! | 4 | [`delta`], [`preimage`] | the continuous-operations delta file's format (`NAME.^^^`); the legacy format's pre-image file (`NAME.PRE`) and its arm / void / restore protocol |
//! | 5 | [`pager`] | PAT, shadow paging (6.x) and in-place pre-imaged commits (5.x), system transactions, frozen files and their deltas — the only layer that knows about crash safety |
//! | 6 | [`btree`] | B+trees over logical pages |
//! | 7 | [`file`](mod@file) | records, keys, Btrieve operations, positioning, the redo vocabulary (`file::change`), check and recover |
//! | 8 | [`txlog`], [`archival`], [`contops`], [`formats`] | the transaction log (segments, frames, reader, writer, group sync); archival logging (`blog.cfg`, the per-file archival log's format, reader and writer); continuous-operations policy (startbu's check, killbu); butil's interchange formats |
//! | 9 | [`engine`] | handles, cursors, user transactions, bundling into system transactions, backup, logging and roll-forward; archival logging's append before each FCR, a file's reconciliation with its log, and roll-forward from it |
//! | 10 | [`bulk`], [`admin`] | bulk jobs butil runs; the admin endpoint's requests, wire format, execution and the text butil prints for them |
//! | 11 | [`host`] ([`shared`]) | the OS side: the real clock; a threaded host's engine behind a lock, with group commit and its commit-delay timer; the admin endpoint's socket server, peer check and registry (Linux) |
//!
//! `butil` (`src/bin/butil/`) parses arguments and prints; everything it does is here.
//!
//! The engine never touches `std::fs`, the wall clock, threads or unseeded randomness:
//! it is handed a [`vfs::Vfs`] and a [`clock::Clock`], and background work is an
//! explicit step the host calls ([`Engine::background_step`]).

pub mod admin;
pub mod appendfile;
pub mod archival;
pub mod btree;
pub mod bulk;
pub mod clock;
pub mod contops;
pub mod delta;
pub mod engine;
pub mod file;
pub mod formats;
pub mod host;
pub mod mutant;
pub mod page;
pub mod pager;
pub mod preimage;
/// The engine shared by threads (group commit); lives with the host seams because it
/// alone meets threads and real time.
pub use host::shared;
pub mod status;
pub mod txlog;
pub mod vfs;

pub use engine::{Client, CommitCounters, Config, Engine, FileStat, Handle, LogMode, OpenMode};
pub use file::{FileFormat, FileSpec, GetOp, KeySpec, KeyType, OpCode, Segment, StepOp};
pub use status::{Error, Result, Status};
