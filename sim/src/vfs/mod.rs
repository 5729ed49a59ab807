//! `SimVfs`: the simulated filesystem the engine runs on under simulation, with its
//! fault model. (Being built: so far the fault knobs and counters, file and directory
//! state with pending operations, and what a power loss keeps of them.)

mod crash;
mod faults;
mod inode;
mod namespace;

pub use faults::{Fault, FaultClass, FaultConfig, FaultKind, FaultStats};
pub use inode::{PENDING_BYTES_LIMIT, PENDING_OPS_LIMIT, SECTOR};
pub use namespace::PENDING_DIR_OPS_LIMIT;
