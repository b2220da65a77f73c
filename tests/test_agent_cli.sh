#!/usr/bin/env bash
# tests/test_agent_cli.sh — `envforge run` end to end on real stores: the oracle over an
# example env (every episode verified with reward 1), the oracle at --max-turns (ended as
# a model is at the limit), shards that partition the tasks,
# a scripted model's end reasons stored, and SIGKILL in the middle of a run followed by
# the same command: exactly tasks × G episodes, no duplicates, none lost.
set -u
EF_BIN=${EF_BIN:?EF_BIN must name the envforge binary}
SRC=${EF_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
export EF_PROGRESS=0
T=$(mktemp -d /tmp/ef_agent_cli.XXXXXX)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0 skip=0
ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1: $2"; fail=$((fail + 1)); }
q() { python3 - "$1" "$2" <<'PY'
import sqlite3, sys
con = sqlite3.connect(sys.argv[1])
for row in con.execute(sys.argv[2]):
    print("|".join("" if v is None else str(v) for v in row))
PY
}
if ! command -v python3 >/dev/null; then
  echo "skip all: python3 is needed to read the stores"; echo "0 passed, 0 failed, 1 skipped"; exit 77
fi

# --- help and usage
if "$EF_BIN" run --help | grep -q -- "--shard"; then ok help; else bad help "no usage text"; fi
"$EF_BIN" run --db x.db >/dev/null 2>&1; rc=$?
if [ $rc -eq 2 ]; then ok usage_missing_model; else bad usage_missing_model "exit $rc"; fi
"$EF_BIN" run --db x.db --model oracle --shard 3/2 >/dev/null 2>&1; rc=$?
if [ $rc -eq 2 ]; then ok usage_bad_shard; else bad usage_bad_shard "exit $rc"; fi

# --- tasks
"$EF_BIN" gen "$SRC/examples/envs/arith.lua" -n 120 --seed 3 --db "$T/a.db" --no-progress >/dev/null 2>&1 ||
  { bad gen "envforge gen failed"; echo "$pass passed, $fail failed, $skip skipped"; exit 1; }

# gen --exact (every call under the count hook) keeps exactly the tasks of the default
# fast mode
for m in maze countdown; do
  "$EF_BIN" gen "$SRC/examples/envs/$m.lua" -n 60 --seed 9 --jobs 2 --no-progress -o "$T/f.jsonl" >/dev/null 2>&1
  "$EF_BIN" gen "$SRC/examples/envs/$m.lua" -n 60 --seed 9 --jobs 2 --no-progress --exact -o "$T/e.jsonl" >/dev/null 2>&1
  if [ -s "$T/f.jsonl" ] && cmp -s "$T/f.jsonl" "$T/e.jsonl"; then ok "gen_exact_same_$m"; else bad "gen_exact_same_$m" "outputs differ"; fi
done

# --- the oracle: every episode verified with reward 1
if "$EF_BIN" run --db "$T/a.db" --model oracle --group 2 --concurrency 2 >"$T/o.txt" 2>&1; then
  r=$(q "$T/a.db" "select count(*), sum(reward = 1.0 and verified = 1), count(distinct task_id || ':' || sample_idx) from episodes")
  if [ "$r" = "240|240|240" ]; then ok oracle_all_verified; else bad oracle_all_verified "$r"; fi
  m=$(q "$T/a.db" "select count(*) from messages m join episodes e on e.id = m.episode_id where m.role = 'tool'")
  if [ "$m" -ge 240 ]; then ok oracle_tool_messages; else bad oracle_tool_messages "$m"; fi
else
  bad oracle_all_verified "run failed: $(tail -2 "$T/o.txt")"
fi

# --- the oracle meets --max-turns as a model does: the shop fixture's solve makes two
# calls per item, so with --max-turns 1 it is stopped after its first call; its episodes
# end as a scripted model's do at the limit (max_turns, truncated, no answer, unverified)
"$EF_BIN" gen "$SRC/tests/fixtures/envs/shop.lua" -n 4 --seed 2 --db "$T/shop.db" --no-progress >/dev/null 2>&1 ||
  bad oracle_max_turns "envforge gen of the shop fixture failed"
cat >"$T/price.jsonl" <<'J'
{"tool_calls":[{"id":"c","type":"function","function":{"name":"price","arguments":"{\"item\":\"apple\"}"}}],"repeat":true}
J
if "$EF_BIN" run --db "$T/shop.db" --model oracle --max-turns 1 --run o1 >"$T/o1.txt" 2>&1 &&
   "$EF_BIN" run --db "$T/shop.db" --model "replay:$T/price.jsonl" --max-turns 1 --run r1 >>"$T/o1.txt" 2>&1; then
  ends() { q "$T/shop.db" "select count(*), group_concat(distinct e.end_reason), group_concat(distinct e.status), max(e.n_turns), max(e.verified), sum(e.answer is null) from episodes e join runs r on r.id = e.run_id where r.name = '$1'"; }
  o=$(ends o1) r=$(ends r1)
  c=$(q "$T/shop.db" "select count(*) from messages m join episodes e on e.id = m.episode_id join runs r on r.id = e.run_id where r.name = 'o1' and m.role = 'tool'")
  if [ "$o" = "4|max_turns|truncated|1|0|4" ] && [ "$o" = "$r" ] && [ "$c" = 4 ]; then
    ok oracle_max_turns
  else
    bad oracle_max_turns "oracle $o ($c tool messages), scripted model $r"
  fi
  "$EF_BIN" run --db "$T/shop.db" --model oracle --run o_all >/dev/null 2>&1
  r=$(q "$T/shop.db" "select count(*), group_concat(distinct e.end_reason), min(e.n_turns), sum(e.verified) from episodes e join runs r on r.id = e.run_id where r.name = 'o_all'")
  case "$r" in "4|answer|"[5-9]"|4") ok oracle_without_limit_answers ;; *) bad oracle_without_limit_answers "$r" ;; esac
