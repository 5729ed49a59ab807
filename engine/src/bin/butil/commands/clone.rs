//! `-clone DST SRC`: create DST, empty, with SRC's definition (record length, page
//! size, keys).

use super::engine;
use crate::report::Report;
use engine::{OpenMode, Result};
use std::path::Path;

pub fn run(dst: &Path, src: &Path, out: &mut Report) -> Result<()> {
    let mut e = engine()?;
    let h = e.open(src, OpenMode::ReadOnly)?;
    let stat = e.stat(h);
    let _ = e.close(h);
    let spec = stat?.spec;
    e.create(dst, &spec)?;
    out.line(format!(
        "created {} (empty) with the definition of {}",
        dst.display(),
        src.display()
    ));
    Ok(())
}
