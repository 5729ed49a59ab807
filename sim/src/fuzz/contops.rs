//! Delta files of continuous operations.

use std::path::Path;

use engine::delta::header::DeltaHeader;
use engine::delta::scan_delta;
use engine::vfs::MemVfs;

/// The bytes as a delta file: its header alone through `DeltaHeader::decode` (a
/// decoded header must re-encode to the same bytes' meaning), then the whole file
/// through `scan_delta`, which must scan or refuse it.
pub fn delta_file(data: &[u8]) {
    if let Ok(h) = DeltaHeader::decode(data) {
        let again = DeltaHeader::decode(&h.encode());
        assert_eq!(again.ok(), Some(h), "delta header encode→decode round trip");
    }
    let vfs = MemVfs::new();
    vfs.insert("/d/f.^^^", data.to_vec());
    let _ = scan_delta(&vfs, Path::new("/d/f.^^^"));
}
