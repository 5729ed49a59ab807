//! `-recover`'s tests: every readable record of damaged files, and nothing else.

use super::*;
use crate::clock::ManualClock;
use crate::file::spec::{KeySpec, KeyType, Segment};
use crate::vfs::testing::TestVfs;
use crate::{Config, Engine, OpenMode as EngineMode};
use proptest::prelude::*;
use std::collections::BTreeSet;
use std::sync::Arc;

const PS: usize = 1024;

fn spec() -> FileSpec {
    FileSpec {
        record_length: 40,
        page_size: PS as u32,
        keys: vec![
            KeySpec {
                segments: vec![Segment {
                    offset: 0,
                    length: 4,
                    key_type: KeyType::Unsigned,
                    descending: false,
                }],
                duplicates: false,
                modifiable: false,
            },
            KeySpec {
                segments: vec![Segment {
                    offset: 4,
                    length: 8,
                    key_type: KeyType::String,
                    descending: false,
                }],
                duplicates: true,
                modifiable: true,
            },
        ],
        format: crate::page::spec::FileFormat::V6,
        compact_leaves: false,
        slot_serial_bytes: 8,
    }
}

fn record(id: u32) -> Vec<u8> {
    let mut r = vec![b'.'; 40];
    r[..4].copy_from_slice(&id.to_le_bytes());
    r[4..12].copy_from_slice(format!("g{:07}", id % 13).as_bytes());
    r[12..20].copy_from_slice(format!("{id:08}").as_bytes());
    r
}

/// A file built over several system transactions (so stale page copies exist):
/// insert 0..600, delete every third, update some. Returns the live record set.
fn build(vfs: &TestVfs, path: &Path) -> BTreeSet<Vec<u8>> {
    build_n(vfs, path, 600)
}

/// [`build`] with `n` records inserted.
fn build_n(vfs: &TestVfs, path: &Path, n: u32) -> BTreeSet<Vec<u8>> {
    let mut e = Engine::new(
        Arc::new(vfs.clone()),
        Arc::new(ManualClock::new()),
        Config {
            operation_bundle_limit: 97,
            ..Config::default()
        },
    );
    e.create(path, &spec()).unwrap();
    let h = e.open(path, EngineMode::Normal).unwrap();
    let mut live = BTreeSet::new();
    for id in 0..n {
        e.insert(h, &record(id)).unwrap();
        live.insert(record(id));
    }
    e.flush().unwrap();
    for id in (0..n).step_by(3) {
        e.get(h, crate::GetOp::Equal, 0, &id.to_le_bytes()).unwrap();
        e.delete(h).unwrap();
        live.remove(&record(id));
    }
    for id in (1..n).step_by(7) {
        if e.get(h, crate::GetOp::Equal, 0, &id.to_le_bytes()).is_ok() {
            let mut r = record(id);
            r[30] = b'U';
            e.update(h, &r).unwrap();
            live.remove(&record(id));
            live.insert(r);
        }
    }
    e.close(h).unwrap();
    live
}

fn pages(vfs: &TestVfs, path: &Path) -> Vec<u8> {
    vfs.contents(path).unwrap()
}

/// Physical page numbers of the live (newest per logical page) data pages, with
/// their record sets.
fn live_data_pages(bytes: &[u8]) -> Vec<(usize, BTreeSet<Vec<u8>>)> {
    let layout = Layout::new(PS, 40).unwrap();
    let mut newest: BTreeMap<u32, (u64, usize)> = BTreeMap::new();
    for (p, b) in bytes.chunks_exact(PS).enumerate().skip(2) {
        if let Some(h) = page::header(b).filter(|_| page::checksum_ok(b)) {
            if matches!(
                h.page_type,
                PageType::Data | PageType::Leaf | PageType::Internal
            ) && newest.get(&h.logical).is_none_or(|&(s, _)| h.seq > s)
            {
                newest.insert(h.logical, (h.seq, p));
            }
        }
    }
    newest
        .values()
        .filter(|&&(_, p)| page::type_of(&bytes[p * PS..]) == Some(PageType::Data))
        .map(|&(_, p)| {
            let mut out = Vec::new();
            take_records(&layout, &bytes[p * PS..(p + 1) * PS], &mut out);
            (p, out.into_iter().collect())
        })
        .collect()
}

