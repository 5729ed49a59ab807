//! A workload spelled out instead of drawn from a seed: the structured fuzz target's
//! input. A seed chooses a run's setup and every step from its own streams; a
//! [`Plan`] chooses the setup (log mode, page size, files, tunables, which faults the
//! disk injects) and the exact list of steps (operations, crash points, backup
//! cycles), and leaves only the details below that — record contents, which I/O an
//! armed crash hits, where a fault lands — to streams of its seed. It decodes from any
//! bytes with `arbitrary`, so libFuzzer's mutations become workload mutations, and
//! the simulator's checker decides whether the engine kept every invariant.

use crate::vfs::FaultConfig;
use crate::workload::Step;
use arbitrary::{Arbitrary, Unstructured};

/// Longest plan the simulator runs: a fuzz execution must stay fast.
pub const MAX_STEPS: usize = 200;

/// A whole workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub setup: Setup,
    /// The steps in order (at most [`MAX_STEPS`] are run).
    pub steps: Vec<PlannedStep>,
}

/// The run's setup. Every field is reduced into the range the seeded simulator draws
/// from, so a plan runs only configurations a campaign could also run.
#[derive(Arbitrary, Clone, Debug, Default, PartialEq, Eq)]
pub struct Setup {
    /// Seeds the streams for what the plan leaves open.
    pub seed: u64,
    pub log_mode: PlanLogMode,
    /// Index into the log segment sizes (2 KiB, 8 KiB, 64 KiB, 1 MiB).
    pub segment_size: u8,
    /// Index into the page sizes (512, 1024, 4096).
    pub page_size: u8,
    /// 1, 2 or 3 files (two or more hold the inventory, so transfers run).
    pub files: u8,
    pub bundle_limit: u8,
    pub initiation_ms: u8,
    pub max_dirty_pages: u16,
    pub clean_cache_pages: u16,
    /// Per fault kind (in `FaultKind::ALL` order): on or off and its rate, with the
    /// campaign's odds (`FaultConfig::from_choices`). Lying faults are dropped in log
    /// modes, as in campaigns. The sync-failure policy (generation 9) is not here: it
    /// comes from the plan's seed, as a campaign's does.
    pub faults: [u8; 11],
    /// With disk-full on: which capacity.
    pub capacity: u8,
}

/// The transaction log mode.
#[derive(Arbitrary, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PlanLogMode {
    #[default]
    Off,
    Logging,
    Durability,
}

/// One step: its kind, and a salt that varies its details (which client, file, id,
/// record; which I/O an armed crash hits) without changing its kind.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlannedStep {
    pub step: Step,
    pub salt: u16,
}

impl Plan {
    /// Decode a plan from any bytes: the setup first (too few bytes give zeroed
    /// fields, never an error), then one step per six bytes until the input ends, at
    /// most [`MAX_STEPS`]. (Not `Vec`'s own `Arbitrary`, which spends a byte per
    /// element on "one more?" and so gives random inputs a handful of steps.)
    pub fn from_bytes(data: &[u8]) -> Plan {
        let mut u = Unstructured::new(data);
        let setup = Setup::arbitrary(&mut u).unwrap_or_default();
        let mut steps = Vec::new();
        while !u.is_empty() && steps.len() < MAX_STEPS {
            match PlannedStep::arbitrary(&mut u) {
                Ok(s) => steps.push(s),
                Err(_) => break,
            }
        }
        Plan { setup, steps }
    }

    /// The plan for a reader: the setup as it runs, then the steps.
    pub fn describe(&self) -> String {
        let s = &self.setup;
        let mut out = format!(
            "plan: seed {}, log {:?} (segments {} B), pages {} B, {} file(s), bundle limit {}, \
             ITL {} ms, dirty pages {}, cache pages {}\nfaults: {:?}\n{} steps:",
            s.seed,
            s.log_mode,
            s.segment_size(),
            s.page_size(),
            s.files(),
            s.bundle_limit(),
            s.initiation_ms(),
            s.max_dirty_pages(),
            s.clean_cache_pages(),
            s.faults(),
            self.steps.len()
        );
        for (i, st) in self.steps.iter().enumerate() {
            out.push_str(&format!("\n  {i:3} {:?} (salt {})", st.step, st.salt));
        }
        out
    }

    /// Does the plan run this kind of step?
    pub fn has(&self, step: Step) -> bool {
        self.steps.iter().any(|s| s.step == step)
    }
}

impl Setup {
    pub fn log_mode(&self) -> engine::LogMode {
        match self.log_mode {
            PlanLogMode::Off => engine::LogMode::Off,
            PlanLogMode::Logging => engine::LogMode::Logging,
            PlanLogMode::Durability => engine::LogMode::Durability,
        }
    }

    pub fn segment_size(&self) -> u64 {
        [2048u64, 8192, 65536, 1 << 20][usize::from(self.segment_size) % 4]
    }

    pub fn page_size(&self) -> u32 {
        [512, 1024, 4096][usize::from(self.page_size) % 3]
    }

    pub fn files(&self) -> usize {
        usize::from(self.files) % 3 + 1
    }

    pub fn bundle_limit(&self) -> u64 {
        u64::from(self.bundle_limit) % 59 + 1
    }

    pub fn initiation_ms(&self) -> u64 {
        u64::from(self.initiation_ms) % 199 + 1
    }

    pub fn max_dirty_pages(&self) -> usize {
        usize::from(self.max_dirty_pages) % 392 + 8
    }

    pub fn clean_cache_pages(&self) -> usize {
        usize::from(self.clean_cache_pages) % 252 + 4
    }

    /// The disk's faults; lying ones only with log mode Off (see the runner).
    pub fn faults(&self) -> FaultConfig {
        let c = FaultConfig::from_choices(self.faults, self.capacity);
        if self.log_mode == PlanLogMode::Off {
            c
        } else {
            c.without_lying()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every input decodes (the fuzz target relies on it), short ones included.
    #[test]
    fn any_bytes_decode() {
        for len in 0..64 {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let plan = Plan::from_bytes(&data);
            assert!(plan.steps.len() <= MAX_STEPS);
        }
        let long = vec![0xa5u8; 10_000];
        assert_eq!(Plan::from_bytes(&long).steps.len(), MAX_STEPS);
    }

    /// The bytes really choose the plan: different inputs, different setups and steps.
    #[test]
    fn bytes_choose_setup_and_steps() {
        let a = Plan::from_bytes(&[1u8; 200]);
        let b = Plan::from_bytes(&[2u8; 200]);
        assert_ne!(a.setup, b.setup);
        assert_ne!(a.steps, b.steps);
        assert!(!a.steps.is_empty());
    }
}
