//! `-check FILE`: the structure check (every page, key and record). A sound file gets
//! a one-line summary; otherwise each problem is printed and the command fails with
//! status 2. The text is the library's (`engine::admin::text::check`).

use super::engine;
use crate::report::Report;
use engine::admin::text::{self, Named};
use engine::Result;
use std::path::Path;

pub fn run(file: &Path, out: &mut Report) -> Result<()> {
    text::check(&mut engine()?, &Named::same(file), out)
}
