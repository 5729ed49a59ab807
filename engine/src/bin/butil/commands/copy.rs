//! `-copy SRC DST`: insert every record of SRC, in key 0 order, into the existing file
//! DST. Record lengths must match (status 22 if SRC's are shorter, 28 if longer); key
//! definitions may differ. A failed insert or read stops the copy; the records before
//! it are committed and stay.

use super::{close_all, data_path, engine, progress_line, refuse_same_file, until_end, Progress};
use crate::report::Report;
use engine::{Engine, Error, GetOp, Handle, OpenMode, Result, Status};
use std::path::Path;

pub fn run(src: &Path, dst: &Path, out: &mut Report) -> Result<()> {
    refuse_same_file(src, dst)?;
    let mut e = engine()?;
    let hs = e.open(src, OpenMode::ReadOnly)?;
    let hd = match data_path(dst).and_then(|d| e.open(&d, OpenMode::Normal)) {
        Ok(h) => h,
        Err(err) => return close_all(&mut e, &[hs], Err(err)),
    };
    let mut progress = Progress::default();
    let result = copy(&mut e, hs, hd, src, dst, &mut progress);
    let result = close_all(&mut e, &[hs, hd], result);
    match &result {
        Ok(()) => out.line(format!(
            "copied {} records from {} to {}",
            progress.inserted,
            src.display(),
            dst.display()
        )),
        Err(_) => out.line(progress_line("copied", &progress, dst)),
    }
    result
}

fn copy(
    e: &mut Engine,
    hs: Handle,
    hd: Handle,
    src: &Path,
    dst: &Path,
    progress: &mut Progress,
) -> Result<()> {
    let (sl, dl) = (
        e.stat(hs)?.spec.record_length,
        e.stat(hd)?.spec.record_length,
    );
    if let Some(status) = Status::for_record_length(sl.into(), dl.into()) {
        return Err(Error::new(
            status,
            format!(
                "{} has {sl}-byte records but {} has {dl}-byte records; nothing was copied",
                src.display(),
                dst.display()
            ),
        ));
    }
    let result = (|| {
        let mut rec = until_end(e.get(hs, GetOp::First, 0, &[]))
            .map_err(|err| err.during(format_args!("reading {}", src.display())))?;
        while let Some(r) = rec {
            e.insert(hd, &r).map_err(|err| {
                err.during(format_args!(
                    "inserting record {} into {}",
                    progress.inserted + 1,
                    dst.display()
                ))
            })?;
            progress.inserted += 1;
            rec = until_end(e.get(hs, GetOp::Next, 0, &[]))
                .map_err(|err| err.during(format_args!("reading {}", src.display())))?;
        }
        Ok(())
    })();
    let flushed = e.flush();
    progress.committed = flushed.is_ok();
    result.and(flushed)
}
