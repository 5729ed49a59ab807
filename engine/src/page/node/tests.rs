use super::*;
use proptest::prelude::*;

proptest! {
    /// `cmp_entries` is `<[u8]>::cmp`: on any lengths (equal or not, words and
    /// tails) and on byte strings that share a long prefix.
    #[test]
    fn cmp_entries_is_slice_order(
        prefix in proptest::collection::vec(any::<u8>(), 0..24),
        a in proptest::collection::vec(any::<u8>(), 0..24),
        b in proptest::collection::vec(any::<u8>(), 0..24),
    ) {
        let a = [prefix.as_slice(), &a].concat();
        let b = [prefix.as_slice(), &b].concat();
        prop_assert_eq!(cmp_entries(&a, &b), a.cmp(&b));
        prop_assert_eq!(cmp_entries(&b, &a), b.cmp(&a));
        prop_assert_eq!(cmp_entries(&a, &a), std::cmp::Ordering::Equal);
    }
}

/// A leaf's entries as a test draws them: `n` distinct sorted entries of
/// `entry_len` bytes whose keys, serials, pages and slots each vary in only their
/// last `spread` bytes (so that leaves share parts of every length), or anywhere.
fn arb_leaf(entry_len: usize) -> impl Strategy<Value = (Vec<Vec<u8>>, Vec<u64>)> {
    (0..=entry_len + 6, 0usize..60, any::<u64>()).prop_flat_map(move |(spread, n, base)| {
        let row = (
            proptest::collection::vec(any::<u8>(), entry_len),
            any::<u32>(),
            any::<u16>(),
        );
        proptest::collection::vec(row, n).prop_map(move |rows| {
            // Bytes before the last `spread` of each column come from `base`.
            let fixed = |col: &mut [u8], salt: u8| {
                let keep = col.len().saturating_sub(spread);
                for (j, b) in col[..keep].iter_mut().enumerate() {
                    *b = (base >> (8 * (j % 8))) as u8 ^ salt;
                }
            };
            let mut entries: Vec<(Vec<u8>, u64)> = rows
                .into_iter()
                .map(|(mut e, page, slot)| {
                    let klen = entry_len - SERIAL_LEN;
                    fixed(&mut e[..klen], 0);
                    fixed(&mut e[klen..], 0x5a);
                    // Addresses: high-order bytes fixed (little-endian: the last).
                    let (mut p, mut s) = (page.to_be_bytes(), slot.to_be_bytes());
                    fixed(&mut p, 1);
                    fixed(&mut s, 2);
                    let a = RecAddr {
                        page: u32::from_be_bytes(p),
                        slot: u16::from_be_bytes(s),
                    };
                    (e, a.pack())
                })
                .collect();
            entries.sort();
            entries.dedup_by(|a, b| a.0 == b.0);
            entries.into_iter().unzip()
        })
    })
}

/// The longest shared parts of `keys` → `vals`, computed the slow way: for each
/// column, the most bytes every entry agrees on with every other.
fn brute_shared(keys: &[Vec<u8>], vals: &[u64]) -> [usize; 4] {
    if keys.is_empty() {
        return [0; 4];
    }
    let klen = keys[0].len() - SERIAL_LEN;
    let cols: [Vec<Vec<u8>>; 4] = [
        keys.iter().map(|k| k[..klen].to_vec()).collect(),
        keys.iter().map(|k| k[klen..].to_vec()).collect(),
        // The high-order bytes first, as the layout shares them.
        vals.iter()
            .map(|&v| RecAddr::unpack(v).page.to_be_bytes().to_vec())
            .collect(),
        vals.iter()
            .map(|&v| RecAddr::unpack(v).slot.to_be_bytes().to_vec())
            .collect(),
    ];
    cols.map(|c| {
        (0..=c[0].len())
            .rev()
            .find(|&p| c.iter().all(|x| x[..p] == c[0][..p]))
            .unwrap_or(0)
    })
}

