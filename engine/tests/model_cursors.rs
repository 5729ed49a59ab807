//! Model-based property test of cursors under interleaving: four handles on one file,
//! two per client, each moving one Get Next / Get Previous / Step at a time while the
//! other handles — of the same client and of the other — insert, update and delete,
//! transactions lock the file, end and abort, system transactions commit and the file
//! is reopened. Every answer (record and status) is compared with a reference model
//! that tracks each handle's position (its index entry: normalized key + serial) and
//! each client's view (the file before another client's transaction). A cursor that
//! served a leaf or data page kept from before a change (`engine/src/engine/reads.rs`)
//! would answer with a record that is gone, changed, or another client's uncommitted
//! one, and fail here. `model.rs` checks whole scans of one handle; this checks the
//! moves between changes.

mod common;
use common::*;
use engine::file::check::check_file;
use engine::vfs::testing::TestVfs;
use engine::{Client, Config, Engine, FileSpec, GetOp, Handle, OpenMode, Status, StepOp};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;

/// Handles in the test; handle `i` belongs to client `i / 2`.
const HANDLES: usize = 4;
const CLIENTS: usize = 2;

#[derive(Clone, Debug)]
enum Op {
    Insert {
        h: usize,
        id: u32,
        group: i16,
        name: u8,
    },
    /// Update the handle's current record: new group and name, same id.
    Update {
        h: usize,
        group: i16,
        name: u8,
    },
    Delete {
        h: usize,
    },
    /// A Get that positions: 0 First, 1 Last, 2 Equal, 3 GreaterOrEqual,
    /// 4 LessOrEqual, 5 Greater, 6 Less.
    Get {
        h: usize,
        key: usize,
        op: u8,
        id: u32,
        group: i16,
        name: u8,
    },
    /// Get Next / Previous on the handle's position key (`key: None`) or another.
    Move {
        h: usize,
        forward: bool,
        key: Option<usize>,
    },
    /// Step: 0 First, 1 Last, 2 Next, 3 Previous.
    Step {
        h: usize,
        op: u8,
    },
    Begin {
        client: usize,
    },
    End {
        client: usize,
    },
    Abort {
        client: usize,
    },
    Flush,
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    let h = 0..HANDLES;
    let id = 0u32..40;
    let group = -2i16..3;
    let name = 0u8..40;
    let c = 0..CLIENTS;
    prop_oneof![
        5 => (h.clone(), id.clone(), group.clone(), name.clone())
            .prop_map(|(h, id, group, name)| Op::Insert { h, id, group, name }),
        3 => (h.clone(), group.clone(), name.clone())
            .prop_map(|(h, group, name)| Op::Update { h, group, name }),
        2 => h.clone().prop_map(|h| Op::Delete { h }),
        4 => (h.clone(), 0usize..3, 0u8..7, id, group, name)
            .prop_map(|(h, key, op, id, group, name)| Op::Get { h, key, op, id, group, name }),
        12 => (h.clone(), any::<bool>(), proptest::option::weighted(0.1, 0usize..3))
            .prop_map(|(h, forward, key)| Op::Move { h, forward, key }),
        4 => (h, 0u8..4).prop_map(|(h, op)| Op::Step { h, op }),
        2 => c.clone().prop_map(|client| Op::Begin { client }),
        1 => c.clone().prop_map(|client| Op::End { client }),
        1 => c.prop_map(|client| Op::Abort { client }),
        1 => Just(Op::Flush),
        1 => Just(Op::Reopen),
    ]
}

fn nm(n: u8) -> String {
    format!("name{n:03}")
}

/// Records by id: (serial, record).
type Records = BTreeMap<u32, (u64, Vec<u8>)>;

/// The normalized value of key `key` of a record (what the engine's index orders by).
fn norm(key: usize, r: &[u8]) -> Vec<u8> {
    match key {
        0 => r[0..4].iter().rev().copied().collect(),
        1 => (u16::from_le_bytes([r[4], r[5]]) ^ 0x8000)
            .to_be_bytes()
            .to_vec(),
        _ => r[6..22].to_vec(),
    }
}

/// The index entry of a record: normalized key, then serial.
fn entry(key: usize, serial: u64, r: &[u8]) -> Vec<u8> {
    let mut e = norm(key, r);
    e.extend(serial.to_be_bytes());
    e
}

