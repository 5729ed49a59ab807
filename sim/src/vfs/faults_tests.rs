//! Tests of the fault configuration: probabilities and switches, fault classes, swarm
//! draws (deterministic, varied, the sync-failure policy), display and statistics.

use super::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

#[test]
fn probability_clamps_and_respects_switch() {
    assert_eq!(Fault::OFF.probability(), 0.0);
    assert_eq!(
        Fault {
            enabled: false,
            rate: 0.7
        }
        .probability(),
        0.0
    );
    assert_eq!(Fault::on(2.0).probability(), 1.0);
    assert_eq!(Fault::on(-1.0).probability(), 0.0);
    assert_eq!(Fault::on(f64::NAN).probability(), 0.0);
    assert_eq!(Fault::on(0.25).probability(), 0.25);
}

#[test]
fn chance_never_panics() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for p in [f64::NAN, -3.0, 0.0, 1.0, 5.0, f64::INFINITY] {
        let _ = chance(&mut rng, p);
    }
    assert!(chance(&mut rng, 1.0));
    assert!(!chance(&mut rng, 0.0));
}

#[test]
fn classes_are_as_documented() {
    let lying: Vec<_> = FaultKind::ALL
        .into_iter()
        .filter(|k| k.class() == FaultClass::Lying)
        .collect();
    assert_eq!(
        lying,
        vec![FaultKind::MisdirectedWrite, FaultKind::LatentCorruption]
    );
    assert!(!FaultConfig::all(0.1).without_lying().has_lying());
    assert!(FaultConfig::all(0.1).has_lying());
}

#[test]
fn get_and_get_mut_agree_for_every_kind() {
    let mut c = FaultConfig::none();
    for (i, kind) in FaultKind::ALL.into_iter().enumerate() {
        *c.get_mut(kind) = Fault::on(i as f64 / 100.0);
    }
    for (i, kind) in FaultKind::ALL.into_iter().enumerate() {
        assert_eq!(*c.get(kind), Fault::on(i as f64 / 100.0), "{}", kind.name());
    }
}

#[test]
fn swarm_is_deterministic_and_varied() {
    let draw = |seed| FaultConfig::swarm(&mut ChaCha8Rng::seed_from_u64(seed));
    assert_eq!(draw(7), draw(7));
    let configs: Vec<_> = (0..200).map(draw).collect();
    for kind in FaultKind::ALL {
        let on = configs.iter().filter(|c| c.get(kind).enabled).count();
        assert!(
            on > 0 && on < configs.len(),
            "{} on in {on}/200 seeds",
            kind.name()
        );
    }
    for c in &configs {
        for kind in FaultKind::ALL {
            let f = c.get(kind);
            assert!((0.0..=1.0).contains(&f.rate));
            assert!(f.enabled || f.rate == 0.0);
        }
        assert_eq!(c.capacity_bytes.is_some(), c.disk_full.enabled);
    }
}

#[test]
fn display_lists_enabled_kinds() {
    assert_eq!(FaultConfig::none().to_string(), "none");
    let c = FaultConfig {
        torn_write: Fault::on(0.25),
        disk_full: Fault::on(0.001),
        capacity_bytes: Some(1024),
        ..FaultConfig::none()
    };
    assert_eq!(c.to_string(), "torn_write=0.25 disk_full=0.001(cap=1024)");
    let linux = FaultConfig {
        sync_failure: SyncFailure::Linux,
        ..c
    };
    assert_eq!(
        linux.to_string(),
        "torn_write=0.25 disk_full=0.001(cap=1024) sync_failure=linux"
    );
}

#[test]
fn swarm_leaves_the_policy_and_its_own_draw_picks_both() {
    for seed in 0..50 {
        let c = FaultConfig::swarm(&mut ChaCha8Rng::seed_from_u64(seed));
        assert_eq!(c.sync_failure, SyncFailure::KeepPending);
    }
    let drawn: std::collections::BTreeSet<_> = (0..50)
        .map(|s| SyncFailure::swarm(&mut ChaCha8Rng::seed_from_u64(s)).name())
        .collect();
    assert_eq!(drawn.len(), 2);
}

#[test]
fn stats_add_and_iterate() {
    let mut a = FaultStats {
        reads: 2,
        torn_writes: 1,
        ..FaultStats::default()
    };
    let b = FaultStats {
        reads: 3,
        latent_corruptions: 4,
        ..FaultStats::default()
    };
    a.add(&b);
    assert_eq!(a.reads, 5);
    assert_eq!(a.torn_writes, 1);
    assert_eq!(a.latent_corruptions, 4);
    let names: Vec<_> = a.iter().map(|(n, _)| n).collect();
    assert_eq!(names, FaultStats::NAMES);
    assert!(a.iter().any(|(n, c)| n == "reads" && c == 5));
}