else
  bad oracle_max_turns "run failed: $(tail -3 "$T/o1.txt")"
fi

# --- an env that requires a module runs from the store alone: the store keeps the env
# bundled with its module (docs/envs.md, "Modules"), so the module file is not needed
mkdir -p "$T/menv/lib"
cat >"$T/menv/lib/twice.lua" <<'L'
local M = {}
function M.of(x) return 2 * x end
return M
L
cat >"$T/menv/menv.lua" <<'L'
local twice = require("lib.twice")
local env = {name = "menv", version = 1, category = "interpreter", description = "double a number"}
env.tools = {double = {description = "2 x", parameters = {type = "object", properties = {x = {type = "integer"}},
  required = {"x"}}, run = function(state, args) return twice.of(args.x) end}}
function env.generate(rng, level)
  local x = rng:int(1, 1000)
  return {prompt = "Double " .. x .. ".", answer = twice.of(x), meta = {x = x}}
end
function env.solve(task, call) return tostring(call("double", {x = task.meta.x})) end
function env.verify(task, answer) return ef.verify.numeric(answer, task.answer, {rtol = 0}) end
return env
L
if "$EF_BIN" gen "$T/menv/menv.lua" -n 3 --seed 1 --db "$T/m.db" --no-progress >"$T/m.txt" 2>&1; then
  rm -r "$T/menv/lib"
  "$EF_BIN" run --db "$T/m.db" --model oracle >>"$T/m.txt" 2>&1
  r=$(q "$T/m.db" "select count(*), sum(reward = 1.0 and verified = 1) from episodes")
  if [ "$r" = "3|3" ]; then ok module_env_runs_from_store; else bad module_env_runs_from_store "$r: $(tail -3 "$T/m.txt")"; fi
else
  bad module_env_runs_from_store "gen failed: $(tail -3 "$T/m.txt")"
fi

# --- built-in tools: the run records their definitions, and the sft export lists them
# after the env's own tools (the exact list the model was shown)
if "$EF_BIN" run --db "$T/a.db" --model oracle --tools python --limit 3 --run with-python \
     >"$T/tp.txt" 2>&1; then
  c=$(q "$T/a.db" "select json_extract(config_json, '\$.builtin_tools[0].function.name') from runs where name = 'with-python'")
  if [ "$c" = python ]; then ok run_records_builtin_tools; else bad run_records_builtin_tools "$c"; fi
  if "$EF_BIN" export --db "$T/a.db" --format sft --run with-python -o "$T/tp.jsonl" >/dev/null 2>&1; then
    t=$(python3 -c "import json,sys; r=json.loads(open(sys.argv[1]).readline()); print(','.join(x['function']['name'] for x in r['tools']))" "$T/tp.jsonl")
    case "$t" in calc,python*) ok sft_lists_builtin_tools ;; *) bad sft_lists_builtin_tools "$t" ;; esac
  else
    bad sft_lists_builtin_tools "export failed"
  fi