/// A handle's position as the model sees it.
#[derive(Clone, Debug, PartialEq)]
enum Pos {
    None,
    Logical {
        key: usize,
        entry: Vec<u8>,
        serial: u64,
        id: u32,
        on_record: bool,
    },
    Physical {
        serial: u64,
        id: u32,
        on_record: bool,
    },
}

impl Pos {
    /// The current record, for Update and Delete: (serial, id).
    fn current(&self) -> Option<(u64, u32)> {
        match *self {
            Pos::Logical {
                serial,
                id,
                on_record: true,
                ..
            }
            | Pos::Physical {
                serial,
                id,
                on_record: true,
            } => Some((serial, id)),
            _ => None,
        }
    }
}

struct Model {
    committed: Records,
    serial: u64,
    /// The client whose transaction locks the file, its working copy and serial.
    locked: Option<(usize, Records, u64)>,
    txn_open: [bool; CLIENTS],
    pos: [Pos; HANDLES],
    /// Each handle's key for Insert (the last key a Get used).
    key: [usize; HANDLES],
    /// Handles whose position's record was created by an aborted transaction: its
    /// serial may be handed out again to a record elsewhere, so Update and Delete
    /// through them are skipped until they move.
    doubtful: [bool; HANDLES],
}

impl Model {
    /// A Get that found `(entry, serial, id)` on `key` puts handle `h` on it: its
    /// position and its key for currency, no longer in doubt.
    fn land(&mut self, h: usize, key: usize, (entry, serial, id): (Vec<u8>, u64, u32)) {
        self.pos[h] = Pos::Logical {
            key,
            entry,
            serial,
            id,
            on_record: true,
        };
        self.key[h] = key;
        self.doubtful[h] = false;
    }

    fn client(h: usize) -> usize {
        h / 2
    }
    fn view(&self, c: usize) -> &Records {
        match &self.locked {
            Some((o, w, _)) if *o == c => w,
            _ => &self.committed,
        }
    }
    /// The records a change by `c` would see and its serial counter, after taking the
    /// lock if `c` is in a transaction; `Err(85)` if another client holds it.
    fn enlist(&mut self, c: usize) -> Result<(&mut Records, &mut u64), Status> {
        match &self.locked {
            Some((o, _, _)) if *o != c => return Err(Status::FileInUse),
            None if self.txn_open[c] => {
                self.locked = Some((c, self.committed.clone(), self.serial));
            }
            _ => {}
        }
        Ok(match &mut self.locked {
            Some((_, w, s)) => (w, s),
            None => (&mut self.committed, &mut self.serial),
        })
    }
    /// Entries of key `key` in client `c`'s view, in order: (entry, serial, id).
    fn entries(&self, c: usize, key: usize) -> Vec<(Vec<u8>, u64, u32)> {
        let mut v: Vec<_> = self
            .view(c)
            .iter()
            .map(|(&id, (s, r))| (entry(key, *s, r), *s, id))
            .collect();
        v.sort();
        v
    }
}

/// The record a handle's position `cur` (serial, id) names in `recs`, for Update and
/// Delete: no position is status 8; a record gone or replaced under it is a conflict (80).
fn positioned(recs: &Records, cur: Option<(u64, u32)>) -> Result<(u64, u32), Status> {
    let Some((serial, id)) = cur else {
        return Err(Status::InvalidPositioning);
    };
    match recs.get(&id) {
        Some((s, _)) if *s == serial => Ok((serial, id)),
        _ => Err(Status::Conflict),
    }
}

fn name_taken(recs: &Records, name: &[u8], except: Option<u64>) -> bool {
    recs.values()
        .any(|(s, r)| Some(*s) != except && &r[6..22] == name)
}

struct Rig {
    vfs: TestVfs,
    e: Engine,
    h: [Handle; HANDLES],
}

const PATH: &str = "/db/cursors.btr";

fn open_all(e: &mut Engine) -> [Handle; HANDLES] {
    std::array::from_fn(|i| {
        e.open_as(Client((i / 2) as u32), Path::new(PATH), OpenMode::Normal)
            .unwrap()
    })
}

