//! The namespace model's own tests: pending and durable names, directories as objects, power loss.

use super::*;

fn p(s: &str) -> PathBuf {
    PathBuf::from(s)
}

#[test]
fn changes_are_volatile_until_sync_dir() {
    let mut ns = Namespace::default();
    ns.create(&p("d/a"), 1).unwrap();
    assert_eq!(ns.lookup(&p("d/a")), Some(1));
    assert_eq!(ns.lookup_durable(&p("d/a")), None);
    assert_eq!(ns.sync_dir(&p("other")), 0);
    assert_eq!(ns.sync_dir(&p("d")), 1);
    assert_eq!(ns.lookup_durable(&p("d/a")), Some(1));
    assert!(ns.is_consistent());
}

#[test]
fn errors_match_posix() {
    let mut ns = Namespace::default();
    ns.create(&p("a"), 1).unwrap();
    assert_eq!(
        ns.create(&p("a"), 2).unwrap_err().kind(),
        io::ErrorKind::AlreadyExists
    );
    assert_eq!(
        ns.remove(&p("b")).unwrap_err().kind(),
        io::ErrorKind::NotFound
    );
    assert_eq!(
        ns.rename(&p("b"), &p("c")).unwrap_err().kind(),
        io::ErrorKind::NotFound
    );
    assert_eq!(ns.rename(&p("a"), &p("a")).unwrap(), 0);
    assert_eq!(ns.pending_len(), 1);
}

#[test]
fn list_dir_is_sorted_names_of_one_dir() {
    let mut ns = Namespace::default();
    for (i, path) in ["d/b", "d/a", "d/sub/x", "e/c", "top"]
        .into_iter()
        .enumerate()
    {
        ns.create(&p(path), i as u64).unwrap();
    }
    assert_eq!(ns.list_dir(&p("d")).unwrap(), vec!["a", "b"]);
    assert_eq!(ns.list_dir(&p("d/sub")).unwrap(), vec!["x"]);
    assert_eq!(ns.list_dir(&p(".")).unwrap(), vec!["top"]);
    assert!(ns.list_dir(&p("nowhere")).unwrap().is_empty());
}

#[test]
fn cross_directory_rename_pulls_in_earlier_changes_of_both_dirs() {
    let mut ns = Namespace::default();
    ns.create(&p("a/x"), 1).unwrap(); // 0: a
    ns.create(&p("b/early"), 2).unwrap(); // 1: b
    ns.rename(&p("a/x"), &p("b/x")).unwrap(); // 2: a, b
    ns.create(&p("b/late"), 3).unwrap(); // 3: b
    ns.create(&p("c/other"), 4).unwrap(); // 4: c
    assert_eq!(ns.sync_dir(&p("a")), 3);
    assert_eq!(ns.lookup_durable(&p("b/x")), Some(1));
    assert_eq!(ns.lookup_durable(&p("b/early")), Some(2));
    assert_eq!(ns.lookup_durable(&p("b/late")), None);
    assert_eq!(ns.pending_len(), 2);
    assert!(ns.is_consistent());
}

#[test]
fn power_loss_keeps_a_prefix_per_directory() {
    let mut ns = Namespace::default();
    ns.create(&p("a/1"), 1).unwrap();
    ns.create(&p("b/1"), 2).unwrap();
    ns.create(&p("a/2"), 3).unwrap();
    ns.create(&p("b/2"), 4).unwrap();
    // Lose only the first change of `a`: the rest of `a` goes with it, `b` survives.
    let mut asked = 0;
    let lost = ns.power_loss(|op| {
        asked += 1;
        op.ino() != Some(1)
    });
    assert_eq!(lost.ops, 2);
    assert_eq!(asked, 3, "a/2 is lost without asking");
    let names: Vec<_> = ns.names().map(|(p, _)| p.clone()).collect();
    assert_eq!(names, vec![p("b/1"), p("b/2")]);
    assert_eq!(ns.pending_len(), 0);
    assert!(ns.is_consistent());
}

