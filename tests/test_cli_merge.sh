#!/usr/bin/env bash
# `envforge merge` on stores that `envforge gen` and `envforge run --model oracle` made:
# two machines whose stores number the same tasks differently merge into groups that
# each hold one task (and a second merge finds everything present, no conflict); the
# same run with another setting is a conflict naming it, and its episodes stay out; an
# episode that failed on one machine (model_error, verifier error) is replaced by the
# other machine's good one, never the reverse; inputs that are not stores (text, empty,
# missing, a directory) are named "PATH: not an envforge store (...)", exit 1, and OUT
# is left as it was (not even created).
. "$(dirname "$0")/cli_testlib.sh"
command -v sqlite3 >/dev/null || { echo "skip: no sqlite3 command"; exit 77; }
countdown=$src/examples/envs/countdown.lua
q() { sqlite3 "$1" "$2"; }
quiet() { "$@" >/dev/null 2>&1; }

# machine a: arith tasks; machine b: countdown tasks first, then the same arith tasks
quiet "$bin" gen "$env_lua" -n 4 --seed 1 --db a.db --no-progress
quiet "$bin" gen "$countdown" -n 2 --seed 1 --db b.db --no-progress
quiet "$bin" gen "$env_lua" -n 4 --seed 1 --db b.db --no-progress
quiet "$bin" run --db a.db --model oracle --group 2 --run g --no-progress
quiet "$bin" run --db b.db --model oracle --group 2 --run g --no-progress
check "the stores number the arith tasks differently" \
  test "$(q a.db "select min(id) from tasks")" != "$(q b.db "select min(t.id) from tasks t join envs e on e.id = t.env_id where e.name = 'arith'")"
mixed="select count(*) from (select run_id, group_id from episodes group by 1, 2 having count(distinct task_id) > 1)"

run_rc "$bin" merge m.db a.db b.db
check "merge of the two machines exits 0" test "$rc" = 0
check "b's arith episodes are already present" out_has "b.db: +1 envs +2 tasks +0 runs +4 episodes +0 events, 8 episodes already present"
check "no conflict" bash -c "! grep -q conflict '$tmp/err'"
check "one run" test "$(q m.db "select count(*) from runs")" = 1
check "no group mixes tasks" test "$(q m.db "$mixed")" = 0
check "6 groups of 2" test "$(q m.db "select count(*) from (select group_id from episodes group by 1 having count(*) = 2)")" = 6
check "each group is its task's id" test "$(q m.db "select count(*) from episodes where group_id != task_id")" = 0
run_rc "$bin" merge m.db b.db
check "merging b again exits 0" test "$rc" = 0
check "merging b again adds nothing" out_has "b.db: +0 envs +0 tasks +0 runs +0 episodes +0 events, 12 episodes already present, 0 failed episodes replaced, 0 failed episodes left out, 0 conflicts"

# the same run name, model and shard with another setting
quiet "$bin" gen "$env_lua" -n 4 --seed 1 --db c.db --no-progress
quiet "$bin" run --db c.db --model oracle --group 2 --run g --max-turns 4 --no-progress
before=$(q m.db "select count(*) from episodes")
run_rc "$bin" merge m.db c.db
check "a run with other settings exits 1" test "$rc" = 1
check "the conflict names the run and the setting" err_has "conflict: run 'g' of c.db (model oracle, shard 0 of 1) has other settings than the store's run 'g' of the same model and shard: max_turns 4 here, 16 in the store; skipped it and its 8 episodes"
check "its episodes stay out" test "$(q m.db "select count(*) from episodes")" = "$before"

# a retry elsewhere: on machine f the server failed on task 2, the verifier on task 3
cp a.db f.db
q f.db "update episodes set status = 'failed', end_reason = 'model_error', reward = 0, verified = 0, answer = null, error = 'model http://h/v1: HTTP 502' where task_id = 2;
        update episodes set reward = 0, verified = 0, error = 'verify: the sandbox refused' where task_id = 3 and sample_idx = 0"
run_rc "$bin" merge r.db f.db a.db
check "failed then good exits 0" test "$rc" = 0
check "the good episodes replace the failed ones" out_has "a.db: +0 envs +0 tasks +0 runs +0 episodes +0 events, 5 episodes already present, 3 failed episodes replaced, 0 failed episodes left out, 0 conflicts"
check "each replacement is noted" test "$(grep -c "replaced the store's failed episode" "$tmp/err")" = 3
check "no failed episode is left" test "$(q r.db "select count(*) from episodes where end_reason = 'model_error' or error is not null")" = 0
run_rc "$bin" merge r.db f.db
check "good then failed exits 0" test "$rc" = 0
check "the failed ones are left out" out_has "f.db: +0 envs +0 tasks +0 runs +0 episodes +0 events, 5 episodes already present, 0 failed episodes replaced, 3 failed episodes left out, 0 conflicts"
check "all episodes still passed" test "$(q r.db "select count(*) from episodes where reward = 1")" = 8
check "groups whole after the replacements" test "$(q r.db "$mixed")" = 0

# inputs that are not stores
printf 'shard notes\n' > notes.txt
: > empty.db
mkdir adir
sum=$(sha256sum m.db)
for f in notes.txt empty.db missing.db adir; do
  run_rc "$bin" merge m.db a.db "$f"
  check "merge of $f exits 1" test "$rc" = 1
  check "merge names $f as not a store" err_has "envforge merge: $f: not an envforge store ("
  check "merge of $f says nothing was merged" err_has "nothing merged (1 of 2 inputs cannot be merged); m.db left as it was"
  check "merge of $f prints no summary" test ! -s "$tmp/out"
  check "merge of $f leaves m.db as it was" test "$(sha256sum m.db)" = "$sum"
done
check "the text file is no SQLite database" bash -c "$bin merge m.db notes.txt 2>&1 | grep -qF 'notes.txt: not an envforge store (not a SQLite database'"
check "the empty file is named empty" bash -c "$bin merge m.db empty.db 2>&1 | grep -qF 'empty.db: not an envforge store (an empty file)'"
check "the missing file is named missing" bash -c "$bin merge m.db missing.db 2>&1 | grep -qF 'missing.db: not an envforge store (no such file)'"
run_rc "$bin" merge new.db notes.txt
check "a bad input to a new OUT exits 1" test "$rc" = 1
check "and does not create OUT" test ! -e new.db
check "the empty input stays empty" test ! -s empty.db
finish