fn rig(page_size: u32, compact_leaves: bool, config: Config) -> Rig {
    let vfs = TestVfs::new();
    let mut e = mem_engine(&vfs, config);
    let spec = FileSpec {
        compact_leaves,
        slot_serial_bytes: 8,
        ..people_spec(page_size)
    };
    e.create(Path::new(PATH), &spec).unwrap();
    let h = open_all(&mut e);
    Rig { vfs, e, h }
}

/// The record a successful read returned, or its status.
type Answer = Result<Vec<u8>, Status>;

fn run(ops: Vec<Op>, page_size: u32, config: Config) -> Result<(), TestCaseError> {
    run_in(ops, page_size, false, config)
}

/// [`run`] on a file whose index leaves keep their shared parts once (or not).
fn run_in(
    ops: Vec<Op>,
    page_size: u32,
    compact_leaves: bool,
    config: Config,
) -> Result<(), TestCaseError> {
    let mut rig = rig(page_size, compact_leaves, config);
    let mut m = Model {
        committed: Records::new(),
        serial: 0,
        locked: None,
        txn_open: [false; CLIENTS],
        pos: std::array::from_fn(|_| Pos::None),
        key: [0; HANDLES],
        doubtful: [false; HANDLES],
    };
    let mut buf = Vec::new();
    for op in ops {
        match op {
            Op::Insert { h, id, group, name } => {
                let c = Model::client(h);
                let r = person(id, group, &nm(name));
                let key = m.key[h];
                let want = m.enlist(c).and_then(|(recs, serial)| {
                    if recs.contains_key(&id) || name_taken(recs, &r[6..22], None) {
                        return Err(Status::DuplicateKeyValue);
                    }
                    *serial += 1;
                    recs.insert(id, (*serial, r.clone()));
                    Ok(*serial)
                });
                let got = rig.e.insert(rig.h[h], &r).map_err(|e| e.status);
                prop_assert_eq!(got, want.map(|_| ()), "insert {} through handle {}", id, h);
                if let Ok(serial) = want {
                    m.pos[h] = Pos::Logical {
                        key,
                        entry: entry(key, serial, &r),
                        serial,
                        id,
                        on_record: true,
                    };
                    m.doubtful[h] = false;
                }
            }
            Op::Update { h, group, name } => {
                if m.doubtful[h] {
                    continue;
                }
                let c = Model::client(h);
                let cur = m.pos[h].current();
                let want = m.enlist(c).and_then(|(recs, _)| {
                    let (serial, id) = positioned(recs, cur)?;
                    let r = person(id, group, &nm(name));
                    if name_taken(recs, &r[6..22], Some(serial)) {
                        return Err(Status::DuplicateKeyValue);
                    }
                    recs.insert(id, (serial, r.clone()));
                    Ok(r)
                });
                let new = match cur {
                    Some((_, id)) => person(id, group, &nm(name)),
                    None => person(0, group, &nm(name)),
                };
                let got = rig.e.update(rig.h[h], &new).map_err(|e| e.status);
                prop_assert_eq!(
                    got,
                    want.as_ref().map(|_| ()).map_err(|s| *s),
                    "update through handle {}",
                    h
                );
                if let (
                    Ok(r),
                    Pos::Logical {
                        key,
                        entry: e,
                        serial,
                        ..
                    },
                ) = (&want, &mut m.pos[h])
                {
                    *e = entry(*key, *serial, r);
                }
            }
            Op::Delete { h } => {
                if m.doubtful[h] {
                    continue;
                }
                let c = Model::client(h);
                let cur = m.pos[h].current();
                let want = m.enlist(c).and_then(|(recs, _)| {
                    let (_, id) = positioned(recs, cur)?;
                    recs.remove(&id);
                    Ok(())
                });
                let got = rig.e.delete(rig.h[h]).map_err(|e| e.status);
                prop_assert_eq!(got, want, "delete through handle {}", h);
                if want.is_ok() {
                    match &mut m.pos[h] {
                        Pos::Logical { on_record, .. } | Pos::Physical { on_record, .. } => {
                            *on_record = false
                        }
                        Pos::None => {}
                    }
                }
            }
            Op::Get {
                h,
                key,
                op,
                id,
                group,
                name,
            } => {
                let c = Model::client(h);
                let probe = person(id, group, &nm(name));
                let nk = norm(key, &probe);
                let lo = [nk.clone(), vec![0; 8]].concat();
                let hi = [nk.clone(), vec![0xff; 8]].concat();
                let es = m.entries(c, key);
                let (gop, hit) = match op {
                    0 => (GetOp::First, es.first()),
                    1 => (GetOp::Last, es.last()),
                    2 => (
                        GetOp::Equal,
                        es.iter().find(|x| x.0[..x.0.len() - 8] == nk[..]),
                    ),
                    3 => (GetOp::GreaterOrEqual, es.iter().find(|x| x.0 >= lo)),
                    4 => (GetOp::LessOrEqual, es.iter().rev().find(|x| x.0 <= hi)),
                    5 => (GetOp::Greater, es.iter().find(|x| x.0 > hi)),
                    _ => (GetOp::Less, es.iter().rev().find(|x| x.0 < lo)),
                };
                let miss = if gop == GetOp::Equal {
                    Status::KeyValueNotFound
                } else {
                    Status::EndOfFile
                };
                let kv = match key {
                    0 => probe[0..4].to_vec(),
                    1 => probe[4..6].to_vec(),
                    _ => probe[6..22].to_vec(),
                };
                let got = rig
                    .e
                    .get_into(rig.h[h], gop, key, &kv, &mut buf)
                    .map(|()| buf.clone());
                let want: Answer = hit.map(|x| m.view(c)[&x.2].1.clone()).ok_or(miss);
                prop_assert_eq!(
                    got.map_err(|e| e.status),
                    want,
                    "{:?} key {} handle {}",
                    gop,
                    key,
                    h
                );
                if let Some(found) = hit.cloned() {
                    m.land(h, key, found);
                }
            }
            Op::Move { h, forward, key } => {
                let c = Model::client(h);
                let pos_key = match &m.pos[h] {
                    Pos::Logical { key, .. } => *key,
                    _ => m.key[h],
                };
                let key = key.unwrap_or(pos_key);
                let (gop, name) = if forward {
                    (GetOp::Next, "Get Next")
                } else {
                    (GetOp::Previous, "Get Previous")
                };
                let want: Result<(Vec<u8>, u64, u32), Status> = match &m.pos[h] {
                    Pos::Logical { key: k, .. } if *k != key => Err(Status::DifferentKeyNumber),
                    Pos::Logical { entry: e, .. } => {
                        let es = m.entries(c, key);
                        let hit = if forward {
                            es.into_iter().find(|x| x.0 > *e)
                        } else {
                            es.into_iter().rev().find(|x| x.0 < *e)
                        };
                        hit.ok_or(Status::EndOfFile)
                    }
                    _ => Err(Status::InvalidPositioning),
                };
                let got = rig
                    .e
                    .get_into(rig.h[h], gop, key, &[], &mut buf)
                    .map(|()| buf.clone());
                let want_rec: Answer = want.clone().map(|x| m.view(c)[&x.2].1.clone());
                prop_assert_eq!(
                    got.map_err(|e| e.status),
                    want_rec,
                    "{} key {} handle {}",
                    name,
                    key,
                    h
                );
                if let Ok(found) = want {
                    m.land(h, key, found);
                }
            }
            Op::Step { h, op } => {
                let c = Model::client(h);
                let sop =
                    [StepOp::First, StepOp::Last, StepOp::Next, StepOp::Previous][op as usize];
                let got = rig
                    .e
                    .step_into(rig.h[h], sop, &mut buf)
                    .map(|()| buf.clone());
                let view = m.view(c);
                match got {
                    // Physical order is the engine's: any record of the view, exactly
                    // as the view holds it — never a gone, stale or invisible one.
                    Ok(r) => {
                        let id = u32::from_le_bytes(r[0..4].try_into().unwrap());
                        let Some((serial, want)) = view.get(&id) else {
                            return Err(TestCaseError::fail(format!(
                                "{sop:?} through handle {h} returned record {id}, not in its view"
                            )));
                        };
                        let serial = *serial;
                        prop_assert_eq!(&r, want, "{:?} through handle {}", sop, h);
                        m.pos[h] = Pos::Physical {
                            serial,
                            id,
                            on_record: true,
                        };
                        m.doubtful[h] = false;
                    }
                    Err(e) => {
                        let want = match (&m.pos[h], sop) {
                            (_, StepOp::First | StepOp::Last) => Status::EndOfFile,
                            (Pos::None, _) => Status::InvalidPositioning,
                            _ => Status::EndOfFile,
                        };
                        prop_assert_eq!(e.status, want, "{:?} through handle {}", sop, h);
                        if matches!(sop, StepOp::First | StepOp::Last) {
                            prop_assert!(view.is_empty(), "{:?}: end of file with records", sop);
                        }
                    }
                }
            }
            Op::Begin { client } => {
                if !m.txn_open[client] {
                    rig.e.begin_transaction(Client(client as u32)).unwrap();
                    m.txn_open[client] = true;
                }
            }
            Op::End { client } | Op::Abort { client } => {
                if !m.txn_open[client] {
                    continue;
                }
                let end = matches!(op, Op::End { .. });
                if end {
                    rig.e.end_transaction(Client(client as u32)).unwrap();
                } else {
                    rig.e.abort_transaction(Client(client as u32)).unwrap();
                }
                m.txn_open[client] = false;
                if let Some((_, w, s)) = m.locked.take_if(|l| l.0 == client) {
                    if end {
                        m.committed = w;
                        m.serial = s;
                    } else {
                        for i in 0..HANDLES {
                            if matches!(&m.pos[i], Pos::Logical { serial, .. } | Pos::Physical { serial, .. } if *serial > m.serial)
                            {
                                m.doubtful[i] = true;
                            }
                        }
                    }
                }
            }
            Op::Flush => rig.e.flush().unwrap(),
            Op::Reopen => {
                if m.locked.is_some() {
                    continue;
                }
                for h in rig.h {
                    rig.e.close(h).unwrap();
                }
                let rep = check_file(&rig.vfs, Path::new(PATH)).unwrap();
                prop_assert!(rep.is_clean(), "{:?}", rep.problems);
                prop_assert_eq!(rep.records, m.committed.len() as u64);
                rig.h = open_all(&mut rig.e);
                m.pos = std::array::from_fn(|_| Pos::None);
                m.key = [0; HANDLES];
                m.doubtful = [false; HANDLES];
            }
        }
    }
    Ok(())
}

