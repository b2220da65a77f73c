#!/usr/bin/env bash
# `envforge stats` and `report` on a store of real runs: a replay model whose every
# episode makes a call with arguments that are not JSON, a good call, a call to an
# unknown tool and one with arguments the schema refuses, then answers wrong; and the
# oracle, which solves each task. Checks that the tool-error figures agree (the group's
# count is the sum of its tools': it counted the episodes' n_tool_errors, which leave
# out calls whose arguments did not parse, while the per-tool figures counted every
# failed call), that `envforge run`'s summary counts the same figures under the same
# names, `stats --by run`, and `report --max-episodes` embedding that many.
. "$(dirname "$0")/cli_testlib.sh"

"$bin" gen "$env_lua" -n 2 --seed 1 --db s.db --no-progress >/dev/null 2>&1
cat >bad.jsonl <<'EOF'
{"tool_calls": [{"id": "c1", "type": "function", "function": {"name": "calc", "arguments": "{not json"}}]}
{"tool_calls": [{"id": "c2", "type": "function", "function": {"name": "calc", "arguments": "{\"expression\": \"1+1\"}"}}]}
{"tool_calls": [{"id": "c3", "type": "function", "function": {"name": "nosuch", "arguments": "{}"}}]}
{"tool_calls": [{"id": "c4", "type": "function", "function": {"name": "calc", "arguments": "{\"expr\": 1}"}}]}
{"content": "2"}
EOF
run_rc "$bin" run --db s.db --model replay:bad.jsonl --group 2 --run bad --no-progress
check "replay run exits 0" test "$rc" = 0
# run's summary counts as stats does: 4 episodes x 4 calls, 3 answered with an error
# (the call whose arguments are not JSON too: it was left out, 8 of 16)
check "run summary: tool calls, tool errors (the unparsed call too), parse errors" \
  out_has "tool calls 16, tool errors 12 (75.0%), parse errors 4"
"$bin" gen "$env_lua" -n 2 --seed 1 --db j.db --no-progress >/dev/null 2>&1
"$bin" run --db j.db --model replay:bad.jsonl --group 2 --run bad --no-progress --json \
  >"$tmp/run.json" 2>/dev/null
check "run --json: the figures and names of stats" python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
assert (r["tool_calls"], r["tool_errors"], r["tool_error_rate"], r["parse_errors"]) == \
    (16, 12, 0.75, 4), r
' "$tmp/run.json"
run_rc "$bin" run --db s.db --model oracle --run orc --no-progress
check "oracle run exits 0" test "$rc" = 0

# --- one tool-error figure: 4 replay episodes x 4 calls, 3 failing each; 2 oracle calls
run_rc "$bin" stats --db s.db --json
check "stats --json exits 0" test "$rc" = 0
check "stats: tool_errors is the sum of the tools' errors, in every group and the total" \
  python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
for g in d["groups"] + [d["total"]]:
    assert g["tool_errors"] == sum(t["errors"] for t in g["tools"]), g
    assert g["tool_calls"] == sum(t["calls"] for t in g["tools"]), g
    assert abs(g["tool_error_rate"] - g["tool_errors"] / g["tool_calls"]) < 1e-12, g
t = d["total"]
assert (t["tool_calls"], t["tool_errors"], t["parse_errors"]) == (18, 12, 4), t
' "$tmp/out"
run_rc "$bin" stats --db s.db
check "stats table: the tool error rate is errors over calls (12 of 18)" \
  grep -qE '^all +2 +6 .* 66\.7 +[0-9]+$' "$tmp/out"
check "stats table: per tool" out_has "tools (calls/errors): calc 7/4 nosuch 2/2"

# --- --by run
run_rc "$bin" stats --db s.db --by run
check "stats --by run exits 0" test "$rc" = 0
check "stats --by run: a header" grep -qE '^run +model +eps +pass% +reward +prompt +compl +calls +toolerr +parse +errored$' "$tmp/out"
check "stats --by run: the replay run" \
  grep -qE '^bad +replay:bad\.jsonl +4 +0\.0 +0\.000 +0 +0 +16 +12 +4 +0$' "$tmp/out"
check "stats --by run: the oracle run" grep -qE '^orc +oracle +2 +100\.0 +1\.000 +0 +0 +2 +0 +0 +0$' "$tmp/out"
check "stats --by run: the legend" out_has "errored = episodes ended by a model error or a failed verifier"
run_rc "$bin" stats --db s.db --by run --run orc
check "stats --by run --run: that run only" bash -c "! grep -q '^bad ' '$tmp/out' && grep -q '^orc ' '$tmp/out'"
run_rc "$bin" stats --db s.db --json
check "stats --json: per-run figures" python3 -c '
import json, sys
r = {x["name"]: x for x in json.load(open(sys.argv[1]))["runs"]}
b, o = r["bad"], r["orc"]
assert (b["episodes"], b["passed"], b["pass_rate"], b["mean_reward"]) == (4, 0, 0, 0), b
assert (b["tool_calls"], b["tool_errors"], b["tool_error_rate"]) == (16, 12, 0.75), b
assert (b["parse_errors"], b["episode_errors"], b["model"]) == (4, 0, "replay:bad.jsonl"), b
assert (o["episodes"], o["passed"], o["pass_rate"], o["mean_reward"]) == (2, 2, 1, 1), o
assert o["tokens"] == {"prompt": 0, "completion": 0, "mean_completion": 0}, o
' "$tmp/out"
run_rc "$bin" stats --db s.db --by task
check "stats --by task exits 2" test "$rc" = 2
check "stats --by task says what works" err_has "--by task: use env or run"

# --- report --max-episodes N embeds N of the 6 (a stride of ceil(6 / 4) embedded 3)
for n in 1 4 5 6 7; do
  run_rc "$bin" report --db s.db -o "r$n.html" --max-episodes "$n"
  want=$((n < 6 ? n : 6))
  check "report --max-episodes $n embeds $want" grep -qF "{\"shown\":$want,\"total\":6," "r$n.html"
done

finish
