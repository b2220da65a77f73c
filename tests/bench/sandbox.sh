#!/usr/bin/env bash
# Sandbox speed: /bin/true and `python3 -c pass` through plain vfork+exec, envforge's
# sandbox, bubblewrap and firejail (where installed), sequentially and one thread per core
# (runs/s, p50, p99, ratios); and a session of sequential print(1+1) calls to one python3.
#   tests/bench/sandbox.sh [BUILD_DIR] [N_RUNS] [N_SESSION_CALLS]   (EF_BENCH_RT=1: SCHED_FIFO;
#   EF_BENCH_ROOTLESS=1: as nobody, in rootless mode)
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-${BUILD:-build}}
RUNS=${2:-300}
CALLS=${3:-1000}
cmake --build "$BUILD" --target bench_sandbox >/dev/null  # a no-op when it is current
# A non-root user runs it in rootless mode (sandbox/rootless.c); EF_BENCH_ROOTLESS=1 makes
# root run it that way too, as nobody.
pre=()
if [ "${EF_BENCH_ROOTLESS:-0}" = 1 ] && [ "$(id -u)" = 0 ]; then
  pre=(setpriv --reuid=65534 --regid=65534 --clear-groups)
fi
# EF_BENCH_RT=1: run under SCHED_FIFO so that a shared, loaded machine does not decide
# the figures (every runner gets the same treatment).
if [ "${EF_BENCH_RT:-0}" = 1 ] && command -v chrt >/dev/null; then
  exec chrt -f 10 "${pre[@]}" "$BUILD/tests/bench_sandbox" "$RUNS" "$CALLS"
fi
exec "${pre[@]}" "$BUILD/tests/bench_sandbox" "$RUNS" "$CALLS"
