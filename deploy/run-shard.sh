#!/usr/bin/env bash
# One shard of a sharded simulation campaign. Every recipe in deploy/ runs this
# script with its scheduler's task index, so the command line is the same everywhere
# and sim/tests/recipes.rs runs exactly it.
#
#   run-shard.sh INDEX        INDEX: the scheduler's 0-based task index
#                             (JOB_COMPLETION_INDEX, SLURM_ARRAY_TASK_ID, a matrix value)
#
# Environment: SHARDS (N, required), SEEDS (seeds in the whole campaign, default
# 20000), START (first seed, 0), STEPS (steps per seed, 1000), JOBS (threads, default
# every core the task may use), RESULTS (directory, default ./results), SIM (the sim
# binary, default `sim` on PATH).
#
# Writes RESULTS/shard-K-of-N.json (the result file `sim merge` reads) and
# RESULTS/shard-K-of-N.txt (the whole output). Exits 0 when the shard ran to the end,
# failing seeds included: those are findings, in the result file, and `sim merge`
# exits non-zero for them. A non-zero exit means no usable result (a bad argument, a
# crash, an interruption), which a scheduler may retry.
set -euo pipefail

index="${1:?usage: run-shard.sh INDEX (the 0-based task index)}"
: "${SHARDS:?set SHARDS to the number of shards}"
SEEDS="${SEEDS:-20000}"
START="${START:-0}"
STEPS="${STEPS:-1000}"
RESULTS="${RESULTS:-results}"
SIM="${SIM:-sim}"
case "$index$SHARDS" in *[!0-9]*) echo "run-shard.sh: INDEX and SHARDS must be numbers" >&2; exit 2 ;; esac
if (( index >= SHARDS )); then
  echo "run-shard.sh: index $index is not below SHARDS=$SHARDS" >&2
  exit 2
fi

k=$((index + 1))
out="$RESULTS/shard-$k-of-$SHARDS"
mkdir -p "$RESULTS"
args=(run --seeds "$SEEDS" --start "$START" --steps "$STEPS" --shard "$k/$SHARDS" --json)
if [[ -n "${JOBS:-}" ]]; then
  args+=(--jobs "$JOBS")
fi

status=0
"$SIM" "${args[@]}" > "$out.txt" || status=$?
tail -n 12 "$out.txt" | grep -v '^{' || true
if (( status > 1 )) || [[ "$(tail -n 1 "$out.txt" | head -c 1)" != "{" ]]; then
  echo "run-shard.sh: shard $k/$SHARDS produced no result (sim exited $status)" >&2
  exit $(( status > 1 ? status : 2 ))
fi
tail -n 1 "$out.txt" > "$out.json.part"
mv "$out.json.part" "$out.json"
echo "run-shard.sh: wrote $out.json"
