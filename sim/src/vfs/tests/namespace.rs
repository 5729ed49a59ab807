//! Names and directories: creates, renames and directory creation made durable (or
//! lost) by directory syncs, directories as objects.

use super::*;

#[test]
fn create_needs_sync_dir_to_survive() {
    let (mut survived, mut vanished) = (0, 0);
    for seed in 0..100 {
        for with_sync_dir in [false, true] {
            let v = SimVfs::new(seed, FaultConfig::crash_only());
            let f = v.open(p("d/new"), OpenMode::CreateNew).unwrap();
            f.write_at(b"data", 0).unwrap();
            f.sync().unwrap();
            if with_sync_dir {
                v.sync_dir(p("d")).unwrap();
            }
            v.power_loss();
            match v.read_file("d/new") {
                Some(data) => {
                    assert_eq!(data, b"data");
                    survived += usize::from(!with_sync_dir);
                }
                None => {
                    assert!(!with_sync_dir, "seed {seed}: synced create lost");
                    vanished += 1;
                }
            }
            v.check_invariants().unwrap();
        }
    }
    assert!(
        survived > 0 && vanished > 0,
        "survived {survived} vanished {vanished}"
    );
}

#[test]
fn sync_dir_of_another_directory_does_not_make_a_create_durable() {
    let v = SimVfs::new(0, lose_everything());
    let f = v.open(p("d/new"), OpenMode::CreateNew).unwrap();
    f.sync().unwrap();
    v.sync_dir(p("e")).unwrap();
    v.sync_dir(p(".")).unwrap();
    v.power_loss();
    assert!(!v.exists(p("d/new")).unwrap());
}

#[test]
fn rename_is_atomic() {
    let mut outcomes = BTreeSet::new();
    for seed in 0..100 {
        let v = SimVfs::new(seed, FaultConfig::crash_only());
        v.write_file_durable("d/final", b"old").unwrap();
        v.write_file_durable("d/tmp", b"new").unwrap();
        v.rename(p("d/tmp"), p("d/final")).unwrap();
        assert_eq!(v.file_names(), vec![PathBuf::from("d/final")]);
        v.power_loss();
        let state = (v.read_file("d/tmp"), v.read_file("d/final"));
        match &state {
            (None, Some(n)) => assert_eq!(n, b"new"),
            (Some(n), Some(o)) => {
                assert_eq!((n.as_slice(), o.as_slice()), (&b"new"[..], &b"old"[..]))
            }
            other => panic!("seed {seed}: rename not atomic: {other:?}"),
        }
        outcomes.insert(state);

        // Made durable by sync_dir: always the new name.
        let v = SimVfs::new(seed, FaultConfig::crash_only());
        v.write_file_durable("d/tmp", b"new").unwrap();
        v.rename(p("d/tmp"), p("d/final")).unwrap();
        v.sync_dir(p("d")).unwrap();
        v.power_loss();
        assert_eq!(v.file_names(), vec![PathBuf::from("d/final")]);
    }
    assert_eq!(outcomes.len(), 2, "both outcomes occur");
}

#[test]
fn rename_of_an_unsynced_create_never_shows_both_names() {
    let mut seen = BTreeSet::new();
    for seed in 0..200 {
        let v = SimVfs::new(seed, FaultConfig::crash_only());
        let f = v.open(p("d/tmp"), OpenMode::CreateNew).unwrap();
        f.write_at(b"x", 0).unwrap();
        f.sync().unwrap();
        v.rename(p("d/tmp"), p("d/final")).unwrap();
        v.power_loss();
        let names = v.file_names();
        assert!(names.len() <= 1, "seed {seed}: {names:?}");
        seen.insert(names);
    }
    assert_eq!(seen.len(), 3, "{seen:?}");
}

#[test]
fn cross_directory_rename_is_atomic() {
    for seed in 0..100 {
        let v = SimVfs::new(seed, FaultConfig::crash_only());
        v.write_file_durable("a/f", b"f").unwrap();
        v.rename(p("a/f"), p("b/f")).unwrap();
        v.power_loss();
        assert_eq!(v.file_names().len(), 1, "seed {seed}");
        let v = SimVfs::new(seed, FaultConfig::crash_only());
        v.write_file_durable("a/f", b"f").unwrap();
        v.rename(p("a/f"), p("b/f")).unwrap();
        v.sync_dir(p("b")).unwrap();
        v.power_loss();
        assert_eq!(v.file_names(), vec![PathBuf::from("b/f")]);
    }
}

/// A `SimVfs` with directories as objects (workload generation 9 on).
fn with_dirs(seed: u64, config: FaultConfig) -> SimVfs {
    let v = SimVfs::new(seed, config);
    v.set_dirs_are_objects(true).unwrap();
    v
}

