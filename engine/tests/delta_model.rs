//! Continuous operations against a plain model: random inserts, updates and deletes
//! while a file is frozen, with flushes (system transactions to the delta) and reopens
//! between them — a reopen attaches the delta, so every read after it takes frozen
//! pages from the delta on demand, through a clean cache of a few pages that evicts
//! all the time; some reopens are read-only (the delta read through the handle the
//! scan opened). After every reopen every record is compared with the model on every
//! key. At the end `endbu` rolls the delta in (streamed), the structure check must be
//! clean, and the file must hold exactly the model's records.

mod common;
use common::*;
use engine::delta::delta_path;
use engine::file::check::check_file;
use engine::vfs::testing::TestVfs;
use engine::vfs::Vfs;
use engine::{Config, Engine, GetOp, Handle, OpenMode, Status};
use proptest::prelude::*;
use std::collections::btree_map::{BTreeMap, Entry};
use std::path::{Path, PathBuf};

const PATH: &str = "/d/frozen.btr";

#[derive(Clone, Debug)]
enum Op {
    Insert { id: u32, name: u8 },
    Update { id: u32, group: i16 },
    Delete { id: u32 },
    Flush,
    Reopen { read_only: bool },
}

fn op() -> impl Strategy<Value = Op> {
    let id = 0u32..300;
    prop_oneof![
        8 => (id.clone(), any::<u8>()).prop_map(|(id, name)| Op::Insert { id, name }),
        3 => (id.clone(), -3i16..4).prop_map(|(id, group)| Op::Update { id, group }),
        3 => id.prop_map(|id| Op::Delete { id }),
        1 => Just(Op::Flush),
        1 => any::<bool>().prop_map(|read_only| Op::Reopen { read_only }),
    ]
}

/// A record's name: unique per id, so key 2 never collides.
fn rec(id: u32, group: i16, name: u8) -> Vec<u8> {
    person(id, group, &format!("n{id}-{name}"))
}

fn config() -> Config {
    Config {
        // A cache far smaller than the delta: frozen pages are read from the delta
        // again and again.
        clean_cache_pages: 3,
        operation_bundle_limit: 5,
        ..Config::default()
    }
}

/// Every record in the order of key `k`, by Get First / Get Next.
fn scan(e: &mut Engine, h: Handle, k: usize) -> Result<Vec<Vec<u8>>, TestCaseError> {
    let mut out = Vec::new();
    let mut r = e.get(h, GetOp::First, k, &[]);
    while let Ok(x) = r {
        out.push(x);
        r = e.get(h, GetOp::Next, k, &[]);
    }
    prop_assert_eq!(r.map_err(|e| e.status), Err(Status::EndOfFile));
    Ok(out)
}

/// The file read through `h` equals the model on every key, and by Get Equal.
fn compare(e: &mut Engine, h: Handle, m: &BTreeMap<u32, Vec<u8>>) -> Result<(), TestCaseError> {
    let by_id: Vec<Vec<u8>> = m.values().cloned().collect();
    prop_assert_eq!(scan(e, h, 0)?, by_id.clone());
    // Key 1 allows duplicates, kept in an order the model does not track: the groups
    // must ascend, and the records be the model's.
    let group = |r: &Vec<u8>| i16::from_le_bytes([r[4], r[5]]);
    let mut got = scan(e, h, 1)?;
    prop_assert!(got.windows(2).all(|w| group(&w[0]) <= group(&w[1])));
    got.sort_by_key(|r| (group(r), r[0..4].to_vec()));
    let mut by_group = by_id.clone();
    by_group.sort_by_key(|r| (group(r), r[0..4].to_vec()));
    prop_assert_eq!(got, by_group);
    let mut by_name = by_id;
    by_name.sort_by(|a, b| a[6..22].cmp(&b[6..22]));
    prop_assert_eq!(scan(e, h, 2)?, by_name);
    for (id, r) in m {
        let got = e.get(h, GetOp::Equal, 0, &id.to_le_bytes());
        prop_assert_eq!(got.ok(), Some(r.clone()));
    }
    Ok(())
}

