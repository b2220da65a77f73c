#!/usr/bin/env bash
# Adds up the closing lines ("N passed, N failed, N skipped") of every test program in
# the last CTest run of a build folder and prints the total as one line.
set -euo pipefail
build=${1:-build}
log="$build/Testing/Temporary/LastTest.log"
[ -f "$log" ] || { echo "summarize_tests: no CTest log in $build" >&2; exit 1; }
awk '/^[0-9]+ passed, [0-9]+ failed(, [0-9]+ skipped)?$/ {
       p += $1; f += $3; if (NF >= 6) s += $5 }
     END { printf "cases: %d passed, %d failed, %d skipped\n", p, f, s; exit (f > 0) }' "$log"
