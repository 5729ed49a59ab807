#!/usr/bin/env bash
# Mutation testing of one part of the engine: which small changes to its logic (a `>`
# made `>=`, a `!` dropped, a function made to return a constant) the crash tests, the
# simulator's regression corpus and a bounded campaign do NOT notice. Every survivor is
# an unchecked decision: add the test that catches it, or say why it cannot matter.
#
#   scripts/mutants.sh FILE [EXTRA_TEST...]
#   scripts/mutants.sh engine/src/pager/open.rs failed_fcr_sync
#   MUTANTS_ALL=1 scripts/mutants.sh engine/src/engine/batch.rs bulk_load bulk_spill
#
# MUTANTS_LIST=1 lists the mutants and runs nothing. By default only the mutants of decisions (comparisons, boolean operators, negations,
# match guards and arms, functions returning bool) are tried: arithmetic mutants of
# offsets are caught by nearly everything and triple the run. MUTANTS_ALL=1 tries all.
# Needs `cargo install cargo-mutants --locked`. Not part of `test.sh`: about 5 minutes
# to build the baseline, then ~30 s a mutant on 2 cores. Results: mutants.out/ under
# MUTANTS_OUT (default /tmp/keel-mutants), `missed.txt` first.
#
# Why the cargo arguments are passed with -C: cargo-mutants tests only the mutated
# package (`engine`), and its `--test-package` did not add `sim` here (v27); an extra
# `--package=sim` given to every cargo call does, for the build and the test alike. The
# test targets are named for the same reason: the build then compiles only those.
set -euo pipefail
cd "$(dirname "$0")/.."

file="${1:?usage: scripts/mutants.sh FILE [EXTRA_TEST...]}"
shift
command -v cargo-mutants >/dev/null || {
    echo "mutants.sh: needs cargo-mutants (cargo install cargo-mutants --locked)" >&2
    exit 2
}

# Return-value mutants of functions returning bool or a generic type (a `sync` made
# `Ok(())`, a lookup made `None`, a list made empty) count as decisions too: whether
# what a function does matters at all. (Matched explicitly: the operators are anchored
# on "replace ".)
decisions='(delete !|replace (&&|\|\||==|!=|>=|>|<=|<|\|=) with|match guard|-> (bool|.*>) with|delete match arm)'
filter=()
if [[ -n "${MUTANTS_LIST:-}" ]]; then
    filter+=(--list)
fi
if [[ -z "${MUTANTS_ALL:-}" ]]; then
    filter+=(-F "$decisions")
fi

tests=(corpus campaign crash_stop failed_fcr_sync "$@")
args=(-C --package=sim -C --lib)
for t in "${tests[@]}"; do
    args+=(-C "--test=$t")
done

exec cargo mutants -p engine -f "$file" "${filter[@]}" -j 2 \
    -o "${MUTANTS_OUT:-/tmp/keel-mutants}" "${args[@]}" \
    -- -- --skip mutants_are_caught --skip seeds_are_deterministic
