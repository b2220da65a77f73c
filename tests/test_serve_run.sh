#!/usr/bin/env bash
# tests/test_serve_run.sh — `envforge run` through `envforge serve` (http://…/v1 with
# --tokenizer: token-in/token-out over /v1/completions) and through the engine backend
# (--model engine:DIR) on the same tasks and run seed must store identical token streams
# (ids, loss mask, log-probs); the engine run also stores kept sets and MoE routes.
# Prints "N passed, N failed, N skipped".
set -u
EF_BIN=${EF_BIN:?EF_BIN must name the envforge binary}
SRC=${EF_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
MODEL="$SRC/tests/fixtures/tiny_model"
T=$(mktemp -d); [ -n "${EF_KEEP:-}" ] && echo "    keeping $T"
pass=0 fail=0 skip=0
ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1: $2"; fail=$((fail + 1)); }
SPID=
cleanup() { [ -n "$SPID" ] && kill "$SPID" 2>/dev/null; wait 2>/dev/null; [ -n "${EF_KEEP:-}" ] || rm -rf "$T"; }
trap cleanup EXIT

"$EF_BIN" gen "$SRC/examples/envs/arith.lua" -n 3 --seed 5 --db "$T/a.db" --no-progress \
  >/dev/null 2>&1 || { bad gen "envforge gen failed"; echo "$pass passed, $fail failed, $skip skipped"; exit 1; }
cp "$T/a.db" "$T/b.db"

"$EF_BIN" serve --model "$MODEL" --port 0 2>"$T/serve.err" &
SPID=$!
port=
for _ in $(seq 1 200); do
  port=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\)\/v1.*/\1/p' "$T/serve.err")
  [ -n "$port" ] && break
  sleep 0.05
done
[ -n "$port" ] || { bad serve "did not start: $(cat "$T/serve.err")"; echo "$pass passed, $fail failed, $skip skipped"; exit 1; }
ok serve_started

common=(--seed 9 --group 2 --concurrency 3 --max-turns 3 --max-completion-tokens 40
        --temperature 0.9 --top-p 0.95 --run same)
if "$EF_BIN" run --db "$T/a.db" --model "http://127.0.0.1:$port/v1" --tokenizer "$MODEL" \
     "${common[@]}" >"$T/http.txt" 2>&1; then ok run_http; else bad run_http "$(tail -5 "$T/http.txt")"; fi
if "$EF_BIN" run --db "$T/b.db" --model "engine:$MODEL" "${common[@]}" >"$T/engine.txt" 2>&1; then
  ok run_engine
else
  bad run_engine "$(tail -5 "$T/engine.txt")"
fi
kill -TERM "$SPID"
if wait "$SPID"; then ok serve_sigterm; else bad serve_sigterm "exit $?: $(tail -3 "$T/serve.err")"; fi
SPID=

out=$(python3 - "$T/a.db" "$T/b.db" <<'PY'
import sqlite3, sys
def load(p):
    con = sqlite3.connect(p)
    q = ("SELECT e.task_id, e.sample_idx, s.n_tokens, s.token_ids, s.loss_mask, s.logprobs, "
         "s.topp_offsets, s.route_layers, s.route_topk, s.routes, e.n_turns "
         "FROM episodes e JOIN token_streams s ON s.episode_id = e.id")
    return {(r[0], r[1]): r[2:] for r in con.execute(q)}
a, b = load(sys.argv[1]), load(sys.argv[2])
problems = []
if len(a) != 6 or set(a) != set(b):
    problems.append("episodes with streams: http %d, engine %d" % (len(a), len(b)))
for k in sorted(set(a) & set(b)):
    x, y = a[k], b[k]
    for i, name in enumerate(["n_tokens", "token_ids", "loss_mask", "logprobs"]):
        if x[i] != y[i]:
            problems.append("task %d sample %d: %s differ" % (k[0], k[1], name))
    if y[4] is None or y[5] != 3 or y[6] != 2 or y[7] is None:
        problems.append("task %d sample %d: engine stream lacks kept sets or routes" % k)
n_tok = sum(v[0] for v in a.values())
model = sum(sum(v[2]) for v in a.values())
turns = sum(v[8] for v in a.values())
print("streams %d, tokens %d (%d sampled), turns %d" % (len(a), n_tok, model, turns))
for p in problems[:10]:
    print("PROBLEM " + p)
PY
)
echo "    $out" | head -1
if echo "$out" | grep -q PROBLEM; then bad identical_streams "$(echo "$out" | grep PROBLEM | head -5)"; else ok identical_streams; fi
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
