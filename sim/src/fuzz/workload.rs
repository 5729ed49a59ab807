//! The structured target: a whole simulated workload chosen by the input.

use crate::runner::{run_seed, Options};

/// Longest workload the target runs: each execution must stay fast for the fuzzer.
const MAX_STEPS: usize = 120;

/// Bytes 0..8 the seed (little endian, zero-padded), byte 8 the step count
/// (1..=`MAX_STEPS`); no mutant. The simulator checks every read against its model
/// and the recovery invariants after every crash, so any failure it reports is an
/// engine bug: panic with its message so the fuzzer keeps the input.
pub fn workload(data: &[u8]) {
    let mut seed = [0u8; 8];
    let n = data.len().min(8);
    seed[..n].copy_from_slice(&data[..n]);
    let seed = u64::from_le_bytes(seed);
    let steps = data.get(8).map_or(1, |&b| usize::from(b) % MAX_STEPS + 1);
    let opts = Options {
        steps,
        ..Options::default()
    };
    if let Some(failure) = run_seed(seed, &opts).failure {
        panic!("seed {seed} steps {steps}: {failure}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The decoding really drives a workload (a target that silently ran nothing
    /// would never find anything).
    #[test]
    fn input_chooses_seed_and_steps() {
        let out = run_seed(
            7,
            &Options {
                steps: 50,
                ..Options::default()
            },
        );
        assert!(out.failure.is_none(), "{:?}", out.failure);
        assert!(out.operations > 0);
        let mut input = 7u64.to_le_bytes().to_vec();
        input.push(49);
        workload(&input);
    }
}
