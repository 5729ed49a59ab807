//! The bounded campaign `cargo test` runs, the determinism check, and the mutant
//! table. Longer campaigns: `cargo run --release -p sim -- run --seeds N`.

use engine::mutant::Mutant;
use sim::campaign::{determinism, hunt};
use sim::runner::{run_seed, Options};

/// 300 seeds × 1000 steps with crashes, power losses and every fault kind the swarm
/// switches on (lost/torn/reordered unsynced writes, I/O errors, disk full, fsync
/// failures, misdirected writes, latent corruption), two clients with transactions,
/// in every log mode (Off, Logging, Durability), crashes during recovery included.
#[test]
fn bounded_campaign_passes() {
    let opts = Options::default();
    let mut crashes = 0;
    let mut checked = 0;
    let mut interrupted = 0;
    let mut splits = 0;
    let mut transfers = 0;
    let mut modes = std::collections::BTreeSet::new();
    for seed in 0..300 {
        let o = run_seed(seed, &opts);
        assert_eq!(
            o.failure,
            None,
            "seed {seed}; replay: {}",
            sim::campaign::replay_command(seed, &opts)
        );
        crashes += o.crashes;
        checked += o.recoveries_checked;
        interrupted += o.interrupted_recoveries;
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
    assert!(
        checked >= crashes,
        "every crash is followed by checked recoveries"
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