else
  bad run_records_builtin_tools "run failed: $(tail -2 "$T/tp.txt")"
fi

# --- shards: 0/3, 1/3, 2/3 together cover every task once
for i in 0 1 2; do
  "$EF_BIN" run --db "$T/a.db" --model oracle --shard $i/3 --concurrency 2 >/dev/null 2>&1 || bad shards "shard $i failed"
done
r=$(q "$T/a.db" "select count(*), count(distinct task_id) from episodes e join runs r on r.id = e.run_id where r.shard_count = 3")
if [ "$r" = "120|120" ]; then ok shards_partition; else bad shards_partition "$r"; fi

# --- a scripted model: end reasons stored
cat >"$T/loop.jsonl" <<'J'
{"tool_calls":[{"id":"c","type":"function","function":{"name":"calc","arguments":"{\"expression\":\"1+1\"}"}}],"repeat":true}
J
"$EF_BIN" run --db "$T/a.db" --model "replay:$T/loop.jsonl" --limit 5 --max-turns 4 >/dev/null 2>&1
r=$(q "$T/a.db" "select count(*), group_concat(distinct end_reason), max(n_turns) from episodes where model like 'replay:%loop.jsonl'")
if [ "$r" = "5|max_turns|4" ]; then ok replay_max_turns; else bad replay_max_turns "$r"; fi
cat >"$T/bad.jsonl" <<'J'
{"tool_calls":[{"id":"c","type":"function","function":{"name":"calc","arguments":"{oops"}}],"repeat":true}
J
"$EF_BIN" run --db "$T/a.db" --model "replay:$T/bad.jsonl" --limit 5 --max-tool-errors 3 >/dev/null 2>&1
r=$(q "$T/a.db" "select count(*), group_concat(distinct end_reason), group_concat(distinct status), min(n_parse_errors) from episodes where model like 'replay:%bad.jsonl'")
if [ "$r" = "5|tool_error|failed|3" ]; then ok replay_tool_error; else bad replay_tool_error "$r"; fi

# --- SIGKILL in the middle, then the same command
cat >"$T/slow.jsonl" <<'J'
{"tool_calls":[{"id":"c","type":"function","function":{"name":"calc","arguments":"{\"expression\":\"2*3\"}"}}],"delay_ms":15}
{"content":"6","delay_ms":15}
J
cmd=("$EF_BIN" run --db "$T/a.db" --model "replay:$T/slow.jsonl" --group 3 --concurrency 4)
"${cmd[@]}" >/dev/null 2>&1 &
pid=$!
killed=0
for _ in $(seq 1 3000); do # up to a minute on a loaded machine
  n=$(q "$T/a.db" "select count(*) from episodes where model like 'replay:%slow.jsonl'" 2>/dev/null || echo 0)
  if [ "${n:-0}" -ge 60 ]; then kill -9 $pid 2>/dev/null && killed=1; break; fi
  sleep 0.02
done
wait $pid 2>/dev/null
before=$(q "$T/a.db" "select count(*) from episodes where model like 'replay:%slow.jsonl'")
if [ $killed -eq 1 ] && [ "$before" -lt 360 ]; then
  ok "sigkill_mid_run ($before of 360 stored when killed)"
else
  bad sigkill_mid_run "killed=$killed stored=$before (the run ended before the kill)"
fi
if "${cmd[@]}" >"$T/resume.txt" 2>&1; then
  r=$(q "$T/a.db" "select count(*), count(distinct task_id || ':' || sample_idx), min(sample_idx), max(sample_idx) from episodes where model like 'replay:%slow.jsonl'")
  if [ "$r" = "360|360|0|2" ]; then ok resume_exact; else bad resume_exact "$r"; fi
  s=$(q "$T/a.db" "select status from runs where model like 'replay:%slow.jsonl'")
  if [ "$s" = "done" ]; then ok resume_run_done; else bad resume_run_done "$s"; fi
  c=$(q "$T/a.db" "pragma integrity_check")
  if [ "$c" = "ok" ]; then ok integrity; else bad integrity "$c"; fi
