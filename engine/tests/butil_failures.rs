//! `butil`'s failure cases end to end: malformed descriptions, missing, garbage and
//! truncated files, wrong record lengths, duplicate keys, refusals to overwrite,
//! damaged pages and usage errors — each asserting the exit code (the Btrieve status,
//! or 64 for usage errors), the status in stderr, and that nothing panicked.

mod common;

use common::butil::*;
use common::butil_files::*;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

#[test]
fn malformed_description_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let seg = "position=1 length=4 duplicates=n modifiable=n type=unsigned segment=n";
    let cases: &[(&str, String, u16)] = &[
        ("empty", String::new(), 62),
        ("not name=value", format!("record=10 key=1 hello {seg}"), 62),
        (
            "unknown field",
            format!("record=10 key=1 colour=red {seg}"),
            62,
        ),
        ("no record length", format!("key=1 {seg}"), 62),
        ("number not a number", format!("record=ten key=1 {seg}"), 62),
        (
            "unknown key type",
            format!("record=10 key=1 {}", seg.replace("unsigned", "float")),
            62,
        ),
        ("fewer keys than key=", format!("record=10 key=2 {seg}"), 62),
        (
            "segment=y on the last segment",
            format!("record=10 key=1 {}", seg.replace("segment=n", "segment=y")),
            62,
        ),
        (
            "repeated field",
            format!("record=10 record=11 key=1 {seg}"),
            62,
        ),
        ("binary garbage", "\u{0}\u{1}\u{2}=\u{ff}".into(), 62),
        ("page size", format!("record=10 page=1000 key=1 {seg}"), 24),
        (
            "integer key length",
            format!("record=10 key=1 {}", seg.replace("length=4", "length=3")),
            29,
        ),
        (
            "record does not fit the page",
            format!("record=600 page=512 key=1 {seg}"),
            28,
        ),
    ];
    for (i, (what, text, status)) in cases.iter().enumerate() {
        let desc = d.join(format!("bad{i}.des"));
        std::fs::write(&desc, text).unwrap();
        let file = d.join(format!("bad{i}.btr"));
        let r = fails(
            &[OsStr::new("-create"), file.as_os_str(), desc.as_os_str()],
            *status,
        );
        assert!(r.stdout.is_empty(), "{what}: {}", r.stdout);
        assert!(!file.exists(), "{what}: a file was created");
    }
    // Arbitrary bytes never panic; they are refused with a status.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for i in 0..20 {
        let bytes: Vec<u8> = (0..200)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let alphabet = b"record=1 key position=length type=\n \x1ay";
                if i % 2 == 0 {
                    alphabet[(x % alphabet.len() as u64) as usize]
                } else {
                    x as u8
                }
            })
            .collect();
        let desc = d.join(format!("junk{i}.des"));
        std::fs::write(&desc, bytes).unwrap();
        let r = butil(&[
            OsStr::new("-create"),
            d.join(format!("junk{i}.btr")).as_os_str(),
            desc.as_os_str(),
        ]);
        assert_ne!(r.code, 0);
        assert!(r.stderr.starts_with("butil: status "), "{}", r.stderr);
    }
}

#[test]
fn description_with_a_key_outside_the_record_is_27() {
    let dir = tempfile::tempdir().unwrap();
    let desc = dir.path().join("k.des");
    std::fs::write(
        &desc,
        "record=10 key=1\nposition=8 length=4 duplicates=n modifiable=n type=string segment=n\n",
    )
    .unwrap();
    let file = dir.path().join("k.btr");
    let r = fails(
        &[OsStr::new("-create"), file.as_os_str(), desc.as_os_str()],
        27,
    );
    assert!(r.stderr.contains("key 0"), "{}", r.stderr);
    assert!(!file.exists());
}

#[test]
fn missing_description_file_is_12() {
    let dir = tempfile::tempdir().unwrap();
    let r = fails(
        &[
            OsStr::new("-create"),
            dir.path().join("x.btr").as_os_str(),
            dir.path().join("nope.des").as_os_str(),
        ],
        12,
    );
    assert!(r.stderr.contains("description file"), "{}", r.stderr);
}

