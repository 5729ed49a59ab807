//! `-load SEQFILE FILE`: insert every record of an unformatted sequential file.
//!
//! The whole sequential file is read and every record's framing and length checked
//! before anything is inserted, so a malformed file loads nothing. An insert that fails
//! (a duplicate key, a full disk) stops the load; the records before it stay (as in
//! Btrieve) and the report says how many.

use super::{close_all, engine, read_input};
use crate::report::Report;
use engine::formats::SeqReader;
use engine::{Error, OpenMode, Result, Status};
use std::path::Path;

pub fn run(seqfile: &Path, file: &Path, out: &mut Report) -> Result<()> {
    let input = read_input(seqfile, "sequential file")?;
    let mut e = engine();
    let h = e.open(file, OpenMode::Normal)?;
    let mut loaded = 0u64;
    let result = load(&mut e, h, &input, seqfile, file, &mut loaded);
    let result = close_all(&mut e, &[h], result);
    match &result {
        Ok(()) => out.line(format!(
            "loaded {loaded} records from {} into {}",
            seqfile.display(),
            file.display()
        )),
        Err(_) if loaded > 0 => out.line(format!(
            "loaded {loaded} records into {} before the failure; they are kept",
            file.display()
        )),
        Err(_) => {}
    }
    result
}

fn load(
    e: &mut engine::Engine,
    h: engine::Handle,
    input: &[u8],
    seqfile: &Path,
    file: &Path,
    loaded: &mut u64,
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
        e.insert(h, rec)
            .map_err(|err| err.during(format_args!("{}: record {}", seqfile.display(), i + 1)))?;
        *loaded += 1;
    }
    e.flush()
}
