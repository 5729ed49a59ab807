//! `check`'s tests: a file made inconsistent through the pager — every page still
//! passes its checksum, so only the structure check can see what is wrong — is
//! reported with the problem named, and a sound file is clean.

use super::*;
use crate::clock::ManualClock;
use crate::page::data::Layout;
use crate::page::spec::FileSpec;
use crate::vfs::testing::TestVfs;
use crate::{Config, Engine, OpenMode as EngineMode};
use std::sync::Arc;

const PS: u32 = 1024;
const RL: u16 = 16;

fn record(id: u32) -> Vec<u8> {
    let mut r = vec![b'.'; RL as usize];
    r[..4].copy_from_slice(&id.to_le_bytes());
    r
}

/// A file of 200 records over several system transactions, some deleted.
fn build(vfs: &TestVfs, path: &Path) {
    let mut e = Engine::new(
        Arc::new(vfs.clone()),
        Arc::new(ManualClock::new()),
        Config {
            operation_bundle_limit: 31,
            ..Config::default()
        },
    );
    e.create(path, &FileSpec::unique_u32_key(RL, PS)).unwrap();
    let h = e.open(path, EngineMode::Normal).unwrap();
    for id in 0..200u32 {
        e.insert(h, &record(id)).unwrap();
    }
    for id in (0..200u32).step_by(5) {
        e.get(h, crate::GetOp::Equal, 0, &id.to_le_bytes()).unwrap();
        e.delete(h).unwrap();
    }
    e.close(h).unwrap();
}

fn cfg() -> PagerConfig {
    PagerConfig::plain(64)
}

/// Open the built file for writing, change the first page of type `ty[0]` with `edit`
/// (data slot layout, page size, page image) and commit it: a consistent page image
/// that breaks the file's structure. Returns the check of the result, read back from
/// disk.
fn damaged_page(
    ty: &'static [PageType],
    edit: impl FnOnce(&Layout, usize, &mut Vec<u8>),
) -> CheckReport {
    let vfs = TestVfs::new();
    let path = Path::new("/d/f.btr");
    build(&vfs, path);
    let mut df = DataFile::open(&vfs, path, false, cfg()).unwrap();
    let layout = df.layout;
    let l = df
        .pager
        .logical_in_use()
        .into_iter()
        .find(|&l| df.pager.page_type(l).unwrap() == Some(ty[0]))
        .unwrap();
    let mut page = df.pager.read(l, ty).unwrap().to_vec();
    edit(&layout, PS as usize, &mut page);
    df.pager.begin_op().unwrap();
    df.pager.write(l, page);
    df.pager.end_op(true);
    df.pager.commit().unwrap();
    drop(df);
    check_file(&vfs, path).unwrap()
}

fn damaged(edit: impl FnOnce(&Layout, &mut Vec<u8>)) -> CheckReport {
    damaged_page(&[PageType::Data], |layout, _, page| edit(layout, page))
}

/// Change a leaf's entries with `edit` (entry length 4 + serial).
fn damaged_leaf(edit: impl FnOnce(&mut Vec<Vec<u8>>)) -> CheckReport {
    damaged_page(&[PageType::Leaf], |_, ps, page| {
        let entry_len = 4 + crate::file::key::SERIAL_LEN;
        let mut node = crate::page::node::Node::decode(page, entry_len).unwrap();
        edit(&mut node.keys);
        // As the B-tree writes a node: the pager stamps the header at the commit.
        *page = node.encode(ps, entry_len, false);
    })
}

/// Change a leaf's record addresses with `edit` (each `RecAddr` packed).
fn damaged_leaf_addrs(edit: impl FnOnce(&mut Vec<u64>)) -> CheckReport {
    damaged_page(&[PageType::Leaf], |_, ps, page| {
        let entry_len = 4 + crate::file::key::SERIAL_LEN;
        let mut node = crate::page::node::Node::decode(page, entry_len).unwrap();
        edit(&mut node.vals);
        *page = node.encode(ps, entry_len, false);
    })
}

fn first_used(layout: &Layout, page: &[u8]) -> usize {
    (0..layout.slots)
        .find(|&s| layout.is_used(page, s))
        .unwrap()
}

fn has(r: &CheckReport, what: &str) -> bool {
    r.problems.iter().any(|p| p.contains(what))
}

#[test]
fn a_sound_file_is_clean_and_counted() {
    let vfs = TestVfs::new();
    let path = Path::new("/d/f.btr");
    build(&vfs, path);
    let r = check_file(&vfs, path).unwrap();
    assert!(r.is_clean(), "{:?}", r.problems);
    assert_eq!(r.records, 160);
    assert!(r.data_pages > 1 && r.index_pages > 1, "{r:?}");
}

#[test]
fn a_record_changed_under_its_key_is_reported() {
    let r = damaged(|layout, page| {
        let s = first_used(layout, page);
        let mut rec = layout.record(page, s).to_vec();
        rec[0] ^= 0x40; // the key's first byte: the index entry no longer matches
        layout.replace(page, s, &rec);
    });
    assert!(has(&r, "does not match the record"), "{:?}", r.problems);
}