proptest! {
    /// Any leaf encodes and decodes to itself in both layouts (when it fits), the
    /// view reads every entry and address as decoding does, a compact leaf
    /// records the longest shared parts its entries have and is never larger than
    /// the plain one, and the size `encoded_len` predicts is the bytes used.
    #[test]
    fn leaves_round_trip_in_both_layouts(
        page_size in prop_oneof![Just(512usize), Just(4096)],
        (entry_len, (keys, vals)) in (9usize..40).prop_flat_map(|e| (Just(e), arb_leaf(e))),
    ) {
        let node = Node { leaf: true, leftmost: 0, keys: keys.clone(), vals: vals.clone() };
        let plain = node.encoded_len(entry_len, false);
        let compact = node.encoded_len(entry_len, true);
        prop_assert!(compact <= plain);
        prop_assert_eq!(plain, ENTRIES_AT + keys.len() * (entry_len + LEAF_VALUE_LEN));
        for (layout, len) in [(false, plain), (true, compact)] {
            if len > page_size {
                continue;
            }
            let b = node.encode(page_size, entry_len, layout);
            prop_assert!(b[len..].iter().all(|&x| x == 0), "bytes past the rows");
            prop_assert_eq!(&Node::decode(&b, entry_len).unwrap(), &node);
            let want = if layout { brute_shared(&keys, &vals) } else { [0; 4] };
            prop_assert_eq!(shared_of(&b).0, want);
            let v = NodeView::new(&b, entry_len).unwrap();
            let mut walked = Vec::new();
            v.for_each_entry(|e, a| walked.push((e.to_vec(), a.pack())));
            let mut scratch = [0; MAX_ENTRY_LEN];
            let indexed: Vec<_> =
                (0..v.len()).map(|i| (v.entry(i, &mut scratch).to_vec(), v.val(i))).collect();
            prop_assert_eq!(&walked, &indexed);
            let want: Vec<_> = keys.iter().cloned().zip(vals.iter().copied()).collect();
            prop_assert_eq!(walked, want);
            // Binary search over rebuilt entries finds each one.
            for (i, k) in keys.iter().enumerate() {
                prop_assert_eq!(v.partition_point(|e| e < k.as_slice()), i);
            }
            // In order; and not once two rows trade places.
            prop_assert!(v.strictly_increasing());
            if keys.len() >= 2 {
                let (at, row) = (v.rows.cols.rows_at, v.rows.cols.row);
                let mut swapped = b.clone();
                swapped[at..at + row].copy_from_slice(&b[at + row..at + 2 * row]);
                swapped[at + row..at + 2 * row].copy_from_slice(&b[at..at + row]);
                prop_assert!(!NodeView::new(&swapped, entry_len).unwrap().strictly_increasing());
            }
        }
    }

    /// Inserting and removing entries one at a time, in place where
    /// `fits_in_place` allows and by `rebuild_leaf` otherwise, gives a compact leaf
    /// byte for byte the page that encoding its entries gives (the one encoding:
    /// in place keeps the shared parts the longest), and a plain leaf the same;
    /// `fits_in_place` says no exactly when the entry lacks a shared part or
    /// there is no room. Removing in place keeps every entry readable, and gives
    /// the one encoding exactly when `removal_keeps_shares` says it does.
    #[test]
    fn in_place_edits_match_rebuilding(
        compact in any::<bool>(),
        (entry_len, (keys, vals)) in (9usize..24).prop_flat_map(|e| (Just(e), arb_leaf(e))),
        order in any::<u64>(),
    ) {
        let ps = 512;
        let mut node = Node::new_leaf();
        let mut b = node.encode(ps, entry_len, compact);
        // Insert in an order the seed scrambles.
        let mut todo: Vec<usize> = (0..keys.len()).collect();
        let mut x = order | 1;
        for i in (1..todo.len()).rev() {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            todo.swap(i, (x % (i as u64 + 1)) as usize);
        }
        for &j in &todo {
            let (key, val) = (&keys[j], vals[j]);
            let at = node.keys.partition_point(|k| k < key);
            let mut grown = node.clone();
            grown.keys.insert(at, key.clone());
            grown.vals.insert(at, val);
            if grown.encoded_len(entry_len, compact) > ps {
                break;
            }
            let v = NodeView::new(&b, entry_len).unwrap();
            let in_place = v.fits_in_place(key, val, compact);
            let cols = v.rows.cols;
            if compact && !node.keys.is_empty() {
                let shares = cols.shares(&b, key, val);
                let room = cols.rows_at + (node.keys.len() + 1) * cols.row <= ps;
                prop_assert_eq!(in_place, shares && room);
            }
            if in_place {
                insert_in_place(&mut b, entry_len, at, key, val);
            } else {
                let change = LeafChange::Insert { at, key, val };
                b = rebuild_leaf(&v, change, compact).expect("the grown leaf fits");
            }
            node = grown;
            prop_assert_eq!(&b, &node.encode(ps, entry_len, compact));
        }
        while !node.keys.is_empty() {
            let at = node.keys.len() / 3;
            node.keys.remove(at);
            node.vals.remove(at);
            // Rebuilt: the one encoding; in place: the same entries.
            let v = NodeView::new(&b, entry_len).unwrap();
            let rebuilt = rebuild_leaf(&v, LeafChange::Remove(at), compact).unwrap();
            prop_assert_eq!(&rebuilt, &node.encode(ps, entry_len, compact));
            let keeps = v.removal_keeps_shares(at);
            remove_in_place(&mut b, entry_len, at);
            prop_assert_eq!(&Node::decode(&b, entry_len).unwrap(), &node);
            // In place gives the one encoding exactly when the check says so
            // (a plain leaf shares nothing, so always).
            prop_assert_eq!(keeps || !compact, b == rebuilt, "removal_keeps_shares({})", at);
            b = rebuilt;
        }
    }
}

