//! Checksummed, framed, append-only files: the one storage shape under every log Keel
//! keeps — the transaction log's segments, the continuous-operations delta, and the
//! archival log to come. Each of those formats decides what its header fields and its
//! frames *mean*; this module owns what they share, once:
//!
//! - [`header`]: the one-sector (512-byte) header envelope — CRC-32C at offset 0 over the
//!   rest of the sector, an 8-byte magic, a format version — and its classified errors
//!   ([`HeaderError`]: a *torn* header may be an interrupted creation, anything else is
//!   damage or a foreign file).
//! - [`frame`]: the frame envelope — a fixed-length frame header whose first four bytes
//!   are a (seedable) CRC-32C over everything after them, padding included, frames packed
//!   at [`FRAME_ALIGN`]-byte offsets — the decode of a frame as far as its length and
//!   checksum, and why a run of frames stopped ([`Stop`], [`End`]).
//! - [`scan`]: the search after a damaged frame for a *later* frame whose watermark proves
//!   the damaged one had been synced — the difference between a crash's torn tail (an end)
//!   and damage to acknowledged data (an error, status 2) — linear, with a hashing budget.
//! - [`file`](mod@file): creating a file durably (header, optional zero preallocation, sync, then
//!   the directory sync), zeroing a tail, removing durably, and the I/O error wording.
//!
//! # The rules every format built on this follows
//! 1. **Header first.** A file's header is written and synced, and its directory synced,
//!    before any frame is written; so a torn header on a file holding nothing after it
//!    (or only zeros) is an interrupted creation, and a torn header before frames is damage.
//! 2. **Consecutive, packed frames.** Every frame carries a sequence number one more than
//!    the frame before it and starts where that one ends; so bytes of an abandoned history
//!    never pass as the frame expected next.
//! 3. **A watermark in every frame.** Each frame says (in its own terms) the sequence
//!    number below which every frame had been synced when it was written. A valid frame
//!    whose watermark is past a damaged one proves the damaged one was durable.
//! 4. **No stale tail.** A writer continuing a file first removes (truncates or zeroes)
//!    whatever follows the last valid frame and syncs, so old bytes cannot line up with
//!    new frames.
//!
//! What no format can see: damage to frames that no later frame vouches for. It looks
//! exactly like a crash's lost writes, and ends the file there.

pub mod file;
pub mod frame;
pub mod header;
pub mod scan;

pub use frame::{decode_envelope, frame_len, seal_frame, End, Layout, Stop, FRAME_ALIGN};
pub use header::{FileKind, HeaderError, Probe, HEADER_LEN};
pub use scan::{search_for_proof, Search, Source, Window, SEARCH_BUDGET_FACTOR};