#[test]
fn an_unsynced_directory_creation_may_be_lost_with_its_files_a_synced_one_cannot() {
    let (mut kept, mut lost) = (0, 0);
    for seed in 0..100 {
        for sync_parent in [false, true] {
            let v = with_dirs(seed, FaultConfig::crash_only());
            v.create_dir_all(p("/log")).unwrap();
            let f = v.open(p("/log/1.LOG"), OpenMode::CreateNew).unwrap();
            f.write_at(b"record", 0).unwrap();
            f.sync().unwrap();
            // The file's entry is durable in /log; /log's own entry is a change in /.
            v.sync_dir(p("/log")).unwrap();
            assert_eq!(
                v.durable_file("/log/1.LOG"),
                None,
                "/log is not durable yet"
            );
            if sync_parent {
                v.sync_dir(p("/")).unwrap();
                assert_eq!(v.durable_file("/log/1.LOG").unwrap(), b"record");
            }
            v.power_loss();
            v.check_invariants().unwrap();
            let s = v.stats();
            if v.exists(p("/log")).unwrap() {
                assert_eq!(v.read_file("/log/1.LOG").unwrap(), b"record");
                assert_eq!(s.dirs_lost, 0);
                kept += usize::from(!sync_parent);
            } else {
                assert!(!sync_parent, "seed {seed}: a synced directory was lost");
                assert_eq!(v.read_file("/log/1.LOG"), None, "its file went with it");
                assert!(v.file_names().is_empty());
                assert_eq!(s.dirs_lost, 1);
                assert_eq!(
                    v.list_dir(p("/log")).unwrap_err().kind(),
                    ErrorKind::NotFound
                );
                assert_eq!(
                    v.open(p("/log/2.LOG"), OpenMode::CreateNew)
                        .err()
                        .map(|e| e.kind()),
                    Some(ErrorKind::NotFound),
                    "a file cannot be created in the lost directory"
                );
                lost += 1;
            }
        }
    }
    assert!(kept > 0 && lost > 0, "kept {kept} lost {lost}");
}

#[test]
fn directories_as_objects_behave_like_linux() {
    let kind = |r: io::Result<Box<dyn VfsFile>>| r.err().map(|e| e.kind());
    let v = with_dirs(0, lose_everything());
    assert_eq!(
        kind(v.open(p("/data/f"), OpenMode::CreateNew)),
        Some(ErrorKind::NotFound)
    );
    assert_eq!(
        v.sync_dir(p("/data")).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert!(v.exists(p("/")).unwrap() && !v.exists(p("/data")).unwrap());
    // create_dir_all is one I/O step, however many directories it creates.
    let before = v.io_step();
    v.create_dir_all(p("/data/sub")).unwrap();
    assert_eq!(v.io_step(), before + 1);
    assert!(v.exists(p("/data")).unwrap() && v.exists(p("/data/sub")).unwrap());
    assert_eq!(v.list_dir(p("/data")).unwrap(), vec!["sub"]);
    assert_eq!(
        kind(v.open(p("/data/sub"), OpenMode::Existing)),
        Some(ErrorKind::IsADirectory)
    );
    assert_eq!(
        kind(v.open(p("/data/sub"), OpenMode::CreateNew)),
        Some(ErrorKind::AlreadyExists)
    );
    drop(v.open(p("/data/f"), OpenMode::CreateNew).unwrap());
    assert_eq!(
        v.create_dir_all(p("/data/f")).unwrap_err().kind(),
        ErrorKind::AlreadyExists
    );
    // Syncing / makes /data durable, not /data/sub (a change in /data) or /data/f.
    v.sync_dir(p("/")).unwrap();
    v.power_loss();
    assert!(v.exists(p("/data")).unwrap());
    assert!(!v.exists(p("/data/sub")).unwrap() && v.file_names().is_empty());
    assert_eq!(v.stats().dirs_lost, 1);
    // A crash point on create_dir_all fires without taking effect.
    v.set_crash_after(1);
    assert!(is_crash(&v.create_dir_all(p("/log")).unwrap_err()));
    v.process_crash();
    assert!(!v.exists(p("/log")).unwrap());
    // The simulator's own mkdir is durable at once and no step.
    let before = v.io_step();
    v.create_dir_durable("/backup/x").unwrap();
    v.copy_file("/nowhere", "/backup/x/f").unwrap_err();
    v.power_loss();
    assert!(v.exists(p("/backup/x")).unwrap());
    assert_eq!(v.io_step(), before + 1, "only the exists above");
    v.check_invariants().unwrap();
}

#[test]
fn implicit_directories_stay_as_they_were() {
    let v = SimVfs::new(0, lose_everything());
    assert!(!v.dirs_are_objects());
    v.create_dir_all(p("/log")).unwrap();
    v.create_dir_durable("/data").unwrap();
    assert_eq!(v.io_step(), 0, "create_dir_all is no step");
    drop(v.open(p("/nowhere/f"), OpenMode::CreateNew).unwrap());
    assert!(!v.exists(p("/log")).unwrap());
    assert!(
        v.set_dirs_are_objects(true).is_err(),
        "not once a name exists"
    );
    assert_eq!(v.stats().io_steps, 2);
}

/// `may_name_after_power_loss` says exactly whether some power loss brings a name back:
/// a created-then-removed file with neither durable may return (the creation kept,
/// the removal lost), and over many seeds it does; once the removal is durable, never.
#[test]
fn a_file_created_and_removed_unsynced_may_come_back_and_is_said_to() {
    let mut returned = 0;
    for seed in 0..60 {
        for synced in [false, true] {
            let v = SimVfs::new(seed, FaultConfig::crash_only());
            v.open(p("d/x"), OpenMode::CreateNew)
                .unwrap()
                .sync()
                .unwrap();
            v.remove(p("d/x")).unwrap();
            if synced {
                v.sync_dir(p("d")).unwrap();
            }
            assert!(v.read_file("d/x").is_none());
            assert_eq!(v.may_name_after_power_loss("d/x"), !synced, "seed {seed}");
            v.power_loss();
            if v.read_file("d/x").is_some() {
                assert!(!synced, "seed {seed}: a durable removal undone");
                returned += 1;
            }
        }
    }
    assert!(
        returned > 0,
        "no power loss kept the creation and lost the removal"
    );
}
