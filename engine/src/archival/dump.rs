//! An archival log as text, for operators (`butil -rollfwd --dump`): one line per
//! frame, one indented line per change with its images in hexadecimal, and `#` lines
//! for what the log says about itself. Text is for reading and diffing, not for
//! reading back: the log itself is the record.

use super::format::Entry;
use super::reader::{visit_log, ArchivalScan};
use crate::file::change::Change;
use crate::status::{Error, Result};
use crate::vfs::Vfs;
use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

/// `bytes` as lower-case hexadecimal.
fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The lines of one entry (its frame at file offset `offset`).
pub fn entry_text(offset: u64, entry: &Entry) -> String {
    let mut s = format!(
        "frame {} at offset {offset}: FCR sequence {}, applied LSN {}, {} change{}\n",
        entry.log_seq,
        entry.fcr_seq,
        entry.applied_lsn,
        entry.changes.len(),
        if entry.changes.len() == 1 { "" } else { "s" }
    );
    for c in &entry.changes {
        let _ = match c {
            Change::Insert { serial, record } => writeln!(
                s,
                "  insert serial {serial}: {} bytes {}",
                record.len(),
                hex(record)
            ),
            Change::Update { serial, old, new } => writeln!(
                s,
                "  update serial {serial}: old {} bytes {}, new {} bytes {}",
                old.len(),
                hex(old),
                new.len(),
                hex(new)
            ),
            Change::Delete { serial, old } => writeln!(
                s,
                "  delete serial {serial}: {} bytes {}",
                old.len(),
                hex(old)
            ),
        };
    }
    s
}

/// The closing `#` lines: what the log is for and how far it reaches.
pub fn summary_text(scan: &ArchivalScan) -> String {
    let h = &scan.header;
    let range = match (scan.first_fcr_seq, scan.last_fcr_seq) {
        (Some(a), Some(b)) => format!("FCR sequences {a} to {b}"),
        _ => "no FCR sequence".to_string(),
    };
    format!(
        "# data file {}, log id {:#018x}, begun after FCR sequence {}\n\
         # {} frame{}, {range}; the log ends {} at offset {} ({})\n",
        h.data_name.escape_debug(),
        h.log_id,
        h.base_fcr_seq,
        scan.entries,
        if scan.entries == 1 { "" } else { "s" },
        match scan.end {
            super::reader::End::Clean => "cleanly",
            super::reader::End::Torn => "at a torn tail",
        },
        scan.valid_len,
        scan.stop
    )
}

/// Write the archival log at `path` to `out` as text: a title line, every valid entry
/// as it is read, then the summary. A log the reader refuses (damage) is written up
/// to the damage and the error returned; an error writing `out` is status 2 (or the
/// I/O error's status).
pub fn dump(vfs: &dyn Vfs, path: &Path, out: &mut dyn Write) -> Result<ArchivalScan> {
    let out_error = |e: &std::io::Error| Error::io(e, "writing the archival log dump");
    writeln!(out, "# archival log {}", path.display()).map_err(|e| out_error(&e))?;
    let scan = visit_log(vfs, path, |offset, entry| {
        out.write_all(entry_text(offset, &entry).as_bytes())
            .map_err(|e| out_error(&e))
    })?;
    out.write_all(summary_text(&scan).as_bytes())
        .map_err(|e| out_error(&e))?;
    Ok(scan)
}
