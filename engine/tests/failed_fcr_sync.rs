//! A control record whose sync failed, then a power loss while the file is reopened.
//!
//! Linux answers a failed `fsync` by marking the dirty pages clean without writing
//! them: reads keep serving the new control record, no later sync writes it, and a power
//! loss takes it. A writable open makes the live control record durable by writing it
//! into the other slot first — right when the live record may be durable (a process
//! crash), since the other slot then is not the only whole copy. But here the other slot
//! holds the last durable record, the one the last acknowledged commit made: writing
//! over it first means a power loss during that write leaves no whole durable record of
//! that commit (the live slot's sector on disk still holds an older one). So the commit
//! that saw the sync fail writes the durable record over the failed one at once (the
//! failed commit was never acknowledged), and whichever process opens the file next
//! reads that; if the disk keeps failing and that undo fails too, the engine remembers,
//! and its own reopen rewrites the live slot first (a power loss during that write
//! leaves the last acknowledged commit), and only then the other. Another process's
//! open cannot remember: it syncs, then reads the live record past the cache, and
//! finding the disk without it rewrites the live slot first too.
//!
//! The property: after the last acknowledged commit, a commit whose control-record sync
//! fails, a close, and a reopen (by that engine, or by a new process) cut short at any
//! mutating call then a power loss (which may garble the sectors being written), the
//! file opens and holds the acknowledged records (or, if the failed commit's record
//! happened to reach the disk, those plus the failed commit's).

mod common;
use common::*;
use engine::vfs::testing::{Faults, Rng, TestVfs};
use engine::{Config, Engine, FileFormat, FileSpec, KeyType, LogMode, OpenMode, StepOp};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

const FILE: &str = "/db/f.dat";

fn spec() -> FileSpec {
    FileSpec {
        record_length: 16,
        page_size: 512,
        keys: vec![key(vec![seg(0, 8, KeyType::Unsigned)], false, false)],
        format: FileFormat::V6,
        compact_leaves: false,
        slot_serial_bytes: 8,
    }
}

fn record(id: u64) -> Vec<u8> {
    let mut r = vec![0x33; 16];
    r[..8].copy_from_slice(&id.to_le_bytes());
    r
}

fn config() -> Config {
    Config {
        log_mode: LogMode::Off,
        log_dir: PathBuf::from("/db/log"),
        ..Config::default()
    }
}

/// Every record of the file, or why it does not open.
fn records(e: &mut Engine) -> Result<BTreeSet<Vec<u8>>, engine::Error> {
    let h = e.open(Path::new(FILE), OpenMode::ReadOnly)?;
    let mut out = BTreeSet::new();
    let mut r = e.step(h, StepOp::First);
    while let Ok(rec) = r {
        out.insert(rec);
        r = e.step(h, StepOp::Next);
    }
    e.close(h)?;
    Ok(out)
}

/// Who reopens the file after the failed sync.
#[derive(Clone, Copy, Debug)]
enum Reopen {
    /// The engine that saw the sync fail — and saw its undo (writing the durable
    /// control record over the failed one) fail too: the disk keeps failing.
    SameEngine,
    /// A new process (the OS cache kept; the engine that saw it is gone) — after the
    /// undo took.
    NewProcess,
    /// A new process, after the undo's sync failed too: both slots read as the last
    /// durable record, one of them only from the cache — the one the open picks as
    /// live must be the one in its own slot, so that its copy rewrites the other
    /// first.
    NewProcessUndoUnsynced,
    /// A new process, after the undo's *write* failed (or a crash cut the engine off
    /// before it): the failed record is still served from the cache, and nothing in
    /// the new process remembers it — only a read past the cache
    /// (`VfsFile::read_durable_at`) shows the disk does not hold it, so that the open
    /// rewrites the live slot first.
    NewProcessUndoFailed,
}

const REOPENS: [Reopen; 4] = [
    Reopen::SameEngine,
    Reopen::NewProcess,
    Reopen::NewProcessUndoUnsynced,
    Reopen::NewProcessUndoFailed,
];

