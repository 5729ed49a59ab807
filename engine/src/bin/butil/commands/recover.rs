//! `-recover FILE SEQFILE`: every readable record of a damaged file to a sequential
//! file, skipping bad pages (the work is `engine::file::recover`). Succeeds (exit 0)
//! whenever the geometry is known, however many pages were skipped; the report names
//! them and the definition needed to rebuild the file.

use super::{refuse_same_file, write_output};
use crate::report::Report;
use engine::file::recover::{recover, Method};
use engine::formats::{write_description, write_end, write_record};
use engine::vfs::StdVfs;
use engine::Result;
use std::path::Path;

pub fn run(file: &Path, seqfile: &Path, out: &mut Report) -> Result<()> {
    refuse_same_file(file, seqfile)?;
    let r = recover(&StdVfs, file)?;
    let mut buf = Vec::new();
    for rec in &r.records {
        write_record(&mut buf, rec);
    }
    write_end(&mut buf);
    write_output(seqfile, &buf)?;
    out.line(format!(
        "recovered {} records from {} data pages of {} into {}",
        r.records.len(),
        r.data_pages,
        file.display(),
        seqfile.display()
    ));
    let unit = match &r.method {
        Method::Opened => {
            out.line("method: the file opened normally; walked its logical pages");
            "logical"
        }
        Method::Scanned { geometry_from } => {
            out.line(format!(
                "method: scanned every physical page; page size and record length from \
                 {geometry_from}"
            ));
            "physical"
        }
    };
    out.line(format!("skipped {} unreadable page(s)", r.skipped.len()));
    for s in &r.skipped {
        out.line(format!("  skipped {unit} page {}: {}", s.page, s.why));
    }
    for n in &r.notes {
        out.line(format!("note: {n}"));
    }
    out.line("definition (rebuild with butil -create NEW DESCFILE, then -load):");
    for l in write_description(&r.spec).lines() {
        out.line(format!("  {l}"));
    }
    Ok(())
}