/// Internal nodes: in-place insert and remove give byte for byte the page that
/// decoding, editing the `Node` and encoding again gives; and a round trip.
#[test]
fn internal_nodes_edit_in_place() {
    let e = 10;
    let mut n = Node {
        leaf: false,
        leftmost: 77,
        keys: Vec::new(),
        vals: Vec::new(),
    };
    let mut b = n.encode(512, e, true);
    let cap = capacity(512, e, false);
    let order: Vec<u8> = (0..cap as u8).map(|i| (i * 2) % (cap as u8 | 1)).collect();
    for &k in &order {
        let key = vec![k; e];
        let at = n.keys.partition_point(|x| x < &key);
        if n.keys.get(at) == Some(&key) {
            continue;
        }
        assert!(NodeView::new(&b, e).unwrap().fits_in_place(&key, 0, true));
        n.keys.insert(at, key.clone());
        n.vals.insert(at, u64::from(k) + 1000);
        insert_in_place(&mut b, e, at, &key, u64::from(k) + 1000);
        assert_eq!(b, n.encode(512, e, true));
    }
    assert_eq!(n.keys.len(), cap);
    assert!(!NodeView::new(&b, e)
        .unwrap()
        .fits_in_place(&[0xff; 10], 0, false));
    assert_eq!(Node::decode(&b, e).unwrap(), n);
    assert_eq!(n.children()[0], 77);
    while !n.keys.is_empty() {
        let at = n.keys.len() / 3;
        n.keys.remove(at);
        n.vals.remove(at);
        remove_in_place(&mut b, e, at);
        assert_eq!(b, n.encode(512, e, false));
    }
    set_leftmost(&mut b, 5);
    n.leftmost = 5;
    assert_eq!(b, n.encode(512, e, false));
}

/// A leaf whose rows fill its page to the last byte fits: rebuilding one (plain:
/// 40 + 8 rows of 59 bytes is 512) gives it, and one more row does not.
#[test]
fn a_leaf_that_fills_its_page_exactly_fits() {
    let e = 53;
    let n = Node {
        leaf: true,
        leftmost: 0,
        keys: (0..7u8).map(|i| vec![i; e]).collect(),
        vals: (0..7).collect(),
    };
    let b = n.encode(512, e, false);
    let v = NodeView::new(&b, e).unwrap();
    let key = vec![9u8; e];
    let change = LeafChange::Insert {
        at: 7,
        key: &key,
        val: 7,
    };
    let full = rebuild_leaf(&v, change, false).expect("exactly a page");
    let v = NodeView::new(&full, e).unwrap();
    assert_eq!((v.len(), v.has_room()), (8, false));
    let key = vec![10u8; e];
    let change = LeafChange::Insert {
        at: 8,
        key: &key,
        val: 8,
    };
    assert_eq!(rebuild_leaf(&v, change, false), None);
}

