//! Fuzz target bodies: one `pub fn NAME(data: &[u8])` per parser of untrusted bytes
//! (DESIGN.md, "Fuzzing and corpora"), plus a structured target driving a whole
//! simulated workload.
//!
//! The bodies live here, not in `fuzz/`, so that stable `cargo test` can replay every
//! corpus file through exactly the code libFuzzer runs (`sim/tests/fuzz_corpus.rs`),
//! and the cargo-fuzz targets stay one line each. Contract of every target: for ANY
//! input it returns without panicking, looping forever or allocating without bound.
//! Errors from the parser under test are expected and ignored; where a parse succeeds
//! the target asserts cheap invariants (chiefly encode→decode round trips), and a
//! failed assertion is a bug the fuzzer keeps.

mod admin;
mod archival;
mod contops;
mod files;
mod formats;
mod pages;
mod txlog;
mod workload;

pub use admin::{admin_request, ADMIN_FUZZ_FILE};
pub use archival::{archival_config, archival_fuzz_header, archival_log};
pub use contops::delta_file;
pub use files::data_file;
pub use formats::{description, list_file, sequential};
pub use pages::{data_page, fcr, index_page, pat_page};
pub use txlog::{log_entry, log_segment};
pub use workload::workload;

/// A fuzz target body.
pub type Target = fn(&[u8]);

/// Every target by name; the name is also its corpus directory
/// (`corpora/fuzz/<name>/`) and its cargo-fuzz target (`fuzz/fuzz_targets/<name>.rs`).
pub fn targets() -> &'static [(&'static str, Target)] {
    &[
        ("fcr", fcr),
        ("pat_page", pat_page),
        ("data_page", data_page),
        ("index_page", index_page),
        ("data_file", data_file),
        ("log_segment", log_segment),
        ("log_entry", log_entry),
        ("delta_file", delta_file),
        ("archival_config", archival_config),
        ("archival_log", archival_log),
        ("description", description),
        ("sequential", sequential),
        ("list_file", list_file),
        ("workload", workload),
        ("admin_request", admin_request),
    ]
}

/// The input as one page of `page_size` bytes: truncated or zero-padded. Page
/// decoders are only ever handed whole pages by the pager, so that is the shape the
/// fuzzer feeds them; a short buffer would test a contract nobody relies on.
fn as_page(data: &[u8], page_size: usize) -> Vec<u8> {
    let mut page = vec![0u8; page_size];
    let n = data.len().min(page_size);
    page[..n].copy_from_slice(&data[..n]);
    page
}

/// The smallest valid page size that holds the whole input (the largest if none).
fn page_size_for(data: &[u8]) -> usize {
    engine::file::spec::PAGE_SIZES
        .iter()
        .map(|&p| p as usize)
        .find(|&p| p >= data.len())
        .unwrap_or(16384)
}
