//! Archival logging through the `butil` binary, as an operator uses it (README,
//! "Archival logging"): create, load, copy the file as a backup, load more, lose the
//! data file, restore the copy, `-rollfwd`, and `-save` holds everything loaded; and a
//! `blog.cfg` with each kind of bad entry refused with its status and line, never a
//! panic. Each command is its own process, run in a scratch directory with a relative
//! `KEEL_BLOG_ROOT`, as in the README.

mod common;

use common::butil::{run, Run};
use engine::formats::{write_end, write_record, SeqReader};
use std::ffi::OsStr;
use std::path::Path;

/// Run butil in `dir` with archival root `root` (relative to `dir`) and no
/// transaction log settings.
fn butil<S: AsRef<OsStr>>(dir: &Path, root: &str, args: &[S]) -> Run {
    run(args, |c| {
        c.current_dir(dir).env("KEEL_BLOG_ROOT", root);
    })
}

fn ok<S: AsRef<OsStr>>(dir: &Path, args: &[S]) -> String {
    let r = butil(dir, "root", args);
    assert_eq!(
        r.code,
        0,
        "butil {:?}:\n{}{}",
        args.iter().map(|a| a.as_ref()).collect::<Vec<_>>(),
        r.stdout,
        r.stderr
    );
    r.stdout
}

fn fails<S: AsRef<OsStr>>(dir: &Path, args: &[S], status: u16) -> Run {
    let r = butil(dir, "root", args);
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
    r
}

/// 48-byte records: a unique u32 id, a name.
const DESC: &str = "record=48 page=1024 key=1\n\
    position=1 length=4 duplicates=n modifiable=n type=unsigned segment=n\n";

fn record(id: u32) -> Vec<u8> {
    let mut r = vec![b' '; 48];
    r[..4].copy_from_slice(&id.to_le_bytes());
    let name = format!("invoice {id:>6}");
    r[4..4 + name.len()].copy_from_slice(name.as_bytes());
    r
}

fn seq_file(path: &Path, ids: impl Iterator<Item = u32>) -> Vec<Vec<u8>> {
    let records: Vec<Vec<u8>> = ids.map(record).collect();
    let mut out = Vec::new();
    for r in &records {
        write_record(&mut out, r);
    }
    write_end(&mut out);
    std::fs::write(path, out).unwrap();
    records
}

fn read_seq(path: &Path) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(path).unwrap();
    SeqReader::new(&bytes)
        .map(|r| r.expect("a valid sequential file").to_vec())
        .collect()
}

/// A scratch directory with `root/blog/blog.cfg` archiving `/db/invoice.btr`, the
/// description `invoice.des`, and `root/db/invoice.btr` created empty.
fn scratch() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("root/blog")).unwrap();
    std::fs::create_dir_all(d.path().join("root/db")).unwrap();
    std::fs::write(d.path().join("root/blog/blog.cfg"), "/db/invoice.btr\n").unwrap();
    std::fs::write(d.path().join("invoice.des"), DESC).unwrap();
    ok(d.path(), &["-create", "root/db/invoice.btr", "invoice.des"]);
    d
}

/// The README's walk-through, command for command.
#[test]
fn restore_a_backup_and_roll_it_forward_to_everything_loaded() {
    let d = scratch();
    let dir = d.path();
    let first = seq_file(&dir.join("monday.seq"), 0..300);
    let second = seq_file(&dir.join("tuesday.seq"), 300..500);
    ok(dir, &["-load", "monday.seq", "root/db/invoice.btr"]);
    // The nightly backup: a copy of the closed file.
    std::fs::copy(dir.join("root/db/invoice.btr"), dir.join("invoice.bak")).unwrap();
    ok(dir, &["-load", "tuesday.seq", "root/db/invoice.btr"]);
    let stat = ok(dir, &["-stat", "root/db/invoice.btr"]);
    assert!(
        stat.contains("# archival log: ")
            && stat.contains("root/db/invoice.log: FCR sequences 2 to 3"),
        "{stat}"
    );
    // The disk dies; the backup comes back.
    std::fs::remove_file(dir.join("root/db/invoice.btr")).unwrap();
    std::fs::copy(dir.join("invoice.bak"), dir.join("root/db/invoice.btr")).unwrap();
    let stat = ok(dir, &["-stat", "root/db/invoice.btr"]);
    assert!(stat.contains("is behind it: butil -rollfwd"), "{stat}");
    let out = ok(
        dir,
        &["-rollfwd", "root/db/invoice.btr", "--dump", "invoice.txt"],
    );
    assert!(
        out.contains("FCR sequence 2 to 3 (1 frame applied"),
        "{out}"
    );
    ok(dir, &["-save", "root/db/invoice.btr", "all.seq"]);
    let mut want = first.clone();
    want.extend(second);
    assert_eq!(read_seq(&dir.join("all.seq")), want);
    ok(dir, &["-check", "root/db/invoice.btr"]);
    let dump = std::fs::read_to_string(dir.join("invoice.txt")).unwrap();
    assert!(dump.contains("frame 2 at offset"), "{dump}");
    assert!(dump.contains("# 2 frames, FCR sequences 2 to 3"), "{dump}");
    // Again: nothing to do. And the file goes on being archived.
    let out = ok(dir, &["-rollfwd", "root/db/invoice.btr"]);
    assert!(
        out.contains("0 frames applied, 2 already in the file"),
        "{out}"
    );
    seq_file(&dir.join("wednesday.seq"), 500..510);
    ok(
        dir,
        &["-load", "wednesday.seq", "./root/db/../db/invoice.btr"],
    );
    let stat = ok(dir, &["-stat", "root/db/invoice.btr"]);
    assert!(stat.contains("FCR sequences 2 to 4 (3 frames"), "{stat}");
    // Point in time, from the backup again, into another directory (-L names the log).
    std::fs::create_dir_all(dir.join("pit")).unwrap();
    std::fs::copy(dir.join("invoice.bak"), dir.join("pit/invoice.btr")).unwrap();
    let out = ok(
        dir,
        &[
            "-rollfwd",
            "pit/invoice.btr",
            "-L",
            "root/db/invoice.log",
            "--to",
            "3",
        ],
    );
    assert!(out.contains("stopped at --to 3"), "{out}");
    ok(dir, &["-save", "pit/invoice.btr", "pit.seq"]);
    assert_eq!(read_seq(&dir.join("pit.seq")), want);
    // A dump alone changes nothing.
    let out = ok(
        dir,
        &[
            "-rollfwd",
            "pit/invoice.btr",
            "-L",
            "root/db/invoice.log",
            "--dump",
            "d.txt",
            "--dump-only",
        ],
    );
    assert!(out.contains("dump written"), "{out}");
    assert!(std::fs::read_to_string(dir.join("d.txt"))
        .unwrap()
        .contains("# 3 frames"));
    // Every archived file of a directory.
    let out = ok(dir, &["-rollfwd", "root/db"]);
    assert!(out.contains("0 frames applied"), "{out}");
}

