//! The lying and failing disk: misdirected writes, latent corruption, disk full, I/O
//! errors, torn garbage, sticky bad sectors and namespace ENOSPC.

use super::*;

#[test]
fn misdirected_write_leaves_the_intended_range_old() {
    let cfg = FaultConfig {
        misdirected_write: Fault::on(1.0),
        ..FaultConfig::none()
    };
    for seed in 0..30 {
        let v = SimVfs::new(seed, cfg.clone());
        let original: Vec<u8> = (0..8 * SECTOR).map(|i| (i / SECTOR) as u8).collect();
        v.write_file_durable("d/f", &original).unwrap();
        v.write_file_durable("d/other", &original).unwrap();
        let f = v.open(p("d/f"), OpenMode::Existing).unwrap();
        f.write_at(&[0xEE; SECTOR], 2 * SECTOR as u64).unwrap();
        let image = read_all(f.as_ref());
        assert_eq!(
            image[2 * SECTOR..3 * SECTOR],
            original[2 * SECTOR..3 * SECTOR]
        );
        let hit: Vec<usize> = (0..8).filter(|s| image[s * SECTOR] == 0xEE).collect();
        assert_eq!(hit.len(), 1, "seed {seed}");
        assert!(image[hit[0] * SECTOR..(hit[0] + 1) * SECTOR]
            .iter()
            .all(|b| *b == 0xEE));
        assert!(v.was_damaged("d/f") && !v.was_damaged("d/other"));
        assert_eq!(v.damaged_paths(), vec![PathBuf::from("d/f")]);
        assert_eq!(v.stats().misdirected_writes, 1);
        // An extending write is never misdirected.
        f.write_at(&[1; 10], 8 * SECTOR as u64).unwrap();
        assert_eq!(v.stats().misdirected_writes, 1);
    }
}

#[test]
fn latent_corruption_changes_one_durable_sector_and_marks_the_file() {
    for seed in 0..30 {
        let v = SimVfs::new(seed, FaultConfig::none());
        assert_eq!(
            v.corrupt_random_sector(),
            None,
            "no file, nothing to corrupt"
        );
        let original = vec![0x55u8; 4 * SECTOR + 100];
        v.write_file_durable("f", &original).unwrap();
        let (path, sector) = v.corrupt_random_sector().unwrap();
        assert_eq!(path, PathBuf::from("f"));
        let durable = v.durable_file("f").unwrap();
        assert_eq!(durable.len(), original.len());
        let changed: Vec<usize> = (0..durable.len()).filter(|i| durable[*i] != 0x55).collect();
        assert!(!changed.is_empty());
        assert!(changed.iter().all(|i| (*i as u64) / 512 * 512 == sector));
        assert_eq!(v.read_file("f").unwrap(), durable, "reads see it too");
        assert!(v.was_damaged("f"));
        // The mark follows the file through a rename and a backup copy.
        v.rename(p("f"), p("g")).unwrap();
        v.copy_file("g", "backup/g").unwrap();
        assert!(v.was_damaged("g") && v.was_damaged("backup/g"));
    }
}

#[test]
fn latent_corruption_fires_at_io_steps_when_configured() {
    let cfg = FaultConfig {
        latent_corruption: Fault::on(1.0),
        ..FaultConfig::none()
    };
    let v = SimVfs::new(4, cfg);
    v.write_file_durable("f", &[0u8; 1024]).unwrap();
    assert!(v.exists(p("f")).unwrap());
    assert_eq!(v.stats().latent_corruptions, 1);
    v.with_faults_paused(|| v.exists(p("f")).unwrap());
    assert_eq!(v.stats().latent_corruptions, 1, "paused");
    assert!(v.was_damaged("f"));
}

