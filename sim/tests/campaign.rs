//! The bounded campaign `cargo test` runs, the determinism check, and the mutant
//! table. Longer campaigns: `cargo run --release -p sim -- run --seeds N`.

use engine::mutant::Mutant;
use sim::campaign::{determinism, hunt};
use sim::runner::{run_seed, Options};

/// 300 seeds × 1000 steps with crashes, power losses and every fault kind the swarm
/// switches on (lost/torn/reordered unsynced writes, I/O errors, disk full, fsync
/// failures under both sync-failure policies, misdirected writes, latent corruption),
/// two clients with transactions, in every log mode (Off, Logging, Durability),
/// crashes during recovery included.
#[test]
fn bounded_campaign_passes() {
    let opts = Options::default();
    let mut crashes = 0;
    let mut checked = 0;
    let mut interrupted = 0;
    let mut admin = 0;
    let mut splits = 0;
    let mut transfers = 0;
    let mut modes = std::collections::BTreeSet::new();
    let mut faults = sim::vfs::FaultStats::default();
    let mut excused = (0, 0, 0);
    // Lying-disk damage: (reported and replaced, data file at an older state, delta's
    // unproven last transaction dropped).
    let mut damage = (0, 0, 0);
    // Log modes: log damage the engine reported (ending its seed).
    let mut log_damage_reported = 0;
    let mut faulty = (0, 0);
    // Generation 14: (archival backups, roll-forwards checked, crashed part-way, gap
    // backups refused with 41).
    let mut archival = (0, 0, 0, 0);
    // Generation 18: held-cursor moves (all, across a change), bulk loads (loads,
    // records, cut short by a crash) and what recovery found of those (a prefix of
    // whole batches, all of it).
    let mut cursor = (0, 0);
    let mut bulk = (0, 0, 0);
    let mut bulk_outcomes = (0, 0, 0);
    for seed in 0..300 {
        let o = run_seed(seed, &opts);
        cursor = (cursor.0 + o.cursor_moves.0, cursor.1 + o.cursor_moves.1);
        bulk = (bulk.0 + o.bulk.0, bulk.1 + o.bulk.1, bulk.2 + o.bulk.3);
        bulk_outcomes = (
            bulk_outcomes.0 + o.bulk_crash_outcomes.0,
            bulk_outcomes.1 + o.bulk_crash_outcomes.1,
            bulk_outcomes.2 + o.bulk_crash_outcomes.2,
        );
        archival = (
            archival.0 + o.archival.0,
            archival.1 + o.archival.1,
            archival.2 + o.archival.2,
            archival.3 + o.archival.4,
        );
        faulty = (
            faulty.0 + o.faulty_recoveries.0,
            faulty.1 + o.faulty_recoveries.1,
        );
        faults.add(&o.faults);
        excused = (
            excused.0 + o.excused.0,
            excused.1 + o.excused.1,
            excused.2 + o.excused.2,
        );
        damage = (
            damage.0 + o.damage_detected,
            damage.1 + o.damage_older_state,
            damage.2 + o.delta_older_state,
        );
        log_damage_reported += o.log_damage.0;
        assert_eq!(
            o.failure,
            None,
            "seed {seed}; replay: {}",
            sim::campaign::replay_command(seed, &opts)
        );
        crashes += o.crashes;
        checked += o.recoveries_checked;
        interrupted += o.interrupted_recoveries;
        admin += o.admin_requests;
        splits += o.split_transactions + o.inventory_splits;
        transfers += o.transfers;
        modes.insert(o.log_mode);
    }
    assert!(crashes >= 300 * 2, "too few crashes: {crashes}");
    assert!(modes.len() == 3, "every log mode ran: {modes:?}");
    // The Off model is honest only if Off really can split a multi-file transaction.
    assert!(splits > 0, "no crash split a transaction in log mode Off");
    assert!(transfers > 0, "inventory transfers ran");
    assert!(interrupted > 0, "some recoveries were crashed and redone");
    assert!(admin > 0, "operator requests ran through the admin path");
    assert!(
        checked >= crashes,
        "every crash is followed by checked recoveries"
    );
    // Every fault kind really fired (a kind silently switched off fails here), and
    // so did every crash kind.
    let fired = [
        ("lost_unsynced_write", faults.writes_dropped_by_power_loss),
        ("torn_write", faults.torn_writes),
        ("reordered_writes", faults.reordered),
        ("lost_dir_op", faults.dir_ops_lost),
        ("read_error", faults.read_errors),
        ("write_error", faults.write_errors),
        ("sync_error", faults.sync_errors),
        ("sync_drop", faults.sync_drops),
        (
            "sync_error under the Linux policy",
            faults.syncs_failed_linux,
        ),
        ("disk_full", faults.disk_full),
        ("misdirected_write", faults.misdirected_writes),
        ("latent_corruption", faults.latent_corruptions),
        ("power loss", faults.power_losses),
        ("process crash", faults.process_crashes),
        ("armed crash point", faults.crashes_armed_fired),
        ("aimed I/O error", faults.aimed_errors),
        (
            "torn sector holding garbage (generation 10)",
            faults.garbage_sectors,
        ),
        (
            "sticky bad sector (generation 10)",
            faults.sticky_read_errors,
        ),
        (
            "disk full on create, rename or sync (generation 10)",
            faults.disk_full_namespace,
        ),
        (
            "extending write leaving its size without its data (generation 11)",
            faults.extended_without_data,
        ),
    ];
    // Less the Linux sync-failure policy, the three crash kinds, the aimed error and
    // the generation-10 and -11 options.
    assert_eq!(
        fired.len() - 9,
        sim::vfs::FaultKind::ALL.len(),
        "a fault kind without its check here"
    );
    for (kind, n) in fired {
        assert!(n > 0, "fault kind {kind} never fired in 300 seeds");
    }
    // The oracle's relaxed rules were each used (and so are each tested by the
    // mutants that must not hide behind them).
    assert!(
        excused.0 > 0,
        "no fault status excused by a same-step fault"
    );
    assert!(excused.1 > 0, "no fault status excused by an earlier fault");
    assert!(
        excused.2 > 0,
        "no fault status excused by a lying fault's damage"
    );
    assert!(
        damage.0 > 0,
        "no damage reported by the engine (and the file replaced)"
    );
    assert!(
        damage.1 > 0,
        "no damaged data file accepted at an older state"
    );
    assert!(
        damage.2 > 0,
        "no delta accepted without its damaged, unproven last transaction"
    );
    assert!(
        log_damage_reported > 0,
        "no lying fault on the transaction log was reported by the engine"
    );
    // Archival logging: backups were taken, restored and rolled forward (invariant 7),
    // some roll-forwards crashed and were run again, and pre-archival backups refused.
    assert!(archival.0 > 0, "no archival backup was taken");
    assert!(
        archival.1 > 0,
        "no restored backup was rolled forward and checked"
    );
    assert!(archival.2 > 0, "no roll-forward was crashed part-way");
    assert!(archival.3 > 0, "no backup older than its log was refused");
    // Generation 18: held cursors moved across other steps' changes, bulk loads ran
    // (spanning batches: more records than loads), crashes cut some short, and
    // recovery found each outcome the model allows.
    assert!(cursor.0 > 0, "no held cursor moved");
    assert!(cursor.1 > 0, "no held cursor moved after its file changed");
    assert!(bulk.0 > 0 && bulk.1 > bulk.0, "bulk loads ran: {bulk:?}");
    assert!(bulk.2 > 0, "no bulk load was cut short by a crash");
    assert!(
        bulk_outcomes.0 > 0 && bulk_outcomes.1 > 0 && bulk_outcomes.2 > 0,
        "recovery found every outcome of a crashed load (none, whole batches, all): \
         {bulk_outcomes:?}"
    );
    // Recovery met faults, and some of those recoveries failed and were redone.
    assert!(faulty.0 > 0, "no recovery ran under faults");
    assert!(
        faulty.1 > 0,
        "no recovery under faults failed (so none was redone)"
    );
}

#[test]
fn seeds_are_deterministic() {
    let bad = determinism(0..8, &Options::default());
    assert!(bad.is_empty(), "nondeterministic seeds: {bad:?}");
}

/// Every known-bad engine is caught within 1,000 seeds: the crash-ordering ones by
/// crashes and power losses, `skip-checksum` by the lying-disk faults (latent
/// corruption, misdirected writes) some seeds switch on, the log ones by the
/// journal model of Logging and Durability modes. A catch counts only if the very
/// seed that failed passes on the correct engine: otherwise the failure is the
/// harness's (or a real engine bug), not the mutant's.
#[test]
fn mutants_are_caught() {
    for m in Mutant::ALL {
        let r = hunt(m, 1000, 1000);
        assert!(r.caught, "mutant {} survived 1000 seeds", m.name());
        let seed = r
            .first_failing_seed
            .expect("a caught mutant names its seed");
        let correct = run_seed(seed, &Options::default());
        assert_eq!(
            correct.failure,
            None,
            "mutant {}'s failing seed {seed} fails on the correct engine too",
            m.name()
        );
    }
}
