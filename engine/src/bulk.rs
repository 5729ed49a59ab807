//! Bulk jobs over an open engine: loading an unformatted sequential file, converting a
//! file to another format ([`convert`], `butil -convert`), and the engine settings such
//! jobs run with. `butil -load` is a thin wrapper around
//! [`load_sequential`]; the benchmark (`bench/`) calls the same function, so what it
//! times is what the utility does.
//!
//! Guarantees of [`load_sequential`]: the whole input is parsed and every record's
//! framing and length checked before anything is inserted, so a malformed file loads
//! nothing. An insert that fails (a duplicate key, a full disk) stops the load; the
//! records before it are flushed and stay (as in Btrieve), and [`Progress`] says how
//! many and whether that flush succeeded.
//!
//! Both jobs insert through [`Engine::insert_all`], the engine's bulk path (batches:
//! each data page filled once, each key's entries appended to its rightmost leaf when
//! they arrive in order, one undo and one log transaction per batch): the file is the
//! one Insert after Insert would make, with the same statuses. A crash mid-job leaves
//! the file as it was plus a prefix of whole batches (`engine::batch` says which).

use crate::engine::{Config, Engine, Handle, LogMode, OpenMode};
use crate::file::{FileFormat, FileSpec, StepOp};
use crate::formats::SeqReader;
use crate::status::{Error, Result, Status};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Operations bundled into one system transaction. Bulk jobs (load, copy) gain nothing
/// from per-operation durability — the job is redone after a crash — so they commit
/// rarely (dirty-page pressure and the end of the job still commit).
pub const BUNDLE_LIMIT: u64 = 1_000_000;
/// Initiation Time Limit: a job commits at its end, not by the clock, which also makes
/// the files it writes (page numbers, sequences) the same from run to run.
pub const INITIATION_TIME_LIMIT: Duration = Duration::from_secs(3600);

/// The engine configuration of a bulk job with these log settings.
pub fn bulk_config(log_mode: LogMode, log_dir: PathBuf) -> Config {
    Config {
        operation_bundle_limit: BUNDLE_LIMIT,
        initiation_time_limit: INITIATION_TIME_LIMIT,
        log_mode,
        log_dir,
        ..Config::default()
    }
}

/// How far a bulk insert (load, copy) got.
#[derive(Debug, Default)]
pub struct Progress {
    /// Records inserted.
    pub inserted: u64,
    /// Whether they were committed (a system transaction made them durable).
    pub committed: bool,
}

/// Insert every record of the sequential file `input` (the bytes of `seqfile`) through
/// handle `h` (an open of `file`), then flush. `seqfile` and `file` only name things in
/// error messages. The handle stays open.
pub fn load_sequential(
    e: &mut Engine,
    h: Handle,
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
        if let Some(status) = Status::for_record_length(rec.len(), rl) {
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
    let mut inserted = 0;
    let result = e.insert_all(h, &records, &mut inserted);
    progress.inserted += inserted;
    if let Err(err) = result {
        progress.committed = e.flush().is_ok();
        return Err(err.during(format_args!(
            "{}: record {}",
            seqfile.display(),
            inserted + 1
        )));
    }
    e.flush()?;
    progress.committed = true;
    Ok(())
}

/// What [`convert`] did.
#[derive(Debug, Default)]
pub struct Conversion {
    /// The source file's format.
    pub from: FileFormat,
    /// The new file's format (the one asked for).
    pub to: FileFormat,
    /// Records copied, and whether they were committed.
    pub progress: Progress,
}

/// Create `out` with `src`'s definition but the format `to`, and copy every record of
/// `src` into it. `out` must not exist (status 59, as for Create); converting to the
/// format `src` already has is allowed and is a copy.
///
/// Records are inserted in the order they were inserted into `src` (their insertion
/// serials), not in key order, so every key of `out` lists its duplicates in the same
/// order as `src` does: the two files answer every Get and `-save` in any key alike.
/// That needs the records in memory at once (as `-save` holds its output).
///
/// A failure after `out` was created leaves it there, with the records inserted so far
/// (committed if [`Progress::committed`]); the error says so. It is not removed: with a
/// transaction log or archival log on, the logs may already name it.
pub fn convert(
    e: &mut Engine,
    src: &Path,
    out: &Path,
    to: FileFormat,
    conv: &mut Conversion,
) -> Result<()> {
    conv.to = to;
    let hs = e.open(src, OpenMode::ReadOnly)?;
    let read = (|| {
        let spec = e.stat(hs)?.spec;
        let records = by_serial(e, hs)
            .map_err(|err| err.during(format_args!("reading {}", src.display())))?;
        Ok((spec, records))
    })();
    let closed = e.close(hs);
    let (spec, records) = read?;
    closed?;
    conv.from = spec.format;
    e.create(out, &FileSpec { format: to, ..spec })?;
    let hd = e
        .open(out, OpenMode::Normal)
        .map_err(|err| err.during(format_args!("opening the new file {}", out.display())))?;
    let mut inserted = 0;
    let mut result = e
        .insert_all(hd, &records, &mut inserted)
        .map_err(|err| err.during(format_args!("inserting record {}", inserted + 1)));
    conv.progress.inserted += inserted;
    let flushed = e.flush();
    conv.progress.committed = flushed.is_ok();
    result = result.and(flushed);
    let closed = e.close(hd);
    result = result.and(closed);
    result.map_err(|err| {
        err.during(format_args!(
            "converting {} into {}, which now holds {} of {} records{}; remove it and run \
             the conversion again",
            src.display(),
            out.display(),
            conv.progress.inserted,
            records.len(),
            if conv.progress.committed {
                ""
            } else {
                " (not all committed)"
            }
        ))
    })
}

/// Every record of the file open as `h`, in insertion-serial order.
fn by_serial(e: &mut Engine, h: Handle) -> Result<Vec<Vec<u8>>> {
    let mut records = Vec::new();
    let mut next = e.step(h, StepOp::First);
    loop {
        match next {
            Ok(rec) => records.push((e.current_serial(h)?, rec)),
            Err(err) if err.status == Status::EndOfFile => break,
            Err(err) => return Err(err),
        }
        next = e.step(h, StepOp::Next);
    }
    records.sort_by_key(|&(serial, _)| serial);
    Ok(records.into_iter().map(|(_, rec)| rec).collect())
}
