//! `SimVfs`: the simulated filesystem the engine runs on under simulation, with its
//! fault model. (Being built: so far the fault knobs and counters.)

mod faults;

pub use faults::{Fault, FaultClass, FaultConfig, FaultKind, FaultStats};
