#!/usr/bin/env bash
# Build Keel's demo database into OUTDIR with butil: create each file from its
# description, then load its records from the sequential file.
#
#   corpora/demodata/make-demo.sh OUTDIR
#
# Runs from any directory (it changes to the repository root; OUTDIR is taken relative to
# where you ran it). Stops at the first error; butil -create refuses existing files, so
# use an empty or new OUTDIR. Each file is structure-checked (butil -check) after loading.
#
# butil is built and run with cargo; set BUTIL to an already built binary (a path that is
# absolute or relative to the repository root) to use it instead, as the CLI tests do:
#
#   BUTIL=target/release/butil corpora/demodata/make-demo.sh OUTDIR
set -euo pipefail

if [[ $# -ne 1 ]]; then
    echo "usage: $0 OUTDIR" >&2
    exit 2
fi
mkdir -p -- "$1"
outdir=$(cd -- "$1" && pwd)
cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.."

butil() {
    if [[ -n ${BUTIL:-} ]]; then
        "$BUTIL" "$@"
    else
        cargo run -q --release -p engine --bin butil -- "$@"
    fi
}

for name in person course enrollment; do
    butil -create "$outdir/$name.btr" "corpora/demodata/$name.des"
    if [[ ! -f "$outdir/$name.btr" ]]; then
        echo "$0: butil -create reported success but made no $outdir/$name.btr" >&2
        exit 1
    fi
    butil -load "corpora/demodata/$name.seq" "$outdir/$name.btr"
    butil -check "$outdir/$name.btr"
done
echo "demo database built in $outdir: person.btr course.btr enrollment.btr"
