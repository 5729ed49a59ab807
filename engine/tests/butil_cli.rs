//! End-to-end tests of the `butil` binary: every command on the demo database and on
//! generated files, every page size, and the failure cases — each failure asserting the
//! exit code (the Btrieve status, or 64 for usage errors), the status in stderr, and
//! that nothing panicked.

mod common;

use common::butil::{run, Run, BUTIL};
use engine::file::key;
use engine::formats::{parse_description, write_end, write_record, SeqReader};
use engine::FileSpec;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

const USAGE: i32 = 64;

fn butil<S: AsRef<OsStr>>(args: &[S]) -> Run {
    run(args, |_| {})
}

/// Run and expect success; returns stdout.
fn ok<S: AsRef<OsStr>>(args: &[S]) -> String {
    let r = butil(args);
    assert_eq!(
        r.code,
        0,
        "butil {:?} failed:\n{}{}",
        args.iter().map(|a| a.as_ref()).collect::<Vec<_>>(),
        r.stdout,
        r.stderr
    );
    r.stdout
}

/// Run and expect a failure with Btrieve status `status`; returns the run.
fn fails<S: AsRef<OsStr>>(args: &[S], status: u16) -> Run {
    let r = butil(args);
    let what = format!(
        "butil {:?}:\n{}{}",
        args.iter().map(|a| a.as_ref()).collect::<Vec<_>>(),
        r.stdout,
        r.stderr
    );
    assert_eq!(r.code, i32::from(status), "{what}");
    assert!(
        r.stderr.starts_with(&format!("butil: status {status} (")),
        "{what}"
    );
    assert!(r.stderr.contains("\nwhat to do: "), "{what}");
    r
}

/// Run and expect a usage error (exit 64, clap's message).
fn usage<S: AsRef<OsStr>>(args: &[S]) -> Run {
    let r = butil(args);
    assert_eq!(r.code, USAGE, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.starts_with("error: "), "{}", r.stderr);
    r
}

fn demo(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../corpora/demodata")
        .join(name)
}

fn read_seq(path: &Path) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(path).expect("read sequential file");
    SeqReader::new(&bytes)
        .map(|r| r.expect("valid sequential file").to_vec())
        .collect()
}

fn seq_bytes(records: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in records {
        write_record(&mut out, r);
    }
    write_end(&mut out);
    out
}

/// Records in the order of key `k` (ties by their original order, as duplicates are
/// ordered by insertion).
fn in_key_order(spec: &FileSpec, k: usize, records: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let ks = &spec.keys[k];
    let mut v: Vec<(Vec<u8>, usize)> = records
        .iter()
        .enumerate()
        .map(|(i, r)| (key::normalize(ks, &key::raw_key(ks, r)), i))
        .collect();
    v.sort();
    v.into_iter().map(|(_, i)| records[i].clone()).collect()
}

fn spec_of(desc: &Path) -> FileSpec {
    parse_description(&std::fs::read(desc).unwrap()).unwrap()
}

/// A description file with one unique unsigned key and one string key with duplicates.
fn write_desc(path: &Path, record: u16, page: u32) {
    let text = format!(
        "record={record} page={page} key=2\n\
         position=1 length=4 duplicates=n modifiable=n type=unsigned segment=n\n\
         position=5 length=8 duplicates=y modifiable=y type=string segment=n\n"
    );
    std::fs::write(path, text).unwrap();
}

/// `n` records of `len` bytes for [`write_desc`]'s layout, ids in a scrambled order.
fn gen_records(n: u32, len: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let id = (u64::from(i) * 7919 % u64::from(n)) as u32;
            let mut r = vec![b' '; len];
            r[..4].copy_from_slice(&id.to_le_bytes());
            r[4..12].copy_from_slice(format!("grp{:05}", id % 97).as_bytes());
            let tail = format!("{id:>10}");
            let end = len.min(12 + tail.len());
            r[12..end].copy_from_slice(&tail.as_bytes()[..end - 12]);
            r
        })
        .collect()
}

fn page_of(file: &Path) -> usize {
    let out = ok(&[OsStr::new("-stat"), file.as_os_str()]);
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix("# page size: "))
        .unwrap();
    line.trim_end_matches(" bytes").parse().unwrap()
}

