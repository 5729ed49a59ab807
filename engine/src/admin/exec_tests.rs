//! `Engine::admin` on an in-memory filesystem: the holding engine serves what a second
//! engine (butil in another process) is refused with 85.

use super::*;
use crate::clock::ManualClock;
use crate::file::spec::FileSpec;
use crate::vfs::testing::TestVfs;
use crate::vfs::Vfs;
use crate::{Config, OpenMode};
use std::sync::Arc;

fn spec() -> FileSpec {
    FileSpec::unique_u32_key(16, 512)
}

fn record(i: u32) -> Vec<u8> {
    let mut r = vec![b'.'; 16];
    r[..4].copy_from_slice(&i.to_le_bytes());
    r
}

fn engine(vfs: &TestVfs) -> Engine {
    Engine::new(
        Arc::new(vfs.clone()),
        Arc::new(ManualClock::new()),
        Config::default(),
    )
}

/// An application engine holding `/d/a.btr` and `/d/b.btr` open with records in them.
fn app(vfs: &TestVfs) -> (Engine, Vec<crate::Handle>) {
    let mut e = engine(vfs);
    let mut hs = Vec::new();
    for name in ["/d/a.btr", "/d/b.btr"] {
        e.create(Path::new(name), &spec()).unwrap();
        let h = e.open(Path::new(name), OpenMode::Normal).unwrap();
        for i in 0..20 {
            e.insert(h, &record(i)).unwrap();
        }
        hs.push(h);
    }
    (e, hs)
}

fn p(s: &str) -> PathBuf {
    PathBuf::from(s)
}

#[test]
fn startbu_and_endbu_through_the_holding_engine() {
    let vfs = TestVfs::new();
    let (mut app, hs) = app(&vfs);
    // Another engine (butil, direct) cannot open the held file.
    let mut other = engine(&vfs);
    let refusals = other.check_backup_set(&[p("/d/a.btr")]);
    assert_eq!(refusals.first().map(|r| r.status), Some(Status::FileInUse));

    let paths = vec![p("/d/a.btr"), p("/d/b.btr")];
    let r = app.admin(&Request::StartBackup {
        paths: paths.clone(),
    });
    assert_eq!((r.status, r.exit_code), (0, 0), "{r:?}");
    assert_eq!(
        r.stdout,
        "/d/a.btr: in continuous operations (delta /d/a.^^^)\n\
         /d/b.btr: in continuous operations (delta /d/b.^^^)\n"
    );
    assert!(r.stderr.is_empty());
    assert!(app.in_backup(Path::new("/d/a.btr")));
    assert!(vfs.exists(Path::new("/d/a.^^^")).unwrap());
    // The application goes on; its changes go to the delta.
    app.insert(hs[0], &record(100)).unwrap();

    let stat = app.admin(&Request::Stat {
        path: p("/d/a.btr"),
    });
    assert_eq!(stat.status, 0, "{stat:?}");
    assert!(stat.stdout.starts_with("# butil -stat /d/a.btr\n"));
    assert!(stat.stdout.contains("# records: 21\n"), "{}", stat.stdout);
    let check = app.admin(&Request::Check {
        path: p("/d/a.btr"),
    });
    assert_eq!(check.status, 0, "{check:?}");
    assert!(
        check.stdout.starts_with("/d/a.btr: OK: 21 records;"),
        "{check:?}"
    );

    // endbu -A at the endpoint: every file this engine holds in continuous operations.
    let r = app.admin(&Request::EndBackup { paths: None });
    assert_eq!(r.status, 0, "{r:?}");
    assert_eq!(
        r.stdout,
        "/d/a.btr: continuous operations ended\n/d/b.btr: continuous operations ended\n"
    );
    assert!(!app.in_backup(Path::new("/d/a.btr")));
    assert!(!vfs.exists(Path::new("/d/a.^^^")).unwrap());
    let r = app.admin(&Request::EndBackup { paths: None });
    assert_eq!(r.stdout, "no file is in continuous operations there\n");
    let r = app.admin(&Request::Flush);
    assert_eq!(r.status, 0, "{r:?}");
    for h in hs {
        app.close(h).unwrap();
    }
    // What was inserted during the backup is in the file after endbu.
    let after = other.admin(&Request::Stat {
        path: p("/d/a.btr"),
    });
    assert!(after.stdout.contains("# records: 21\n"), "{after:?}");
}

#[test]
fn a_refused_startbu_changes_nothing_and_says_why() {
    let vfs = TestVfs::new();
    let (mut app, _hs) = app(&vfs);
    let r = app.admin(&Request::StartBackup {
        paths: vec![p("/d/a.btr"), p("/d/missing.btr")],
    });
    assert_eq!(r.status, 12, "{r:?}");
    assert_eq!(r.exit_code, 12);
    assert!(
        r.stdout.starts_with("refused: /d/missing.btr: status 12"),
        "{r:?}"
    );
    assert!(r.stderr.starts_with("butil: status 12"), "{r:?}");
    assert!(r.stderr.contains("\nwhat to do: "));
    assert!(!app.in_backup(Path::new("/d/a.btr")));
    assert!(!vfs.exists(Path::new("/d/a.^^^")).unwrap());
}

#[test]
fn endbu_of_a_missing_file_rolls_nothing_in() {
    let vfs = TestVfs::new();
    let (mut app, _hs) = app(&vfs);
    let r = app.admin(&Request::StartBackup {
        paths: vec![p("/d/a.btr")],
    });
    assert_eq!(r.status, 0, "{r:?}");
    let r = app.admin(&Request::EndBackup {
        paths: Some(vec![p("/d/a.btr"), p("/d/nope.btr")]),
    });
    assert_eq!(r.status, 12, "{r:?}");
    assert!(app.in_backup(Path::new("/d/a.btr")));
}

#[test]
fn killbu_of_a_held_file_is_refused() {
    let vfs = TestVfs::new();
    let (mut app, _hs) = app(&vfs);
    assert_eq!(
        app.admin(&Request::StartBackup {
            paths: vec![p("/d/a.btr")]
        })
        .status,
        0
    );
    let r = app.admin(&Request::KillBackup {
        paths: vec![p("/d/a.btr")],
    });
    assert_eq!(r.status, 88, "{r:?}");
    assert!(vfs.exists(Path::new("/d/a.^^^")).unwrap());
}

#[test]
fn check_is_refused_while_a_transaction_holds_the_file() {
    let vfs = TestVfs::new();
    let (mut app, hs) = app(&vfs);
    app.begin_transaction(crate::Client::DEFAULT).unwrap();
    app.insert(hs[0], &record(500)).unwrap();
    let r = app.admin(&Request::Check {
        path: p("/d/a.btr"),
    });
    assert_eq!(r.status, 85, "{r:?}");
    // Stat sees the file as before the transaction.
    let r = app.admin(&Request::Stat {
        path: p("/d/a.btr"),
    });
    assert!(r.stdout.contains("# records: 20\n"), "{r:?}");
    app.end_transaction(crate::Client::DEFAULT).unwrap();
    let r = app.admin(&Request::Check {
        path: p("/d/a.btr"),
    });
    assert!(r.stdout.starts_with("/d/a.btr: OK: 21 records;"), "{r:?}");
}

#[test]
fn resolved_paths_are_shown_as_requested() {
    let vfs = TestVfs::new();
    let (mut app, _hs) = app(&vfs);
    let r = app.admin_resolved(&Request::Check { path: p("/abs/a") }, &|_| p("/d/a.btr"));
    assert!(r.stdout.starts_with("/abs/a: OK: 20 records;"), "{r:?}");
}
