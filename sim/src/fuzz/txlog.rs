//! The transaction log: whole segments and single entries.

use std::path::Path;

use engine::txlog::entry::Entry;
use engine::txlog::{read_log, RecordKind};
use engine::vfs::MemVfs;

/// The bytes as the first segment of a log directory: `read_log` must scan (or
/// refuse) it, and every record it returns must decode (or be refused) as an entry.
pub fn log_segment(data: &[u8]) {
    let vfs = MemVfs::new();
    vfs.insert("/log/00000001.LOG", data.to_vec());
    let Ok(scan) = read_log(&vfs, Path::new("/log")) else {
        return;
    };
    for r in &scan.records {
        let _ = Entry::decode(r.lsn, r.kind, &r.payload);
    }
}

/// First byte the record kind, the rest its payload: `Entry::decode`, and on success
/// the entry must re-encode to a kind and payload that decode to the same entry.
pub fn log_entry(data: &[u8]) {
    let Some((&code, payload)) = data.split_first() else {
        return;
    };
    let Some(kind) = RecordKind::new(code) else {
        return;
    };
    if let Ok(e) = Entry::decode(1, kind, payload) {
        let (k, p) = e.encode();
        let again = Entry::decode(1, k, &p);
        assert_eq!(
            again.as_ref().ok(),
            Some(&e),
            "entry encode→decode round trip"
        );
    }
}