fn config() -> Config {
    Config {
        operation_bundle_limit: 7,
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// 512-byte pages: 19-entry leaves and 10-record data pages, so moves cross
    /// leaves and pages often and changes split and free them under the cursors.
    #[test]
    fn cursors_match_model_small_pages(ops in proptest::collection::vec(op(), 1..300)) {
        run(ops, 512, config())?;
    }

    #[test]
    fn cursors_match_model_4k_pages(ops in proptest::collection::vec(op(), 1..300)) {
        run(ops, 4096, config())?;
    }

    /// Small pages with compact leaves: a leaf holds more entries, is rebuilt when an
    /// entry shortens a shared part, and splits where both halves fit; cursors keep
    /// the entry they stand on as a copy (a row holds only part of it).
    #[test]
    fn cursors_match_model_compact_leaves(ops in proptest::collection::vec(op(), 1..300)) {
        run_in(ops, 512, true, config())?;
    }
}

/// The known-bad engine whose cursors never drop what they kept is caught by this
/// model: a deterministic sweep of generated cases finds a disagreement.
#[cfg(feature = "mutants")]
#[test]
fn stale_cursor_cache_is_caught() {
    use proptest::test_runner::{Config as RunnerConfig, TestRunner};
    let mut runner = TestRunner::new_with_rng(
        RunnerConfig {
            cases: 256,
            failure_persistence: None,
            ..RunnerConfig::default()
        },
        proptest::test_runner::TestRng::deterministic_rng(
            proptest::test_runner::RngAlgorithm::ChaCha,
        ),
    );
    let bad = Config {
        mutant: Some(engine::mutant::Mutant::CursorCacheStale),
        ..config()
    };
    let r = runner.run(&proptest::collection::vec(op(), 1..300), |ops| {
        run(ops, 512, bad.clone())
    });
    assert!(
        r.is_err(),
        "the model did not catch cursors serving stale leaves and pages"
    );
}
