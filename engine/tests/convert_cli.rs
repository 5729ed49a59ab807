//! End-to-end tests of the file formats at the `butil` level: `-convert` between 6.x
//! (shadow paging) and 5.x (legacy pre-imaging), `version=5` descriptions, and `-stat`,
//! `-check` and `-recover` on 5.x files — each running the real binary.

mod common;

use common::butil::{fails, ok, read_seq, save, usage};
use engine::formats::{write_end, write_record};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

const V6: &str = "# format: 6.x (shadow paging)";
const V5: &str = "# format: 5.x legacy (pre-imaging to NAME.PRE)";

fn os(p: &Path) -> &OsStr {
    p.as_os_str()
}

/// A description with a unique unsigned key and a string key with many duplicates,
/// plus `extra` file fields (e.g. `version=5`).
fn write_desc(path: &Path, extra: &str) {
    let text = format!(
        "record=40 page=1024 key=2 {extra}\n\
         position=1 length=4 duplicates=n modifiable=n type=unsigned segment=n\n\
         position=5 length=8 duplicates=y modifiable=y type=string segment=n\n"
    );
    std::fs::write(path, text).unwrap();
}

/// `n` records for [`write_desc`], ids scrambled so that insertion order, key 0 order
/// and the order of key 1's duplicates all differ.
fn write_records(path: &Path, n: u32) -> Vec<Vec<u8>> {
    let records: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            let id = (u64::from(i) * 7919 % u64::from(n)) as u32;
            let mut r = vec![b'.'; 40];
            r[..4].copy_from_slice(&id.to_le_bytes());
            r[4..12].copy_from_slice(format!("grp{:05}", id % 13).as_bytes());
            r[12..22].copy_from_slice(format!("{i:>10}").as_bytes());
            r
        })
        .collect();
    let mut bytes = Vec::new();
    for r in &records {
        write_record(&mut bytes, r);
    }
    write_end(&mut bytes);
    std::fs::write(path, bytes).unwrap();
    records
}

fn convert(file: &Path, out: &Path, to: &str) -> String {
    ok(&[
        OsStr::new("-convert"),
        os(file),
        os(out),
        OsStr::new("--to"),
        OsStr::new(to),
    ])
}

/// A loaded 6.x file of `n` records in `d`.
fn loaded(d: &Path, n: u32) -> (PathBuf, Vec<Vec<u8>>) {
    let (desc, seq, file) = (d.join("f.des"), d.join("f.seq"), d.join("f6.btr"));
    write_desc(&desc, "");
    let records = write_records(&seq, n);
    ok(&[OsStr::new("-create"), os(&file), os(&desc)]);
    ok(&[OsStr::new("-load"), os(&seq), os(&file)]);
    (file, records)
}

/// 6 → 5 → 6: the final file answers `-save` in every key byte for byte as the
/// original does; the 5.x intermediate checks clean and says it is 5.x.
#[test]
fn convert_6_to_5_to_6_keeps_every_record_and_key_order() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (f6, records) = loaded(d, 300);
    let stat = ok(&[OsStr::new("-stat"), os(&f6)]);
    assert!(stat.contains(V6), "{stat}");

    let f5 = d.join("f5.btr");
    let out = convert(&f6, &f5, "5");
    assert!(out.contains("300 records copied"), "{out}");
    assert!(out.contains("format 6 -> 5"), "{out}");

    let check = ok(&[OsStr::new("-check"), os(&f5)]);
    assert!(check.contains(": OK: 300 records"), "{check}");
    let stat5 = ok(&[OsStr::new("-stat"), os(&f5)]);
    assert!(stat5.contains(V5), "{stat5}");
    assert!(stat5.contains("key=2 version=5\n"), "{stat5}");
    assert!(stat5.contains("# records: 300"), "{stat5}");

    let back = d.join("back6.btr");
    let out = convert(&f5, &back, "6");
    assert!(out.contains("300 records copied"), "{out}");
    assert!(out.contains("format 5 -> 6"), "{out}");
    let stat_back = ok(&[OsStr::new("-stat"), os(&back)]);
    assert!(stat_back.contains(V6), "{stat_back}");
    assert!(!stat_back.contains("version="), "{stat_back}");
    ok(&[OsStr::new("-check"), os(&back)]);

    for key in 0..2 {
        let original = save(&f6, &d.join(format!("orig.k{key}")), key);
        assert_eq!(
            save(&back, &d.join(format!("back.k{key}")), key),
            original,
            "key {key}: the round trip changed the -save output"
        );
        assert_eq!(
            save(&f5, &d.join(format!("v5.k{key}")), key),
            original,
            "key {key}: the 5.x file's -save output differs"
        );
    }
    // Key 1 has duplicates, listed in insertion order. The load order is not key 0
    // order, so a copy made in key 0 order (as -copy does) would reorder them and fail
    // the key 1 comparison above; -convert copies in insertion order.
    let mut sorted = records.clone();
    sorted.sort();
    assert_ne!(records, sorted);
    let mut saved = read_seq(&d.join("orig.k0"));
    saved.sort();
    assert_eq!(saved, sorted);
}

/// Converting to the format the file already has is a copy.
#[test]
fn convert_to_the_same_format_is_a_copy() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (f6, _) = loaded(d, 50);
    let copy = d.join("copy6.btr");
    let out = convert(&f6, &copy, "6");
    assert!(out.contains("50 records copied, format 6 -> 6"), "{out}");
    assert_eq!(
        save(&copy, &d.join("copy.k1"), 1),
        save(&f6, &d.join("orig.k1"), 1)
    );
    let f5 = d.join("f5.btr");
    convert(&f6, &f5, "5");
    let again = d.join("again5.btr");
    let out = convert(&f5, &again, "5");
    assert!(out.contains("format 5 -> 5"), "{out}");
    assert!(ok(&[OsStr::new("-stat"), os(&again)]).contains(V5));
}

