//! Archival logging: which data files are archived ([`config`], `blog.cfg`) and, per
//! archived file, the log of every system transaction that committed it, so that a
//! restored backup can be rolled forward to the moment before the disk died (DESIGN.md,
//! "Archival logging"; invariant 7). Byte layouts: `engine/FORMAT.md` ("Archival
//! logs").
//!
//! This module owns the configuration and the log's format, reader and writer. When to
//! append (the commit path), what a writable open does with the log and roll-forward
//! itself belong to the engine above; the contract they rely on is:
//!
//! - [`ArchivalWriter::append`]`(fcr_seq, applied_lsn, changes)` is called with a
//!   system transaction's changes to one data file *before* that transaction's FCR is
//!   written, and returns only once the frame is synced: a durable FCR is always
//!   covered by its log. A failed append fails the writer until it is reopened (and
//!   the engine must not write the FCR).
//! - At a writable open, the file's FCR sequence is compared with the log's
//!   [`ArchivalWriter::covered_fcr_seq`]. The log may be one transaction ahead (a crash
//!   between the append and the FCR write, or a backup one transaction old): the
//!   engine then applies that frame, as roll-forward would. A log further ahead means
//!   a restored backup that needs rolling forward. Two frames carry the same FCR
//!   sequence when an append failed and the engine tried the transaction again; of
//!   such frames the last is the one the file holds, if it holds either.
//!
//! # File
//! A one-sector (512-byte) header ([`format`](mod@format)): magic `KEELALOG`, version, the data
//! file's name and its FCR sequence when the log was created, and a log id. Frames
//! follow back to back at 8-byte-aligned offsets, numbered 1, 2, … (`log_seq`); each is
//! one system transaction of the data file: the FCR sequence it brought the file to
//! (`fcr_seq`), the file's applied transaction-log LSN after it (`applied_lsn`) and its
//! record changes ([`crate::file::change::Change`], encoded as the
//! transaction log encodes them).
//!
//! # What the writer guarantees (and the reader relies on)
//! The rules of [`crate::appendfile`], as this log keeps them:
//! 1. **Header first.** The header is written and synced, and its directory synced,
//!    before any frame ([`ArchivalWriter::create`]). So a log no longer than a header
//!    with a torn header is an interrupted creation ([`LogProbe::Interrupted`]).
//! 2. **Consecutive, packed, seeded frames.** Frame `n + 1` starts where frame `n`
//!    ends; every frame's CRC-32C is seeded with the header's fields, so frames of an
//!    earlier log at the same path never pass.
//! 3. **A sync per frame.** An append writes one frame and syncs it before returning,
//!    so every frame's watermark is its own sequence number (sync gap 0): the frames
//!    before it were all durable when it was written.
//! 4. **No stale tail, nothing rewritten in place.** [`ArchivalWriter::open`] replaces
//!    a log with bytes after its last valid frame by a synced copy of its valid part
//!    (made under a temporary name and renamed over it), and appends only once the
//!    last frame is known durable — secured the same way, or vouched for by a caller
//!    whose data file's FCR reached it. A rewrite in place could tear a synced frame
//!    (or the header) into garbage at a power loss.
//! 5. **FCR sequences in order.** A frame's `fcr_seq` is above the header's base and
//!    at least the previous frame's (equal only for a transaction tried again).
//!
//! # Reading ([`visit_log`])
//! Validate the header (status 2 if damaged, foreign or torn). From offset 512 with
//! `L` = 1, accept frames while each is complete, its seeded checksum matches and its
//! sequence number is `L`; such a frame must then be exactly what the writer writes
//! (kind, reserved bytes, sync gap, FCR sequence order, a payload that decodes to
//! exactly its changes) or the log is damaged (status 2, naming the offset). The first
//! frame not accepted ends the log at `X`, cleanly or at a torn tail — unless, searching
//! the rest of the file, a later frame's watermark exceeds `L`: frame `L` had been
//! synced, so the log is damaged before entries that exist (status 2), never silently
//! short. What the reader cannot see: damage to the last frame that no later frame
//! vouches for; it looks exactly like a crash during that frame's sync.

pub mod config;
pub mod dump;
pub mod format;
pub mod reader;
pub mod writer;

#[cfg(test)]
mod tests;

pub use config::{config_path, BlogConfig, ConfigError, ConfigErrorKind};
pub use dump::dump;
pub use format::{ArchivalHeader, Entry, ARCHIVAL, ARCHIVAL_HEADER_LEN, MAX_PAYLOAD};
pub use reader::{probe_log, read_log, scan_log, visit_log, ArchivalScan, End, LogProbe, Stop};
pub use writer::ArchivalWriter;
