#!/usr/bin/env bash
# tests/test_agent_run_settings.sh — what `envforge run` does with a run's settings and
# with failing models, on real stores: a resume with another model, group or setting is
# refused (exit 2, each difference named) and leaves the store as it was; the default
# run name hashes the settings (same settings resume, other settings make a new run);
# unknown --tools names, out-of-range sampling values and non-integer numbers are usage
# errors that create no run; a run whose every episode ended in model_error exits 1 and
# prints the first error; a resume deletes and reruns model_error episodes (with their
# messages and events); oracle runs record no `submit` tool; --no-progress; a verifier
# that fails (sandbox refused) is reported and its episodes run again on resume.
# Prints "N passed, N failed, N skipped".
set -u
EF_BIN=${EF_BIN:?EF_BIN must name the envforge binary}
SRC=${EF_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
T=$(mktemp -d /tmp/ef_run_settings.XXXXXX)
pass=0 fail=0 skip=0
ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1: $2"; fail=$((fail + 1)); }
SPIDS=()
cleanup() {
  for p in "${SPIDS[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
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
# has OUT TEXT: the file holds the text (fixed string)
has() { grep -qF -- "$2" "$1"; }

"$EF_BIN" gen "$SRC/examples/envs/arith.lua" -n 6 --seed 3 --db "$T/r.db" --no-progress \
  >/dev/null 2>&1 || { bad gen "envforge gen failed"; echo "$pass passed, $fail failed, $skip skipped"; exit 1; }
export EF_PROGRESS=0
REPLAY="replay:$SRC/tests/agent_fixtures/demo_replay.jsonl"
run() { "$EF_BIN" run --db "$T/r.db" "$@" >"$T/out" 2>"$T/err"; }
n_runs() { q "$T/r.db" "select count(*) from runs"; }
episodes_of() { q "$T/r.db" "select count(*) from episodes e join runs r on r.id = e.run_id where r.name = '$1'"; }

# --- a named run resumed with another model or group is refused, the store untouched
run --model "$REPLAY" --limit 2 --run mt1 --max-turns 1; rc=$?
if [ $rc -eq 0 ] && [ "$(episodes_of mt1)" = 2 ]; then ok named_run_first; else bad named_run_first "exit $rc $(cat "$T/err")"; fi
run --model oracle --limit 2 --run mt1; rc=$?
if [ $rc -eq 2 ] && has "$T/err" "--model: stored $REPLAY, now oracle" &&
   has "$T/err" "--max-turns: stored 1, now 16" && has "$T/err" "another --run name" &&
   [ "$(episodes_of mt1)" = 2 ] && [ ! -s "$T/out" ]; then
  ok resume_other_model_refused
else
  bad resume_other_model_refused "exit $rc, $(episodes_of mt1) episodes: $(cat "$T/err")"
fi
run --model "$REPLAY" --group 3 --limit 2 --run mt1 --max-turns 1; rc=$?
r=$(q "$T/r.db" "select group_size, json_extract(config_json, '\$.max_turns') from runs where name = 'mt1'")
if [ $rc -eq 2 ] && has "$T/err" "--group: stored 1, now 3" && ! has "$T/err" "--max-turns" &&
   [ "$(episodes_of mt1)" = 2 ] && [ "$r" = "1|1" ]; then
  ok resume_other_group_refused
else
  bad resume_other_group_refused "exit $rc, run $r, $(episodes_of mt1) episodes: $(cat "$T/err")"
fi
run --model "$REPLAY" --limit 2 --run mt1 --max-turns 2 --temperature 0.5 --tools python; rc=$?
if [ $rc -eq 2 ] && has "$T/err" "--max-turns: stored 1, now 2" &&
   has "$T/err" "--temperature: stored null, now 0.5" && has "$T/err" '--tools: stored null, now "python"'; then
  ok resume_other_settings_refused
else
  bad resume_other_settings_refused "exit $rc: $(cat "$T/err")"
fi
run --model "$REPLAY" --limit 2 --run mt1 --max-turns 1 --json; rc=$?
if [ $rc -eq 0 ] && has "$T/out" '"resumed":true' && has "$T/out" '"run_now":0'; then
  ok resume_same_settings
else
  bad resume_same_settings "exit $rc: $(cat "$T/out" "$T/err")"
fi

# --- runs of an older build (config_json as it wrote it, without the "settings" marker):
# the keys it recorded are compared, with its numbers for the server's defaults
run --model oracle --limit 2 --run old-oracle
python3 - "$T/r.db" <<'PY'
import sqlite3, sys
con = sqlite3.connect(sys.argv[1])
old = ('{"group":1,"max_turns":%d,"max_tokens":0,"max_wall_ms":0,"context_window":131072,'
       '"context_threshold":0.8,"context_policy":"discard-75","temperature":-1,"top_p":0,'
       '"submit_tool":true}')
con.execute("update runs set config_json = ? where name = 'mt1'", (old % 1,))
con.execute("update runs set config_json = ? where name = 'old-oracle'", (old % 16,))
con.commit()
PY
run --model "$REPLAY" --limit 2 --run mt1 --max-turns 1; rc1=$?
run --model oracle --limit 2 --run old-oracle; rc2=$?
run --model "$REPLAY" --limit 2 --run mt1 --max-turns 1 --temperature 0.7; rc3=$?
e3=$(cat "$T/err")
run --model "$REPLAY" --limit 2 --run mt1 --max-turns 5; rc4=$?
if [ $rc1$rc2$rc3$rc4 = 0022 ] && has "$T/err" "--max-turns: stored 1, now 5" &&
   [[ "$e3" == *"--temperature: stored null, now 0.7"* ]]; then
  ok resume_older_config
else
  bad resume_older_config "exits $rc1$rc2$rc3$rc4: $e3 $(cat "$T/err")"
fi

# --- default names: the same settings resume, other settings make another run
runs0=$(n_runs)
run --model oracle --limit 2 --json; rc1=$?
name1=$(q "$T/r.db" "select name from runs order by id desc limit 1")
run --model oracle --limit 2 --json; rc2=$?
resumed=$(grep -c '"resumed":true' "$T/out")
run --model oracle --limit 2 --max-turns 3 --json; rc3=$?
name3=$(q "$T/r.db" "select name from runs order by id desc limit 1")
run --model oracle --limit 2 --system "Be brief." --json; rc4=$?
name4=$(q "$T/r.db" "select name from runs order by id desc limit 1")
case "$name1" in "oracle g1 seed0 shard0/1 limit=2 cfg"????????) n1ok=1 ;; *) n1ok=0 ;; esac
if [ $rc1$rc2$rc3$rc4 = 0000 ] && [ $n1ok = 1 ] && [ "$resumed" = 1 ] && [ "$name1" != "$name3" ] &&
   [ "$name1" != "$name4" ] && [ "$name3" != "$name4" ] && [ "$(n_runs)" = $((runs0 + 3)) ] &&
   [ "$(episodes_of "$name3")" = 2 ] && [ "$(episodes_of "$name4")" = 2 ]; then
  ok default_name_hashes_settings
