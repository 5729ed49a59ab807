//! stub

pub mod vfs;