fn flip(vfs: &TestVfs, path: &Path, at: usize) {
    let mut b = pages(vfs, path);
    b[at] ^= 0x5a;
    vfs.put(path, b);
}

/// A recovery without its records, for assertion messages.
fn brief(r: &Recovery) -> String {
    format!(
        "{:?}: {} records from {} data pages; skipped {:?}; notes {:?}",
        r.method,
        r.records.len(),
        r.data_pages,
        r.skipped,
        r.notes
    )
}

fn set(r: &Recovery) -> BTreeSet<Vec<u8>> {
    let s: BTreeSet<_> = r.records.iter().cloned().collect();
    assert_eq!(s.len(), r.records.len(), "a record was recovered twice");
    s
}

#[test]
fn sound_file_gives_every_record() {
    let vfs = TestVfs::new();
    let path = Path::new("/d/f.btr");
    let live = build(&vfs, path);
    let r = recover(&vfs, path).unwrap();
    assert_eq!(r.method, Method::Opened);
    assert_eq!(r.spec, spec());
    assert!(r.skipped.is_empty() && r.notes.is_empty(), "{}", brief(&r));
    assert_eq!(set(&r), live);
}

#[test]
fn damaged_data_page_is_skipped_when_the_file_opens() {
    let vfs = TestVfs::new();
    let path = Path::new("/d/f.btr");
    let live = build(&vfs, path);
    let data = live_data_pages(&pages(&vfs, path));
    let (victim, lost) = &data[data.len() / 2];
    assert!(!lost.is_empty());
    flip(&vfs, path, victim * PS + PS / 2);
    let r = recover(&vfs, path).unwrap();
    assert_eq!(r.method, Method::Opened);
    assert_eq!(r.skipped.len(), 1, "{}", brief(&r));
    assert!(r.skipped[0].why.contains("checksum"), "{}", brief(&r));
    let want: BTreeSet<_> = live.difference(lost).cloned().collect();
    assert_eq!(set(&r), want);
}

#[test]
fn damaged_control_records_and_data_page_are_scanned() {
    let vfs = TestVfs::new();
    let path = Path::new("/d/f.btr");
    let live = build(&vfs, path);
    let bytes = pages(&vfs, path);
    let data = live_data_pages(&bytes);
    let (victim, lost) = &data[1];
    // Both FCR slots: a byte in the unused tail (fields still decode), so the file
    // no longer opens but the geometry is still known.
    flip(&vfs, path, PS - 1);
    flip(&vfs, path, 2 * PS - 1);
    flip(&vfs, path, victim * PS + PS - 3);
    let r = recover(&vfs, path).unwrap();
    assert!(
        matches!(&r.method, Method::Scanned { geometry_from } if geometry_from.contains("checksum")),
        "{}",
        brief(&r)
    );
    assert!(
        r.notes[0].contains("does not open normally"),
        "{}",
        brief(&r)
    );
    assert_eq!(r.spec, spec());
    assert!(
        r.skipped.iter().any(|s| s.page == *victim as u32),
        "{}",
        brief(&r)
    );
    // The damaged page's older copies (if any) may come back; every other record is
    // exactly the live set: deleted and superseded records stay gone.
    let got = set(&r);
    let want: BTreeSet<_> = live.difference(lost).cloned().collect();
    assert!(
        got.is_superset(&want),
        "missing {:?}",
        want.difference(&got)
    );
    let extra: Vec<_> = got.difference(&live).collect();
    if extra.is_empty() {
        assert!(got.len() < live.len());
    } else {
        assert!(r.notes.iter().any(|n| n.contains("stale")), "{}", brief(&r));
    }
}

