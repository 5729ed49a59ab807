//! `-convert FILE OUT --to 6|5`: a new file OUT with FILE's definition in the other
//! (or the same) file format, holding every record of FILE. The work is
//! [`engine::bulk::convert`]; this file opens the engine and reports.

use super::{data_path, engine};
use crate::report::Report;
use engine::bulk::{convert, Conversion};
use engine::{FileFormat, Result};
use std::path::Path;

pub fn run(file: &Path, out_file: &Path, to: FileFormat, out: &mut Report) -> Result<()> {
    let mut e = engine()?;
    let mut conv = Conversion::default();
    let result = data_path(out_file).and_then(|o| convert(&mut e, file, &o, to, &mut conv));
    match &result {
        Ok(()) => out.line(format!(
            "converted {} to {}: {} records copied, format {} -> {} ({} -> {})",
            file.display(),
            out_file.display(),
            conv.progress.inserted,
            conv.from.version(),
            conv.to.version(),
            conv.from.describe(),
            conv.to.describe()
        )),
        Err(_) if conv.progress.inserted > 0 => {
            out.line(super::progress_line("copied", &conv.progress, out_file))
        }
        Err(_) => {}
    }
    result
}