#[test]
fn rename_is_atomic_across_power_loss() {
    for keep_rename in [false, true] {
        let mut ns = Namespace::default();
        ns.create(&p("d/tmp"), 1).unwrap();
        ns.create(&p("d/final"), 2).unwrap();
        ns.sync_dir(&p("d"));
        ns.rename(&p("d/tmp"), &p("d/final")).unwrap();
        ns.power_loss(|_| keep_rename);
        let expect = if keep_rename {
            vec![(p("d/final"), 1)]
        } else {
            vec![(p("d/final"), 2), (p("d/tmp"), 1)]
        };
        let names: Vec<_> = ns.names().map(|(p, i)| (p.clone(), i)).collect();
        assert_eq!(names, expect);
    }
}

#[test]
fn install_durable_syncs_the_directory_first() {
    let mut ns = Namespace::default();
    ns.create(&p("d/f"), 1).unwrap();
    ns.remove(&p("d/f")).unwrap();
    assert_eq!(ns.install_durable(&p("d/f"), 2).unwrap(), None);
    ns.power_loss(|_| false);
    assert_eq!(ns.lookup(&p("d/f")), Some(2));
    assert!(ns.referenced().contains(&2));
}

#[test]
fn pending_changes_are_bounded() {
    let mut ns = Namespace::default();
    let mut written_back = 0;
    for i in 0..PENDING_DIR_OPS_LIMIT as u64 + 5 {
        written_back += ns.create(&p(&format!("d/{i}")), i).unwrap();
    }
    assert_eq!(written_back, 5);
    assert_eq!(ns.pending_len(), PENDING_DIR_OPS_LIMIT);
    assert!(ns.is_consistent());
}

fn objects() -> Namespace {
    let mut ns = Namespace::default();
    ns.set_dirs_are_objects(true).unwrap();
    ns
}

#[test]
fn implicit_directories_are_unchanged() {
    let mut ns = Namespace::default();
    assert_eq!(ns.create_dir_all(&p("/a/b")).unwrap(), (0, 0));
    assert!(!ns.exists(&p("/a")) && !ns.is_dir(&p("/")));
    ns.create(&p("/nowhere/f"), 1).unwrap();
    assert!(ns.list_dir(&p("/missing")).unwrap().is_empty());
    ns.make_dir_durable(&p("/x")).unwrap();
    assert_eq!(ns.pending_len(), 1);
    ns.set_dirs_are_objects(true).unwrap_err();
}

#[test]
fn files_need_an_existing_directory() {
    let mut ns = objects();
    let kind = |r: io::Result<u64>| r.unwrap_err().kind();
    assert_eq!(kind(ns.create(&p("/d/f"), 1)), io::ErrorKind::NotFound);
    assert_eq!(ns.create_dir_all(&p("/d/e")).unwrap(), (2, 0));
    assert_eq!(ns.create_dir_all(&p("/d/e")).unwrap(), (0, 0));
    assert!(ns.exists(&p("/d")) && ns.is_dir(&p("/d/e")) && ns.is_dir(&p("/")));
    ns.create(&p("/d/f"), 1).unwrap();
    assert_eq!(kind(ns.create(&p("/d/e"), 2)), io::ErrorKind::AlreadyExists);
    assert_eq!(
        kind(ns.rename(&p("/d/f"), &p("/z/f"))),
        io::ErrorKind::NotFound
    );
    assert_eq!(
        kind(ns.rename(&p("/d/f"), &p("/d/e"))),
        io::ErrorKind::IsADirectory
    );
    assert_eq!(
        ns.remove(&p("/d/e")).unwrap_err().kind(),
        io::ErrorKind::IsADirectory
    );
    assert_eq!(
        ns.create_dir_all(&p("/d/f")).unwrap_err().kind(),
        io::ErrorKind::AlreadyExists
    );
    assert_eq!(
        ns.create_dir_all(&p("/d/f/g")).unwrap_err().kind(),
        io::ErrorKind::NotADirectory
    );
    assert_eq!(ns.list_dir(&p("/d")).unwrap(), vec!["e", "f"]);
    assert_eq!(ns.list_dir(&p("/")).unwrap(), vec!["d"]);
    assert_eq!(
        ns.list_dir(&p("/z")).unwrap_err().kind(),
        io::ErrorKind::NotFound
    );
    // Relative paths hang from `.`.
    ns.create_dir_all(&p("rel")).unwrap();
    ns.create(&p("rel/f"), 3).unwrap();
    ns.create(&p("top"), 4).unwrap();
    assert!(ns.is_consistent());
}

