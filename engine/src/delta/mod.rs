//! The on-disk format of the *delta file* of continuous operations (online backup).
//! It sits below the pager (which writes and reads deltas while a file is frozen) and
//! is built on [`crate::appendfile`]; when to freeze, roll in or kill a delta is the
//! policy of [`crate::contops`] and the engine above.
//!
//! While a data file `NAME.EXT` is in continuous operations it is frozen — never
//! written, so a backup program can copy it — and every system transaction of that file
//! appends to `NAME.^^^` ([`delta_path`]) the new images of the logical pages it changed
//! (or a *freed* marker), then a *commit* frame carrying the file's new [`FileState`].
//! Reads look in the delta's latest committed images first. `endbu` marks the delta
//! *ending*, rolls its images into the data file with a normal system transaction, and
//! removes it. This module stores and returns those images and states and says where
//! the committed part ends and why; when to freeze, read through or roll in belongs to
//! the layers above. Byte layouts: `engine/FORMAT.md` ("Delta files").
//!
//! [`FileState`]: crate::page::fcr::FileState
//!
//! # File
//! A one-sector (512-byte) header ([`header`]): magic, version, state (active or
//! ending), page size, the data file's FCR sequence at `startbu` and the `startbu`'s set
//! id. Frames follow back to back at 8-byte-aligned offsets ([`frame`]), numbered
//! consecutively from 1; each transaction is its page and freed frames followed by one
//! commit frame.
//!
//! # What the writer guarantees (and the scan relies on)
//! 1. **Header first.** The header is written and synced, and the directory synced,
//!    before any frame is written. So a file no longer than a header with a torn header
//!    is an interrupted creation ([`DeltaProbe::Interrupted`]); a torn header with
//!    frames after it is damage.
//! 2. **Consecutive, packed, seeded frames.** Frame `n + 1` starts where frame `n`
//!    ends; every frame's CRC-32C is seeded with the header's identity, so frames of
//!    another delta (whose numbers also start at 1) never pass.
//! 3. **Sync at every commit.** A transaction's frames are written after the previous
//!    commit was synced, and the transaction is acknowledged only after its own sync.
//!    Every frame records its index in its transaction (`txn_index`), so
//!    `seq − txn_index` — the first frame of its transaction — is a watermark: every
//!    frame below it was durable before this frame was written.
//! 4. **No stale tail.** Reopening truncates the file after the last commit frame and
//!    syncs before appending, so bytes of an abandoned tail never line up with new frames.
//! 5. **One-sector state change.** Active → Ending rewrites only the header sector and
//!    syncs; a sector is the unit a crash tears at, so the state is one or the other.
//!
//! # Scanning ([`scan_delta`])
//! (The search for a later frame and its budget are [`crate::appendfile::scan`]'s.)
//! Validate the header (any failure is status 2; see rule 1 for the interrupted case).
//! From offset 512 with `L` = 1, accept frames while each is complete, its seeded
//! checksum matches and its sequence number is exactly `L`. A frame that passes those
//! three is certainly the one this delta's writer put there, so its fields must then be
//! exactly what the writer writes — kind, reserved bytes, lengths, logical page, its
//! index in the transaction (for a commit: the count of page and freed frames since
//! the previous commit), a valid state, no page named twice in a transaction, no page
//! past the commit's logical page count — or the scan fails with status 2 naming the
//! offset. Page and freed frames are held until their commit frame arrives; then they
//! replace earlier versions of their pages (so the latest committed image, or Freed,
//! wins) and the commit's state becomes the delta's state.
//!
//! The first frame that fails (end of data, zeros, incomplete, bad checksum, another
//! sequence number) ends the frames at offset `X`. Frames after the last commit frame
//! are an incomplete transaction and are ignored; the committed part ends just after
//! that commit frame (`valid_len`), and the delta's end is *torn* if any bytes follow it.
//!
//! Unless the frames ended at the end of the file, the rest of the file is searched,
//! at every 8-byte-aligned offset, for a well-formed frame with a good checksum whose
//! transaction starts after `L` (`seq − txn_index > L`) and whose sequence number is no
//! further past `L` than the bytes since `X` can hold. Such a frame proves, by rule 3,
//! that frame `L` had been synced — a crash cannot have lost it — so the delta is
//! **corrupt before valid transactions**: status 2, never a silent end. A later frame
//! of the *same* transaction as `L` — even its commit frame — proves nothing: the
//! writer syncs only at the end of a transaction, and unsynced writes may reach the
//! disk in any order, so a commit frame on disk with a hole before it is an ordinary
//! crash outcome of a transaction that was never acknowledged. The search hashes at
//! most [`crate::appendfile::SEARCH_BUDGET_FACTOR`] times the bytes it searches; a file that exhausts the
//! budget (only crafted or badly damaged data can) is an error.
//!
//! What this cannot see: damage inside the last acknowledged transaction that nothing
//! after it vouches for. It looks exactly like a crash during that transaction's sync,
//! and ends the delta before it.
//!
//! # Memory
//! The scan streams the file through a bounded window and keeps, per logical page, only
//! where its latest committed image is ([`ImageRef`]) — bounded by the pages a file of
//! the header's page size can address, not by the delta's length. Images are read on
//! demand with [`read_image`], which verifies the frame again.

pub mod frame;
pub mod header;
pub mod path;
pub mod scan;
pub mod writer;

#[cfg(test)]
mod tests;

pub use frame::{logical_page_bound, FrameKind, Stop, FRAME_ALIGN, FRAME_HEADER_LEN};
pub use header::{DeltaHeader, DeltaState, HeaderError, DELTA, DELTA_HEADER_LEN};
pub use path::{delta_path, delta_temp_path, shares_delta, DELTA_EXTENSION};
pub use scan::{
    probe_delta, read_image, scan_delta, scan_delta_as, DeltaProbe, DeltaScan, End, ImageRef,
    PageImage,
};
pub use writer::{remove_delta, DeltaWriter};
