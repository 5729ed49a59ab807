//! Continuous operations (online backup): the *policy* — which files may enter a backup
//! together, and how an operator leaves one — above the data file and the delta format.
//!
//! The mechanism lives below: the delta file's format is [`crate::delta`], the frozen
//! file's reads and writes through its delta are the pager's (`pager/frozen.rs`), and the
//! engine freezes and rolls in whole sets (`Engine::start_backup` / `end_backup`). What
//! is here decides, without writing anything but deltas:
//! - [`startbu::check_set`]: `startbu`'s all-or-nothing check of a set;
//! - [`killbu()`]: the operator's other way out — delete the deltas, returning every file
//!   to the `startbu` instant — refused for a delta whose roll-in had begun.
//!
//! `butil` and the simulator both call these; neither has its own copy.

pub mod killbu;
pub mod startbu;

pub use killbu::{check_kill, killbu, lock_data_files, remove_deltas, IfAbsent};