/// The physical page numbers of the live data pages (the newest copy of each logical
/// page, when that copy is a data page), with the used-slot count of each.
fn live_data_pages(bytes: &[u8], ps: usize) -> Vec<(usize, usize)> {
    use std::collections::BTreeMap;
    let mut newest: BTreeMap<u32, (u64, usize, u8)> = BTreeMap::new();
    for (p, b) in bytes.chunks_exact(ps).enumerate().skip(2) {
        let stored = u32::from_le_bytes(b[0..4].try_into().unwrap());
        let (ty, logical) = (b[4], u32::from_le_bytes(b[12..16].try_into().unwrap()));
        let seq = u64::from_le_bytes(b[16..24].try_into().unwrap());
        if stored == crc32c(&b[4..]) && (3..=5).contains(&ty) {
            let e = newest.entry(logical).or_insert((seq, p, ty));
            if seq >= e.0 {
                *e = (seq, p, ty);
            }
        }
    }
    newest
        .values()
        .filter(|e| e.2 == 3)
        .map(|&(_, p, _)| {
            let used = u16::from_le_bytes([bytes[p * ps + 36], bytes[p * ps + 37]]);
            (p, usize::from(used))
        })
        .collect()
}

/// CRC-32C (Castagnoli), bitwise: the page checksum, without a dependency.
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn flip(path: &Path, at: usize) {
    let mut b = std::fs::read(path).unwrap();
    b[at] ^= 0x5a;
    std::fs::write(path, b).unwrap();
}

/// Build a data file from a description and a sequential file in `dir`.
fn build(dir: &Path, name: &str, desc: &Path, seq: &Path) -> PathBuf {
    let file = dir.join(format!("{name}.btr"));
    ok(&[OsStr::new("-create"), file.as_os_str(), desc.as_os_str()]);
    ok(&[OsStr::new("-load"), seq.as_os_str(), file.as_os_str()]);
    file
}

fn save(file: &Path, out: &Path, key: usize) -> Vec<u8> {
    let k = key.to_string();
    ok(&[
        OsStr::new("-save"),
        file.as_os_str(),
        out.as_os_str(),
        OsStr::new("N"),
        OsStr::new(&k),
    ]);
    std::fs::read(out).unwrap()
}

// ----- the demo database ---------------------------------------------------------------

#[test]
fn demo_database_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (name, count) in [("person", 50), ("course", 12), ("enrollment", 150)] {
        let desc = demo(&format!("{name}.des"));
        let seq = demo(&format!("{name}.seq"));
        let spec = spec_of(&desc);
        let original = read_seq(&seq);
        assert_eq!(original.len(), count);

        let file = dir.path().join(format!("{name}.btr"));
        let out = ok(&[OsStr::new("-create"), file.as_os_str(), desc.as_os_str()]);
        assert!(out.starts_with("created "), "{out}");
        let out = ok(&[OsStr::new("-load"), seq.as_os_str(), file.as_os_str()]);
        assert!(out.contains(&format!("loaded {count} records")), "{out}");

        let out = ok(&[OsStr::new("-check"), file.as_os_str()]);
        assert!(out.contains(": OK: ") && out.lines().count() == 1, "{out}");
        assert!(out.contains(&format!("{count} records")), "{out}");

        // -save in key order is the original record set in key order, for every key.
        let saved = save(&file, &d.join(format!("{name}.k0")), 0);
        assert_eq!(saved, seq_bytes(&in_key_order(&spec, 0, &original)));
        for k in 1..spec.keys.len() {
            let saved = save(&file, &d.join(format!("{name}.k{k}")), k);
            assert_eq!(read_seq(&d.join(format!("{name}.k{k}"))).len(), count);
            let mut a = read_seq(&d.join(format!("{name}.k{k}")));
            let mut b = original.clone();
            a.sort();
            b.sort();
            assert_eq!(a, b, "key {k}: same records");
            // Ascending in key k (stable in insertion order for duplicates).
            assert_eq!(
                saved,
                seq_bytes(&in_key_order(&spec, k, &original)),
                "key {k}"
            );
        }
        // Default key is 0.
        ok(&[
            OsStr::new("-save"),
            file.as_os_str(),
            d.join(format!("{name}.dflt")).as_os_str(),
        ]);
        assert_eq!(
            std::fs::read(d.join(format!("{name}.dflt"))).unwrap(),
            saved
        );

        // Reopening (another process) gives the same -save output.
        assert_eq!(save(&file, &d.join(format!("{name}.again")), 0), saved);

        // -stat: the definition and statistics.
        let stat = ok(&[OsStr::new("-stat"), file.as_os_str()]);
        let stat = stat.replace(&d.display().to_string(), "[DIR]");
        insta::assert_snapshot!(format!("stat_{name}"), stat);

        // -clone + -copy give a file whose -save output is identical.
        let copy = d.join(format!("{name}-copy.btr"));
        let out = ok(&[OsStr::new("-clone"), copy.as_os_str(), file.as_os_str()]);
        assert!(out.contains("created"), "{out}");
        let out = ok(&[OsStr::new("-copy"), file.as_os_str(), copy.as_os_str()]);
        assert!(out.contains(&format!("copied {count} records")), "{out}");
        ok(&[OsStr::new("-check"), copy.as_os_str()]);
        assert_eq!(save(&copy, &d.join(format!("{name}-copy.k0")), 0), saved);
    }
}

