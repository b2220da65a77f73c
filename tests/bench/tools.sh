#!/usr/bin/env bash
# Tools speed: python calls/s through the tool's persistent sandboxed interpreter against
# a fresh sandboxed python3 per call (same sandbox settings), as a ratio; the bash tool's
# calls/s for scale. Speed is reported, never asserted.
#   tests/bench/tools.sh [BUILD_DIR] [N_CALLS]
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-${BUILD:-build}}
CALLS=${2:-300}
if [ ! -x "$BUILD/tests/bench_tools" ]; then
  cmake --build "$BUILD" --target bench_tools >/dev/null
fi
if [ "$(id -u)" != 0 ]; then
  echo "tools bench: skipped (the sandbox's full isolation needs root)"
  exit 0
fi
exec "$BUILD/tests/bench_tools" "$CALLS"
