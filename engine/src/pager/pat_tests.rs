//! Tests of the PAT tree: files at the 64 GiB mark and at the logical page limit (on a
//! real sparse file and in memory), damage at every level, crashes at every write of a
//! commit that grows the tree, and a property test of the mapping against a model.

use super::{create, Pager, PagerConfig};
use crate::file::check::check_file;
use crate::file::datafile::DataFile;
use crate::page::fcr::{self, max_logical_pages};
use crate::page::spec::{FileSpec, KeySpec, KeyType, Segment};
use crate::page::{self, pat, PageType, HEADER_LEN};
use crate::status::Status;
use crate::vfs::testing::{Rng, TestVfs};
use crate::vfs::Vfs;
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;

const GIB_64: u64 = 64 << 30;

fn cfg() -> PagerConfig {
    PagerConfig::plain(64)
}

/// A 512-byte-page file whose 24 keys leave its FCR room for two PAT pointers, so the
/// tree is 3 levels deep past 3,200 logical pages and 4 past 128,000.
fn narrow_spec() -> FileSpec {
    let key = KeySpec {
        segments: vec![Segment {
            offset: 0,
            length: 4,
            key_type: KeyType::Unsigned,
            descending: false,
        }],
        duplicates: true,
        modifiable: false,
    };
    FileSpec {
        keys: vec![key; crate::page::spec::MAX_KEYS],
        ..FileSpec::unique_u32_key(8, 512)
    }
}

/// A data page image holding `tag` (the pager does not look inside).
fn image(ps: usize, tag: u64) -> Vec<u8> {
    let mut b = page::blank(ps, PageType::Data);
    b[HEADER_LEN..HEADER_LEN + 8].copy_from_slice(&tag.to_le_bytes());
    b
}

fn tag_of(b: &[u8]) -> u64 {
    u64::from_le_bytes(b[HEADER_LEN..HEADER_LEN + 8].try_into().unwrap())
}

/// Grow a file of `spec` to the 64 GiB mark on `vfs` (pages skipped, not written),
/// insert records there, commit, reopen, read them back and check the file; then
/// take the counter to the limit and see the next allocation refused with 18.
fn at_the_64_gib_mark(vfs: &dyn Vfs, path: &Path, spec: &FileSpec) {
    let ps = u64::from(spec.page_size);
    create(vfs, path, spec).unwrap();
    let mark = u32::try_from(GIB_64 / ps).unwrap();
    let mut df = DataFile::open(vfs, path, false, cfg()).unwrap();
    df.pager.skip_logical_pages_for_test(mark);
    let mut at = Vec::new();
    for i in 0..200u32 {
        let mut rec = vec![0u8; usize::from(spec.record_length)];
        rec[..4].copy_from_slice(&i.to_le_bytes());
        rec[4] = (i % 251) as u8;
        at.push((df.insert(&rec).unwrap().0, rec));
    }
    assert!(df.pager.commit().unwrap());
    let reached = df.pager.state().logical_pages;
    assert!(u64::from(reached) * ps > GIB_64, "{reached} pages of {ps}");
    drop(df);
    // Only what is mapped was written: the file is small however far it reaches.
    let len = vfs
        .open(path, crate::vfs::OpenMode::ReadOnly)
        .unwrap()
        .len()
        .unwrap();
    assert!(len < 4 << 20, "{len} bytes");

    let mut df = DataFile::open(vfs, path, false, cfg()).unwrap();
    assert_eq!(df.pager.state().logical_pages, reached);
    for (a, rec) in &at {
        assert_eq!(&df.fetch(*a).unwrap().1, rec);
        assert!(
            a.page >= mark - 3,
            "record at page {} below the mark",
            a.page
        );
    }
    let depth = df.pager.pat_depth();
    let top = fcr::pat_capacity(spec);
    let per = pat::entries_per_page(ps as usize);
    assert_eq!(Some(depth), pat::depth_for(u64::from(reached), top, per));
    drop(df);
    let r = check_file(vfs, path).unwrap();
    assert!(r.is_clean(), "{:?}", r.problems);
    assert_eq!((r.records, r.pat_depth), (200, depth));

    // At the limit: the last page is handed out, the next is refused with 18.
    let max = max_logical_pages(spec);
    assert_eq!(max, pat::LOGICAL_PAGE_LIMIT);
    let mut p = Pager::open(vfs, path, false, cfg()).unwrap();
    p.skip_logical_pages_for_test(u32::try_from(max - 1).unwrap());
    p.begin_op().unwrap();
    // Holes below are reused first: take the pages left until the counter's.
    let mut last = 0;
    while u64::from(last) != max - 1 {
        last = p.alloc(image(ps as usize, 7)).unwrap();
    }
    let err = p.alloc(image(ps as usize, 8)).unwrap_err();
    assert_eq!(err.status, Status::FileFull);
    assert!(
        err.to_string().contains("logical pages are in use"),
        "{err}"
    );
    p.end_op(true);
    assert!(p.commit().unwrap());
    drop(p);
    let mut p = Pager::open(vfs, path, false, cfg()).unwrap();
    assert_eq!(tag_of(&p.read(last, &[PageType::Data]).unwrap()), 7);
    assert_eq!(u64::from(p.state().logical_pages), max);
    p.begin_op().unwrap();
    // A reopened file has the skipped pages free again; but none past the limit.
    assert!(p.alloc(image(ps as usize, 9)).unwrap() < last);
    p.end_op(false);
}

