//! Name keys against `Path`: order, equality, the allocation-free spellings, roots and parents.

use super::*;

/// Paths that sort differently by bytes than by components, and spellings `Path`
/// counts equal.
const TRICKY: &[&str] = &[
    "", "/", "//", ".", "./", "..", "../x", "./x", "a", "a/", "a//b", "a/./b", "a/b", "a/b/",
    "a.b", "a-b", "a0", "a/b/c", "a/bc", "ab", "/a", "/a/b", "-", ".b", "..b", "x/..", "x/../y",
    "a\0", "a\0b", "a\0/b", "a/\0", "\u{ff}", "a\u{1}", "a/\u{1}", "b", "B",
];

#[test]
fn keys_order_and_equate_exactly_as_paths() {
    for a in TRICKY {
        for b in TRICKY {
            let (pa, pb) = (Path::new(a), Path::new(b));
            let (ka, kb) = (key_of(pa), key_of(pb));
            assert_eq!(ka.cmp(&kb), pa.cmp(pb), "{a:?} vs {b:?}");
            assert_eq!(ka == kb, pa == pb, "{a:?} vs {b:?}");
            with_key(pa, |k| assert_eq!(k, &ka[..]));
            let mut buf = [0u8; 256];
            if let Some(n) = plain_key(a.as_bytes(), &mut buf) {
                assert_eq!(&buf[..n], &ka[..], "{a:?}");
            }
        }
    }
    // The plain spelling covers the paths the engine uses, and only those.
    let mut buf = [0u8; 256];
    let plain: Vec<&str> = TRICKY
        .iter()
        .copied()
        .filter(|a| plain_key(a.as_bytes(), &mut buf).is_some())
        .collect();
    assert_eq!(
        plain,
        [
            "a", "a/b", "a.b", "a-b", "a0", "a/b/c", "a/bc", "ab", "/a", "/a/b", "-", ".b", "..b",
            "\u{ff}", "a\u{1}", "a/\u{1}", "b", "B"
        ]
    );
    let longest = "n/".repeat(PLAIN_MAX / 2 - 1) + "nn";
    assert_eq!(longest.len(), PLAIN_MAX);
    assert!(plain_key(longest.as_bytes(), &mut buf).is_some());
    assert!(plain_key((longest + "n").as_bytes(), &mut buf).is_none());
    // A key longer than the stack buffer spills to the heap and stays the same.
    let long = "d/".repeat(300) + "f";
    with_key(Path::new(&long), |k| {
        assert_eq!(k, &key_of(Path::new(&long))[..])
    });
}

#[test]
fn is_root_and_parent_of_match_their_path_definitions() {
    for a in TRICKY {
        let path = Path::new(a);
        let want = path.parent().is_none() || path == Path::new(".") || path == Path::new("..");
        assert_eq!(is_root(path), want, "{a:?}");
        assert_eq!(parent_of(path), engine::vfs::parent_dir(path), "{a:?}");
    }
}
