//! `-create FILE DESCFILE`: a new, empty data file from a description file.

use super::{engine, read_input};
use crate::report::Report;
use engine::formats::parse_description;
use engine::Result;
use std::path::Path;

pub fn run(file: &Path, descfile: &Path, out: &mut Report) -> Result<()> {
    let text = read_input(descfile, "description file")?;
    let spec = parse_description(&text).map_err(|e| e.during(descfile.display()))?;
    engine()?.create(file, &spec)?;
    out.line(format!(
        "created {}: {}-byte records, {} key(s), {}-byte pages",
        file.display(),
        spec.record_length,
        spec.keys.len(),
        spec.page_size
    ));
    Ok(())
}