fn known_bad(config: &Config) -> bool {
    #[cfg(feature = "mutants")]
    let bad = config.mutant.is_some();
    #[cfg(not(feature = "mutants"))]
    let bad = {
        let _ = config;
        false
    };
    bad
}

/// The scenario up to the reopen; returns the engine that saw the sync fail and the
/// acknowledged records. `commits` commits first (several, so that both control-record
/// slots hold older, valid records).
fn fail_a_control_record_sync(
    vfs: &TestVfs,
    config: &Config,
    reopen: Reopen,
    commits: u64,
) -> (Engine, BTreeSet<Vec<u8>>) {
    let mut e = mem_engine(vfs, config.clone());
    e.create(Path::new(FILE), &spec()).expect("create");
    let h = e.open(Path::new(FILE), OpenMode::Normal).expect("open");
    let mut acked = BTreeSet::new();
    for id in 0..commits {
        e.insert(h, &record(id)).expect("insert");
        e.flush().expect("flush");
        acked.insert(record(id));
    }
    let before = vfs.durable_contents(FILE).expect("file");
    // The commit syncs its pages (sync 0), then writes its control record and syncs it
    // (sync 1): that one fails, Linux-style. For `SameEngine` the disk keeps failing:
    // the next write (the undo's) fails too; for `NewProcessUndoUnsynced`, the next
    // sync (the undo's). (Not for the known-bad engine, which makes no undo: the
    // failure would fall on the reopen instead.)
    let bad = known_bad(config);
    let fail_undo_write =
        matches!(reopen, Reopen::SameEngine | Reopen::NewProcessUndoFailed) && !bad;
    let fail_undo_sync = matches!(reopen, Reopen::NewProcessUndoUnsynced) && !bad;
    let syncs = Arc::new(AtomicU32::new(0));
    let (hook_vfs, hook_syncs) = (vfs.clone(), syncs.clone());
    vfs.on_sync(move || {
        let n = hook_syncs.fetch_add(1, Ordering::SeqCst);
        if n == 1 || (n == 2 && fail_undo_sync) {
            hook_vfs.set_faults(Faults {
                fail_sync_in: Some(0),
                fail_write_in: fail_undo_write.then_some(0),
                failed_sync_keeps_cache: true,
                ..Faults::default()
            });
        }
    });
    e.insert(h, &record(99)).expect("insert");
    assert!(e.flush().is_err(), "the control record's sync failed");
    vfs.on_sync(|| {});
    vfs.set_faults(Faults::default());
    // The precondition: the failed control record is readable but not on disk — unless
    // the undo took.
    let (seen, disk) = (
        vfs.contents(FILE).expect("file"),
        vfs.durable_contents(FILE),
    );
    let disk = disk.expect("file");
    let slots = 2 * spec().page_size as usize;
    let undone = matches!(reopen, Reopen::NewProcess) && !known_bad(config);
    assert_eq!(
        seen[..slots] == disk[..slots],
        undone,
        "{reopen:?}: the failed control record is in the cache only, or undone on disk"
    );
    if !undone {
        assert_eq!(before[..slots], disk[..slots]);
    }
    let _ = e.close(h);
    (e, acked)
}