#[test]
fn a_sparse_file_of_512_byte_pages_reaches_64_gib_on_a_real_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.btr");
    at_the_64_gib_mark(
        &crate::vfs::StdVfs,
        &path,
        &FileSpec::unique_u32_key(8, 512),
    );
}

#[test]
fn every_page_size_reaches_64_gib() {
    for ps in crate::page::spec::PAGE_SIZES {
        let vfs = TestVfs::new();
        at_the_64_gib_mark(
            &vfs,
            Path::new("/big.btr"),
            &FileSpec::unique_u32_key(8, ps),
        );
    }
    let vfs = TestVfs::new();
    at_the_64_gib_mark(&vfs, Path::new("/narrow.btr"), &narrow_spec());
}

/// A file with a 4-level tree, and what each PAT page is.
fn deep_file(vfs: &TestVfs) -> Vec<((u8, u32), pat::PagePtr)> {
    let path = Path::new("/d.btr");
    create(vfs, path, &narrow_spec()).unwrap();
    let mut p = Pager::open(vfs, path, false, cfg()).unwrap();
    p.begin_op().unwrap();
    for i in 0..50 {
        p.alloc(image(512, i)).unwrap();
    }
    p.end_op(true);
    p.skip_logical_pages_for_test(200_000);
    p.begin_op().unwrap();
    for i in 50..100 {
        p.alloc(image(512, i)).unwrap();
    }
    p.end_op(true);
    p.commit().unwrap();
    assert_eq!(p.pat_depth(), 4);
    p.pat_pages().collect()
}

#[test]
fn damage_to_any_pat_page_at_any_level_is_status_2() {
    let vfs = TestVfs::new();
    let pages = deep_file(&vfs);
    let path = Path::new("/d.btr");
    let clean = vfs.contents(path).unwrap();
    let levels: std::collections::BTreeSet<u8> = pages.iter().map(|((l, _), _)| *l).collect();
    assert_eq!(levels.len(), 4);
    for &((level, index), ptr) in &pages {
        let at = ptr.physical as usize * 512;
        let others = pages.iter().filter(|(_, q)| q.physical != ptr.physical);
        let mut damages: Vec<(String, Vec<u8>)> = Vec::new();
        let mut flipped = clean.clone();
        flipped[at + 300] ^= 1;
        damages.push(("flipped byte".into(), flipped));
        let mut lost = clean.clone();
        lost[at..at + 512].fill(0);
        damages.push(("lost write".into(), lost));
        for (_, other) in others {
            // Another PAT page's image (another level or index), and the same image
            // sealed as if it lived here (a write that landed at the wrong place).
            let o = other.physical as usize * 512;
            let mut misplaced = clean.clone();
            misplaced.copy_within(o..o + 512, at);
            damages.push(("another PAT page".into(), misplaced.clone()));
            let h = page::header(&clean[o..o + 512]).unwrap();
            page::seal(&mut misplaced[at..at + 512], ptr.physical, h.logical, h.seq);
            damages.push(("misdirected".into(), misplaced));
        }
        for (what, bytes) in damages {
            vfs.put(path, bytes);
            let err = Pager::open(&vfs, path, true, cfg()).err();
            assert_eq!(
                err.map(|e| e.status),
                Some(Status::IoError),
                "{what} at PAT page {index} of level {level}"
            );
        }
    }
    vfs.put(path, clean);
    sound(&mut Pager::open(&vfs, path, true, cfg()).unwrap());
}

