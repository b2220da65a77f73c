#!/usr/bin/env bash
# Runs every benchmark script in tests/bench/ (NAME.sh BUILD_DIR) and prints each one's
# report. Benchmarks report speed as ratios against a peer measured in the same run.
set -uo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
status=0
for b in "$here"/*.sh; do
  [ "$(basename "$b")" = run_all.sh ] && continue
  echo "== $(basename "$b" .sh)"
  bash "$b" "$build" || { echo "bench $(basename "$b") failed" >&2; status=1; }
done
exit $status
