//! Where a data file's delta lives: beside it, with the extension replaced by `^^^`
//! (Btrieve's convention), so a backup program and every process opening the data
//! file find it without any other record of continuous operations.

use crate::status::{Error, Result, Status};
use crate::vfs::parent_dir;
use std::path::{Path, PathBuf};

/// The extension of every delta file.
pub const DELTA_EXTENSION: &str = "^^^";

/// The delta path of the data file at `data_path`: `DIR/NAME.EXT` → `DIR/NAME.^^^`, and
/// `DIR/NAME` (no extension) → `DIR/NAME.^^^`. Only the last extension is replaced
/// (`A.TAR.GZ` → `A.TAR.^^^`). A path with no file name, or whose extension already is
/// `^^^` (the data file would be its own delta), is refused with status 11.
pub fn delta_path(data_path: &Path) -> Result<PathBuf> {
    if data_path.file_name().is_none() {
        return Err(Error::new(
            Status::InvalidFileName,
            format!(
                "{} names no file, so it has no delta file",
                data_path.display()
            ),
        ));
    }
    if data_path.extension().is_some_and(|e| e == DELTA_EXTENSION) {
        return Err(Error::new(
            Status::InvalidFileName,
            format!(
                "{} has the extension .{DELTA_EXTENSION} that delta files use; a data file \
                 with it would be its own delta — rename it",
                data_path.display()
            ),
        ));
    }
    Ok(data_path.with_extension(DELTA_EXTENSION))
}

/// Where a delta writer makes the synced copy of a delta it continues
/// (`NAME.^^^` → `NAME.^^~`), before renaming it over the delta. Nothing reads that
/// name; a copy a crash left there is truncated by the next one.
pub fn delta_temp_path(delta: &Path) -> PathBuf {
    delta.with_extension("^^~")
}

/// Whether two *different* data paths would map to one delta file: same directory, same
/// name apart from the extension (`INVOICE.HDR` and `INVOICE.DET`, or `INVOICE`).
/// `startbu` refuses such a pair, since both files cannot be in continuous operations at
/// once. Names are compared ignoring ASCII case, because on a case-insensitive
/// filesystem `INVOICE.^^^` and `invoice.^^^` are one file (erring towards refusing on
/// a case-sensitive one). Directories are compared as given: pass canonical paths (the
/// engine has no filesystem of its own to resolve links or `..`). Paths that have no
/// delta ([`delta_path`] fails) share none.
pub fn shares_delta(a: &Path, b: &Path) -> bool {
    let (Ok(da), Ok(db)) = (delta_path(a), delta_path(b)) else {
        return false;
    };
    let same_name = match (da.file_name(), db.file_name()) {
        (Some(x), Some(y)) => x
            .as_encoded_bytes()
            .eq_ignore_ascii_case(y.as_encoded_bytes()),
        _ => false,
    };
    a != b && same_name && parent_dir(&da) == parent_dir(&db)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dp(s: &str) -> PathBuf {
        delta_path(Path::new(s)).unwrap()
    }

    #[test]
    fn delta_path_replaces_the_last_extension() {
        assert_eq!(dp("/data/INVOICE.HDR"), Path::new("/data/INVOICE.^^^"));
        assert_eq!(dp("INVOICE.DET"), Path::new("INVOICE.^^^"));
        assert_eq!(dp("/data/INVOICE"), Path::new("/data/INVOICE.^^^"));
        assert_eq!(dp("/data/a.tar.gz"), Path::new("/data/a.tar.^^^"));
        assert_eq!(dp("/data/NAME."), Path::new("/data/NAME.^^^"));
        assert_eq!(dp("/data/.hidden"), Path::new("/data/.hidden.^^^"));
        assert_eq!(dp("rel/dir/f.btr"), Path::new("rel/dir/f.^^^"));
    }

    #[test]
    fn delta_path_refuses_what_has_no_delta() {
        for bad in ["/", "..", "/data/OLD.^^^"] {
            let e = delta_path(Path::new(bad)).unwrap_err();
            assert_eq!(e.status, Status::InvalidFileName, "{bad}");
        }
    }

    #[test]
    fn which_pairs_share_a_delta() {
        let s = |a: &str, b: &str| shares_delta(Path::new(a), Path::new(b));
        assert!(s("/d/INVOICE.HDR", "/d/INVOICE.DET"));
        assert!(s("/d/INVOICE.DET", "/d/INVOICE.HDR"));
        assert!(s("/d/INVOICE", "/d/INVOICE.HDR"));
        assert!(
            s("INVOICE.HDR", "./INVOICE.DET"),
            "both in the current directory"
        );
        assert!(
            s("/d/INVOICE.HDR", "/d/invoice.det"),
            "case-insensitive names"
        );
        assert!(
            !s("/d/INVOICE.HDR", "/e/INVOICE.DET"),
            "different directories"
        );
        assert!(!s("/d/INVOICE.HDR", "/d/INVOICES.HDR"));
        assert!(!s("/d/INVOICE.HDR", "/d/INVOICE.HDR"), "one file, not two");
        assert!(!s("/d/a.tar.gz", "/d/a.gz"));
        assert!(!s("/d/X.^^^", "/d/X.DAT"), "no delta for a .^^^ path");
    }
}
