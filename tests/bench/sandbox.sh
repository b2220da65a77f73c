#!/usr/bin/env bash
# Sandbox speed: /bin/true and `python3 -c pass` through plain vfork+exec, envforge's
# sandbox, bubblewrap and firejail (where installed), sequentially and one thread per core
# (runs/s, p50, p99, ratios); and a session of sequential print(1+1) calls to one python3.
#   tests/bench/sandbox.sh [BUILD_DIR] [N_RUNS] [N_SESSION_CALLS]   (EF_BENCH_RT=1: SCHED_FIFO)
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-${BUILD:-build}}
RUNS=${2:-300}
CALLS=${3:-1000}
cmake --build "$BUILD" --target bench_sandbox >/dev/null  # a no-op when it is current
if [ "$(id -u)" != 0 ]; then
  echo "sandbox bench: skipped (full isolation needs root)"
  exit 0
fi
# EF_BENCH_RT=1: run under SCHED_FIFO so that a shared, loaded machine does not decide
# the figures (every runner gets the same treatment).
if [ "${EF_BENCH_RT:-0}" = 1 ] && command -v chrt >/dev/null; then
  exec chrt -f 10 "$BUILD/tests/bench_sandbox" "$RUNS" "$CALLS"
fi
exec "$BUILD/tests/bench_sandbox" "$RUNS" "$CALLS"