/// The PAT tree on disk is the one in memory, and the pages it references and the free
/// set partition the file. (Files written through the pager alone hold no records, so
/// the record-level check does not apply.)
fn sound(p: &mut Pager) {
    assert_eq!(p.audit_pat(), None);
    p.debug_check_free_partition();
}

/// Logical page → tag, as committed.
type Model = BTreeMap<u32, u64>;

fn assert_matches(p: &mut Pager, model: &Model, what: &str) {
    assert_eq!(
        p.logical_in_use(),
        model.keys().copied().collect::<Vec<_>>(),
        "{what}"
    );
    for (&l, &tag) in model {
        let b = p.read(l, &[PageType::Data]).unwrap();
        assert_eq!(tag_of(&b), tag, "{what}: logical page {l}");
    }
}

/// Which of two models the file on disk holds (it must hold one).
fn which(vfs: &TestVfs, path: &Path, old: &Model, new: &Model) -> (Pager, bool) {
    let mut p = Pager::open(vfs, path, false, cfg()).unwrap();
    let in_use = p.logical_in_use();
    let is_new = in_use == new.keys().copied().collect::<Vec<_>>()
        && new
            .iter()
            .all(|(&l, &t)| p.read(l, &[PageType::Data]).is_ok_and(|b| tag_of(&b) == t));
    if !is_new {
        assert_matches(
            &mut p,
            old,
            "after a crash: neither the old nor the new state",
        );
    }
    (p, is_new)
}

/// Changes for one commit that grows the tree two levels and touches every level:
/// pages freed, rewritten and added low and near the new top.
fn growing_commit(p: &mut Pager, model: &mut Model) {
    p.skip_logical_pages_for_test(150_000);
    p.begin_op().unwrap();
    for (i, &l) in model.clone().keys().enumerate() {
        match i % 3 {
            0 => {
                p.free(l);
                model.remove(&l);
            }
            1 => {
                p.write(l, image(512, 1000 + u64::from(l)));
                model.insert(l, 1000 + u64::from(l));
            }
            _ => {}
        }
    }
    for t in 0..60 {
        let l = p.alloc(image(512, 5000 + t)).unwrap();
        model.insert(l, 5000 + t);
    }
    p.end_op(true);
}

#[test]
fn a_crash_at_every_write_of_a_commit_that_grows_the_tree_leaves_old_or_new() {
    let path = Path::new("/c.btr");
    let setup = |vfs: &TestVfs| -> (Pager, Model) {
        create(vfs, path, &narrow_spec()).unwrap();
        let mut p = Pager::open(vfs, path, false, cfg()).unwrap();
        let mut model = Model::new();
        p.begin_op().unwrap();
        for t in 0..90 {
            let l = p.alloc(image(512, t)).unwrap();
            model.insert(l, t);
        }
        p.end_op(true);
        p.commit().unwrap();
        assert_eq!(p.pat_depth(), 2);
        (p, model)
    };
    let mut rng = Rng::new(20);
    let (mut outcomes, mut k) = ([0, 0], 0);
    loop {
        let vfs = TestVfs::new();
        let (mut p, old) = setup(&vfs);
        let mut new = old.clone();
        growing_commit(&mut p, &mut new);
        vfs.stop_after(Some(k));
        let done = p.commit().is_ok();
        drop(p);
        vfs.stop_after(None);
        if done {
            // Every write of the commit has been the crash point once; uninterrupted,
            // it leaves the new state.
            assert!(k > 20, "only {k} mutating calls");
            let (mut p, is_new) = which(&vfs, path, &old, &new);
            assert!(is_new && p.pat_depth() == 4);
            sound(&mut p);
            break;
        }
        vfs.power_loss(&mut rng);
        let (mut p, is_new) = which(&vfs, path, &old, &new);
        outcomes[usize::from(is_new)] += 1;
        if is_new {
            assert_eq!(p.pat_depth(), 4);
        }
        sound(&mut p);
        k += 1;
    }
    assert!(outcomes[0] > 0, "{outcomes:?}");
}