#[test]
fn scan_keeps_only_the_newest_copy_of_each_page() {
    let vfs = TestVfs::new();
    let path = Path::new("/d/f.btr");
    let live = build(&vfs, path);
    flip(&vfs, path, PS - 1);
    flip(&vfs, path, 2 * PS - 1);
    let r = recover(&vfs, path).unwrap();
    assert!(matches!(r.method, Method::Scanned { .. }));
    assert_eq!(set(&r), live);
    assert!(
        !r.notes.iter().any(|n| n.contains("used count")),
        "{}",
        brief(&r)
    );
}

/// PAT leaf `i` carries `i` in its header's logical field, as logical page `i` does,
/// and nearly every commit rewrites it, so its sequence is the newest: a scan that
/// took it for a copy of logical page `i` would drop that page's records.
#[test]
fn a_scan_does_not_take_pat_pages_for_the_logical_pages_they_share_a_number_with() {
    let vfs = TestVfs::new();
    let path = Path::new("/d/f.btr");
    let live = build_n(&vfs, path, 3000);
    let bytes = pages(&vfs, path);
    // The header `logical` fields of the intact pages of one type.
    let numbers = |t: PageType| -> BTreeSet<u32> {
        bytes
            .chunks_exact(PS)
            .filter(|b| page::checksum_ok(b))
            .filter_map(page::header)
            .filter(|h| h.page_type == t)
            .map(|h| h.logical)
            .collect()
    };
    let (pat_leaves, data_logical) = (numbers(PageType::Pat), numbers(PageType::Data));
    assert!(
        pat_leaves.iter().any(|l| data_logical.contains(l)),
        "the test needs a PAT leaf numbered as a data page: PAT {pat_leaves:?}"
    );
    flip(&vfs, path, PS - 1);
    flip(&vfs, path, 2 * PS - 1);
    let r = recover(&vfs, path).unwrap();
    assert!(matches!(r.method, Method::Scanned { .. }), "{}", brief(&r));
    assert_eq!(set(&r), live, "{}", brief(&r));
}

/// A data page whose stored used count disagrees with its slot bitmap (intact
/// checksum: written so) gives its records and a note that the record length may be
/// wrong; the other pages give none.
#[test]
fn a_used_count_that_disagrees_with_the_bitmap_is_noted() {
    let vfs = TestVfs::new();
    let path = Path::new("/d/f.btr");
    let live = build(&vfs, path);
    let mut bytes = pages(&vfs, path);
    let (victim, _) = live_data_pages(&bytes)[0].clone();
    let page = &mut bytes[victim * PS..(victim + 1) * PS];
    let h = page::header(page).unwrap();
    let used = crate::page::bytes::get_u16(page, crate::page::data::USED_AT);
    crate::page::bytes::put_u16(page, crate::page::data::USED_AT, used + 1);
    page::seal(page, h.physical, h.logical, h.seq);
    vfs.put(path, bytes);
    flip(&vfs, path, PS - 1);
    flip(&vfs, path, 2 * PS - 1);
    let r = recover(&vfs, path).unwrap();
    assert_eq!(set(&r), live, "{}", brief(&r));
    let noted: Vec<_> = r
        .notes
        .iter()
        .filter(|n| n.contains("used count"))
        .collect();
    assert_eq!(noted.len(), 1, "{}", brief(&r));
    assert!(
        noted[0].contains(&format!("(physical {victim})")),
        "{}",
        brief(&r)
    );
}

#[test]
fn one_intact_control_record_wins_over_a_damaged_one() {
    let vfs = TestVfs::new();
    let path = Path::new("/d/f.btr");
    let live = build(&vfs, path);
    // Damage the live PAT page so the file does not open; the FCRs stay intact.
    let mut b = pages(&vfs, path);
    let live_fcr = (0..2)
        .filter_map(|s| Fcr::decode(&b[s * PS..(s + 1) * PS]).ok())
        .max_by_key(|f| f.seq)
        .unwrap();
    let pat = live_fcr.pat[0].physical as usize;
    b[pat * PS + 100] ^= 1;
    vfs.put(path, b);
    let r = recover(&vfs, path).unwrap();
    assert!(
        matches!(&r.method, Method::Scanned { geometry_from } if geometry_from.contains("intact")),
        "{}",
        brief(&r)
    );
    assert_eq!(set(&r), live);
}

