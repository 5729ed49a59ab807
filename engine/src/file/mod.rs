//! Records, keys and Btrieve operations over a data file.

pub mod change;
pub mod check;
pub mod datafile;
pub mod key;
pub mod ops;
pub mod records;
pub mod recover;

/// The file specification lives with the page layer (the pager needs it); it is
/// re-exported here, where the operations that use it live.
pub use crate::page::spec;
pub use ops::{GetOp, OpCode, StepOp};
pub use spec::{FileFormat, FileSpec, KeySpec, KeyType, Segment};