#[derive(Clone, Debug)]
enum Op {
    Alloc(u64),
    /// Free the n-th page in use (modulo).
    Free(usize),
    Write(usize, u64),
    /// Move the logical page counter up (new pages land past the gap).
    Skip(u32),
    Commit,
    /// Crash at the n-th mutating call of a commit, with a power loss.
    CrashCommit(u64),
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => any::<u64>().prop_map(Op::Alloc),
        3 => any::<usize>().prop_map(Op::Free),
        3 => (any::<usize>(), any::<u64>()).prop_map(|(i, t)| Op::Write(i, t)),
        // Past a leaf, past the 2-level reach (3,200 pages), past 3 levels (128,000).
        2 => prop_oneof![1u32..200, 200u32..4_000, 4_000u32..150_000].prop_map(Op::Skip),
        3 => Just(Op::Commit),
        2 => (0u64..24).prop_map(Op::CrashCommit),
        1 => Just(Op::Reopen),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Random allocations, frees, writes, counter jumps, commits, clean reopens and
    /// crashes at any write of a commit (with a power loss), over 512-byte pages and an
    /// FCR with room for two PAT pointers, so the tree grows to 3–4 levels: the file
    /// always holds exactly the model's pages (the last committed state, or after a
    /// crash the state before or after the interrupted commit), and checks clean.
    #[test]
    fn the_mapping_matches_a_model_through_commits_and_crashes(
        ops in proptest::collection::vec(op(), 1..80),
        seed in any::<u64>(),
    ) {
        let vfs = TestVfs::new();
        let path = Path::new("/m.btr");
        create(&vfs, path, &narrow_spec()).unwrap();
        let mut p = Pager::open(&vfs, path, false, cfg()).unwrap();
        let (mut durable, mut pending) = (Model::new(), Model::new());
        let mut rng = Rng::new(seed);
        let mut depths = std::collections::BTreeSet::new();
        for op in ops {
            let nth = |m: &Model, i: usize| m.keys().nth(i.checked_rem(m.len())?).copied();
            match op {
                Op::Alloc(t) => {
                    p.begin_op().unwrap();
                    let l = p.alloc(image(512, t)).unwrap();
                    p.end_op(true);
                    prop_assert!(pending.insert(l, t).is_none(), "page {} handed out twice", l);
                }
                Op::Free(i) => {
                    if let Some(l) = nth(&pending, i) {
                        p.begin_op().unwrap();
                        p.free(l);
                        p.end_op(true);
                        pending.remove(&l);
                    }
                }
                Op::Write(i, t) => {
                    if let Some(l) = nth(&pending, i) {
                        p.begin_op().unwrap();
                        p.write(l, image(512, t));
                        p.end_op(true);
                        pending.insert(l, t);
                    }
                }
                Op::Skip(n) => {
                    let to = p.state().logical_pages.saturating_add(n);
                    p.skip_logical_pages_for_test(to);
                }
                Op::Commit => {
                    p.commit().unwrap();
                    durable = pending.clone();
                }
                Op::CrashCommit(k) => {
                    vfs.stop_after(Some(k));
                    let done = p.commit().is_ok();
                    drop(p);
                    vfs.stop_after(None);
                    vfs.power_loss(&mut rng);
                    let (q, is_new) = which(&vfs, path, &durable, &pending);
                    prop_assert!(is_new || !done, "a completed commit was lost");
                    p = q;
                    sound(&mut p);
                    if is_new {
                        durable = pending.clone();
                    }
                    pending = durable.clone();
                }
                Op::Reopen => {
                    drop(p);
                    p = Pager::open(&vfs, path, false, cfg()).unwrap();
                    pending = durable.clone();
                }
            }
            assert_matches(&mut p, &pending, "in memory");
            depths.insert(p.pat_depth());
        }
        p.commit().unwrap();
        drop(p);
        let mut p = Pager::open(&vfs, path, false, cfg()).unwrap();
        assert_matches(&mut p, &pending, "reopened");
        sound(&mut p);
        if std::env::var_os("PAT_DEPTHS").is_some() {
            eprintln!("depths reached: {depths:?}");
        }
    }
}

