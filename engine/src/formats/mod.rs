//! Parsers and writers for butil's text and interchange formats. Pure functions over
//! bytes — no I/O, no panics on any input, no allocation sized by a number read from the
//! input — so each can be fuzzed directly.
//!
//! - [`description`]: description files (`butil -create FILE DESCFILE`, `-stat`), the text
//!   form of a [`crate::file::FileSpec`]; errors are status 62 or [`FileSpec::validate`]'s.
//! - [`sequential`]: unformatted sequential files (`butil -save`, `-load`, `-recover`),
//!   `LENGTH,DATA\r\n` per record; errors are status 28.
//! - [`listfile`]: `@LISTFILE` for `butil -startbu`/`-endbu`, one path per line; errors
//!   are status 11.
//!
//! [`FileSpec::validate`]: crate::file::FileSpec::validate

pub mod description;
pub mod listfile;
pub mod sequential;

pub use description::{parse_description, write_description};
pub use listfile::parse_list;
pub use sequential::{write_end, write_record, SeqReader};
