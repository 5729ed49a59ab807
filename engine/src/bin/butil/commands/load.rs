//! `-load SEQFILE FILE`: insert every record of an unformatted sequential file.
//!
//! The work is [`engine::bulk::load_sequential`] (shared with the benchmark): the whole
//! sequential file is checked before anything is inserted, so a malformed file loads
//! nothing; an insert that fails stops the load and the records before it are
//! committed and stay (as in Btrieve). This file opens, reports and closes.

use super::{close_all, data_path, engine, progress_line, read_input, Progress};
use crate::report::Report;
use engine::bulk::load_sequential;
use engine::{OpenMode, Result};
use std::path::Path;

pub fn run(seqfile: &Path, file: &Path, out: &mut Report) -> Result<()> {
    let input = read_input(seqfile, "sequential file")?;
    let mut e = engine()?;
    let h = e.open(&data_path(file)?, OpenMode::Normal)?;
    let mut progress = Progress::default();
    let result = load_sequential(&mut e, h, &input, seqfile, file, &mut progress);
    let result = close_all(&mut e, &[h], result);
    match &result {
        Ok(()) => out.line(format!(
            "loaded {} records from {} into {}",
            progress.inserted,
            seqfile.display(),
            file.display()
        )),
        Err(_) => out.line(progress_line("loaded", &progress, file)),
    }
    result
}
