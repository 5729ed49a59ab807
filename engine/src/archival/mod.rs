//! Archival logging: which data files are archived ([`config`], `blog.cfg`) and, per
//! archived file, the log of every system transaction that committed it, so that a
//! restored backup can be rolled forward to the moment before the disk died (DESIGN.md,
//! "Archival logging"; invariant 7).

pub mod config;

pub use config::{config_path, BlogConfig, ConfigError, ConfigErrorKind};