#[test]
fn create_over_an_existing_file_is_59() {
    let dir = tempfile::tempdir().unwrap();
    let file = build(
        dir.path(),
        "course",
        &demo("course.des"),
        &demo("course.seq"),
    );
    let before = std::fs::read(&file).unwrap();
    fails(
        &[
            OsStr::new("-create"),
            file.as_os_str(),
            demo("person.des").as_os_str(),
        ],
        59,
    );
    fails(
        &[OsStr::new("-clone"), file.as_os_str(), file.as_os_str()],
        59,
    );
    assert_eq!(
        std::fs::read(&file).unwrap(),
        before,
        "the file was changed"
    );
}

#[test]
fn missing_garbage_empty_and_truncated_data_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let missing = d.join("missing.btr");
    let garbage = d.join("garbage.btr");
    let empty = d.join("empty.btr");
    let mut x = 0x1234_5678_9abc_def1u64;
    let junk: Vec<u8> = (0..20_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(&garbage, junk).unwrap();
    std::fs::write(&empty, b"").unwrap();
    let out = d.join("out.seq");
    let other = build(d, "course", &demo("course.des"), &demo("course.seq"));
    for (file, status) in [(&missing, 12), (&garbage, 30), (&empty, 30)] {
        let f = file.as_os_str();
        fails(&[OsStr::new("-stat"), f], status);
        fails(&[OsStr::new("-check"), f], status);
        fails(&[OsStr::new("-save"), f, out.as_os_str()], status);
        fails(&[OsStr::new("-recover"), f, out.as_os_str()], status);
        fails(
            &[OsStr::new("-load"), demo("course.seq").as_os_str(), f],
            status,
        );
        fails(&[OsStr::new("-copy"), f, other.as_os_str()], status);
        fails(&[OsStr::new("-copy"), other.as_os_str(), f], status);
        fails(
            &[OsStr::new("-clone"), d.join("c.btr").as_os_str(), f],
            status,
        );
        assert!(!d.join("c.btr").exists());
    }
    assert!(!out.exists(), "a failed command wrote its output");

    // Truncated: inside the first control record (the magic is still there) → 2.
    let file = build(d, "person", &demo("person.des"), &demo("person.seq"));
    let bytes = std::fs::read(&file).unwrap();
    let short = d.join("short.btr");
    std::fs::write(&short, &bytes[..100]).unwrap();
    let r = fails(&[OsStr::new("-stat"), short.as_os_str()], 2);
    assert!(r.stderr.contains("control record"), "{}", r.stderr);
    fails(&[OsStr::new("-check"), short.as_os_str()], 2);
    fails(
        &[OsStr::new("-recover"), short.as_os_str(), out.as_os_str()],
        2,
    );

    // Truncated after the control records: pages the file refers to are gone → 2.
    let cut = d.join("cut.btr");
    std::fs::write(&cut, &bytes[..3 * 4096 + 100]).unwrap();
    let r = butil(&[OsStr::new("-stat"), cut.as_os_str()]);
    assert!(r.code == 0 || r.code == 2, "{}", r.stderr);
    fails(&[OsStr::new("-check"), cut.as_os_str()], 2);
    fails(&[OsStr::new("-save"), cut.as_os_str(), out.as_os_str()], 2);
    let r = butil(&[OsStr::new("-recover"), cut.as_os_str(), out.as_os_str()]);
    assert!(r.code == 0 || r.code == 2, "{}", r.stderr);
    if r.code == 0 {
        assert!(read_seq(&out).len() < 50);
    }
}

#[test]
fn sequential_file_with_wrong_record_length() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let file = d.join("person.btr");
    ok(&[
        OsStr::new("-create"),
        file.as_os_str(),
        demo("person.des").as_os_str(),
    ]);
    let mut records = read_seq(&demo("person.seq"));
    records[6].push(b'!'); // record 7 is 101 bytes
    let long = d.join("long.seq");
    std::fs::write(&long, seq_bytes(&records)).unwrap();
    let r = fails(
        &[OsStr::new("-load"), long.as_os_str(), file.as_os_str()],
        28,
    );
    assert!(r.stderr.contains("record 7 "), "{}", r.stderr);
    assert!(r.stderr.contains("nothing was loaded"), "{}", r.stderr);

    records[6].truncate(90);
    let short = d.join("short.seq");
    std::fs::write(&short, seq_bytes(&records)).unwrap();
    let r = fails(
        &[OsStr::new("-load"), short.as_os_str(), file.as_os_str()],
        22,
    );
    assert!(r.stderr.contains("record 7 "), "{}", r.stderr);

    // Another file's records: wrong length from the first record.
    let r = fails(
        &[
            OsStr::new("-load"),
            demo("course.seq").as_os_str(),
            file.as_os_str(),
        ],
        22,
    );
    assert!(r.stderr.contains("record 1 "), "{}", r.stderr);

    // Broken framing (a cut in the middle of record 3) is 28 naming the record.
    let mut framed = seq_bytes(&read_seq(&demo("person.seq")));
    framed.truncate(2 * 106 + 50);
    let cut = d.join("cut.seq");
    std::fs::write(&cut, framed).unwrap();
    let r = fails(
        &[OsStr::new("-load"), cut.as_os_str(), file.as_os_str()],
        28,
    );
    assert!(r.stderr.contains("record 3 "), "{}", r.stderr);

    // A description file is not a sequential file.
    fails(
        &[
            OsStr::new("-load"),
            demo("person.des").as_os_str(),
            file.as_os_str(),
        ],
        28,
    );
    // Missing sequential file.
    fails(
        &[
            OsStr::new("-load"),
            d.join("none.seq").as_os_str(),
            file.as_os_str(),
        ],
        12,
    );

    // Nothing was loaded by any of these.
    let stat = ok(&[OsStr::new("-stat"), file.as_os_str()]);
    assert!(stat.contains("# records: 0"), "{stat}");
}