#[test]
fn stat_output_is_a_description_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let file = build(d, "person", &demo("person.des"), &demo("person.seq"));
    let stat = ok(&[OsStr::new("-stat"), file.as_os_str()]);
    let desc = d.join("from-stat.des");
    std::fs::write(&desc, &stat).unwrap();
    assert_eq!(spec_of(&desc), spec_of(&demo("person.des")));
    let again = d.join("again.btr");
    ok(&[OsStr::new("-create"), again.as_os_str(), desc.as_os_str()]);
    let stat2 = ok(&[OsStr::new("-stat"), again.as_os_str()]);
    let defs = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| !l.starts_with('#'))
            .map(String::from)
            .collect()
    };
    assert_eq!(defs(&stat), defs(&stat2));
}

#[test]
fn command_spellings() {
    let dir = tempfile::tempdir().unwrap();
    let file = build(
        dir.path(),
        "course",
        &demo("course.des"),
        &demo("course.seq"),
    );
    let f = file.as_os_str();
    let want = ok(&[OsStr::new("-stat"), f]);
    for word in ["stat", "-STAT", "STAT", "-Stat"] {
        assert_eq!(ok(&[OsStr::new(word), f]), want, "{word}");
    }
    let help = ok(&["--help"]);
    assert!(
        help.contains("butil -stat FILE") && help.contains("64"),
        "{help}"
    );
    assert!(ok(&["-h"]).contains("Usage"));
    assert!(ok(&["--version"]).starts_with("butil "));
    assert!(ok(&["-save", "--help"]).contains("KEYNUM"));
}

#[test]
fn make_demo_script_builds_the_demo_database() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let script = demo("make-demo.sh");
    let run = Command::new("bash")
        .arg(&script)
        .arg(&out)
        .env("BUTIL", BUTIL)
        .output()
        .expect("run bash");
    let stderr = String::from_utf8_lossy(&run.stderr);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("demo database built in"), "{stdout}");
    for (name, count) in [("person", 50), ("course", 12), ("enrollment", 150)] {
        let file = out.join(format!("{name}.btr"));
        let check = ok(&[OsStr::new("-check"), file.as_os_str()]);
        assert!(check.contains(&format!("OK: {count} records")), "{check}");
    }
    // Running it again refuses to overwrite: -create fails with 59 and the script stops.
    let again = Command::new("bash")
        .arg(&script)
        .arg(&out)
        .env("BUTIL", BUTIL)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("status 59"));
    // Without an OUTDIR it prints its usage.
    let bare = Command::new("bash").arg(&script).output().unwrap();
    assert!(!bare.status.success());
    assert!(String::from_utf8_lossy(&bare.stderr).contains("usage"));
}

// ----- bulk and every page size -----------------------------------------------------------

#[test]
fn load_100000_records_then_check() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let desc = d.join("big.des");
    write_desc(&desc, 40, 4096);
    let records = gen_records(100_000, 40);
    let seq = d.join("big.seq");
    std::fs::write(&seq, seq_bytes(&records)).unwrap();
    let file = d.join("big.btr");
    ok(&[OsStr::new("-create"), file.as_os_str(), desc.as_os_str()]);
    let started = std::time::Instant::now();
    let out = ok(&[OsStr::new("-load"), seq.as_os_str(), file.as_os_str()]);
    let took = started.elapsed();
    assert!(out.contains("loaded 100000 records"), "{out}");
    let out = ok(&[OsStr::new("-check"), file.as_os_str()]);
    assert!(out.contains("OK: 100000 records"), "{out}");
    assert!(
        took < std::time::Duration::from_secs(60),
        "loading 100,000 records took {took:?}"
    );
    let stat = ok(&[OsStr::new("-stat"), file.as_os_str()]);
    assert!(stat.contains("# records: 100000"), "{stat}");
}

