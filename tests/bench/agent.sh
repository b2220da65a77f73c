#!/usr/bin/env bash
# tests/bench/agent.sh BUILD_DIR [N_TASKS] — the runner's own overhead: oracle episodes/s
# on a 5-turn env with Lua-only tools (tests/bench/agent_env5.lua), 2 worker threads,
# everything stored (messages, tool calls, events) through the store's writer.
# Target: >= 2,000 episodes/s on 2 cores. Also reports a run with no tools (arith, 2 turns)
# for scale, and the same bench5 run with 1 thread.
set -euo pipefail
build=${1:-build}
n=${2:-5000}
here=$(cd "$(dirname "$0")" && pwd)
bin=$build/cli/envforge
[ -x "$bin" ] || { echo "no $bin (build first)" >&2; exit 1; }
t=$(mktemp -d /tmp/ef_bench_agent.XXXXXX)
trap 'rm -rf "$t"' EXIT
export EF_PROGRESS=0
"$bin" gen "$here/agent_env5.lua" -n "$n" --seed 1 --db "$t/b.db" --no-progress >/dev/null
rate() { sed -n 's/.*"episodes_per_s":\([0-9.]*\).*/\1/p'; }
passed() { sed -n 's/.*"passed":\([0-9]*\).*/\1/p'; }
out2=$("$bin" run --db "$t/b.db" --model oracle --concurrency 2 --run c2 --json)
out1=$("$bin" run --db "$t/b.db" --model oracle --concurrency 1 --run c1 --json)
r2=$(echo "$out2" | rate | awk '{printf "%.0f", $1}'); r1=$(echo "$out1" | rate | awk '{printf "%.0f", $1}')
echo "bench5 (5 turns, Lua tools), $n episodes: $r2 episodes/s with 2 threads," \
     "$r1 with 1 thread; passed $(echo "$out2" | passed)/$n"
awk -v r="$r2" 'BEGIN { printf "target >= 2000 episodes/s on 2 cores: %s\n", (r >= 2000 ? "met" : "NOT met") }'