#[test]
fn load_stops_at_a_duplicate_key_and_keeps_what_it_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let file = d.join("person.btr");
    ok(&[
        OsStr::new("-create"),
        file.as_os_str(),
        demo("person.des").as_os_str(),
    ]);
    let mut records = read_seq(&demo("person.seq"));
    let dup = records[3].clone();
    records.insert(10, dup); // record 11 repeats record 4's unique key 0
    let seq = d.join("dup.seq");
    std::fs::write(&seq, seq_bytes(&records)).unwrap();
    let r = fails(&[OsStr::new("-load"), seq.as_os_str(), file.as_os_str()], 5);
    assert!(r.stderr.contains("record 11"), "{}", r.stderr);
    assert!(r.stdout.contains("loaded 10 records"), "{}", r.stdout);
    let out = ok(&[OsStr::new("-check"), file.as_os_str()]);
    assert!(out.contains("OK: 10 records"), "{out}");
}

#[test]
fn copy_needs_matching_record_lengths() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let person = build(d, "person", &demo("person.des"), &demo("person.seq"));
    let course = build(d, "course", &demo("course.des"), &demo("course.seq"));
    let r = fails(
        &[OsStr::new("-copy"), course.as_os_str(), person.as_os_str()],
        22,
    );
    assert!(r.stderr.contains("nothing was copied"), "{}", r.stderr);
    fails(
        &[OsStr::new("-copy"), person.as_os_str(), course.as_os_str()],
        28,
    );
    // Copying a file into itself is refused before anything is touched.
    let r = fails(
        &[OsStr::new("-copy"), person.as_os_str(), person.as_os_str()],
        11,
    );
    assert!(r.stderr.contains("same file"), "{}", r.stderr);
    // Copying into a file that already holds the records stops at a duplicate key 0.
    let twin = d.join("twin.btr");
    ok(&[OsStr::new("-clone"), twin.as_os_str(), person.as_os_str()]);
    ok(&[OsStr::new("-copy"), person.as_os_str(), twin.as_os_str()]);
    fails(
        &[OsStr::new("-copy"), person.as_os_str(), twin.as_os_str()],
        5,
    );
    ok(&[OsStr::new("-check"), twin.as_os_str()]);
}

#[test]
fn save_and_recover_refuse_to_overwrite_their_input() {
    let dir = tempfile::tempdir().unwrap();
    let file = build(
        dir.path(),
        "course",
        &demo("course.des"),
        &demo("course.seq"),
    );
    let before = std::fs::read(&file).unwrap();
    let alias = dir.path().join(".").join("course.btr");
    fails(
        &[OsStr::new("-save"), file.as_os_str(), alias.as_os_str()],
        11,
    );
    fails(
        &[OsStr::new("-recover"), file.as_os_str(), file.as_os_str()],
        11,
    );
    assert_eq!(std::fs::read(&file).unwrap(), before);
    // A bad key number is the engine's status 6.
    fails(
        &[
            OsStr::new("-save"),
            file.as_os_str(),
            dir.path().join("o.seq").as_os_str(),
            OsStr::new("N"),
            OsStr::new("7"),
        ],
        6,
    );
}

