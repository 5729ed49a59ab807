//! `-stat FILE`: the definition in description-file syntax, then the statistics (the
//! file format first: 6.x shadow paging or 5.x legacy pre-imaging) as `#` comments —
//! so the whole output is itself a description file `-create` accepts.
//! With archival logging on (`KEEL_BLOG_ROOT`), a last comment names the file's
//! archival log and the FCR sequences it covers. The text is the library's
//! (`engine::admin::text::stat`).

use super::{data_path, engine};
use crate::report::Report;
use engine::admin::text::{self, Named};
use engine::Result;
use std::path::Path;

pub fn run(file: &Path, out: &mut Report) -> Result<()> {
    let named = Named {
        shown: file.to_path_buf(),
        path: data_path(file)?,
    };
    text::stat(&mut engine()?, &named, out)
}
