//! Keel's engine: a Btrieve-style transactional record engine.
//!
//! Layers, each depending only on the ones below it:
//! `engine` (handles, positioning, system-transaction bundling) → `file` (records,
//! keys, Btrieve operations) → `btree` (B+trees over logical pages) → `pager` (page
//! allocation table, shadow paging, system transactions — the only layer that knows
//! about crash safety) → `page` (layouts, checksums) → `vfs` (the filesystem seam).
//! `status` is Btrieve's status codes; `formats` are butil's interchange formats;
//! `bulk` is the bulk jobs over an engine (loading a sequential file) that butil runs.
//! `txlog` is the transaction log's on-disk format (segments, frames, scan, writer);
//! `contops` is the delta file's on-disk format (header, frames, scan, writer) for
//! continuous operations (online backup).
//!
//! The engine never touches `std::fs`, the wall clock, threads or unseeded randomness:
//! it is handed a [`vfs::Vfs`] and a [`clock::Clock`], and background work is an
//! explicit step the host calls ([`Engine::background_step`]).

pub mod appendfile;
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
pub mod shared;
pub mod status;
pub mod txlog;
pub mod vfs;

pub use engine::{Client, CommitCounters, Config, Engine, FileStat, Handle, LogMode, OpenMode};
pub use file::{FileSpec, GetOp, KeySpec, KeyType, OpCode, Segment, StepOp};
pub use status::{Error, Result, Status};