/// Damage one live data page of the person file; returns (file, records on that page).
fn person_with_a_damaged_data_page(d: &Path) -> (PathBuf, usize) {
    let file = build(d, "person", &demo("person.des"), &demo("person.seq"));
    let bytes = std::fs::read(&file).unwrap();
    let data = live_data_pages(&bytes, 4096);
    assert_eq!(data.len(), 2, "person: 50 records of 37 per page");
    let (page, used) = data[0];
    assert!(used > 0);
    // Byte 100 of the page lies in slot 0's record (header 32 + 8 + bitmap + serial).
    flip(&file, page * 4096 + 100);
    (file, used)
}

#[test]
fn check_and_recover_a_corrupted_data_page() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (file, lost) = person_with_a_damaged_data_page(d);
    let r = fails(&[OsStr::new("-check"), file.as_os_str()], 2);
    assert!(r.stdout.lines().count() > 1, "{}", r.stdout);
    assert!(
        r.stdout.lines().all(|l| l.starts_with("problem: ")),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("fails its checksum"), "{}", r.stdout);
    assert!(r.stderr.contains("problem(s)"), "{}", r.stderr);
    // -save reads through the damaged page: status 2, no output written.
    let saved = d.join("saved.seq");
    fails(
        &[OsStr::new("-save"), file.as_os_str(), saved.as_os_str()],
        2,
    );
    assert!(!saved.exists());

    let out = d.join("rec.seq");
    let report = ok(&[OsStr::new("-recover"), file.as_os_str(), out.as_os_str()]);
    let got = read_seq(&out);
    assert_eq!(got.len(), 50 - lost, "{report}");
    let original = read_seq(&demo("person.seq"));
    assert!(got.iter().all(|r| original.contains(r)), "invented records");
    assert!(
        report.contains(&format!("recovered {} records", 50 - lost)),
        "{report}"
    );
    assert!(report.contains("opened normally"), "{report}");
    assert!(report.contains("skipped 1 unreadable page"), "{report}");

    // The recovered records rebuild a sound file.
    let rebuilt = d.join("rebuilt.btr");
    ok(&[
        OsStr::new("-create"),
        rebuilt.as_os_str(),
        demo("person.des").as_os_str(),
    ]);
    ok(&[OsStr::new("-load"), out.as_os_str(), rebuilt.as_os_str()]);
    let check = ok(&[OsStr::new("-check"), rebuilt.as_os_str()]);
    assert!(
        check.contains(&format!("OK: {} records", 50 - lost)),
        "{check}"
    );
}

#[test]
fn recover_scans_when_both_control_records_are_damaged() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (file, lost) = person_with_a_damaged_data_page(d);
    // The last byte of each FCR slot is unused: the checksums fail, the fields decode.
    flip(&file, 4095);
    flip(&file, 2 * 4096 - 1);
    let r = fails(&[OsStr::new("-stat"), file.as_os_str()], 2);
    assert!(r.stderr.contains("-recover"), "{}", r.stderr);
    let out = d.join("rec.seq");
    let report = ok(&[OsStr::new("-recover"), file.as_os_str(), out.as_os_str()]);
    assert!(report.contains("scanned every physical page"), "{report}");
    assert!(report.contains("fails its checksum"), "{report}");
    let got = read_seq(&out);
    assert_eq!(got.len(), 50 - lost, "{report}");
    let original = read_seq(&demo("person.seq"));
    assert!(got.iter().all(|r| original.contains(r)));
}

#[test]
fn usage_errors_exit_64() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("x.btr");
    let f = f.to_str().unwrap();
    let r = usage(&["-frobnicate", f]);
    assert!(r.stderr.contains("frobnicate"), "{}", r.stderr);
    // No command at all: the help, on stderr, as a usage error.
    let r = butil::<&str>(&[]);
    assert_eq!(r.code, USAGE);
    assert!(
        r.stderr.contains("Usage: butil [OPTIONS] <COMMAND>"),
        "{}",
        r.stderr
    );
    usage(&["-stat"]);
    usage(&["-create", f]);
    usage(&["-load", "only-one"]);
    usage(&["-stat", f, "extra"]);
    usage(&["-save", f, "o.seq", "N"]);
    usage(&["-save", f, "o.seq", "N", "first"]);
    let r = usage(&["-save", f, "o.seq", "Y", "index.idx"]);
    assert!(r.stderr.contains("not supported"), "{}", r.stderr);
    usage(&["-check", f, "--bogus"]);
    usage(&["-s"]);
    assert!(!Path::new(f).exists());
}