/// OUT must not exist (59, as for -create), and is left as it was; a missing FILE is
/// 12 and creates nothing; `--to` missing or not 5/6 is a usage error.
#[test]
fn convert_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (f6, _) = loaded(d, 20);
    let other = d.join("other.btr");
    std::fs::write(&other, b"precious").unwrap();
    let r = fails(
        &[
            OsStr::new("-convert"),
            os(&f6),
            os(&other),
            OsStr::new("--to"),
            OsStr::new("5"),
        ],
        59,
    );
    assert!(r.stderr.contains("other.btr"), "{}", r.stderr);
    assert_eq!(std::fs::read(&other).unwrap(), b"precious");
    // FILE as OUT: it exists.
    let before = std::fs::read(&f6).unwrap();
    fails(
        &[
            OsStr::new("-convert"),
            os(&f6),
            os(&f6),
            OsStr::new("--to"),
            OsStr::new("6"),
        ],
        59,
    );
    assert_eq!(std::fs::read(&f6).unwrap(), before);

    let out = d.join("out.btr");
    fails(
        &[
            OsStr::new("-convert"),
            os(&d.join("missing.btr")),
            os(&out),
            OsStr::new("--to"),
            OsStr::new("5"),
        ],
        12,
    );
    assert!(!out.exists());

    let r = usage(&[OsStr::new("-convert"), os(&f6), os(&out)]);
    assert!(r.stderr.contains("--to"), "{}", r.stderr);
    for bad in ["4", "7", "five", "6.0", ""] {
        let r = usage(&[
            OsStr::new("-convert"),
            os(&f6),
            os(&out),
            OsStr::new("--to"),
            OsStr::new(bad),
        ]);
        assert!(r.stderr.contains("expected 6"), "{}", r.stderr);
    }
    usage(&[OsStr::new("-convert"), os(&f6)]);
    assert!(!out.exists());
}

/// `version=5` in a description creates a 5.x file; a bad version is status 62.
#[test]
fn create_from_a_version_5_description() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (desc, file) = (d.join("v5.des"), d.join("v5.btr"));
    write_desc(&desc, "version=5");
    ok(&[OsStr::new("-create"), os(&file), os(&desc)]);
    let stat = ok(&[OsStr::new("-stat"), os(&file)]);
    assert!(stat.contains(V5), "{stat}");
    assert!(stat.contains("version=5"), "{stat}");
    // -stat's output is a description: it recreates a 5.x file.
    let again_desc = d.join("again.des");
    std::fs::write(&again_desc, &stat).unwrap();
    let again = d.join("again.btr");
    ok(&[OsStr::new("-create"), os(&again), os(&again_desc)]);
    assert!(ok(&[OsStr::new("-stat"), os(&again)]).contains(V5));

    let bad = d.join("bad.des");
    write_desc(&bad, "version=4");
    let r = fails(
        &[OsStr::new("-create"), os(&d.join("bad.btr")), os(&bad)],
        62,
    );
    assert!(r.stderr.contains("line 1"), "{}", r.stderr);
    assert!(r.stderr.contains("`version=4`"), "{}", r.stderr);
    assert!(!d.join("bad.btr").exists());
}

/// `-recover` reads a 5.x file: every record comes back, and the definition it prints
/// rebuilds a 5.x file.
#[test]
fn recover_dumps_a_5x_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (desc, seq, file) = (d.join("v5.des"), d.join("v5.seq"), d.join("v5.btr"));
    write_desc(&desc, "version=5");
    let records = write_records(&seq, 200);
    ok(&[OsStr::new("-create"), os(&file), os(&desc)]);
    ok(&[OsStr::new("-load"), os(&seq), os(&file)]);

    let out = d.join("rec.seq");
    let report = ok(&[OsStr::new("-recover"), os(&file), os(&out)]);
    assert!(report.contains("recovered 200 records"), "{report}");
    assert!(report.contains("skipped 0 unreadable page"), "{report}");
    assert!(report.contains("version=5"), "{report}");
    let mut got = read_seq(&out);
    let mut want = records;
    got.sort();
    want.sort();
    assert_eq!(got, want);
}

/// With both control records damaged, `-recover` scans a 5.x file's pages like a 6.x
/// file's and still finds every record.
#[test]
fn recover_scans_a_5x_file_whose_control_records_are_damaged() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (desc, seq, file) = (d.join("v5.des"), d.join("v5.seq"), d.join("v5.btr"));
    write_desc(&desc, "version=5");
    let records = write_records(&seq, 120);
    ok(&[OsStr::new("-create"), os(&file), os(&desc)]);
    ok(&[OsStr::new("-load"), os(&seq), os(&file)]);
    // The last byte of each 1024-byte FCR slot is unused: the checksums fail, the
    // fields still decode.
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[1023] ^= 0x5a;
    bytes[2047] ^= 0x5a;
    std::fs::write(&file, bytes).unwrap();
    fails(&[OsStr::new("-stat"), os(&file)], 2);

    let out = d.join("rec.seq");
    let report = ok(&[OsStr::new("-recover"), os(&file), os(&out)]);
    assert!(report.contains("scanned every physical page"), "{report}");
    assert!(report.contains("recovered 120 records"), "{report}");
    let mut got = read_seq(&out);
    let mut want = records;
    got.sort();
    want.sort();
    assert_eq!(got, want);
}
