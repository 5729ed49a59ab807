//! Records, keys and Btrieve operations over a data file.

pub mod check;
pub mod datafile;
pub mod key;
pub mod ops;
pub mod records;
pub mod recover;
pub mod spec;

pub use ops::{GetOp, OpCode, StepOp};
pub use spec::{FileSpec, KeySpec, KeyType, Segment};
