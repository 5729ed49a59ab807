//! Keel's deterministic simulator: runs the real engine on a simulated filesystem
//! with injected faults, compares every read with a reference model, and checks the
//! recovery invariants of DESIGN.md after every crash. One `u64` seed fixes the
//! workload, the faults and the schedule.

pub mod campaign;
pub mod check;
pub mod fuzz;
pub mod model;
pub mod plan;
pub mod report;
pub mod runner;
pub mod shrink;
pub mod vfs;
pub mod workload;
