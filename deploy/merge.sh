#!/usr/bin/env bash
# The merge step of every recipe in deploy/: combine RESULTS/shard-*-of-$SHARDS.json
# into the summary one unsharded run prints (RESULTS/merged.txt) and the merged result
# file (RESULTS/merged.json, for `sim report`).
#
# Environment: SHARDS (N, required), RESULTS (default ./results), SIM (default `sim`).
# Exit status is `sim merge`'s: 0 all seeds passed, 1 some failed (listed with their
# replay commands), 2 the shards do not make one campaign (a shard missing or twice,
# different builds or arguments).
set -euo pipefail
: "${SHARDS:?set SHARDS to the number of shards}"
RESULTS="${RESULTS:-results}"
SIM="${SIM:-sim}"

shopt -s nullglob
files=("$RESULTS"/shard-*-of-"$SHARDS".json)
if (( ${#files[@]} == 0 )); then
  echo "merge.sh: no shard results in $RESULTS" >&2
  exit 2
fi
status=0
"$SIM" merge --json "${files[@]}" > "$RESULTS/merged.txt" || status=$?
if [[ "$(tail -n 1 "$RESULTS/merged.txt" | head -c 1)" == "{" ]]; then
  tail -n 1 "$RESULTS/merged.txt" > "$RESULTS/merged.json"
fi
grep -v '^{' "$RESULTS/merged.txt" || true
exit "$status"