/// Run the scenario with the reopen cut short at each of its first mutating calls and
/// a garbling power loss of each seed; returns the violations of the property (a file
/// that no longer opens, or holds other records) and how many reopens were cut short.
/// `direct`: whether the files can be read past the cache (`read_durable_at`).
fn violations(config: &Config, reopen: Reopen, direct: bool) -> (Vec<String>, usize) {
    let (mut bad, mut cut_short) = (Vec::new(), 0);
    // Both parities of the failed commit's sequence: each slot in turn is the one the
    // failed control record (and its undo) went to.
    for (stop, commits) in (0..8u64).flat_map(|s| [(s, 5), (s, 6)]) {
        for seed in 0..24u64 {
            let vfs = TestVfs::new();
            vfs.set_direct_reads(direct);
            let (mut e, acked) = fail_a_control_record_sync(&vfs, config, reopen, commits);
            if !matches!(reopen, Reopen::SameEngine) {
                // The process dies; the OS and its cache live on.
                e = mem_engine(&vfs, config.clone());
            }
            vfs.stop_after(Some(stop));
            if e.open(Path::new(FILE), OpenMode::Normal).is_err() {
                cut_short += 1;
            }
            drop(e);
            vfs.stop_after(None);
            vfs.power_loss_garbling(&mut Rng::new(seed));
            let mut e = mem_engine(&vfs, config.clone());
            let mut with_failed = acked.clone();
            with_failed.insert(record(99));
            match records(&mut e) {
                Ok(got) if got == acked || got == with_failed => {}
                Ok(got) => bad.push(format!(
                    "{commits} commits, stop {stop}, seed {seed}: the file holds {} records, {} were acknowledged",
                    got.len(),
                    acked.len()
                )),
                Err(err) => bad.push(format!(
                    "{commits} commits, stop {stop}, seed {seed}: the file no longer opens: {err}"
                )),
            }
        }
    }
    (bad, cut_short)
}

#[test]
fn a_power_loss_during_the_reopen_after_a_failed_control_record_sync_loses_nothing_acknowledged() {
    for reopen in REOPENS {
        let (bad, cut_short) = violations(&config(), reopen, true);
        assert!(bad.is_empty(), "{reopen:?}:\n{}", bad.join("\n"));
        assert!(cut_short > 0, "{reopen:?}: some stops cut the reopen short");
    }
}

/// Where the disk cannot be read past the cache (a filesystem that refuses `O_DIRECT`)
/// the open cannot see that the live record is missing from the disk, and must get the
/// order right from what it remembers and from which slot it picks as live: of two
/// equal records (an undo whose sync failed left one in the cache only), the one in its
/// own slot, so that its copy rewrites the other first. Mutation testing found that
/// only the direct read was checked here: with it, picking either slot was safe.
/// (`NewProcessUndoFailed` is the known gap there: README, "Known gaps".)
#[test]
fn without_reads_past_the_cache_the_reopens_that_can_know_lose_nothing() {
    for reopen in [
        Reopen::SameEngine,
        Reopen::NewProcess,
        Reopen::NewProcessUndoUnsynced,
    ] {
        let (bad, cut_short) = violations(&config(), reopen, false);
        assert!(bad.is_empty(), "{reopen:?}:\n{}", bad.join("\n"));
        assert!(cut_short > 0, "{reopen:?}: some stops cut the reopen short");
    }
}

/// The property fails for the known-bad engine that leaves the failed control record
/// and copies over the other slot first (what the engine did before).
#[cfg(feature = "mutants")]
#[test]
fn the_known_bad_copy_over_the_last_durable_fcr_loses_an_acknowledged_commit() {
    let config = Config {
        mutant: Some(engine::mutant::Mutant::CopyOverLastDurableFcr),
        ..config()
    };
    for reopen in REOPENS {
        let (bad, _) = violations(&config, reopen, true);
        assert!(
            !bad.is_empty(),
            "{reopen:?}: the known-bad reopen lost nothing"
        );
    }
}

#[test]
fn after_the_reopen_the_file_commits_and_survives_a_power_loss() {
    let vfs = TestVfs::new();
    let (mut e, mut acked) = fail_a_control_record_sync(&vfs, &config(), Reopen::SameEngine, 5);
    let h = e.open(Path::new(FILE), OpenMode::Normal).expect("reopen");
    e.insert(h, &record(7)).expect("insert");
    e.flush().expect("flush");
    acked.insert(record(7));
    e.close(h).expect("close");
    drop(e);
    vfs.power_loss_garbling(&mut Rng::new(1));
    let mut e = mem_engine(&vfs, config());
    let got = records(&mut e).expect("the file opens");
    let mut with_failed = acked.clone();
    with_failed.insert(record(99));
    assert!(got == acked || got == with_failed, "{} records", got.len());
}
