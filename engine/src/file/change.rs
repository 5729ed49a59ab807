//! One change to one record of a data file, as the redo interface sees it: the unit the
//! transaction log records and roll-forward replays through [`super::datafile::DataFile::redo`].
//!
//! It lives with the file, not with the log, because it is the file's vocabulary: a
//! change names its record by insertion serial (and, for update and delete, the old
//! image whose key-0 value must still be there). The log above only stores and orders
//! changes; how they are encoded is the log's business (`txlog::entry`).

/// One record change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    Insert {
        serial: u64,
        record: Vec<u8>,
    },
    Update {
        serial: u64,
        old: Vec<u8>,
        new: Vec<u8>,
    },
    Delete {
        serial: u64,
        old: Vec<u8>,
    },
}
