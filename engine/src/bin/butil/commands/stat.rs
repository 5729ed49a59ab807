//! `-stat FILE`: the definition in description-file syntax, then the statistics (the
//! file format first: 6.x shadow paging or 5.x legacy pre-imaging) as `#` comments —
//! so the whole output is itself a description file `-create` accepts.
//! With archival logging on (`KEEL_BLOG_ROOT`), a last comment names the file's
//! archival log and the FCR sequences it covers.

use super::{data_path, engine, log_settings};
use crate::report::Report;
use engine::formats::write_description;
use engine::{OpenMode, Result};
use std::path::Path;

pub fn run(file: &Path, out: &mut Report) -> Result<()> {
    let mut e = engine()?;
    let h = e.open(file, OpenMode::ReadOnly)?;
    let stat = e.stat(h);
    let _ = e.close(h);
    let st = stat?;
    out.line(format!("# butil -stat {}", file.display()));
    for l in write_description(&st.spec).lines() {
        out.line(l);
    }
    // A comment as well as `version=5` in the definition: the definition omits the
    // default, and an operator reading the statistics should not have to know that.
    out.line(format!("# format: {}", st.spec.format.describe()));
    out.line(format!("# records: {}", st.records));
    out.line(format!("# record length: {} bytes", st.spec.record_length));
    out.line(format!("# page size: {} bytes", st.spec.page_size));
    out.line(format!("# records per page: {}", st.records_per_page));
    out.line(format!("# physical pages: {}", st.pages));
    out.line(format!("# durable sequence: {}", st.durable_seq));
    let (mode, dir) = log_settings()?;
    out.line(format!(
        "# transaction log: {} (KEEL_LOG_MODE; directory {}); applied LSN {}",
        mode.name(),
        dir.display(),
        st.applied_lsn
    ));
    if e.config().blog_root.is_some() {
        // After the statistics: a malformed blog.cfg fails the command, but the
        // statistics are still printed.
        out.line(archival_line(&e, &data_path(file)?, st.durable_seq)?);
    }
    Ok(())
}

/// The `# archival log: …` line for `file`, at FCR sequence `seq`.
fn archival_line(e: &engine::Engine, file: &Path, seq: u64) -> Result<String> {
    let Some(a) = e.archival_stat(file)? else {
        return Ok("# archival log: none (blog.cfg does not name the file)".into());
    };
    let log = a.log.display();
    Ok(match a.scan {
        None => format!(
            "# archival log: {log} (not created yet: the file's next writable open creates \
             it, beginning at sequence {seq})"
        ),
        Some(s) => {
            let range = match (s.first_fcr_seq, s.last_fcr_seq) {
                (Some(a), Some(b)) => format!("FCR sequences {a} to {b}"),
                _ => "no FCR sequence yet".into(),
            };
            let base = s.header.base_fcr_seq;
            let behind = if s.covered_fcr_seq() > seq || base > seq {
                format!("; the file, at sequence {seq}, is behind it: butil -rollfwd")
            } else {
                String::new()
            };
            format!(
                "# archival log: {log}: {range} ({} frame{}; begun after sequence {base}){behind}",
                s.entries,
                if s.entries == 1 { "" } else { "s" },
            )
        }
    })
}