else
  bad default_name_hashes_settings "exits $rc1$rc2$rc3$rc4, names '$name1' '$name3' '$name4', resumed $resumed, runs $(n_runs)"
fi

# --- the oracle is offered no submit tool: its run and its sft rows list none
s=$(q "$T/r.db" "select json_extract(config_json, '\$.submit_tool') from runs where name = '$name1'")
if "$EF_BIN" export --db "$T/r.db" --format sft --run "$name1" -o "$T/sft.jsonl" >/dev/null 2>&1; then
  t=$(python3 -c "import json,sys; print(sorted({x['function']['name'] for l in open(sys.argv[1]) for x in json.loads(l)['tools']}))" "$T/sft.jsonl")
  if [ "$s" = 0 ] && [ "$t" = "['calc']" ]; then ok oracle_sft_no_submit_tool; else bad oracle_sft_no_submit_tool "submit_tool=$s tools=$t"; fi
else
  bad oracle_sft_no_submit_tool "export failed"
fi

# --- usage errors before any run is made: exit 2, the flag and value named
runs0=$(n_runs)
usage_case() { # NAME EXPECTED-TEXT ARGS...
  local name=$1 want=$2; shift 2
  run "$@"; local rc=$?
  if [ $rc -eq 2 ] && has "$T/err" "$want" && [ "$(n_runs)" = "$runs0" ]; then ok "$name"; else bad "$name" "exit $rc, runs $(n_runs): $(cat "$T/err")"; fi
}
usage_case usage_unknown_tool "unknown tool 'nosuch'" --model oracle --tools python,nosuch
usage_case usage_temperature "--temperature: '500'" --model oracle --temperature 500
usage_case usage_temperature_engine "--temperature: '500'" --model "engine:$SRC/tests/fixtures/tiny_model" --temperature 500
usage_case usage_top_p_zero "--top-p: '0'" --model oracle --top-p 0
usage_case usage_top_p_big "--top-p: '1.5'" --model oracle --top-p 1.5
usage_case usage_group_fraction "--group: '2.7'" --model oracle --group 2.7
usage_case usage_seed_exponent "--seed: '1e3'" --model oracle --seed 1e3
usage_case usage_seed_overflow "--seed: '99999999999999999999999'" --model oracle --seed 99999999999999999999999
usage_case usage_concurrency_overflow "--concurrency: '4294967297'" --model oracle --concurrency 4294967297
usage_case usage_limit_negative "--limit: '-1'" --model oracle --limit -1
usage_case usage_max_turns_junk "--max-turns: '3x'" --model oracle --max-turns 3x
# the plain oracle run is not blocked by the refused --tools one
run --model oracle --json; rc=$?
if [ $rc -eq 0 ] && has "$T/out" '"run_now":6'; then ok oracle_after_bad_tools; else bad oracle_after_bad_tools "exit $rc: $(cat "$T/out" "$T/err")"; fi