#[test]
fn no_control_record_is_30_or_2() {
    let vfs = TestVfs::new();
    let path = Path::new("/d/f.btr");
    vfs.put(path, vec![]);
    assert_eq!(
        recover(&vfs, path).unwrap_err().status,
        Status::NotABtrieveFile
    );
    vfs.put(
        path,
        (0..50_000u32).map(|i| ((i * 7919) >> 3) as u8).collect(),
    );
    assert_eq!(
        recover(&vfs, path).unwrap_err().status,
        Status::NotABtrieveFile
    );
    build(&vfs, Path::new("/d/g.btr"));
    let mut b = pages(&vfs, Path::new("/d/g.btr"));
    for slot in 0..2 {
        b[slot * PS + 44] = 0; // record length 0: does not validate
        b[slot * PS + 45] = 0;
    }
    vfs.put(path, b);
    let e = recover(&vfs, path).unwrap_err();
    assert_eq!(e.status, Status::IoError, "{e}");
    assert!(e
        .context
        .contains("page size and record length are unknown"));
    // The magic in slot 1 alone (slot 0 all zeros) still says "a data file, damaged".
    let mut b = pages(&vfs, Path::new("/d/g.btr"));
    b[..PS].fill(0);
    b[PS + 44] = 0;
    b[PS + 45] = 0;
    vfs.put(path, b);
    let e = recover(&vfs, path).unwrap_err();
    assert_eq!(e.status, Status::IoError, "{e}");
    assert_eq!(
        recover(&vfs, Path::new("/d/missing")).unwrap_err().status,
        Status::FileNotFound
    );
}

/// The system-transaction sequence in each control record slot's header.
fn fcr_seqs(bytes: &[u8]) -> [u64; 2] {
    [0, 1].map(|slot| page::header(&bytes[slot * PS..]).unwrap().seq)
}

/// Damage every PAT page: the file no longer opens, its control records stay intact.
fn damage_pat(vfs: &TestVfs, path: &Path) {
    let bytes = pages(vfs, path);
    for (p, b) in bytes.chunks_exact(PS).enumerate() {
        if page::header(b).is_some_and(|h| h.page_type == PageType::Pat) {
            flip(vfs, path, p * PS + PS - 1);
        }
    }
}

/// With both control records intact, a scan takes the page size and record length
/// from the newer one, and its sequence is the one the pages are compared with.
#[test]
fn a_scan_takes_the_newer_of_two_intact_control_records() {
    let vfs = TestVfs::new();
    let path = Path::new("/d/f.btr");
    let live = build(&vfs, path);
    let seqs = fcr_seqs(&pages(&vfs, path));
    assert_ne!(seqs[0], seqs[1]);
    let newer = usize::from(seqs[1] > seqs[0]);
    damage_pat(&vfs, path);
    let r = recover(&vfs, path).unwrap();
    let want = format!("control record slot {newer} (intact)");
    assert!(
        matches!(&r.method, Method::Scanned { geometry_from } if *geometry_from == want),
        "{}",
        brief(&r)
    );
    assert_eq!(set(&r), live);
    assert!(
        !r.notes.iter().any(|n| n.contains("newer than")),
        "{}",
        brief(&r)
    );
}

/// A page written by a system transaction newer than the control record used (one
/// whose control record never reached the disk) is taken, and said.
#[test]
fn pages_newer_than_the_control_record_are_noted() {
    let vfs = TestVfs::new();
    let path = Path::new("/d/f.btr");
    let live = build(&vfs, path);
    let mut bytes = pages(&vfs, path);
    let newest = fcr_seqs(&bytes).into_iter().max().unwrap();
    let (victim, _) = live_data_pages(&bytes)[0].clone();
    let page = &mut bytes[victim * PS..(victim + 1) * PS];
    let h = page::header(page).unwrap();
    page::seal(page, h.physical, h.logical, newest + 1);
    vfs.put(path, bytes);
    damage_pat(&vfs, path);
    let r = recover(&vfs, path).unwrap();
    assert_eq!(set(&r), live);
    let want = format!("pages of sequence {} are newer", newest + 1);
    assert!(r.notes.iter().any(|n| n.contains(&want)), "{}", brief(&r));
}