/// Each column's check of `removal_keeps_shares` on its own: three entries whose
/// keys and slots differ in the same byte throughout, and whose serials (or pages)
/// agree on one more byte once the third is gone — only a rebuild gives the
/// leaf's one encoding then.
#[test]
fn a_removal_that_lengthens_one_shared_part_is_seen() {
    let e = 12;
    let entry =
        |key: u32, serial: u64| [key.to_be_bytes().as_slice(), &serial.to_be_bytes()].concat();
    let addr = |page: u32, slot: u16| RecAddr { page, slot }.pack();
    // (serials, pages) of the three entries; the third differs a byte earlier.
    for (serials, pages) in [
        ([0x100, 0x101, 0x200], [7, 7, 7]),
        ([5, 6, 7], [0x100, 0x101, 0x200]),
    ] {
        let n = Node {
            leaf: true,
            leftmost: 0,
            keys: (0..3).map(|i| entry(i + 1, serials[i as usize])).collect(),
            vals: (0..3).map(|i| addr(pages[i], i as u16)).collect(),
        };
        let b = n.encode(512, e, true);
        let v = NodeView::new(&b, e).unwrap();
        assert!(!v.removal_keeps_shares(2), "{serials:?} {pages:?}");
        assert!(v.removal_keeps_shares(1), "{serials:?} {pages:?}");
    }
}

/// A leaf written before shared parts existed (its four shared lengths 0, rows of
/// entry and address back to back) reads as it always did.
#[test]
fn plain_leaf_bytes_are_the_old_layout() {
    let e = 12;
    let mut b = super::super::blank(512, PageType::Leaf);
    put_u16(&mut b, COUNT_AT, 2);
    put_u16(&mut b, KEYLEN_AT, e as u16);
    let rows = [([1u8; 12], 7u32, 3u16), ([2u8; 12], 9, 4)];
    for (i, (k, p, s)) in rows.iter().enumerate() {
        let at = ENTRIES_AT + i * (e + 6);
        b[at..at + e].copy_from_slice(k);
        put_u32(&mut b, at + e, *p);
        put_u16(&mut b, at + e + 4, *s);
    }
    let n = Node::decode(&b, e).unwrap();
    assert_eq!(n.keys, vec![vec![1u8; 12], vec![2u8; 12]]);
    assert_eq!(
        n.vals,
        vec![
            RecAddr { page: 7, slot: 3 }.pack(),
            RecAddr { page: 9, slot: 4 }.pack()
        ]
    );
    assert_eq!(n.encode(512, e, false), b);
}

/// Decoding refuses a leaf whose shared lengths exceed their columns, whose rows
/// run past the page, or which claims several entries in rows of no width.
#[test]
fn malformed_leaves_are_refused() {
    let e = 12;
    let node = Node {
        leaf: true,
        leftmost: 0,
        keys: vec![vec![1; e], vec![2; e]],
        vals: vec![5, 6],
    };
    let good = node.encode(512, e, true);
    assert!(NodeView::new(&good, e).is_ok());
    for (j, too_long) in [(0, 5), (1, 9), (2, 5), (3, 3)] {
        let mut b = good.clone();
        b[SHARED_AT + j] = too_long;
        assert!(
            NodeView::new(&b, e).is_err(),
            "column {j} shared {too_long}"
        );
    }
    let mut b = good.clone();
    put_u16(&mut b, COUNT_AT, 500);
    assert!(NodeView::new(&b, e).is_err(), "rows past the page");
    // Every column wholly shared: rows of no width, so one entry at most.
    let mut b = good.clone();
    b[SHARED_AT..SHARED_AT + 4].copy_from_slice(&[4, 8, 4, 2]);
    assert!(
        NodeView::new(&b, e).is_err(),
        "two entries in rows of no width"
    );
    put_u16(&mut b, COUNT_AT, 1);
    assert!(NodeView::new(&b, e).is_ok());
    assert!(
        NodeView::new(&good, 8).is_err(),
        "entries no longer than a serial"
    );
}
