#!/usr/bin/env bash
# The review's smaller items: one JSON document from `inspect --json`, gen's exit codes
# for a bad --level and an empty import, stats without episodes, export/stats/report on
# an unknown --run/--env, sandbox usage messages and help, engine bench/generate usage,
# and the exit-code line of export/stats/report --help.
. "$(dirname "$0")/cli_testlib.sh"

run_rc "$bin" inspect "$env_lua" --json -n 5
check "inspect --json exits 0" test "$rc" = 0
check "inspect --json is one JSON document with the self-check" \
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert "self_check" in d and "task" in d' "$tmp/out"

run_rc "$bin" gen "$env_lua" -n 2 --level 9 --no-progress
check "gen --level outside the env exits 2" test "$rc" = 2
check "gen --level outside prints the error" err_has "outside the env's levels"
check "gen --level outside prints no summary" test ! -s "$tmp/out"
: > empty.jsonl
run_rc "$bin" gen "$env_lua" --from-jsonl empty.jsonl --no-progress
check "gen --from-jsonl of an empty file exits 1" test "$rc" = 1

"$bin" gen "$env_lua" -n 3 --db s.db --no-progress >/dev/null 2>&1
run_rc "$bin" stats --db s.db
check "stats without episodes exits 0" test "$rc" = 0
check "stats without episodes prints no nan" bash -c "! grep -qi nan '$tmp/out'"
check "stats without episodes prints -" grep -qE '^arith/1 +1 +0 .* - +- +- ' "$tmp/out"
for c in "export --format tasks" stats "report -o r.html"; do
  run_rc "$bin" $c --db s.db --run nosuch
  check "$c --run nosuch exits 1" test "$rc" = 1
  check "$c --run nosuch names it" err_has "--run nosuch: no run of that name"
  run_rc "$bin" $c --db s.db --env nosuch
  check "$c --env nosuch exits 1" test "$rc" = 1
  check "$c --env nosuch names it" err_has "--env nosuch: no env of that name"
done
run_rc "$bin" export --db s.db --format tasks --env arith
check "export --env of a stored env works" test "$rc" = 0 -a "$(wc -l <"$tmp/out")" = 3

run_rc "$bin" sandbox /bin/true
check "sandbox without -- exits 2" test "$rc" = 2
check "sandbox without -- says the command follows --" err_has "must follow --"
run_rc "$bin" sandbox --out-kb 0 -- /bin/true
check "sandbox --out-kb 0 exits 2" test "$rc" = 2
run_rc "$bin" sandbox --tmp-mb 0 -- /bin/true
check "sandbox --tmp-mb 0 exits 2" test "$rc" = 2
help=$("$bin" sandbox --help)
for f in --mem-mb --procs --cpu-ms --wall-ms; do
  check "sandbox --help: $f 0 = no limit" bash -c "grep -A1 -- '^  $f' <<<\"\$1\" | grep -qE '0 = (no limit|none)'" _ "$help"
done

run_rc "$bin" engine generate --model none --max-tokens -1
check "engine generate --max-tokens -1 exits 2" test "$rc" = 2
check "engine generate error does not mention --steps" bash -c "! grep -q -- --steps '$tmp/err'"
run_rc "$bin" engine bench --no-synthetic
check "engine bench --no-synthetic alone exits 2" test "$rc" = 2
check "engine bench --no-synthetic alone says why" err_has "--model"

for c in export stats report gen sandbox inspect; do
  check "$c --help has an exit line" bash -c "'$bin' $c --help | grep -q '^exit: 0'"
done
finish
