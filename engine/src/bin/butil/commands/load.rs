//! `-load SEQFILE FILE`: insert every record of an unformatted sequential file.
//!
//! The whole sequential file is read and every record's framing and length checked
//! before anything is inserted, so a malformed file loads nothing. An insert that fails
//! (a duplicate key, a full disk) stops the load; the records before it are committed
//! and stay (as in Btrieve), and the report says how many.

use super::{close_all, engine, progress_line, read_input, Progress};
use crate::report::Report;
use engine::formats::SeqReader;
use engine::{Error, OpenMode, Result, Status};
use std::path::Path;

pub fn run(seqfile: &Path, file: &Path, out: &mut Report) -> Result<()> {
    let input = read_input(seqfile, "sequential file")?;
    let mut e = engine()?;
    let h = e.open(file, OpenMode::Normal)?;
    let mut progress = Progress::default();
    let result = load(&mut e, h, &input, seqfile, file, &mut progress);
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

fn load(
    e: &mut engine::Engine,
    h: engine::Handle,
    input: &[u8],
    seqfile: &Path,
    file: &Path,
    progress: &mut Progress,
) -> Result<()> {
    let rl = usize::from(e.stat(h)?.spec.record_length);
    let mut records = Vec::new();
    let mut reader = SeqReader::new(input);
    loop {
        let at = reader.offset();
        let Some(item) = reader.next() else { break };
        let rec = item.map_err(|err| {
            Error::new(
                err.status,
                format!("{}: {}; nothing was loaded", seqfile.display(), err.context),
            )
        })?;
        if rec.len() != rl {
            let status = if rec.len() < rl {
                Status::DataBufferTooShort
            } else {
                Status::InvalidRecordLength
            };
            return Err(Error::new(
                status,
                format!(
                    "{}: record {} at byte offset {at} is {} bytes but {}'s records are {rl}; \
                     nothing was loaded",
                    seqfile.display(),
                    records.len() + 1,
                    rec.len(),
                    file.display()
                ),
            ));
        }
        records.push(rec);
    }
    for (i, rec) in records.iter().enumerate() {
        if let Err(err) = e.insert(h, rec) {
            progress.committed = e.flush().is_ok();
            return Err(err.during(format_args!("{}: record {}", seqfile.display(), i + 1)));
        }
        progress.inserted += 1;
    }
    e.flush()?;
    progress.committed = true;
    Ok(())
}
