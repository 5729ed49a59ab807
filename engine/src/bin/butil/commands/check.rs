//! `-check FILE`: the structure check (every page, key and record). A sound file gets
//! a one-line summary; otherwise each problem is printed and the command fails with
//! status 2.

use crate::report::Report;
use engine::file::check::check_file;
use engine::vfs::StdVfs;
use engine::{Error, Result, Status};
use std::path::Path;

pub fn run(file: &Path, out: &mut Report) -> Result<()> {
    let r = check_file(&StdVfs, file)?;
    if r.is_clean() {
        out.line(format!(
            "{}: OK: {} records; {} physical pages: {} data, {} index, {} free",
            file.display(),
            r.records,
            r.physical_pages,
            r.data_pages,
            r.index_pages,
            r.free_physical_pages
        ));
        return Ok(());
    }
    for p in &r.problems {
        out.line(format!("problem: {p}"));
    }
    Err(Error::new(
        Status::IoError,
        format!(
            "{}: the structure check found {} problem(s)",
            file.display(),
            r.problems.len()
        ),
    ))
}
