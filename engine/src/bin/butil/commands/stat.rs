//! `-stat FILE`: the definition in description-file syntax, then the statistics as
//! `#` comments — so the whole output is itself a description file `-create` accepts.

use super::{engine, log_settings};
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
    Ok(())
}
