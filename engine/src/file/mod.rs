//! Records, keys and Btrieve operations over a data file.

pub mod spec;
pub use spec::{FileSpec, KeySpec, KeyType, Segment};
