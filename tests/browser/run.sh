#!/usr/bin/env bash
# The report's browser test, as one command (CI: after scripts/setup-browser.sh):
#   bash tests/browser/run.sh
# Builds `sim`, runs a small campaign of the correct engine, a small one of a
# known-bad engine (so a failure with a replay command exists) and a short mutant
# table, makes the report from all three, and checks it in headless Chromium
# (check.mjs). Needs chromium, node and tests/browser/node_modules. SIM=PATH uses that
# sim binary instead of building one (any profile: the campaigns are small).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cd "$repo"
if [[ -n "${SIM:-}" ]]; then
  sim="$SIM"
else
  cargo build --release -p sim
  sim="${CARGO_TARGET_DIR:-$repo/target}/release/sim"
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

"$sim" run --seeds 40 --steps 300 --json > "$work/campaign.txt"
# A known-bad engine that fails within a few seeds; its failures are the point.
status=0
"$sim" run --seeds 6 --mutant overwrite-in-place --json > "$work/mutant.txt" || status=$?
if (( status != 1 )); then
  echo "expected the mutant campaign to fail (exit 1), got $status" >&2
  exit 1
fi
# The mutant table; a mutant not caught within the budget is fine here (exit 1).
"$sim" mutants --max-seeds 8 --steps 300 --json > "$work/mutants.txt" || true

"$sim" report "$work/campaign.txt" "$work/mutant.txt" "$work/mutants.txt" \
  --traces 1 --shrink-runs 60 -o "$work/report.html"
# The replay command of the first failing seed, from the mutant campaign's result.
replay="$(tail -n 1 "$work/mutant.txt" | node -e '
  let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
    const r = JSON.parse(s); console.log(r.failures[0].replay); });')"
node "$here/check.mjs" "$work/report.html" "$replay"