/// Files made before the PAT was a tree (depth byte 0: the fuzz corpus's whole files,
/// 6.x and legacy) open as depth 1, check clean, and take commits, which write depth 1.
#[test]
fn files_made_before_the_tree_open_as_depth_1() {
    // Compiled in: the engine's sources reach files only through a Vfs (`.ci/run`).
    let files: [(&str, &[u8]); 2] = [
        (
            "whole.btr",
            include_bytes!("../../../corpora/fuzz/data_file/whole.btr"),
        ),
        (
            "legacy-whole.btr",
            include_bytes!("../../../corpora/fuzz/data_file/legacy-whole.btr"),
        ),
    ];
    for (name, bytes) in files {
        let bytes = bytes.to_vec();
        assert_eq!(bytes[89], 0, "{name} is not an old file");
        let vfs = TestVfs::new();
        let path = Path::new("/old.btr");
        vfs.put(path, bytes);
        let before = check_file(&vfs, path).unwrap();
        assert!(before.is_clean(), "{name}: {:?}", before.problems);
        assert_eq!(before.pat_depth, 1);
        let mut p = Pager::open(&vfs, path, false, cfg()).unwrap();
        assert!(p.commit_with(true, &mut |_, _| Ok(())).unwrap());
        drop(p);
        let after = check_file(&vfs, path).unwrap();
        assert!(after.is_clean(), "{name}: {:?}", after.problems);
        assert_eq!((after.records, after.pat_depth), (before.records, 1));
    }
}

/// Continuous operations over a tree that grows while frozen: the delta carries the
/// pages and the larger count, a reopen reads through it (and hands out only free
/// pages), and the roll-in commits the grown tree into the data file.
#[test]
fn a_frozen_file_grows_the_tree_through_its_delta_and_rolls_in() {
    let vfs = TestVfs::new();
    let path = Path::new("/f.btr");
    create(&vfs, path, &narrow_spec()).unwrap();
    let mut p = Pager::open(&vfs, path, false, cfg()).unwrap();
    let mut model = Model::new();
    p.begin_op().unwrap();
    for t in 0..90 {
        let l = p.alloc(image(512, t)).unwrap();
        model.insert(l, t);
    }
    for &l in model.clone().keys().step_by(4) {
        p.free(l);
        model.remove(&l);
    }
    p.end_op(true);
    p.commit().unwrap();
    let frozen_model = model.clone();
    p.freeze(&vfs, 1).unwrap();
    // Holes the data file has, filled in the delta only.
    p.begin_op().unwrap();
    for t in 0..12 {
        let l = p.alloc(image(512, 7000 + t)).unwrap();
        assert!(model.insert(l, 7000 + t).is_none());
    }
    p.end_op(true);
    growing_commit(&mut p, &mut model);
    p.commit().unwrap();
    assert!(p.is_frozen());
    // The data file itself is untouched: still the 2-level tree of the startbu instant.
    assert_eq!(p.pat_depth(), 2);
    drop(p);

    let mut p = Pager::open(&vfs, path, false, cfg()).unwrap();
    assert_matches(&mut p, &frozen_model, "the data file under its delta");
    p.attach_delta(&vfs).unwrap();
    assert!(p.is_frozen());
    assert_matches(&mut p, &model, "through the delta");
    p.begin_op().unwrap();
    for t in 0..30 {
        let l = p.alloc(image(512, 9000 + t)).unwrap();
        assert!(
            model.insert(l, 9000 + t).is_none(),
            "page {l} handed out twice"
        );
    }
    p.end_op(true);
    p.commit().unwrap();
    p.roll_in(&vfs).unwrap();
    assert!(!p.is_frozen());
    assert_eq!(p.pat_depth(), 4);
    drop(p);

    let mut p = Pager::open(&vfs, path, false, cfg()).unwrap();
    p.attach_delta(&vfs).unwrap();
    assert!(!p.is_frozen());
    assert_matches(&mut p, &model, "rolled in");
    sound(&mut p);
}
