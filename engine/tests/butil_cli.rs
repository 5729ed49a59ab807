//! End-to-end tests of the `butil` binary: every command on the demo database and on
//! generated files, every page size, log recovery and the online-backup cycle as
//! separate processes. The failure cases are in `butil_failures.rs`.

mod common;

use common::butil::*;
use common::butil_files::*;
use engine::formats::parse_description;
use std::ffi::OsStr;
use std::process::Command;

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
