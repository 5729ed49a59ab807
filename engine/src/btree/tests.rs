//! The tree against a model (a sorted map), in both leaf layouts, on entries whose
//! columns share much or little: compact leaves are rebuilt when an entry shortens a
//! shared part and split where both halves fit — or, when neither half of any split
//! can take the entry, split without it and descended into again.

use super::{Seek, Tree};
use crate::page::node::{Node, NodeView, RecAddr, SERIAL_LEN};
use crate::page::spec::FileSpec;
use crate::pager::{create, Pager, PagerConfig};
use crate::vfs::testing::TestVfs;
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;

const PS: usize = 512;
/// A 4-byte key: 12-byte entries.
const KEY_LEN: usize = 4;
const ENTRY_LEN: usize = KEY_LEN + SERIAL_LEN;

fn pager() -> Pager {
    let vfs = TestVfs::new();
    let path = Path::new("/t.btr");
    let spec = FileSpec::unique_u32_key(16, PS as u32);
    create(&vfs, path, &spec).expect("create");
    Pager::open(&vfs, path, false, PagerConfig::plain(16)).expect("open")
}

fn entry(key: u32, serial: u64) -> Vec<u8> {
    [key.to_be_bytes().as_slice(), &serial.to_be_bytes()].concat()
}

/// Every leaf of the tree, left to right, each checked to decode, to fit its page,
/// to be the one encoding of its entries, and to be walked in place as decoded.
fn leaves(t: &Tree, p: &mut Pager) -> Vec<Node> {
    fn walk(t: &Tree, p: &mut Pager, page: u32, out: &mut Vec<Node>) {
        let buf = p.read(page, super::NODE_TYPES).expect("read");
        let node = Node::decode(&buf, t.entry_len).expect("decode");
        if node.leaf {
            assert_eq!(
                *buf,
                node.encode(PS, t.entry_len, t.compact)[..],
                "leaf {page} is not its entries' encoding"
            );
            // The in-place readers (the structure check's walk) agree with decoding.
            let v = NodeView::new(&buf, t.entry_len).expect("view");
            assert_eq!(v.len(), node.keys.len());
            let mut walked = Vec::new();
            v.for_each_entry(|e, a| walked.push((e.to_vec(), a.pack())));
            let decoded: Vec<_> = node
                .keys
                .iter()
                .cloned()
                .zip(node.vals.iter().copied())
                .collect();
            assert_eq!(walked, decoded, "leaf {page}: walk and decoding differ");
            out.push(node);
        } else {
            for c in node.children() {
                walk(t, p, c, out);
            }
        }
    }
    let mut out = Vec::new();
    let root = p.state().roots[t.key];
    if root != 0 {
        walk(t, p, root, &mut out);
    }
    out
}

/// The tree holds exactly the model's entries, in order, each found by a seek.
fn same_as_model(t: &Tree, p: &mut Pager, model: &BTreeMap<Vec<u8>, RecAddr>) {
    let got: Vec<(Vec<u8>, RecAddr)> = leaves(t, p)
        .into_iter()
        .flat_map(|n| {
            n.keys
                .into_iter()
                .zip(n.vals.into_iter().map(RecAddr::unpack))
        })
        .collect();
    let want: Vec<(Vec<u8>, RecAddr)> = model.iter().map(|(e, a)| (e.clone(), *a)).collect();
    assert_eq!(got, want);
    for (e, a) in model {
        let f = t
            .seek(p, e, Seek::GreaterOrEqual)
            .expect("seek")
            .expect("found");
        assert_eq!((&f.entry, f.addr), (e, *a));
    }
}