#[test]
fn a_directory_is_durable_only_once_its_parent_is_synced() {
    let mut ns = objects();
    ns.create_dir_all(&p("/log")).unwrap();
    ns.create(&p("/log/1"), 1).unwrap();
    // Syncing the new directory makes its entries durable, not itself.
    assert_eq!(ns.sync_dir(&p("/log")), 1);
    assert_eq!(ns.lookup_durable(&p("/log/1")), None, "/log is not durable");
    assert_eq!(ns.durable_names().count(), 0);
    assert_eq!(ns.sync_dir(&p("/")), 1);
    assert_eq!(ns.lookup_durable(&p("/log/1")), Some(1));
    let lost = ns.power_loss(|_| false);
    assert_eq!(lost, NamesLost::default());
    assert_eq!(ns.lookup(&p("/log/1")), Some(1));
}

#[test]
fn a_lost_directory_takes_everything_under_it() {
    let mut ns = objects();
    ns.create_dir_all(&p("/keep")).unwrap();
    ns.sync_dir(&p("/"));
    ns.create_dir_all(&p("/log/sub")).unwrap(); // 2 creations in / and /log
    ns.create(&p("/log/1"), 1).unwrap();
    ns.create(&p("/log/sub/2"), 2).unwrap();
    ns.sync_dir(&p("/log")); // /log/sub and /log/1 durable in /log
    ns.create(&p("/log/3"), 3).unwrap(); // pending in /log
    ns.create(&p("/keep/4"), 4).unwrap(); // pending in /keep
                                          // Lose only the creation of /log: everything under it goes, /keep stays.
    let mut asked = Vec::new();
    let lost = ns.power_loss(|op| {
        asked.push(op.clone());
        !matches!(op, DirOp::MkDir { path } if path == &p("/log"))
    });
    assert_eq!(
        lost,
        NamesLost {
            ops: 3, // /log, /log/sub/2 (under the lost dir), /log/3
            dirs: 2,
            orphaned_files: 1, // /log/1
        }
    );
    assert_eq!(
        asked.len(),
        2,
        "only /log and /keep/4 could persist: {asked:?}"
    );
    let names: Vec<_> = ns.names().map(|(p, _)| p.clone()).collect();
    assert_eq!(names, vec![p("/keep/4")]);
    assert!(!ns.exists(&p("/log")) && ns.is_dir(&p("/keep")));
    assert!(ns.is_consistent());
    assert!(!ns.referenced().contains(&1));
}

#[test]
fn make_dir_durable_creates_or_syncs_each_level() {
    let mut ns = objects();
    ns.create_dir_all(&p("/a")).unwrap();
    ns.make_dir_durable(&p("/a/b/c")).unwrap();
    ns.install_durable(&p("/a/b/c/f"), 1).unwrap();
    assert_eq!(ns.pending_len(), 0);
    ns.power_loss(|_| false);
    assert_eq!(ns.lookup(&p("/a/b/c/f")), Some(1));
    assert!(ns.is_consistent());
    ns.create(&p("/a/file"), 2).unwrap();
    assert!(ns.make_dir_durable(&p("/a/file/x")).is_err());
    assert!(ns.install_durable(&p("/a/b"), 3).is_err());
}

#[test]
fn equal_spellings_name_one_file_and_keep_the_first() {
    let mut ns = Namespace::default();
    ns.create(&p("d/a"), 1).unwrap();
    assert_eq!(ns.lookup(&p("d//a")), Some(1));
    assert_eq!(
        ns.create(&p("d/a/"), 2).unwrap_err().kind(),
        io::ErrorKind::AlreadyExists
    );
    ns.sync_dir(&p("d/"));
    assert_eq!(ns.install_durable(&p("d/./a"), 3).unwrap(), Some(1));
    let names: Vec<_> = ns.names().map(|(p, i)| (p.clone(), i)).collect();
    assert_eq!(names, vec![(p("d/a"), 3)]);
    assert!(ns.is_consistent());
}