#[test]
fn disk_full_by_capacity_and_by_chance() {
    let cfg = FaultConfig {
        disk_full: Fault::on(0.0),
        capacity_bytes: Some(1000),
        ..FaultConfig::none()
    };
    let v = SimVfs::new(0, cfg);
    let f = v.open(p("f"), OpenMode::CreateNew).unwrap();
    f.write_at(&[1; 600], 0).unwrap();
    assert_eq!(
        f.write_at(&[2; 600], 600).unwrap_err().kind(),
        ErrorKind::StorageFull
    );
    assert_eq!(f.set_len(2000).unwrap_err().kind(), ErrorKind::StorageFull);
    f.write_at(&[3; 600], 0).unwrap(); // overwriting needs no space
    f.write_at(&[4; 400], 600).unwrap(); // exactly full
    assert_eq!(v.stats().disk_full, 2);
    v.with_faults_paused(|| f.write_at(&[5; 600], 1000))
        .unwrap();

    let cfg = FaultConfig {
        disk_full: Fault::on(1.0),
        ..FaultConfig::none()
    };
    let v = SimVfs::new(0, cfg);
    let f = v.open(p("f"), OpenMode::CreateNew).unwrap();
    assert_eq!(
        f.write_at(b"x", 0).unwrap_err().kind(),
        ErrorKind::StorageFull
    );
}

#[test]
fn read_and_write_errors_are_eio_and_change_nothing() {
    let cfg = FaultConfig {
        read_error: Fault::on(1.0),
        write_error: Fault::on(1.0),
        ..FaultConfig::none()
    };
    let v = SimVfs::new(0, cfg);
    v.write_file_durable("f", b"abc").unwrap();
    let f = v.open(p("f"), OpenMode::Existing).unwrap();
    assert_eq!(
        f.read_at(&mut [0u8; 3], 0).unwrap_err().kind(),
        ErrorKind::Other
    );
    assert_eq!(f.write_at(b"xyz", 0).unwrap_err().kind(), ErrorKind::Other);
    assert_eq!(v.read_file("f").unwrap(), b"abc");
    assert!(!v.with_faults_paused(|| v.faults_enabled()));
    assert!(v.faults_enabled(), "restored after the pause");
    let stats = v.stats();
    assert_eq!((stats.read_errors, stats.write_errors), (1, 1));
}

#[test]
fn torn_sectors_may_hold_garbage_only_with_the_option() {
    let run = |torn_garbage: bool| {
        let cfg = FaultConfig {
            torn_write: Fault::on(1.0),
            torn_garbage,
            ..FaultConfig::none()
        };
        let (mut garbage_seen, mut counted) = (0u64, 0u64);
        for seed in 0..100 {
            let v = SimVfs::new(seed, cfg.clone());
            v.write_file_durable("f", &[0u8; 8 * SECTOR]).unwrap();
            let f = v.open(p("f"), OpenMode::Existing).unwrap();
            f.write_at(&[0xFF; 8 * SECTOR], 0).unwrap();
            v.power_loss();
            let image = v.read_file("f").unwrap();
            assert_eq!(image.len(), 8 * SECTOR);
            let odd = image
                .chunks(SECTOR)
                .filter(|s| !s.iter().all(|b| *b == 0) && !s.iter().all(|b| *b == 0xFF))
                .count() as u64;
            garbage_seen += odd;
            counted += v.stats().garbage_sectors;
            assert_eq!(v.stats().torn_writes, 1, "seed {seed}");
        }
        assert_eq!(garbage_seen, counted);
        counted
    };
    assert_eq!(run(false), 0);
    assert!(run(true) > 0);
}