else
  bad resume_exact "resume failed: $(tail -2 "$T/resume.txt")"
fi
# a third time: nothing left to do
out=$("${cmd[@]}" --json 2>/dev/null)
case "$out" in *'"run_now":0'*'"stored":360'*) ok resume_idempotent ;; *) bad resume_idempotent "$out" ;; esac

# --- SIGINT: the run stops after the episodes in flight, is marked interrupted, and the
# same command finishes it
cmd=("$EF_BIN" run --db "$T/a.db" --model "replay:$T/slow.jsonl" --run sigint --concurrency 2)
"${cmd[@]}" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 3000); do
  n=$(q "$T/a.db" "select count(*) from episodes e join runs r on r.id = e.run_id where r.name = 'sigint'" 2>/dev/null || echo 0)
  [ "${n:-0}" -ge 10 ] && break
  sleep 0.02
done
kill -INT $pid 2>/dev/null
wait $pid; rc=$?
st=$(q "$T/a.db" "select status from runs where name = 'sigint'")
if [ $rc -eq 1 ] && [ "$st" = "interrupted" ]; then ok sigint_interrupted; else bad sigint_interrupted "exit $rc status $st"; fi
out=$("${cmd[@]}" --json 2>/dev/null)
r=$(q "$T/a.db" "select r.status, count(*) from episodes e join runs r on r.id = e.run_id where r.name = 'sigint'")
case "$out" in *'"resumed":true'*) ;; *) r="not resumed: $out" ;; esac
if [ "$r" = "done|120" ]; then ok sigint_resume; else bad sigint_resume "$r"; fi

# --- http against a flaky server on 127.0.0.1: every episode completes or is stored as
# failed with its reason; none is lost
start_server() { # schedule -> sets spid, port
  python3 "$SRC/tests/agent_fixtures/http_server.py" "$1" >"$T/port" 2>/dev/null &
  spid=$!
  port=""
  for _ in $(seq 1 100); do port=$(head -n1 "$T/port" 2>/dev/null); [ -n "$port" ] && break; sleep 0.05; done
}
start_server "429,ok,500,ok,drop,ok,slow,ok"
if [ -n "$port" ]; then
  "$EF_BIN" run --db "$T/a.db" --model "http://127.0.0.1:$port/v1#flaky" --limit 20 --concurrency 4 \
    --retries 10 --retry-backoff-ms 10 --request-timeout-s 1 --max-turns 4 >"$T/h.txt" 2>&1
  r=$(q "$T/a.db" "select count(*), sum(end_reason in ('answer','model_error')), sum(end_reason = 'model_error' and (error is null or error = '')) from episodes where model like 'http://%#flaky'")
  if [ "$r" = "20|20|0" ]; then ok "http_flaky ($(grep -o 'http: .*' "$T/h.txt"))"; else bad http_flaky "$r $(tail -2 "$T/h.txt")"; fi
  kill $spid 2>/dev/null; wait $spid 2>/dev/null
  start_server "500"
  "$EF_BIN" run --db "$T/a.db" --model "http://127.0.0.1:$port/v1#down" --limit 10 --concurrency 4 \
    --retries 1 --retry-backoff-ms 10 >"$T/h2.txt" 2>&1
  r=$(q "$T/a.db" "select count(*), sum(end_reason = 'model_error' and status = 'failed' and error like '%HTTP 500%') from episodes where model like 'http://%#down'")
  if [ "$r" = "10|10" ]; then ok http_down_all_failed_none_lost; else bad http_down_all_failed_none_lost "$r"; fi
  ev=$(q "$T/a.db" "select count(*) from events v join episodes e on e.id = v.episode_id where e.model like 'http://%#down' and v.kind = 'model_error'")
  if [ "$ev" = "10" ]; then ok http_down_events; else bad http_down_events "$ev"; fi
  kill $spid 2>/dev/null; wait $spid 2>/dev/null
else
  echo "skip http: the test server did not start"; skip=$((skip + 1))
fi

echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
