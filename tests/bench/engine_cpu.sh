#!/usr/bin/env bash
# tests/bench/engine_cpu.sh — CPU engine benchmark (not run by CTest: speed is not a test).
#
# 1. Decode time per token against context length (1K ... 64K) for DeepSeek Sparse
#    Attention and for dense MLA attention on the same weights: a synthetic checkpoint
#    with DeepSeek-V3.2's attention shapes (128 heads, kv_lora 512, rope 64, 64 index
#    heads x 128, top-k 2048) on one layer of hidden 1024, caches filled with random
#    entries up to L, then timed decode steps at position L. Dense grows with L x 128
#    heads x 1088; DSA grows with L x the indexer (64 x 128, fp8) and stays at 2048
#    attended keys: O(L.k) against O(L^2) per sequence.
# 2. Prefill and decode tokens/s of the tiny fixture model.
#
# Usage: tests/bench/engine_cpu.sh [BUILD_DIR] [extra `envforge engine bench` options]
# Env:   CONTEXTS (default 1024,...,65536), STEPS (default 2), THREADS (default all cores)
# Takes a few minutes on 2 cores; the 64K dense point dominates.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$here/build}
shift || true
bin=$build/cli/envforge
[ -x "$bin" ] || { echo "engine_cpu.sh: $bin not built" >&2; exit 1; }
contexts=${CONTEXTS:-1024,2048,4096,8192,16384,32768,65536}
echo "# envforge engine CPU bench ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))"
echo
"$bin" engine bench --contexts "$contexts" --steps "${STEPS:-2}" \
    ${THREADS:+--threads "$THREADS"} --model "$here/tests/fixtures/tiny_model" "$@"