/// The case no split of two halves can take: a leaf of 200 entries sharing almost
/// everything (2-byte rows), and an entry for its middle whose serial, page and slot
/// share nothing with theirs (a 13-byte row: either half with it would overflow).
/// The leaf is split without it, the insert descends again and finds it at a leaf's
/// end, where a split always has room.
#[test]
fn an_entry_no_half_can_take_splits_the_leaf_without_it_first() {
    let mut p = pager();
    let t = Tree {
        key: 0,
        entry_len: ENTRY_LEN,
        compact: true,
    };
    let mut model = BTreeMap::new();
    p.begin_op().expect("op");
    // Keys 0..=200 but 100; serials 1..; one data page, slot 0 (all shared).
    for (i, key) in (0..=200u32).filter(|&k| k != 100).enumerate() {
        let (e, a) = (entry(key, i as u64 + 1), RecAddr { page: 1, slot: 0 });
        t.insert(&mut p, &e, a).expect("insert");
        model.insert(e, a);
    }
    assert_eq!(leaves(&t, &mut p).len(), 1, "one leaf holds them all");
    let (e, a) = (
        entry(100, 1 << 40),
        RecAddr {
            page: 0x0100_0000,
            slot: 0xffff,
        },
    );
    let mut placed = true;
    let root = p.state().roots[0];
    let split = t
        .insert_in(&mut p, root, &e, a.pack(), 0, true, None, &mut placed)
        .expect("insert_in");
    assert!(!placed, "a split of two halves took the entry");
    let (sep, _) = split.expect("the leaf split");
    assert_eq!(sep, entry(101, 101), "split where the entry goes");
    // Through the public path, which descends again: two splits in all — the
    // leaf's own 200 entries in halves, then the left half with the entry at its end,
    // nearest its middle where the half holding the entry fits: 35 rows of 13 bytes
    // (40 + 5 shared + 35 · 13 = 500 bytes; 36 would be 513).
    p.end_op(false);
    let mut p = pager();
    p.begin_op().expect("op");
    for (k, a) in &model {
        t.insert(&mut p, k, *a).expect("insert");
    }
    t.insert(&mut p, &e, a).expect("insert");
    model.insert(e, a);
    let sizes: Vec<usize> = leaves(&t, &mut p).iter().map(|n| n.keys.len()).collect();
    assert_eq!(sizes, vec![66, 35, 100]);
    same_as_model(&t, &mut p, &model);
    p.end_op(true);
}

/// One step: insert an entry (key, and how far its serial and address are from
/// the first entry's), or delete the `n`th entry present.
#[derive(Clone, Debug)]
enum Op {
    Insert {
        key: u32,
        far: u8,
        serial: u64,
        page: u32,
        slot: u16,
    },
    Delete(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        // Far entries are a tenth at each level, so leaves of close entries fill
        // up before a far one comes.
        4 => (0u32..600, 0u8..10, any::<u64>(), any::<u32>(), any::<u16>()).prop_map(
            |(key, far, serial, page, slot)| Op::Insert { key, far: far.saturating_sub(6), serial, page, slot }
        ),
        1 => any::<usize>().prop_map(Op::Delete),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Inserts and deletes in any order, most entries close to each other (serials
    /// from a counter, a few data pages) and some far (`far` bytes of the serial,
    /// page and slot drawn at random): the tree always holds the model's entries,
    /// every leaf fits and is its entries' encoding, in both layouts.
    #[test]
    fn tree_matches_model(compact in any::<bool>(), ops in proptest::collection::vec(op(), 1..700)) {
        let mut p = pager();
        let t = Tree { key: 0, entry_len: ENTRY_LEN, compact };
        let mut model = BTreeMap::new();
        let mut next = 1u64;
        p.begin_op().expect("op");
        for op in ops {
            match op {
                Op::Insert { key, far, serial, page, slot } => {
                    next += 1;
                    // Far entries: random high bytes in the serial (`far` ≥ 1), the
                    // page (≥ 2) and the slot (3).
                    let s = next + if far >= 1 { (serial >> 40) << 24 } else { 0 };
                    let a = RecAddr {
                        page: 1 + (next % 7) as u32 + if far >= 2 { page & 0xffff_ff00 } else { 0 },
                        slot: (next % 30) as u16 + if far >= 3 { slot & 0xff00 } else { 0 },
                    };
                    let e = entry(key, s);
                    if model.contains_key(&e) {
                        continue;
                    }
                    t.insert(&mut p, &e, a).expect("insert");
                    model.insert(e, a);
                }
                Op::Delete(n) => {
                    if model.is_empty() {
                        continue;
                    }
                    let e = model.keys().nth(n % model.len()).cloned().expect("nth");
                    t.delete(&mut p, &e).expect("delete");
                    model.remove(&e);
                }
            }
        }
        // Also checks every leaf page's in-place walk against its decoding.
        same_as_model(&t, &mut p, &model);
        p.end_op(true);
    }
}
