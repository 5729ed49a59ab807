//! Narrow slot serials under churn: a data page takes a record only within `2^(8w)`
//! insertions of its oldest live one, and serials only grow, so a page holding an old
//! record stops taking new ones. The free list must not let such a page hide the pages
//! behind it (each insert meeting it at the head would make a new page): a file of
//! one-byte serials whose records churn around a few that are never deleted stays
//! about as big as the same file with 8-byte serials, and passes `-check`.

mod common;

use common::*;
use engine::file::check::check_file;
use engine::vfs::testing::TestVfs;
use engine::{Config, FileSpec, GetOp, OpenMode};
use std::path::Path;

/// Data-file bytes after the churn, with `width`-byte slot serials.
fn churned(width: u8) -> usize {
    let vfs = TestVfs::new();
    let path = Path::new("/db/churn.btr");
    let mut e = mem_engine(&vfs, Config::default());
    let spec = FileSpec {
        slot_serial_bytes: width,
        ..people_spec(512)
    };
    e.create(path, &spec).unwrap();
    let h = e.open(path, OpenMode::Normal).unwrap();
    let name = |id: u32| format!("n{id}");
    // Ids 0..4 are never deleted: the first data page keeps them for ever.
    for id in 0..4 {
        e.insert(h, &person(id, 0, &name(id))).unwrap();
    }
    // Then 3,000 insertions, each followed (once 60 records live) by the deletion of
    // a live record drawn at random: pages keep some slots free deep in the free list,
    // and the first page's records are soon older than the 256 insertions a one-byte
    // serial spans.
    let mut live: Vec<u32> = Vec::new();
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    for id in 4..3004u32 {
        e.insert(h, &person(id, 1, &name(id))).unwrap();
        live.push(id);
        if live.len() > 60 {
            rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let old = live.swap_remove((rng >> 33) as usize % live.len());
            e.get(h, GetOp::Equal, 0, &old.to_le_bytes()).unwrap();
            e.delete(h).unwrap();
        }
        if id % 500 == 0 {
            e.flush().unwrap();
        }
    }
    e.close(h).unwrap();
    e.flush().unwrap();
    drop(e);
    let report = check_file(&vfs, path).unwrap();
    assert!(
        report.problems.is_empty(),
        "{width}-byte serials: {:?}",
        report.problems
    );
    assert_eq!(report.records, 64, "{width}-byte serials");
    vfs.contents(path).unwrap().len()
}

#[test]
fn a_page_too_old_for_new_serials_does_not_hide_the_pages_behind_it() {
    let wide = churned(8);
    let narrow = churned(1);
    // The narrow file loses what its blocked pages cannot take: the first page's free
    // slots, and those of pages where a record drawn late outlived 256 insertions —
    // 60,928 bytes against 56,320 when this was written. A blocked head left in place
    // hid the pages behind it: 70,656.
    assert!(
        narrow * 100 <= wide * 112,
        "one-byte serials: {narrow} bytes; eight-byte: {wide}"
    );
}

/// The free list's only page cannot take the next serial (it keeps a record 256
/// insertions older; nothing follows it on the list): the insert puts a new page in
/// front, and every record stays readable.
#[test]
fn a_lone_blocked_page_gets_a_new_page_in_front() {
    let vfs = TestVfs::new();
    let path = Path::new("/db/lone.btr");
    let mut e = mem_engine(&vfs, Config::default());
    let spec = FileSpec {
        slot_serial_bytes: 1,
        ..people_spec(512)
    };
    e.create(path, &spec).unwrap();
    let h = e.open(path, OpenMode::Normal).unwrap();
    e.insert(h, &person(0, 0, "first")).unwrap();
    // Each insertion lands on the first page (the list's only one) and is deleted at
    // once: the page keeps record 0 and free slots, and its serials run on.
    for id in 1..300u32 {
        e.insert(h, &person(id, 1, &format!("n{id}"))).unwrap();
        e.get(h, GetOp::Equal, 0, &id.to_le_bytes()).unwrap();
        e.delete(h).unwrap();
    }
    e.insert(h, &person(1000, 1, "last")).unwrap();
    for id in [0u32, 1000] {
        e.get(h, GetOp::Equal, 0, &id.to_le_bytes()).unwrap();
    }
    e.close(h).unwrap();
    e.flush().unwrap();
    let report = check_file(&vfs, path).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.records, 2);
}
