#!/usr/bin/env bash
# tests/bench/engine_serve.sh — throughput of the engine as an agent backend and as a
# server, on the tiny fixture model, for 1, 8 and 32 concurrent episodes (not run by
# CTest: speed is not a test).
#
# 1. `envforge run --model engine:DIR --concurrency C`: arith episodes (one turn, 64
#    completion tokens, DeepSeek-V3.2 prompts of ~1.4K tokens with the tools), decode
#    steps of the C episodes batched by the engine's scheduler. Reported: episodes/s,
#    prompt and completion tokens/s as `envforge run` counts them.
# 2. `envforge serve` with C concurrent HTTP clients on /v1/completions (16-token
#    prompts, 64 tokens each, ignore_eos): decode-bound tokens/s.
#
# Usage: tests/bench/engine_serve.sh [BUILD_DIR]     Env: CONCURRENCY (default "1 8 32")
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$here/build}
bin=$build/cli/envforge
model=$here/tests/fixtures/tiny_model
[ -x "$bin" ] || { echo "engine_serve.sh: $bin not built" >&2; exit 1; }
T=$(mktemp -d)
SPID=
trap '[ -n "$SPID" ] && kill $SPID 2>/dev/null; rm -rf "$T"' EXIT
levels=${CONCURRENCY:-1 8 32}
echo "# envforge engine serving bench ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))"
echo
echo "## engine:DIR as the agent backend (envforge run, 1 turn x 64 tokens per episode)"
echo
echo "| concurrent episodes | episodes | wall s | episodes/s | prompt tok/s | completion tok/s |"
echo "|---:|---:|---:|---:|---:|---:|"
"$bin" gen "$here/examples/envs/arith.lua" -n 32 --seed 1 --db "$T/base.db" --no-progress >/dev/null 2>&1
for c in $levels; do
  n=$(( c < 8 ? 8 : c ))
  cp "$T/base.db" "$T/r$c.db"
  out=$("$bin" run --db "$T/r$c.db" --model "engine:$model" --concurrency "$c" --limit "$n" \
        --max-turns 1 --max-completion-tokens 64 --temperature 1 --seed 3 2>&1)
  echo "$out" | python3 -c '
import re, sys
c, n = sys.argv[1], sys.argv[2]
t = sys.stdin.read()
w = float(re.search(r"in ([0-9.]+) s", t).group(1))
m = re.search(r"tokens: ([0-9]+) prompt, ([0-9]+) completion", t)
p, q = int(m.group(1)), int(m.group(2))
print("| %s | %s | %.2f | %.2f | %.0f | %.0f |" % (c, n, w, int(n) / w, p / w, q / w))' "$c" "$n"
done
echo
echo "## envforge serve, concurrent clients on /v1/completions (16-token prompts, 64 new tokens)"
echo
"$bin" serve --model "$model" --port 0 2>"$T/serve.err" &
SPID=$!
port=
for _ in $(seq 1 200); do
  port=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\)\/v1.*/\1/p' "$T/serve.err")
  [ -n "$port" ] && break
  sleep 0.05
done
echo "| concurrent clients | requests | wall s | tokens/s | mean latency s |"
echo "|---:|---:|---:|---:|---:|"
for c in $levels; do
  python3 - "$port" "$c" <<'PY'
import json, sys, threading, time, urllib.request
port, c = sys.argv[1], int(sys.argv[2])
per = max(1, 64 // c) if c < 8 else 2
lat, toks = [], []
def client(k):
    for r in range(per):
        body = json.dumps({"prompt": [0] + [(k * 7 + r + i) % 500 + 2 for i in range(15)],
                           "max_tokens": 64, "seed": k * 100 + r, "ignore_eos": True}).encode()
        t0 = time.time()
        with urllib.request.urlopen(urllib.request.Request(
                "http://127.0.0.1:%s/v1/completions" % port, data=body,
                headers={"Content-Type": "application/json"})) as resp:
            j = json.load(resp)
        lat.append(time.time() - t0)
        toks.append(j["usage"]["completion_tokens"])
t0 = time.time()
ts = [threading.Thread(target=client, args=(k,)) for k in range(c)]
[t.start() for t in ts]
[t.join() for t in ts]
w = time.time() - t0
print("| %d | %d | %.2f | %.0f | %.2f |" % (c, len(toks), w, sum(toks) / w, sum(lat) / len(lat)))
PY
done
kill -TERM $SPID
wait $SPID 2>/dev/null || true
SPID=
echo
grep "stopped" "$T/serve.err" | sed 's/^/    /'