#[test]
fn a_sticky_read_error_keeps_failing_until_the_sector_is_written() {
    let cfg = FaultConfig {
        read_error: Fault::on(1.0),
        sticky_bad_sectors: true,
        ..FaultConfig::none()
    };
    let v = SimVfs::new(3, cfg);
    v.write_file_durable("f", &[1u8; 4 * SECTOR]).unwrap();
    let f = v.open(p("f"), OpenMode::Existing).unwrap();
    // The first error marks the one sector this read covers.
    assert!(f.read_at(&mut [0u8; 10], SECTOR as u64 + 5).is_err());
    v.set_config(FaultConfig {
        read_error: Fault::OFF,
        ..v.config()
    });
    for _ in 0..3 {
        assert!(f.read_at(&mut [0u8; 4], SECTOR as u64).is_err());
    }
    assert_eq!(v.stats().read_errors, 1);
    assert_eq!(v.stats().sticky_read_errors, 3);
    // Other sectors read fine; paused faults read the bad one too.
    f.read_at(&mut [0u8; SECTOR], 0).unwrap();
    f.read_at(&mut [0u8; SECTOR], 2 * SECTOR as u64).unwrap();
    v.with_faults_paused(|| f.read_at(&mut [0u8; 4], SECTOR as u64))
        .unwrap();
    // It survives a crash; a write touching the sector clears it.
    v.process_crash();
    let f = v.open(p("f"), OpenMode::Existing).unwrap();
    assert!(f.read_at(&mut [0u8; 4], SECTOR as u64 + 100).is_err());
    f.write_at(&[2u8; 1], 2 * SECTOR as u64 - 1).unwrap();
    let mut buf = vec![0u8; 4 * SECTOR];
    read_exact_at(&*f, &mut buf, 0).unwrap();
    assert_eq!(buf[2 * SECTOR - 1], 2);
    assert_eq!(v.stats().sticky_read_errors, 4);
}

#[test]
fn without_the_option_read_errors_are_one_off() {
    let cfg = FaultConfig {
        read_error: Fault::on(1.0),
        ..FaultConfig::none()
    };
    let v = SimVfs::new(3, cfg);
    v.write_file_durable("f", &[1u8; 2 * SECTOR]).unwrap();
    let f = v.open(p("f"), OpenMode::Existing).unwrap();
    assert!(f.read_at(&mut [0u8; 10], 0).is_err());
    v.set_config(FaultConfig::none());
    f.read_at(&mut [0u8; 10], 0).unwrap();
    assert_eq!(v.stats().sticky_read_errors, 0);
}

#[test]
fn namespace_enospc_fails_creates_renames_and_syncs_without_effect() {
    let cfg = FaultConfig {
        disk_full: Fault::on(1.0),
        namespace_enospc: true,
        ..FaultConfig::none()
    };
    let v = SimVfs::new(5, cfg);
    v.write_file_durable("a", b"old").unwrap();
    let full = |r: io::Result<()>| r.unwrap_err().kind() == ErrorKind::StorageFull;
    assert!(full(v.open(p("b"), OpenMode::CreateNew).map(|_| ())));
    assert!(full(v.open(p("b"), OpenMode::Truncate).map(|_| ())));
    assert!(!v.exists(p("b")).unwrap());
    assert!(full(v.rename(p("a"), p("c"))));
    assert!(v.exists(p("a")).unwrap() && !v.exists(p("c")).unwrap());
    // Opening an existing file creates nothing; a sync with nothing pending needs no
    // space.
    let f = v.open(p("a"), OpenMode::Existing).unwrap();
    f.sync().unwrap();
    // A pending write (made with faults paused) stays pending after the failed sync.
    v.with_faults_paused(|| f.write_at(b"new", 0)).unwrap();
    assert!(full(f.sync()));
    assert_eq!(read_all(&*f), b"new");
    assert_eq!(v.pending_ops_count(), 1);
    assert_eq!(v.stats().disk_full_namespace, 4);
    assert_eq!(v.stats().disk_full, 0);
    v.with_faults_paused(|| f.sync()).unwrap();
    assert_eq!(v.durable_file("a").unwrap(), b"new");

    // Without the option only growing writes and length changes meet disk full.
    let v = SimVfs::new(
        5,
        FaultConfig {
            disk_full: Fault::on(1.0),
            ..FaultConfig::none()
        },
    );
    v.write_file_durable("a", b"old").unwrap();
    drop(v.open(p("b"), OpenMode::CreateNew).unwrap());
    v.rename(p("a"), p("c")).unwrap();
    assert_eq!(v.stats().disk_full_namespace, 0);
}