#[test]
fn a_record_gone_from_its_page_is_reported() {
    let r = damaged(|layout, page| {
        let s = first_used(layout, page);
        layout.clear(page, s);
    });
    assert!(has(&r, "which holds no record"), "{:?}", r.problems);
    assert!(
        has(&r, "control record says 160 records"),
        "{:?}",
        r.problems
    );
}

#[test]
fn a_serial_used_twice_is_reported() {
    let r = damaged(|layout, page| {
        let mut used = (0..layout.slots).filter(|&s| layout.is_used(page, s));
        let (a, b) = (used.next().unwrap(), used.next().unwrap());
        let (serial, rec) = (layout.serial(page, a), layout.record(page, b).to_vec());
        layout.clear(page, b);
        assert!(layout.put(page, b, serial, &rec));
    });
    assert!(has(&r, "used twice"), "{:?}", r.problems);
}

#[test]
fn a_wrong_used_count_is_reported() {
    let r = damaged(|layout, page| {
        let s = (0..layout.slots)
            .find(|&s| !layout.is_used(page, s))
            .unwrap();
        let used = layout.used(page);
        assert!(layout.put(page, s, 1 << 40, &record(7777)));
        // The count as it was: the bitmap now says one record more.
        crate::page::bytes::put_u16(page, crate::page::data::USED_AT, used as u16);
    });
    assert!(has(&r, "used count"), "{:?}", r.problems);
    // The extra record has no index entry and a serial beyond the file's next one.
    assert!(has(&r, ">= next serial"), "{:?}", r.problems);
    assert!(has(&r, "entries for 161 records"), "{:?}", r.problems);
}

#[test]
fn leaf_entries_out_of_order_are_reported() {
    let r = damaged_leaf(|keys| keys.swap(0, 1));
    assert!(has(&r, "entries out of order"), "{:?}", r.problems);
}

#[test]
fn a_duplicate_in_a_unique_key_is_reported() {
    // Entry 1 takes entry 0's key value (its serial stays, so the order holds).
    let r = damaged_leaf(|keys| {
        let first = keys[0][..4].to_vec();
        keys[1][..4].copy_from_slice(&first);
    });
    assert!(
        has(&r, "is unique but holds a duplicate value"),
        "{:?}",
        r.problems
    );
    assert!(has(&r, "does not match the record"), "{:?}", r.problems);
}

#[test]
fn an_entry_pointing_at_another_entrys_record_is_reported() {
    let r = damaged_leaf_addrs(|vals| vals[1] = vals[0]);
    assert!(has(&r, "twice"), "{:?}", r.problems);
    assert!(has(&r, "does not match the record"), "{:?}", r.problems);
}

#[test]
fn an_entry_pointing_past_a_pages_slots_is_reported() {
    // A slot number no data page has: it must not be taken for a slot of the next
    // data page (the check finds records by page and slot).
    let r = damaged_leaf_addrs(|vals| {
        let addr = RecAddr::unpack(vals[0]);
        vals[0] = RecAddr {
            page: addr.page,
            slot: u16::MAX,
        }
        .pack();
    });
    assert!(has(&r, "which holds no record"), "{:?}", r.problems);
    // Every other entry still finds its record.
    let no_record = r
        .problems
        .iter()
        .filter(|p| p.contains("which holds no record"));
    assert_eq!(no_record.count(), 1, "{:?}", r.problems);
}

/// A key entry finds its record alike with the lookup table (dense data pages) and
/// without it (a sparse file's, whose pages sit too far apart for one).
#[test]
fn data_pages_are_found_with_and_without_the_table() {
    for far in [10u32, 1 << 30] {
        let mut d = DataPages::new(3);
        let image = PageBuf::new(vec![0u8; 16]);
        d.push(2, image.clone())[1] = 0;
        d.push(far, image)[2] = 1;
        d.index();
        assert_eq!(d.table.is_empty(), far > 1000);
        let at = |page, slot| d.find(RecAddr { page, slot }).map(|(i, _)| i);
        assert_eq!(at(2, 1), Some(0));
        assert_eq!(at(2, 0), None, "a free slot");
        assert_eq!(at(far, 2), Some(1));
        assert_eq!(at(far, 3), None, "past the page's slots");
        assert_eq!(at(3, 1), None, "not a data page");
        assert_eq!(at(u32::MAX, 0), None);
    }
}

/// A serial seen twice is found alike with the bits (serials below the next one, not
/// many more than the records) and in the set (past the next serial, or too many).
#[test]
fn serials_seen_twice_are_found_by_bits_and_set() {
    for (next, records) in [(100u64, 3usize), (u64::MAX, 3)] {
        let mut s = Serials::new(next, records);
        assert_eq!(s.bits.is_empty(), next == u64::MAX);
        for serial in [0, 63, 64, 99, 100, 5000, u64::MAX] {
            assert!(s.insert(serial), "{serial} is new");
            assert!(!s.insert(serial), "{serial} is seen");
        }
    }
}
