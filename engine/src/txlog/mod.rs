//! The transaction log's on-disk format: segment files, record frames, the scan that
//! finds where the valid log ends, and the writer that appends to it. Byte layouts are
//! in `engine/FORMAT.md` ("Transaction log segments"). What a record *means* (its
//! [`RecordKind`]) belongs to the layer above; this module only stores and returns
//! `(lsn, kind, payload)` triples, in LSN order, and says where the log ends and why.
//!
//! # Files
//! The log is a directory of segments `00000001.LOG` … `FFFFFFFF.LOG` ([`segment`]).
//! Each starts with a one-sector (512-byte) header naming its number, the engine it
//! belongs to and the LSN of its first record; frames follow, packed back to back at
//! 8-byte-aligned offsets ([`frame`]). A record never straddles two segments.
//!
//! # What the writer guarantees (and the scan relies on)
//! 1. **Consecutive LSNs, packed.** Record `n + 1` starts where record `n` ends, in the
//!    same segment or at the start of the next one; segment `k + 1`'s header carries
//!    the LSN that continues segment `k`.
//! 2. **Watermark.** Every frame carries a *sync gap*: how far its LSN is past the
//!    writer's durable LSN when it was appended. So `lsn − gap` (the frame's
//!    *durable-below* LSN) is a promise that every record below it had been synced
//!    before this frame was written.
//! 3. **A segment is complete before the next exists.** Rolling to segment `k + 1`
//!    first syncs segment `k`, then creates `k + 1`, writes and syncs its header and
//!    syncs the directory; only then are records written to it. So the mere existence
//!    of segment `k + 1` proves all of segment `k` was durable.
//! 4. **No stale tail, nothing only cached.** Reopening writes the last segment again
//!    — its valid part as read, zeros after it — and syncs before appending, so bytes
//!    of an abandoned tail can never line up with new records (see [`writer`] for why
//!    consecutive-LSN checking alone would not do), and records a failed sync left
//!    only in the OS cache are on disk before new frames vouch for them.
//!
//! # Scanning one segment
//! From the end of the header, with `L` = the expected next LSN (the header's first
//! LSN at the start), a frame is accepted while it is complete, its CRC-32C matches,
//! its fields are well formed (kind ≠ 0, reserved bytes zero) and its LSN is exactly
//! `L`. The first frame failing any of these ends the segment's valid part, at offset
//! `X`, and is classified ([`Stop`], [`End`]):
//! - **Clean**: end of data, a zero header (space never written), or a well-formed
//!   frame with another LSN (stale content of a reused or pre-extended region — normal);
//! - **Torn**: an incomplete frame, a bad checksum or a malformed header — normal after
//!   a crash: a write the crash cut short or never finished.
//!
//! Then the rest of the segment is searched (at every 8-byte-aligned offset, so it
//! finds frames whatever the damage did to lengths) for a well-formed frame whose
//! durable-below LSN exceeds `L`. Such a frame proves record `L` had been synced — a
//! crash cannot have lost it — so the log is **corrupt before valid records**: that is
//! an error (status 2, "log record at segment N offset X is damaged but later records
//! exist; the log cannot be trusted past LSN L−1; restore or run recovery manually"),
//! never a silent end. A frame that is merely *later* does not prove it: unsynced
//! writes may reach the disk in any order and torn at sectors (the `Vfs` contract), so
//! a hole followed by valid frames is an ordinary crash outcome when those frames
//! were written after the last sync — their durable-below LSN is then ≤ `L`.
//!
//! The search is linear in the segment's size: candidates are filtered in O(1) per
//! offset (kind, reserved bytes, a durable-below LSN above `L`, and an LSN no further
//! past `L` than the bytes since `X` can hold frames), and the checksum bytes hashed
//! are capped at [`crate::appendfile::SEARCH_BUDGET_FACTOR`] times the bytes searched; a segment
//! that exhausts the cap (only crafted or badly damaged data can) is reported as an
//! error, because it cannot be proven to end cleanly.
//!
//! # Scanning the log
//! [`read_log`] orders the segment files by number; they must be contiguous, share one
//! engine id, and each must begin with the LSN its predecessor's valid part ends at.
//! By guarantee 3, a segment that is followed by another must end Clean and exactly at
//! the successor's first LSN; anything else is an error (a gap, or damage before
//! records that exist). The last segment file alone may have a torn or zero header if
//! it is no longer than a header: a segment whose creation a crash interrupted; it ends
//! the log and the writer removes it. A bad header anywhere else is an error.
//!
//! What this cannot see: damage to records that no later frame vouches for — the
//! records synced by the last sync before the end of the log. Those look exactly like
//! a crash's lost writes, and end the log there (as a bad last record always must).

pub mod entry;
pub mod frame;
pub mod group_sync;
pub mod log;
pub mod reader;
pub mod segment;
pub mod writer;

pub use frame::{
    decode_frame, encode_frame, frame_len, scan_segment_body, End, Frame, FrameDecoder, RecordKind,
    SegmentBody, Stop, FRAME_ALIGN, FRAME_HEADER_LEN, MAX_RECORD_PAYLOAD,
};
pub use group_sync::PendingSync;
pub use reader::{read_log, visit_log, LogRecord, LogScan, SegmentInfo};
pub use segment::{
    parse_segment_name, segment_name, validate_segment_size, HeaderError, SegmentHeader,
    MAX_SEGMENT_SIZE, MIN_SEGMENT_SIZE, SEGMENT_HEADER_LEN,
};
pub use writer::LogWriter;
