#!/usr/bin/env bash
# tests/test_cli_gen_import.sh — `envforge gen --from-jsonl F` on a real store with a bad
# line after good ones. The rule (docs/envs.md): every line of F is checked before any
# task is stored, so a line that is not JSON, lacks the prompt, has a field of the wrong
# type or names another env fails the import naming F:LINE and the field; nothing from F
# is stored or written (-o), the tasks already in the store stay byte for byte, and the
# message says so. Once the line is fixed the same import stores the good lines. A line
# of the right shape that fails validation is dropped like a generated candidate, and
# the summary names its F:LINE.
. "$(dirname "$0")/cli_testlib.sh"
store_dump() { python3 - "$1" <<'PY'
import sqlite3, sys
con = sqlite3.connect(sys.argv[1])
print(con.execute("select count(*) from envs").fetchone()[0])
for r in con.execute("select id, env_id, idx, seed, level, content_hash, task_json from tasks order by id"):
    print("|".join(str(v) for v in r))
PY
}
if ! command -v python3 >/dev/null; then
  echo "skip all: python3 is needed to read the store"; echo "0 passed, 0 failed, 1 skipped"; exit 77
fi
"$bin" gen "$env_lua" -n 5 --seed 9 --db s.db --no-progress >/dev/null 2>&1
"$bin" gen "$env_lua" -n 3 --seed 1 -o good.jsonl --no-progress >/dev/null 2>&1
check setup test "$(wc -l < good.jsonl)" = 3
store_dump s.db > before.txt
check setup_store test "$(head -1 before.txt)|$(wc -l < before.txt)" = "1|6"
echo "a file written by an earlier import" > out.jsonl

# bad_case NAME WANT LINE...: good.jsonl then the lines (the first bad one is line 4)
bad_case() {
  local name=$1 want=$2; shift 2
  { cat good.jsonl; printf '%s\n' "$@"; } > mix.jsonl
  run_rc "$bin" gen "$env_lua" --from-jsonl mix.jsonl --db s.db -o out.jsonl --no-progress
  store_dump s.db > after.txt
  check "$name: exit 1" test "$rc" = 1
  check "$name: names mix.jsonl:4 and the field" err_has "mix.jsonl:4: $want"
  check "$name: says nothing was imported" err_has "nothing was imported from mix.jsonl"
  check "$name: the store is as it was" cmp -s before.txt after.txt
  check "$name: -o is as it was" grep -qx "a file written by an earlier import" out.jsonl
  if [ "$rc" != 1 ] || ! err_has "mix.jsonl:4: $want"; then sed 's/^/    /' "$tmp/err"; fi
}
bad_case invalid_json "not valid JSON (column " '{oops'
bad_case not_object "an array, expected a JSON object" '[1, 2]'
bad_case missing_prompt "field 'task.prompt' is missing" '{"env":"arith","level":1,"task":{"answer":"2"}}'
bad_case bare_missing_prompt "field 'prompt' is missing" '{"answer":"2","meta":{}}'
bad_case prompt_type "field 'prompt' is a number, expected a non-empty string" '{"prompt":5,"answer":"2"}'
bad_case task_type "field 'task' is a string, expected an object" '{"env":"arith","task":"2"}'
bad_case level_type "field 'level' = \"2\" is not a level of env 'arith'" \
  '{"env":"arith","level":"2","task":{"prompt":"p","answer":"2"}}'
bad_case env_type "field 'env' is a number, expected a string" '{"env":7,"task":{"prompt":"p","answer":"2"}}'
bad_case unknown_env "field 'env': this task belongs to env 'nosuch', not to 'arith'" \
  '{"env":"nosuch","task":{"prompt":"p","answer":"2"}}'
# several bad lines: the first is named, the others counted; a good line after them
# changes nothing
bad_case several "not valid JSON (column 1) (and 2 more bad lines after it)" '}' '{"prompt":""}' \
  "$(head -1 good.jsonl)" '7'

# the file fixed: the good lines are stored, the earlier tasks untouched
cp good.jsonl fixed.jsonl
run_rc "$bin" gen "$env_lua" --from-jsonl fixed.jsonl --db s.db --no-progress
store_dump s.db > after.txt
check fixed_exit_0 test "$rc" = 0
check fixed_stored out_has "stored 3 new"
check fixed_keeps_earlier test "$(head -6 after.txt)" = "$(cat before.txt)"
check fixed_store_grew test "$(wc -l < after.txt)" = 9

# a line of the right shape whose task fails the env's solve: dropped, named by line
{ cat good.jsonl; echo '{"prompt":"Calculate 1 + 1.","answer":"2"}'; } > drop.jsonl
run_rc "$bin" gen "$env_lua" --from-jsonl drop.jsonl --no-progress
check dropped_line_named out_has "first solve_error: drop.jsonl:4: solve:"
check dropped_line_kept_others out_has "kept 3 of 4"
finish
