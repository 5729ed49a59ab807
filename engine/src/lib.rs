//! Keel's engine: a Btrieve-style transactional record engine.
//!
//! Layers, each depending only on the ones below it:
//! `file` (records, keys, Btrieve operations, positioning) → `btree` (B+trees over
//! logical pages) → `pager` (page allocation table, shadow paging, system
//! transactions — the only layer that knows about crash safety) → `page` (layouts,
//! checksums) → `vfs` (the filesystem seam). `status` is Btrieve's status codes.
//!
//! The engine never touches `std::fs`, the wall clock, threads or unseeded randomness:
//! it is handed a [`vfs::Vfs`] and a [`clock::Clock`], and background work is an
//! explicit step the host calls.

pub mod clock;
pub mod file;
pub mod formats;
pub mod host;
pub mod status;
pub mod vfs;

pub use status::{Error, Result, Status};