# --- every episode a model error: exit 1, the first error on stderr; the same command
# runs them again
run --model http://127.0.0.1:1/v1 --limit 2 --run h2 --retries 0; rc=$?
r=$(q "$T/r.db" "select count(*), sum(end_reason = 'model_error') from episodes e join runs r on r.id = e.run_id where r.name = 'h2'")
if [ $rc -eq 1 ] && [ "$r" = "2|2" ] && has "$T/err" "ended in model_error; the first: task" &&
   has "$T/err" "127.0.0.1:1" && has "$T/out" "model_error 2"; then
  ok all_model_errors_exit_1
else
  bad all_model_errors_exit_1 "exit $rc, episodes $r: $(cat "$T/err")"
fi
run --model http://127.0.0.1:1/v1 --limit 2 --run h2 --retries 0 --json; rc=$?
if [ $rc -eq 1 ] && has "$T/out" '"retried":2' && has "$T/out" '"run_now":2' && [ "$(episodes_of h2)" = 2 ]; then
  ok model_errors_rerun_on_resume
else
  bad model_errors_rerun_on_resume "exit $rc: $(cat "$T/out" "$T/err")"
fi

# --- a resume replaces model_error episodes (and their messages and events) with the
# new outcome; episodes that completed stay
cat >"$T/flaky.jsonl" <<'J'
{"script":"a","error":"scripted outage"}
{"script":"b","content":"7"}
J
run --model "replay:$T/flaky.jsonl" --limit 4 --run retry --json; rc=$?
r=$(q "$T/r.db" "select group_concat(end_reason, ',') from (select end_reason from episodes e join runs r on r.id = e.run_id where r.name = 'retry' order by task_id)")
ids_ok=$(q "$T/r.db" "select group_concat(e.id) from episodes e join runs r on r.id = e.run_id where r.name = 'retry' and e.end_reason != 'model_error'")
if [ $rc -eq 0 ] && [ "$r" = "model_error,answer,model_error,answer" ] && has "$T/err" "scripted outage"; then
  ok some_model_errors_exit_0
else
  bad some_model_errors_exit_0 "exit $rc, $r: $(cat "$T/err")"
fi
cat >"$T/flaky.jsonl" <<'J'
{"script":"a","content":"5"}
{"script":"b","error":"must not be called: this task is done"}
J
run --model "replay:$T/flaky.jsonl" --limit 4 --run retry --json; rc=$?
r=$(q "$T/r.db" "select group_concat(end_reason, ',') from (select end_reason from episodes e join runs r on r.id = e.run_id where r.name = 'retry' order by task_id)")
ids_now=$(q "$T/r.db" "select group_concat(e.id) from episodes e join runs r on r.id = e.run_id where r.name = 'retry' and e.task_id % 2 = 0")
orphans=$(q "$T/r.db" "select (select count(*) from messages where episode_id not in (select id from episodes)) + (select count(*) from events where episode_id is not null and episode_id not in (select id from episodes))")
mev=$(q "$T/r.db" "select count(*) from events v join episodes e on e.id = v.episode_id join runs r on r.id = e.run_id where r.name = 'retry' and v.kind = 'model_error'")
if [ $rc -eq 0 ] && [ "$r" = "answer,answer,answer,answer" ] && has "$T/out" '"retried":2' &&
   has "$T/out" '"skipped":2' && [ "$ids_now" = "$ids_ok" ] && [ "$orphans" = 0 ] && [ "$mev" = 0 ] &&
   [ "$(q "$T/r.db" "pragma integrity_check")" = ok ]; then
  ok resume_replaces_model_errors
