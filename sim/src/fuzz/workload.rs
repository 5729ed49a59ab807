//! The structured target: a whole simulated workload — setup, faults, operations,
//! crash points, backup cycles — decoded from the input as a [`Plan`].

use crate::plan::Plan;
use crate::runner::{run_seed, Options};

/// Decode the input as a plan and run it through the simulator, which checks every
/// read against its model and the recovery invariants after every crash. No mutant
/// runs, so any failure it reports is an engine bug: panic with its message, so the
/// fuzzer keeps the input. Reproduce one with `sim plan FILE`.
pub fn workload(data: &[u8]) {
    let plan = Plan::from_bytes(data);
    let out = run_seed(
        0,
        &Options {
            plan: Some(plan),
            ..Options::default()
        },
    );
    if let Some(failure) = out.failure {
        panic!("seed {} plan failed: {failure}", out.seed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{PlanLogMode, PlannedStep};
    use crate::workload::Step;

    /// A plan really drives the workload it names: its steps run (operations and
    /// crashes are counted), its log mode is the run's, and two plans differing
    /// only in their steps' salt run differently.
    #[test]
    fn plan_drives_the_run() {
        let mut plan = Plan::from_bytes(&[7u8; 64]);
        plan.setup.log_mode = PlanLogMode::Durability;
        plan.setup.files = 1; // two files
        plan.setup.faults = [0; 11]; // a perfect disk: only the planned crash
        plan.steps = [Step::Insert; 30]
            .into_iter()
            .chain([Step::Begin, Step::Transfer, Step::CrashNow, Step::GetEqual])
            .map(|step| PlannedStep { step, salt: 1 })
            .collect();
        let run = |plan: &Plan| {
            run_seed(
                99, // ignored: the plan carries the seed
                &Options {
                    plan: Some(plan.clone()),
                    ..Options::default()
                },
            )
        };
        let out = run(&plan);
        assert!(out.failure.is_none(), "{:?}", out.failure);
        assert_eq!(out.seed, plan.setup.seed);
        assert_eq!(out.log_mode, "durability");
        assert!(out.operations >= 30, "{} operations", out.operations);
        // The CrashNow step plus the final power loss every run ends with, and any
        // crash that struck a recovery (redone).
        let recovery_crashes = out.interrupted_recoveries + out.faulty_recoveries.1;
        assert!(
            out.crashes >= 2 && out.crashes <= 2 + recovery_crashes,
            "{} crashes, {recovery_crashes} during recoveries",
            out.crashes
        );
        let mut salted = plan.clone();
        for s in &mut salted.steps {
            s.salt = 2;
        }
        assert_ne!(run(&salted).trace_hash, out.trace_hash);
    }

    /// The target accepts any bytes, empty included.
    #[test]
    fn any_input_runs() {
        workload(&[]);
        workload(&[0xff; 300]);
    }
}
