//! The Linux behaviour of a failed `fsync` (`SyncFailure::Linux`): the failed pages stay
//! readable in the page cache and are marked clean, so a retry "succeeds" and only a
//! power loss shows what was lost.

use super::*;

/// `sync_error` at rate 1 under the Linux policy.
fn linux_sync_errors() -> FaultConfig {
    FaultConfig {
        sync_error: Fault::on(1.0),
        sync_failure: SyncFailure::Linux,
        ..FaultConfig::none()
    }
}

#[test]
fn linux_failed_sync_keeps_data_readable_and_a_retry_succeeds_but_power_loss_loses_it() {
    let v = SimVfs::new(1, linux_sync_errors());
    v.write_file_durable("f", b"old").unwrap();
    let f = v.open(p("f"), OpenMode::Existing).unwrap();
    f.write_at(b"NEW", 0).unwrap();
    f.write_at(b"+", 3).unwrap();
    let e = f.sync().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Other);
    // Marked clean, not written: reads see the new data, nothing is pending, the
    // durable image is the old one.
    assert_eq!(read_all(f.as_ref()), b"NEW+");
    assert_eq!(v.read_file("f").unwrap(), b"NEW+");
    assert_eq!(v.durable_file("f").unwrap(), b"old");
    assert_eq!(v.pending_ops_count(), 0);
    let s = v.stats();
    assert_eq!(
        (
            s.syncs_failed_linux,
            s.writes_forgotten_after_failed_sync,
            s.sync_errors
        ),
        (1, 2, 0)
    );
    v.check_invariants().unwrap();
    // The retry has nothing to write, and succeeds — the engine's trap.
    v.with_faults_paused(|| f.sync()).unwrap();
    assert_eq!(read_all(f.as_ref()), b"NEW+");
    assert_eq!(v.durable_file("f").unwrap(), b"old");
    // Even with faults on: with nothing pending a failing sync forgets nothing.
    assert!(f.sync().is_err());
    assert_eq!(v.stats().syncs_failed_linux, 1);
    assert_eq!(v.stats().sync_errors, 1);
    v.check_invariants().unwrap();
    // A power loss that keeps every unsynced write still loses the forgotten ones.
    v.power_loss();
    assert_eq!(v.read_file("f").unwrap(), b"old");
    v.check_invariants().unwrap();
}

#[test]
fn linux_forgotten_writes_survive_a_process_crash_but_not_a_later_power_loss() {
    let v = SimVfs::new(2, linux_sync_errors());
    v.write_file_durable("f", &[0u8; 2 * SECTOR]).unwrap();
    let f = v.open(p("f"), OpenMode::Existing).unwrap();
    f.write_at(&[1u8; SECTOR], 0).unwrap();
    f.write_at(&[2u8; 100], 2 * SECTOR as u64).unwrap(); // extends the file
    assert!(f.sync().is_err());
    v.process_crash();
    // The OS still holds the pages (clean), so a new process reads them.
    let f = v.open(p("f"), OpenMode::Existing).unwrap();
    let mut want = vec![1u8; SECTOR];
    want.extend([0u8; SECTOR]);
    want.extend([2u8; 100]);
    assert_eq!(read_all(f.as_ref()), want);
    // A later write is pending on top of them; a good sync makes only it durable.
    f.write_at(&[3u8; 10], SECTOR as u64).unwrap();
    v.with_faults_paused(|| f.sync()).unwrap();
    want[SECTOR..SECTOR + 10].copy_from_slice(&[3u8; 10]);
    assert_eq!(read_all(f.as_ref()), want);
    let mut durable = vec![0u8; 2 * SECTOR];
    durable[SECTOR..SECTOR + 10].copy_from_slice(&[3u8; 10]);
    assert_eq!(v.durable_file("f").unwrap(), durable);
    v.check_invariants().unwrap();
    v.power_loss();
    assert_eq!(
        v.read_file("f").unwrap(),
        durable,
        "the forgotten writes are lost"
    );
}

#[test]
fn linux_policy_leaves_sync_drop_and_sync_dir_failures_as_they_were() {
    // A dropping sync still reverts reads to the durable image.
    let v = SimVfs::new(
        1,
        FaultConfig {
            sync_drop: Fault::on(1.0),
            ..linux_sync_errors()
        },
    );
    v.write_file_durable("d/f", b"old").unwrap();
    let f = v.open(p("d/f"), OpenMode::Existing).unwrap();
    f.write_at(b"NEW", 0).unwrap();
    assert!(f.sync().is_err());
    assert_eq!(read_all(f.as_ref()), b"old");
    assert_eq!(v.stats().sync_drops, 1);
    assert_eq!(v.stats().syncs_failed_linux, 0);
    // A failed sync_dir keeps the directory's changes pending.
    let g = v.open(p("d/g"), OpenMode::CreateNew).unwrap();
    drop(g);
    assert!(v.sync_dir(p("d")).is_err());
    assert_eq!(v.pending_ops_count(), 1);
    v.with_faults_paused(|| v.sync_dir(p("d"))).unwrap();
    assert_eq!(v.pending_ops_count(), 0);
}

#[test]
fn the_policy_changes_what_a_failure_does_not_which_faults_fire() {
    // Same seed and calls: the same syncs fail under either policy (the policy draws
    // nothing); only what they leave differs.
    let run = |policy| {
        let v = SimVfs::new(
            5,
            FaultConfig {
                sync_error: Fault::on(0.5),
                sync_failure: policy,
                ..FaultConfig::none()
            },
        );
        let f = v.open(p("f"), OpenMode::CreateNew).unwrap();
        let mut failed = Vec::new();
        for i in 0..40u8 {
            f.write_at(&[i], u64::from(i)).unwrap();
            failed.push(f.sync().is_err());
        }
        v.power_loss();
        (failed, v.read_file("f").unwrap())
    };
    let (keep_failed, keep_image) = run(SyncFailure::KeepPending);
    let (linux_failed, linux_image) = run(SyncFailure::Linux);
    assert_eq!(keep_failed, linux_failed);
    assert!(keep_failed.contains(&true) && keep_failed.contains(&false));
    // Keep-pending: every write was retried by a later good sync (the last sync
    // failed or not, its write may be lost only if it failed). Linux: a write whose
    // sync failed is never written, whatever later syncs do.
    for (i, failed) in linux_failed.iter().enumerate() {
        let later_ok = linux_failed[i + 1..].contains(&false);
        if *failed {
            assert_eq!(linux_image.get(i).copied().unwrap_or(0), 0, "write {i}");
            if later_ok {
                assert_eq!(keep_image[i], i as u8, "write {i}");
            }
        } else {
            assert_eq!(linux_image[i], i as u8, "write {i}");
        }
    }
}
