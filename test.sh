#!/usr/bin/env bash
# Keel's test command (README "The two commands"; .ci/run calls it on a bare machine).
#
# The tests need one system package besides the Rust toolchain: strace, which crashfs
# records real system calls with (crashfs/tests). It is installed from Debian's
# packages when missing; then the whole workspace's tests run.
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
