//! `TestVfs`'s own tests: power loss, fault countdowns, crash during sync, stop, listing.

use super::*;
use std::sync::atomic::{AtomicU32, Ordering};

fn p() -> &'static Path {
    Path::new("/d/f")
}

#[test]
fn power_loss_keeps_synced_data_and_may_punch_holes_in_unsynced() {
    let mut saw_hole = false;
    for seed in 0..64 {
        let vfs = TestVfs::new();
        vfs.put(p(), vec![1; 1000]);
        let g = vfs.open(p(), OpenMode::Existing).unwrap();
        g.write_at(&[2; 2048], 1000).unwrap();
        assert_eq!(vfs.contents(p()).unwrap().len(), 3048);
        vfs.power_loss(&mut Rng::new(seed));
        let img = vfs.contents(p()).unwrap();
        assert_eq!(&img[..1000], &[1; 1000][..]);
        let tail = &img[1000..];
        if tail.len() > 600 && tail[..24].iter().all(|&b| b == 0) {
            saw_hole = true;
        }
    }
    assert!(
        saw_hole,
        "no seed lost an early sector while keeping a later one"
    );
}

#[test]
fn synced_writes_survive_power_loss_and_a_failed_sync_drops_unsynced_ones() {
    let vfs = TestVfs::new();
    let f = vfs.open(p(), OpenMode::CreateNew).unwrap();
    f.write_at(&[7; 100], 0).unwrap();
    f.sync().unwrap();
    vfs.power_loss(&mut Rng::new(1));
    assert_eq!(vfs.contents(p()).unwrap(), vec![7; 100]);

    f.write_at(&[8; 50], 100).unwrap();
    vfs.set_faults(Faults {
        fail_sync_in: Some(1),
        kind: io::ErrorKind::StorageFull,
        ..Faults::default()
    });
    f.sync().unwrap();
    f.write_at(&[9; 50], 150).unwrap();
    let e = f.sync().unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::StorageFull);
    assert_eq!(vfs.contents(p()).unwrap().len(), 150);
    f.sync().unwrap();
}

#[test]
fn write_and_remove_countdowns_fire_once() {
    let vfs = TestVfs::new();
    let f = vfs.open(p(), OpenMode::CreateNew).unwrap();
    vfs.set_faults(Faults {
        fail_write_in: Some(1),
        fail_remove_in: Some(0),
        ..Faults::default()
    });
    f.write_at(b"a", 0).unwrap();
    assert!(f.write_at(b"b", 1).is_err());
    f.write_at(b"c", 1).unwrap();
    assert_eq!(vfs.contents(p()).unwrap(), b"ac");
    assert!(vfs.remove(p()).is_err());
    vfs.remove(p()).unwrap();
    assert!(!vfs.exists(p()).unwrap());
}

#[test]
fn a_crash_during_a_sync_leaves_its_writes_unsynced() {
    let vfs = TestVfs::new();
    let f = vfs.open(p(), OpenMode::CreateNew).unwrap();
    f.write_at(&[1; 4096], 0).unwrap();
    vfs.crash_sync_in(Some(1));
    f.sync().unwrap();
    f.write_at(&[2; 4096], 0).unwrap();
    assert!(f.sync().is_err());
    // Only the chosen sync crashes.
    f.sync().unwrap();
    // What the crashed sync had to sync stays unsynced: a power loss tears it.
    let (mut kept, mut lost) = (0, 0);
    for seed in 0..16 {
        let v = TestVfs::new();
        let g = v.open(p(), OpenMode::CreateNew).unwrap();
        g.write_at(&[2; 4096], 0).unwrap();
        g.sync().unwrap();
        g.write_at(&[3; 4096], 0).unwrap();
        v.crash_next_sync();
        assert!(g.sync().is_err());
        v.power_loss(&mut Rng::new(seed));
        let img = v.contents(p()).unwrap();
        kept += img.chunks(SECTOR).filter(|s| s[0] == 3).count();
        lost += img.chunks(SECTOR).filter(|s| s[0] == 2).count();
    }
    assert!(kept > 0 && lost > 0, "kept {kept}, lost {lost}");
}

