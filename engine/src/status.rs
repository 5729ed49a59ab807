//! Btrieve status codes and the engine's error type.
//!
//! Every failure the engine reports carries a [`Status`] with Btrieve's number, a
//! one-line meaning, and what the operator should do, plus free-form context (which
//! file, which page, which line). The library never prints; binaries do.

use std::fmt;

/// A Btrieve status code. Numbers follow Btrieve 6.x / Zen where one exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u16)]
pub enum Status {
    Success = 0,
    InvalidOperation = 1,
    IoError = 2,
    FileNotOpen = 3,
    KeyValueNotFound = 4,
    DuplicateKeyValue = 5,
    InvalidKeyNumber = 6,
    DifferentKeyNumber = 7,
    InvalidPositioning = 8,
    EndOfFile = 9,
    KeyNotModifiable = 10,
    InvalidFileName = 11,
    FileNotFound = 12,
    PreImageOpenError = 14,
    DiskFull = 18,
    PageSizeError = 24,
    CreateIoError = 25,
    InvalidNumberOfKeys = 26,
    InvalidKeyPosition = 27,
    InvalidRecordLength = 28,
    InvalidKeyLength = 29,
    KeyBufferTooShort = 21,
    DataBufferTooShort = 22,
    NotABtrieveFile = 30,
    TransactionError = 36,
    TransactionAlreadyActive = 37,
    TransactionControlFileIoError = 38,
    EndAbortWithoutBegin = 39,
    TooManyFilesInTransaction = 40,
    OperationNotAllowed = 41,
    AccessDenied = 46,
    InvalidKeyType = 49,
    FileAlreadyExists = 59,
    IncorrectDescriptor = 62,
    Deadlock = 78,
    Conflict = 80,
    RecordInUse = 84,
    FileInUse = 85,
    FileTableFull = 86,
    IncompatibleMode = 88,
    FileFull = 132,
}

impl Status {
    /// The status for a record of `got` bytes where the file's records are `want`
    /// bytes: 22 (data buffer too short) if shorter, 21 (invalid record length) if
    /// longer, `None` if it fits.
    pub fn for_record_length(got: usize, want: usize) -> Option<Status> {
        match got.cmp(&want) {
            std::cmp::Ordering::Less => Some(Status::DataBufferTooShort),
            std::cmp::Ordering::Greater => Some(Status::InvalidRecordLength),
            std::cmp::Ordering::Equal => None,
        }
    }

    /// Btrieve's number for this status.
    pub fn code(self) -> u16 {
        self as u16
    }

    /// What the status means, in Btrieve's words where it has them.
    pub fn meaning(self) -> &'static str {
        use Status::*;
        match self {
            Success => "the operation was successful",
            InvalidOperation => "the operation parameter is invalid",
            IoError => "an I/O error occurred (or a page failed verification)",
            FileNotOpen => "the file is not open",
            KeyValueNotFound => "the key value was not found",
            DuplicateKeyValue => "the record has a key field containing a duplicate key value",
            InvalidKeyNumber => "the key number parameter is invalid",
            DifferentKeyNumber => "the key number has changed",
            InvalidPositioning => "the current positioning is invalid",
            EndOfFile => "the operation encountered the end-of-file",
            KeyNotModifiable => "the modifiable key value is in error",
            InvalidFileName => "the specified file name is invalid",
            FileNotFound => "the file was not found",
            PreImageOpenError => "the pre-image file cannot be created or opened",
            DiskFull => "the disk is full",
            KeyBufferTooShort => "the key buffer parameter is too short",
            DataBufferTooShort => "the data buffer parameter is too short",
            FileAlreadyExists => "the file already exists",
            PageSizeError => "the page size or data buffer size is invalid",
            CreateIoError => "an I/O error occurred during file creation",
            InvalidNumberOfKeys => "the number of keys specified is invalid",
            InvalidKeyPosition => "the key position is invalid",
            InvalidRecordLength => "the record length is invalid",
            InvalidKeyLength => "the key length is invalid",
            NotABtrieveFile => "the file specified is not a Btrieve (Keel) data file",
            TransactionError => "a transaction error occurred",
            TransactionAlreadyActive => "another transaction is active",
            TransactionControlFileIoError => "an I/O error occurred on the transaction log",
            EndAbortWithoutBegin => "an End/Abort Transaction was issued without a Begin",
            TooManyFilesInTransaction => "too many files were updated during the transaction",
            OperationNotAllowed => "the operation is not allowed in the current state",
            AccessDenied => "access to the requested file is denied",
            IncorrectDescriptor => "the file or key descriptor is invalid",
            InvalidKeyType => "the extended key type is invalid",
            Deadlock => "a deadlock was detected",
            Conflict => "a conflict occurred",
            RecordInUse => "the record or page is locked by another client",
            FileInUse => "the file is locked by another process",
            FileTableFull => "the file table is full",
            IncompatibleMode => "the file was opened in an incompatible mode",
            FileFull => "the file has reached its maximum size",
        }
    }

    /// What to do about it.
    pub fn advice(self) -> &'static str {
        use Status::*;
        match self {
            Success => "nothing",
            InvalidOperation | InvalidKeyType => "check the operation and its arguments",
            IoError => {
                "check the device; if the file is damaged, run `butil -check` and recover \
                 readable records with `butil -recover`, or restore from backup"
            }
            FileNotOpen => "open the file before using it",
            KeyValueNotFound => "check the key value, or use Get Greater or Equal",
            DuplicateKeyValue => "use a unique value, or define the key with duplicates=y",
            InvalidKeyNumber => "use a key number the file defines (see `butil -stat`)",
            DifferentKeyNumber => "use the same key number as the previous Get, or re-establish position",
            InvalidPositioning => "establish a current record with a Get or Step first",
            EndOfFile => "there are no more records in that direction",
            KeyNotModifiable => "that key is defined with modifiable=n: delete and re-insert instead",
            InvalidFileName => "check the file name",
            FileNotFound => "check the path; create the file with `butil -create`",
            PreImageOpenError => "two legacy-format files in one directory whose names differ only in extension share one NAME.PRE: rename one (or convert it with `butil -convert --to 6`)",
            DiskFull => "free space on the device, then retry",
            KeyBufferTooShort => "pass a key buffer as long as the key",
            DataBufferTooShort => "pass a buffer of the file's record length",
            FileAlreadyExists => "remove the file first, or choose another name",
            PageSizeError => "use a page size of 512, 1024, 2048, 4096, 8192 or 16384 that fits the record and keys",
            CreateIoError => "check that the directory exists and is writable, and that the file does not already exist",
            InvalidNumberOfKeys => "define between 1 and 24 keys",
            InvalidKeyPosition => "keys must lie within the record",
            InvalidRecordLength => "use a record length that fits in one page",
            InvalidKeyLength => "check the key length for its type (integers are 1, 2, 4 or 8 bytes; keys at most 255)",
            NotABtrieveFile => "check the path; the file may be truncated, of another format, or damaged beyond both control records",
            TransactionError => "end or abort the transaction and retry",
            TransactionAlreadyActive => "end or abort the active transaction first",
            TransactionControlFileIoError => "check the transaction log directory and device",
            EndAbortWithoutBegin => "begin a transaction first",
            TooManyFilesInTransaction => "touch fewer files in one transaction",
            OperationNotAllowed => "finish the conflicting activity (e.g. continuous operations) first",
            AccessDenied => "check permissions, or whether the file is in continuous operations",
            IncorrectDescriptor => "fix the description (see the line and field named)",
            Deadlock | Conflict | RecordInUse => "abort and retry the transaction",
            FileInUse => "another process has the file open; close it there first",
            FileTableFull => "close some files",
            IncompatibleMode => "open the file in a compatible mode",
            FileFull => "the file's page allocation table is full: use a larger page size (`butil -clone` + `-copy`)",
        }
    }

    /// Look a status up by number (for parsing and tests).
    pub fn from_code(code: u16) -> Option<Status> {
        ALL.iter().copied().find(|s| s.code() == code)
    }
}