#[test]
fn roll_forward_refusals() {
    let d = scratch();
    let dir = d.path();
    seq_file(&dir.join("a.seq"), 0..20);
    ok(dir, &["-load", "a.seq", "root/db/invoice.btr"]);
    ok(dir, &["-create", "plain.btr", "invoice.des"]);
    // Not archived, and no -L.
    let r = fails(dir, &["-rollfwd", "plain.btr"], 41);
    assert!(r.stdout.contains("not rolled forward") || r.stderr.contains("not archived"));
    // -L with several files.
    std::fs::write(dir.join("two.lst"), "root/db/invoice.btr\nplain.btr\n").unwrap();
    fails(dir, &["-rollfwd", "@two.lst", "-L", "x.log"], 1);
    // A missing log.
    fails(dir, &["-rollfwd", "plain.btr", "-L", "none.log"], 12);
    // A directory without archived files.
    std::fs::create_dir_all(dir.join("empty")).unwrap();
    fails(dir, &["-rollfwd", "empty"], 12);
    // --dump-only needs --dump: a usage error.
    let r = butil(dir, "root", &["-rollfwd", "plain.btr", "--dump-only"]);
    assert_eq!(r.code, 64, "{}", r.stderr);
    // An archived file cannot enter continuous operations.
    let r = fails(dir, &["-startbu", "root/db/invoice.btr"], 88);
    assert!(r.stdout.contains("blog.cfg archives it"), "{}", r.stdout);
}

/// Each kind of bad `blog.cfg` entry the issue lists fails a writable open (here
/// `-load`) with its status and the line; an unreadable one with an I/O status.
#[test]
fn each_bad_blog_cfg_entry_gives_its_status_and_line() {
    let d = scratch();
    let dir = d.path();
    seq_file(&dir.join("a.seq"), 0..3);
    let long = format!("# fine\n/db/{}.btr\n", "x".repeat(260));
    let cases: &[(&str, &[u8], u16, &str)] = &[
        (
            "one log for two data files",
            b"/db/invoice.btr=/logs/all.log\n/db/other.btr=/logs/all.log\n",
            62,
            "line 2, column 1",
        ),
        (
            "a line over 256 characters",
            long.as_bytes(),
            62,
            "line 2, column 257",
        ),
        (
            "a duplicate data file",
            b"/db/invoice.btr\n\n/db//invoice.btr\n",
            62,
            "line 3, column 1",
        ),
        (
            "an entry with a space",
            b"/db/invoice.btr= /logs/invoice.log\n",
            62,
            "line 1, column 1",
        ),
        (
            "a space inside a path",
            b"/db/my invoice.btr\n",
            11,
            "line 1, column 8",
        ),
        (
            "text that is not UTF-8",
            b"/db/a.btr\n/db/\xff.btr\n",
            62,
            "line 2, column 5",
        ),
    ];
    for (what, text, status, at) in cases {
        std::fs::write(dir.join("root/blog/blog.cfg"), text).unwrap();
        let r = fails(dir, &["-load", "a.seq", "root/db/invoice.btr"], *status);
        assert!(
            r.stderr.contains(at) && r.stderr.contains("blog.cfg"),
            "{what}: {}",
            r.stderr
        );
        // Roll-forward and startbu read it too.
        fails(dir, &["-rollfwd", "root/db/invoice.btr"], *status);
        let r = fails(dir, &["-startbu", "root/db/invoice.btr"], *status);
        assert!(r.stdout.contains(at), "{what}: {}", r.stdout);
    }
    // An unreadable blog.cfg (a directory in its place).
    std::fs::remove_file(dir.join("root/blog/blog.cfg")).unwrap();
    std::fs::create_dir(dir.join("root/blog/blog.cfg")).unwrap();
    let r = fails(dir, &["-load", "a.seq", "root/db/invoice.btr"], 2);
    assert!(r.stderr.contains("blog.cfg"), "{}", r.stderr);
    // Nothing was loaded by any of them.
    std::fs::remove_dir(dir.join("root/blog/blog.cfg")).unwrap();
    let stat = ok(dir, &["-stat", "root/db/invoice.btr"]);
    assert!(stat.contains("# records: 0"), "{stat}");
    assert!(stat.contains("# archival log: none"), "{stat}");
}