#[test]
fn a_stop_tears_the_crash_write_and_fails_every_later_mutating_call() {
    let vfs = TestVfs::new();
    let f = vfs.open(p(), OpenMode::CreateNew).unwrap();
    vfs.stop_after(Some(2));
    f.write_at(&[1; 10], 0).unwrap();
    f.sync().unwrap();
    assert!(f.write_at(&[2; 3 * SECTOR], 0).is_err());
    let img = vfs.contents(p()).unwrap();
    assert_eq!(img.len(), SECTOR);
    assert!(img.iter().all(|&b| b == 2));
    assert!(f.sync().is_err());
    assert!(f.set_len(0).is_err());
    assert!(vfs.sync_dir(Path::new("/d")).is_err());
    assert!(vfs.rename(p(), Path::new("/d/g")).is_err());
    assert!(vfs.remove(p()).is_err());
    // Reads still work; a restart lifts the stop.
    assert_eq!(f.len().unwrap(), SECTOR as u64);
    assert_eq!(vfs.mutating_calls(), 8);
    vfs.stop_after(None);
    f.sync().unwrap();
    assert_eq!(vfs.mutating_calls(), 9);
}

#[test]
fn over_another_vfs_switches_apply_and_the_rest_passes_through() {
    let inner = TestVfs::new();
    let vfs = TestVfs::over(Arc::new(inner.clone()));
    let f = vfs.open(p(), OpenMode::CreateNew).unwrap();
    f.write_at(b"abc", 0).unwrap();
    assert_eq!(inner.contents(p()).unwrap(), b"abc");
    assert_eq!(vfs.contents(p()).unwrap(), b"abc");
    vfs.set_faults(Faults {
        fail_write_in: Some(0),
        ..Faults::default()
    });
    assert!(f.write_at(b"x", 0).is_err());
    vfs.stop_after(Some(0));
    assert!(f.write_at(&[5; 2 * SECTOR], 0).is_err());
    assert_eq!(inner.contents(p()).unwrap(), [5; SECTOR].to_vec());
    assert_eq!(inner.mutating_calls(), 2);
    assert_eq!(vfs.mutating_calls(), 3);
    vfs.put(p(), b"new".to_vec());
    assert_eq!(inner.contents(p()).unwrap(), b"new");
}

#[test]
fn locks_listings_and_the_sync_hook() {
    let vfs = TestVfs::new();
    let a = vfs.open(p(), OpenMode::CreateNew).unwrap();
    let b = vfs.open(p(), OpenMode::Existing).unwrap();
    a.try_lock_exclusive().unwrap();
    a.try_lock_exclusive().unwrap();
    let e = b.try_lock_exclusive().unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
    drop(a);
    b.try_lock_exclusive().unwrap();

    assert_eq!(vfs.list_dir(Path::new("/d")).unwrap(), ["f"]);
    vfs.set_listing(Some(vec!["ghost".into()]));
    assert_eq!(vfs.list_dir(Path::new("/elsewhere")).unwrap(), ["ghost"]);
    assert!(vfs.open(Path::new("/d/ghost"), OpenMode::Existing).is_err());
    vfs.set_listing(None);
    assert_eq!(vfs.list_dir(Path::new("/d")).unwrap(), ["f"]);

    let syncs = Arc::new(AtomicU32::new(0));
    let seen = syncs.clone();
    vfs.on_sync(move || {
        seen.fetch_add(1, Ordering::SeqCst);
    });
    b.sync().unwrap();
    vfs.sync_dir(Path::new("/d")).unwrap();
    b.sync().unwrap();
    assert_eq!(syncs.load(Ordering::SeqCst), 2);
}
