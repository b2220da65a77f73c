#!/usr/bin/env bash
# Number flags are parsed strictly (cli/parse.c): empty text, trailing junk, a sign on an
# unsigned value, overflow, NaN and infinity are usage errors (exit 2) whose message
# names the command, the flag, the text and the accepted range; nothing is clamped.
. "$(dirname "$0")/cli_testlib.sh"

bad() { # NAME EXPECTED_IN_STDERR CMD...
  local name=$1 want=$2; shift 2
  run_rc "$@"
  check "$name exits 2" test "$rc" = 2
  check "$name says why" err_has "$want"
}
bad "gen -n 2^66" "envforge gen: -n: '99999999999999999999' is not in range (expected an integer in [0, " \
  "$bin" gen "$env_lua" -n 99999999999999999999 --no-progress
bad "gen -n huge (10N+100 would wrap)" "-n: '1844674407370955161'" \
  "$bin" gen "$env_lua" -n 1844674407370955161 --no-progress
bad "gen --seed 2^64" "--seed: '18446744073709551616' is not in range" \
  "$bin" gen "$env_lua" -n 1 --seed 18446744073709551616 --no-progress
bad "gen --seed -1" "--seed: '-1'" "$bin" gen "$env_lua" -n 1 --seed -1 --no-progress
bad "gen --seed empty" "--seed: ''" "$bin" gen "$env_lua" -n 1 --seed "" --no-progress
bad "gen --level ' 2'" "--level needs L or L1-L2" "$bin" gen "$env_lua" -n 1 --level " 2"
bad "gen --level 1- 3" "--level needs L or L1-L2" "$bin" gen "$env_lua" -n 1 --level "1- 3"
bad "gen --jobs 4x" "--jobs: '4x' is not an integer" "$bin" gen "$env_lua" -n 1 --jobs 4x
bad "gen --max-attempts 0" "--max-attempts: '0'" "$bin" gen "$env_lua" -n 1 --max-attempts 0
run_rc "$bin" gen "$env_lua" -n 1 --seed 18446744073709551615 --no-progress
check "gen --seed 2^64-1 is accepted" test "$rc" = 0
bad "inspect --seed abc" "--seed: 'abc'" "$bin" inspect "$env_lua" --seed abc
bad "inspect --level 0" "--level: '0'" "$bin" inspect "$env_lua" --level 0
bad "inspect -n 1e3" "-n: '1e3'" "$bin" inspect "$env_lua" -n 1e3
"$bin" gen "$env_lua" -n 2 --db s.db --no-progress >/dev/null 2>&1
bad "export --level -1" "--level: '-1'" "$bin" export --db s.db --format tasks --level -1
bad "stats --flaky 101" "--flaky: '101'" "$bin" stats --db s.db --flaky 101
bad "stats --success 0x1" "--success 0x1: give a number in [0, 1]" "$bin" stats --db s.db --success 0x1
bad "stats --success ' 0.5'" "give a number in [0, 1]" "$bin" stats --db s.db --success " 0.5"
bad "stats --k '1, 4'" "--k 1, 4: give ascending k" "$bin" stats --db s.db --k "1, 4"
bad "stats --k 1,+4" "--k 1,+4: give ascending k" "$bin" stats --db s.db --k "1,+4"
bad "report --max-episodes x" "--max-episodes: 'x'" "$bin" report --db s.db -o r.html --max-episodes x
bad "sandbox --wall-ms 1x" "--wall-ms: '1x'" "$bin" sandbox --wall-ms 1x -- /bin/true
bad "sandbox --mem-mb -5" "--mem-mb: '-5'" "$bin" sandbox --mem-mb -5 -- /bin/true
bad "engine generate --max-tokens 2^33" "--max-tokens: '99999999999' is not in range" \
  "$bin" engine generate --model none --max-tokens 99999999999
bad "engine generate --seed abc" "--seed: 'abc'" "$bin" engine generate --model none --seed abc
bad "engine generate --threads -3" "--threads: '-3'" "$bin" engine generate --model none --threads -3
bad "engine generate --top-p nan" "--top-p: 'nan'" "$bin" engine generate --model none --top-p nan
bad "run --top-p 0" "envforge run: --top-p: '0' is not in range (expected a number in (0, 1])" \
  "$bin" run --db none.db --model oracle --top-p 0
bad "run --context-threshold 1.5" "--context-threshold: '1.5' is not in range (expected a number in (0, 1])" \
  "$bin" run --db none.db --model oracle --context-threshold 1.5
bad "engine generate --temperature inf" "--temperature: 'inf'" \
  "$bin" engine generate --model none --temperature inf
bad "engine bench --contexts 1,2x" "--contexts: '2x'" "$bin" engine bench --contexts 1,2x
bad "serve --port 70000" "--port: '70000' is not in range (expected an integer in [0, 65535])" \
  "$bin" serve --model none --port 70000
bad "serve --max-body-bytes 1e3" "--max-body-bytes: '1e3'" "$bin" serve --model none --max-body-bytes 1e3
bad "corpus search -k 0" "-k: '0'" "$bin" corpus search c.db q -k 0
finish
