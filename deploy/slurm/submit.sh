#!/usr/bin/env bash
# Submit the array job and its merge job from the repository root (after
# `cargo build --release -p sim`): the merge waits for every array task (afterok).
set -euo pipefail
cd "$(dirname "$0")/../.."
shards=$(sbatch --parsable deploy/slurm/shards.sbatch)
sbatch --dependency=afterok:"${shards%%;*}" deploy/slurm/merge.sbatch
