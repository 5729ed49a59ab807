//! Continuous operations (online backup): the on-disk format of the *delta file*.
//!
//! While a data file `NAME.EXT` is in continuous operations it is frozen, and every
//! system transaction of that file appends to `NAME.^^^` ([`delta_path`]) the new
//! images of the logical pages it changed, then a commit frame carrying the file's new
//! state. This commit holds the delta's header, its frames and its name; the scan and
//! the writer follow.

pub mod frame;
pub mod header;
pub mod path;

pub use frame::{logical_page_bound, FrameKind, Stop, FRAME_ALIGN, FRAME_HEADER_LEN};
pub use header::{
    DeltaHeader, DeltaState, HeaderError, DELTA_FORMAT_VERSION, DELTA_HEADER_LEN, DELTA_MAGIC,
};
pub use path::{delta_path, shares_delta, DELTA_EXTENSION};