#[test]
fn every_page_size_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let records = gen_records(3000, 50);
    let seq = d.join("r.seq");
    std::fs::write(&seq, seq_bytes(&records)).unwrap();
    for ps in [512u32, 1024, 2048, 4096, 8192, 16384] {
        let desc = d.join(format!("p{ps}.des"));
        write_desc(&desc, 50, ps);
        let file = build(d, &format!("p{ps}"), &desc, &seq);
        assert_eq!(page_of(&file), ps as usize);
        let out = ok(&[OsStr::new("-check"), file.as_os_str()]);
        assert!(out.contains("OK: 3000 records"), "{ps}: {out}");
        let saved = save(&file, &d.join(format!("p{ps}.out")), 0);
        assert_eq!(
            saved,
            seq_bytes(&in_key_order(&spec_of(&desc), 0, &records)),
            "{ps}"
        );
    }
}

// ----- failures --------------------------------------------------------------------------

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

/// `-recoverlog` rolls every file the transaction log names forward; `-stat` shows
/// the log settings and the file's applied LSN; a bad KEEL_LOG_MODE is an error.
#[test]
fn recoverlog_rolls_every_named_file_forward() {
    use engine::clock::ManualClock;
    use engine::vfs::StdVfs;
    use engine::{Client, Config, Engine, LogMode, OpenMode};
    use std::sync::Arc;

    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let (x, y) = (dir.path().join("x.btr"), dir.path().join("y.btr"));
    let spec = parse_description(
        b"record=8 page=512 key=1\n\
          position=1 length=4 duplicates=n modifiable=n type=unsigned descending=n segment=n\n",
    )
    .expect("description");
    {
        let mut e = Engine::new(
            Arc::new(StdVfs),
            Arc::new(ManualClock::new()),
            Config {
                log_mode: LogMode::Durability,
                log_dir: log.clone(),
                ..Config::default()
            },
        );
        e.create(&x, &spec).unwrap();
        e.create(&y, &spec).unwrap();
        let c = Client(1);
        let hx = e.open_as(c, &x, OpenMode::Normal).unwrap();
        let hy = e.open_as(c, &y, OpenMode::Normal).unwrap();
        for id in 0u32..10 {
            e.begin_transaction(c).unwrap();
            let mut r = [0u8; 8];
            r[..4].copy_from_slice(&id.to_le_bytes());
            e.insert(hx, &r).unwrap();
            e.insert(hy, &r).unwrap();
            e.end_transaction(c).unwrap();
        }
        // The process dies: the log has ten transfers, the data files none.
    }
    let run = |args: &[&OsStr]| {
        let out = Command::new(BUTIL)
            .args(args)
            .env("KEEL_LOG_MODE", "durability")
            .env("KEEL_LOG_DIR", &log)
            .output()
            .expect("run butil");
        let s = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
        (out.status.code().unwrap_or(-1), s)
    };
    let (code, stat) = run(&[OsStr::new("-stat"), x.as_os_str()]);
    assert_eq!(code, 0, "{stat}");
    assert!(stat.contains("# records: 0"), "{stat}");
    assert!(
        stat.contains("# transaction log: durability") && stat.contains("applied LSN 0"),
        "{stat}"
    );
    let (code, out) = run(&[OsStr::new("-recoverlog")]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("2 files named"), "{out}");
    for f in [&x, &y] {
        let (code, stat) = run(&[OsStr::new("-stat"), f.as_os_str()]);
        assert_eq!(code, 0);
        assert!(stat.contains("# records: 10"), "{stat}");
        assert!(!stat.contains("applied LSN 0"), "{stat}");
        ok(&[OsStr::new("-check"), f.as_os_str()]);
    }
    // Settings are checked.
    let out = Command::new(BUTIL)
        .args([OsStr::new("-stat"), x.as_os_str()])
        .env("KEEL_LOG_MODE", "sometimes")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("KEEL_LOG_MODE"));
}

