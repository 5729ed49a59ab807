#!/usr/bin/env bash
# Keel's test command (README "The two commands"; .ci/run calls it on a bare machine).
#
# Besides the Rust toolchain the tests need strace (crashfs records real system calls
# with it: crashfs/tests) and, for the simulator's HTML report, Debian's chromium with
# node and npm's playwright-core (tests/browser). Whatever is missing is installed from
# Debian's packages and the npm registry; then the workspace's tests run, then the
# report's browser test on the `sim` binary `cargo test` built.
set -euo pipefail
cd "$(dirname "$0")"

need_pkg() { # need_pkg COMMAND PACKAGE
    command -v "$1" >/dev/null 2>&1 && return 0
    echo "test.sh: installing $2 (Debian package; the tests need $1)" >&2
    local sudo=""
    if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$2" >/dev/null
    command -v "$1" >/dev/null 2>&1 || { echo "test.sh: $2 did not install $1" >&2; exit 1; }
}

need_pkg strace strace
# strace needs ptrace; a container without it must fail here, clearly, not in a test.
if ! strace -f -o /dev/null true 2>/dev/null; then
    echo "test.sh: strace is installed but cannot trace (ptrace not permitted here?)" >&2
    exit 1
fi

cargo test

bash scripts/setup-browser.sh
SIM="${CARGO_TARGET_DIR:-target}/debug/sim" bash tests/browser/run.sh