/// Every status, in numeric order.
pub const ALL: &[Status] = &[
    Status::Success,
    Status::InvalidOperation,
    Status::IoError,
    Status::FileNotOpen,
    Status::KeyValueNotFound,
    Status::DuplicateKeyValue,
    Status::InvalidKeyNumber,
    Status::DifferentKeyNumber,
    Status::InvalidPositioning,
    Status::EndOfFile,
    Status::KeyNotModifiable,
    Status::InvalidFileName,
    Status::FileNotFound,
    Status::PreImageOpenError,
    Status::DiskFull,
    Status::KeyBufferTooShort,
    Status::DataBufferTooShort,
    Status::PageSizeError,
    Status::CreateIoError,
    Status::InvalidNumberOfKeys,
    Status::InvalidKeyPosition,
    Status::InvalidRecordLength,
    Status::InvalidKeyLength,
    Status::NotABtrieveFile,
    Status::TransactionError,
    Status::TransactionAlreadyActive,
    Status::TransactionControlFileIoError,
    Status::EndAbortWithoutBegin,
    Status::TooManyFilesInTransaction,
    Status::OperationNotAllowed,
    Status::AccessDenied,
    Status::InvalidKeyType,
    Status::FileAlreadyExists,
    Status::IncorrectDescriptor,
    Status::Deadlock,
    Status::Conflict,
    Status::RecordInUse,
    Status::FileInUse,
    Status::FileTableFull,
    Status::IncompatibleMode,
    Status::FileFull,
];

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "status {} ({})", self.code(), self.meaning())
    }
}

/// An engine error: a status plus the context that explains it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub status: Status,
    pub context: String,
}

impl Error {
    pub fn new(status: Status, context: impl Into<String>) -> Error {
        Error {
            status,
            context: context.into(),
        }
    }

    /// Map an I/O error from the `Vfs` to a status, keeping its text as context.
    pub fn io(err: &std::io::Error, context: impl fmt::Display) -> Error {
        use std::io::ErrorKind::*;
        let status = match err.kind() {
            NotFound => Status::FileNotFound,
            StorageFull => Status::DiskFull,
            PermissionDenied | ReadOnlyFilesystem => Status::AccessDenied,
            WouldBlock => Status::FileInUse,
            _ => Status::IoError,
        };
        Error::new(status, format!("{context}: {err}"))
    }

    /// Same error with more context prepended ("while doing X: ...").
    pub fn during(mut self, what: impl fmt::Display) -> Error {
        self.context = format!("{what}: {}", self.context);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status, self.context)
    }
}

impl std::error::Error for Error {}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Shorthand for `Err(Error::new(..))`.
pub(crate) fn fail<T>(status: Status, context: impl Into<String>) -> Result<T> {
    Err(Error::new(status, context))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_btrieve_numbers_and_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for s in ALL {
            assert!(seen.insert(s.code()), "duplicate code {}", s.code());
            assert_eq!(Status::from_code(s.code()), Some(*s));
            assert!(!s.meaning().is_empty() && !s.advice().is_empty());
        }
        assert_eq!(Status::FileInUse.code(), 85);
        assert_eq!(Status::NotABtrieveFile.code(), 30);
        assert_eq!(Status::IncompatibleMode.code(), 88);
        assert!(ALL.windows(2).all(|w| w[0].code() < w[1].code()));
    }
}
