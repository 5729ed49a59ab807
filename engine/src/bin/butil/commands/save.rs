//! `-save FILE SEQFILE [N KEYNUM]`: every record, in the order of key KEYNUM, to an
//! unformatted sequential file ending with Ctrl-Z.

use super::{close_all, engine, refuse_same_file, until_end, write_output};
use crate::report::Report;
use engine::formats::{write_end, write_record};
use engine::{GetOp, OpenMode, Result};
use std::path::Path;

pub fn run(file: &Path, seqfile: &Path, key: usize, out: &mut Report) -> Result<()> {
    refuse_same_file(file, seqfile)?;
    let mut e = engine()?;
    let h = e.open(file, OpenMode::ReadOnly)?;
    let mut buf = Vec::new();
    let mut n = 0u64;
    let mut read = || -> Result<()> {
        let mut rec = until_end(e.get(h, GetOp::First, key, &[]))?;
        while let Some(r) = rec {
            write_record(&mut buf, &r);
            n += 1;
            rec = until_end(e.get(h, GetOp::Next, key, &[]))?;
        }
        Ok(())
    };
    let result = read().map_err(|err| err.during(format_args!("reading {}", file.display())));
    close_all(&mut e, &[h], result)?;
    write_end(&mut buf);
    write_output(seqfile, &buf)?;
    out.line(format!(
        "saved {n} records of {} to {} in key {key} order",
        file.display(),
        seqfile.display()
    ));
    Ok(())
}