else
  bad resume_replaces_model_errors "exit $rc, $r, ids $ids_now vs $ids_ok, orphans $orphans, events $mev: $(cat "$T/out" "$T/err")"
fi
# a model_error episode of a task outside this call's --limit stays as it is
cat >"$T/flaky.jsonl" <<'J'
{"script":"a","error":"outage again"}
{"script":"b","content":"1"}
J
run --model "replay:$T/flaky.jsonl" --limit 4 --run keep
cat >"$T/flaky.jsonl" <<'J'
{"script":"a","content":"2"}
{"script":"b","content":"1"}
J
run --model "replay:$T/flaky.jsonl" --limit 2 --run keep --json; rc=$?
r=$(q "$T/r.db" "select count(*), group_concat(task_id) from episodes e join runs r on r.id = e.run_id where r.name = 'keep' and end_reason = 'model_error'")
if [ $rc -eq 0 ] && has "$T/out" '"retried":1' && [ "$r" = "1|3" ] && [ "$(episodes_of keep)" = 4 ]; then ok retry_only_planned; else bad retry_only_planned "exit $rc, $r: $(cat "$T/out")"; fi

# --- a server without /v1 in the model URL: 404, named on stderr, exit 1
MODEL="$SRC/tests/fixtures/tiny_model"
if [ -d "$MODEL" ]; then
  "$EF_BIN" serve --model "$MODEL" --port 0 2>"$T/serve.err" &
  SPIDS+=($!)
  port=
  for _ in $(seq 1 400); do
    port=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\)\/v1.*/\1/p' "$T/serve.err")
    [ -n "$port" ] && break
    sleep 0.05
  done
  if [ -n "$port" ]; then
    run --model "http://127.0.0.1:$port" --limit 1 --retries 0; rc=$?
    if [ $rc -eq 1 ] && has "$T/err" "404"; then ok http_missing_v1_404; else bad http_missing_v1_404 "exit $rc: $(cat "$T/err")"; fi
  else
    bad http_missing_v1_404 "serve did not start: $(tail -3 "$T/serve.err")"
  fi
else
  echo "skip http_missing_v1_404: no $MODEL"; skip=$((skip + 1))
fi

# --- --no-progress: no progress bar even where EF_PROGRESS would allow one
unset EF_PROGRESS
run --model oracle --limit 3 --run quiet --no-progress; rc=$?
if [ $rc -eq 0 ] && [ ! -s "$T/err" ]; then ok no_progress; else bad no_progress "exit $rc: $(cat "$T/err")"; fi
if "$EF_BIN" run --help | grep -q -- "--no-progress"; then ok help_no_progress; else bad help_no_progress "not in --help"; fi

# --- a verifier that fails (the sandbox refused: a non-root user with rootless mode off)
# stores the episodes unverified, says so, and a resume runs them again
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null && \
   setpriv --reuid=65534 --regid=65534 --clear-groups unshare --user true 2>/dev/null; then
  chmod 755 "$T"; V=$T/verify; mkdir -m 777 "$V"
  NB=(setpriv --reuid=65534 --regid=65534 --clear-groups env HOME="$V" TMPDIR="$V")
  "${NB[@]}" "$EF_BIN" gen "$SRC/examples/envs/code_strings.lua" -n 2 --seed 1 --db "$V/s.db" --no-progress >/dev/null 2>&1
  "${NB[@]}" env EF_SANDBOX_ROOTLESS=0 "$EF_BIN" run --db "$V/s.db" --model oracle --run v --no-progress >"$T/out" 2>"$T/err"; rc=$?
  if [ $rc -eq 0 ] && has "$T/err" "the verifier failed on 2 episode(s)" && has "$T/err" "refusing to run untrusted code"; then
    ok verify_error_reported
  else
    bad verify_error_reported "exit $rc: $(cat "$T/err" "$T/out" | tail -5)"
  fi
  "${NB[@]}" "$EF_BIN" run --db "$V/s.db" --model oracle --run v --no-progress >"$T/out" 2>"$T/err"; rc=$?
  n=$(q "$V/s.db" "select count(*) from episodes e join runs r on r.id = e.run_id where r.name = 'v' and e.verified = 1 and e.reward = 1")
  if [ $rc -eq 0 ] && [ "$n" = 2 ]; then ok verify_error_rerun; else bad verify_error_rerun "exit $rc, verified $n: $(cat "$T/err" "$T/out" | tail -5)"; fi
else
  echo "skip verify_error_reported: needs root, setpriv and unprivileged user namespaces"; skip=$((skip + 1))
fi

echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