/// A control record whose checksum holds but whose header names the other slot (a
/// write that landed in the wrong place) is not intact: the geometry then comes from
/// a slot that merely decodes, and says so.
#[test]
fn a_control_record_in_the_other_slot_is_not_intact() {
    let vfs = TestVfs::new();
    let path = Path::new("/d/f.btr");
    build(&vfs, path);
    let mut bytes = pages(&vfs, path);
    let seqs = fcr_seqs(&bytes);
    let (newer, older) = if seqs[1] > seqs[0] { (1, 0) } else { (0, 1) };
    let copy = bytes[newer * PS..(newer + 1) * PS].to_vec();
    bytes[older * PS..(older + 1) * PS].copy_from_slice(&copy);
    bytes[newer * PS + PS - 1] ^= 0x5a;
    vfs.put(path, bytes);
    let r = recover(&vfs, path).unwrap();
    assert!(
        matches!(&r.method, Method::Scanned { geometry_from } if geometry_from.contains("fails its checksum")),
        "{}",
        brief(&r)
    );
}

/// A file cut right after its control records: the last slot, ending exactly at the
/// end of the file, is read like the other.
#[test]
fn a_file_of_only_its_control_records_gives_its_geometry() {
    let vfs = TestVfs::new();
    let path = Path::new("/d/f.btr");
    build(&vfs, path);
    let mut bytes = pages(&vfs, path);
    bytes.truncate(2 * PS);
    bytes[..PS].fill(0);
    vfs.put(path, bytes);
    let r = recover(&vfs, path).unwrap();
    assert!(
        matches!(&r.method, Method::Scanned { geometry_from } if geometry_from.starts_with("control record slot 1")),
        "{}",
        brief(&r)
    );
    assert_eq!(r.spec, spec());
    assert!(r.records.is_empty());
}

#[test]
fn truncated_file_loses_only_the_pages_cut_off() {
    let vfs = TestVfs::new();
    let path = Path::new("/d/f.btr");
    let live = build(&vfs, path);
    let mut b = pages(&vfs, path);
    let data = live_data_pages(&b);
    let (victim, _) = data[data.len() / 2];
    b.truncate(victim * PS + PS / 2);
    vfs.put(path, b);
    let r = recover(&vfs, path).unwrap();
    assert!(
        !r.skipped.is_empty() || !r.notes.is_empty(),
        "{}",
        brief(&r)
    );
    assert!(!r.records.is_empty() && r.records.len() < live.len());
    if r.method == Method::Opened {
        assert!(set(&r).is_subset(&live));
    } else {
        assert!(
            r.notes.iter().any(|n| n.contains("partial page")),
            "{}",
            brief(&r)
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    /// Any damage — flipped bytes anywhere, a cut — gives a recovery or a status,
    /// never a panic; an intact page's records are never invented.
    #[test]
    fn never_panics_on_damage(
        flips in proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>()), 0..24),
        cut in proptest::option::of(any::<proptest::sample::Index>()),
    ) {
        let vfs = TestVfs::new();
        let path = Path::new("/d/f.btr");
        build(&vfs, path);
        let mut b = pages(&vfs, path);
        for (at, x) in &flips {
            let i = at.index(b.len());
            b[i] ^= x;
        }
        if let Some(c) = cut {
            b.truncate(c.index(b.len()));
        }
        vfs.put(path, b);
        match recover(&vfs, path) {
            Ok(r) => {
                for rec in &r.records {
                    prop_assert_eq!(rec.len(), usize::from(r.spec.record_length));
                }
            }
            Err(e) => prop_assert!(matches!(e.status, Status::IoError | Status::NotABtrieveFile), "{}", e),
        }
    }
}