fn run(initial: u32, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let vfs = TestVfs::new();
    let path = Path::new(PATH);
    let set = [PathBuf::from(PATH)];
    let mut e = mem_engine(&vfs, config());
    e.create(path, &people_spec(512)).unwrap();
    let mut h = e.open(path, OpenMode::Normal).unwrap();
    let mut m: BTreeMap<u32, Vec<u8>> = BTreeMap::new();
    for id in 0..initial {
        let r = rec(id * 2, 0, 0);
        e.insert(h, &r).unwrap();
        m.insert(id * 2, r);
    }
    e.start_backup(&set).unwrap();
    let mut frozen = vfs.contents(path).unwrap();
    for op in ops {
        match op {
            Op::Insert { id, name } => {
                let r = rec(id, (id % 5) as i16, name);
                let got = e.insert(h, &r).map_err(|e| e.status);
                match m.entry(id) {
                    Entry::Occupied(_) => prop_assert_eq!(got, Err(Status::DuplicateKeyValue)),
                    Entry::Vacant(v) => {
                        prop_assert_eq!(got, Ok(()));
                        v.insert(r);
                    }
                }
            }
            Op::Update { id, group } => {
                let got = e.get(h, GetOp::Equal, 0, &id.to_le_bytes());
                let Some(old) = m.get(&id).cloned() else {
                    prop_assert_eq!(got.map_err(|e| e.status), Err(Status::KeyValueNotFound));
                    continue;
                };
                prop_assert_eq!(got.ok(), Some(old.clone()));
                let mut r = old;
                r[4..6].copy_from_slice(&group.to_le_bytes());
                e.update(h, &r).unwrap();
                m.insert(id, r);
            }
            Op::Delete { id } => {
                let got = e.get(h, GetOp::Equal, 0, &id.to_le_bytes());
                match m.remove(&id) {
                    None => {
                        prop_assert_eq!(got.map_err(|e| e.status), Err(Status::KeyValueNotFound))
                    }
                    Some(old) => {
                        prop_assert_eq!(got.ok(), Some(old));
                        e.delete(h).unwrap();
                    }
                }
            }
            Op::Flush => e.flush().unwrap(),
            Op::Reopen { read_only } => {
                e.close(h).unwrap();
                drop(e);
                if read_only {
                    let mut r = mem_engine(&vfs, config());
                    let rh = r.open(path, OpenMode::ReadOnly).unwrap();
                    compare(&mut r, rh, &m)?;
                    r.close(rh).unwrap();
                }
                e = mem_engine(&vfs, config());
                h = e.open(path, OpenMode::Normal).unwrap();
                // (A writable open rewrites the live control record, through the other
                // slot, even of a frozen file: same state, other bytes.)
                frozen = vfs.contents(path).unwrap();
                compare(&mut e, h, &m)?;
            }
        }
        // Commits of the frozen data file go to the delta, never to the file.
        prop_assert!(
            vfs.contents(path).unwrap() == frozen,
            "the frozen file changed"
        );
    }
    compare(&mut e, h, &m)?;
    e.close(h).unwrap();
    drop(e);
    let mut e = mem_engine(&vfs, config());
    e.end_backup(&set).unwrap();
    prop_assert!(
        !vfs.exists(&delta_path(path).unwrap()).unwrap(),
        "the delta remains"
    );
    let rep = check_file(&vfs, path).unwrap();
    prop_assert!(rep.is_clean(), "{:?}", rep.problems);
    prop_assert_eq!(rep.records, m.len() as u64);
    let h = e.open(path, OpenMode::Normal).unwrap();
    compare(&mut e, h, &m)?;
    e.close(h).unwrap();
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn reads_through_an_attached_delta_and_its_roll_in_match_the_model(
        initial in 0u32..120,
        ops in proptest::collection::vec(op(), 1..300),
    ) {
        run(initial, ops)?;
    }
}