/// The online-backup cycle as separate processes: `-startbu @list`, `-load` more
/// records (they go to the deltas; the data files' bytes do not change), a plain copy
/// (passes `-check`, holds the startbu instant), `-endbu @list` (deltas gone, every
/// record there); then `-restore` refuses while a delta exists, and `-killbu` takes a
/// file back to its startbu instant.
#[test]
fn online_backup_cycle_as_separate_processes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let desc = d.join("r.des");
    write_desc(&desc, 40, 1024);
    let all = gen_records(600, 40);
    let (first, more) = all.split_at(400);
    std::fs::write(d.join("first.seq"), seq_bytes(first)).unwrap();
    std::fs::write(d.join("more.seq"), seq_bytes(more)).unwrap();
    let a = build(d, "a", &desc, &d.join("first.seq"));
    let b = build(d, "b", &desc, &d.join("first.seq"));
    let list = d.join("set.lst");
    std::fs::write(
        &list,
        format!("# the set\n{}\n\n{}\n", a.display(), b.display()),
    )
    .unwrap();
    let at_list = format!("@{}", list.display());
    let out = ok(&["-startbu", &at_list]);
    assert!(out.contains("in continuous operations"), "{out}");
    let frozen = std::fs::read(&a).unwrap();
    ok(&[
        OsStr::new("-load"),
        d.join("more.seq").as_os_str(),
        a.as_os_str(),
    ]);
    assert_eq!(
        std::fs::read(&a).unwrap(),
        frozen,
        "a frozen file was written"
    );
    assert!(d.join("a.^^^").exists());
    // A plain copy is the startbu instant, sound on its own.
    let copy = d.join("copy-a.btr");
    std::fs::copy(&a, &copy).unwrap();
    assert!(ok(&[OsStr::new("-check"), copy.as_os_str()]).contains("OK: 400 records"));
    // The live file reads through its delta.
    let stat = ok(&[OsStr::new("-stat"), a.as_os_str()]);
    assert!(stat.contains("# records: 600"), "{stat}");
    // startbu again is refused (already in contops), and nothing changes.
    let r = fails(&["-startbu", &at_list], 88);
    assert!(r.stdout.contains("refused"), "{}", r.stdout);
    // Restoring over a file in contops is refused.
    fails(
        &[OsStr::new("-restore"), copy.as_os_str(), a.as_os_str()],
        88,
    );
    ok(&["-endbu", &at_list]);
    assert!(!d.join("a.^^^").exists() && !d.join("b.^^^").exists());
    assert!(ok(&[OsStr::new("-check"), a.as_os_str()]).contains("OK: 600 records"));
    assert!(ok(&[OsStr::new("-check"), b.as_os_str()]).contains("OK: 400 records"));
    // Now the backup restores, and is the startbu instant.
    ok(&[OsStr::new("-restore"), copy.as_os_str(), a.as_os_str()]);
    assert!(ok(&[OsStr::new("-check"), a.as_os_str()]).contains("OK: 400 records"));
    // killbu: back to the startbu instant.
    ok(&[OsStr::new("-startbu"), b.as_os_str()]);
    ok(&[
        OsStr::new("-load"),
        d.join("more.seq").as_os_str(),
        b.as_os_str(),
    ]);
    ok(&[OsStr::new("-killbu"), b.as_os_str()]);
    assert!(ok(&[OsStr::new("-check"), b.as_os_str()]).contains("OK: 400 records"));
    fails(&[OsStr::new("-killbu"), b.as_os_str()], 41);
    // -endbu -A DIR ends every file with a delta there.
    ok(&["-startbu", &at_list]);
    let out = ok(&[OsStr::new("-endbu"), OsStr::new("-A"), d.as_os_str()]);
    assert!(out.contains("a.btr: continuous operations ended"), "{out}");
    assert!(out.contains("b.btr: continuous operations ended"), "{out}");
    assert!(!d.join("a.^^^").exists() && !d.join("b.^^^").exists());
    std::fs::write(d.join("orphan.^^^"), b"x").unwrap();
    fails(&[OsStr::new("-endbu"), OsStr::new("-A"), d.as_os_str()], 12);
    std::fs::remove_file(d.join("orphan.^^^")).unwrap();
    // Wildcards and malformed list files.
    fails(&[OsStr::new("-startbu"), d.join("*.btr").as_os_str()], 11);
    std::fs::write(d.join("bad.lst"), format!("{}\n/x/*.btr\n", a.display())).unwrap();
    fails(
        &["-startbu", &format!("@{}", d.join("bad.lst").display())],
        11,
    );
    assert!(!d.join("a.^^^").exists());
}
