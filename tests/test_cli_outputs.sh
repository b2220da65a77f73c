#!/usr/bin/env bash
# -o never destroys data: an output naming the store itself is refused (exit 2, both
# paths named) before anything is opened for writing, and a command that fails leaves an
# existing output file as it was; `corpus build` replaces only an earlier corpus.
. "$(dirname "$0")/cli_testlib.sh"

"$bin" gen "$env_lua" -n 3 --seed 1 --db store.db --no-progress >/dev/null 2>&1
check "made a store" test -s store.db
"${EF_MAKE_STORE:?}" small eps.db >/dev/null 2>&1
check "made a store with episodes" test -s eps.db
sum() { sha256sum "$1" | cut -d' ' -f1; }

# export / report / gen with -o = the store
cp eps.db self.db; before=$(sum self.db)
run_rc "$bin" export --db self.db --format sft -o self.db
check "export -o STORE exits 2" test "$rc" = 2
check "export -o STORE names both paths" grep -q "output self.db is the store self.db" err
check "export -o STORE keeps the store" test "$(sum self.db)" = "$before"
mkdir -p sub
run_rc "$bin" export --db self.db --format sft -o sub/../self.db
check "export -o sub/../STORE exits 2" test "$rc" = 2
run_rc "$bin" export --db self.db --format sft --parquet -o self.db
check "export --parquet -o STORE exits 2" test "$rc" = 2
ln -s self.db link.db
run_rc "$bin" export --db link.db --format sft -o self.db
check "export via a symlink to the store exits 2" test "$rc" = 2
check "store intact after export attempts" test "$(sum self.db)" = "$before"
run_rc "$bin" export --db self.db --format sft -o sft.jsonl
check "export to another file still works" test "$rc" = 0 -a -s sft.jsonl
run_rc "$bin" report --db self.db -o "$tmp/self.db"
check "report -o STORE exits 2" test "$rc" = 2
check "report -o STORE keeps the store" test "$(sum self.db)" = "$before"
cp store.db gself.db; before=$(sum gself.db)
run_rc "$bin" gen "$env_lua" -n 1 --db gself.db -o gself.db --no-progress
check "gen --db X -o X exits 2" test "$rc" = 2
check "gen --db X -o X names both" err_has "is the store gself.db"
check "gen --db X -o X keeps the store" test "$(sum gself.db)" = "$before"
run_rc "$bin" gen "$env_lua" -n 1 --db new.db -o ./new.db --no-progress
check "gen --db NEW -o NEW (neither exists) exits 2" test "$rc" = 2
check "gen --db NEW -o NEW creates nothing" test ! -e new.db

# a failed command leaves an existing output as it was
echo keep > out.jsonl
run_rc "$bin" gen nonexist.lua -o out.jsonl --no-progress
check "gen of a missing env exits 1" test "$rc" = 1
check "gen of a missing env keeps -o file" test "$(cat out.jsonl)" = keep
check "no temporary file left behind" test -z "$(ls | grep tmp-)"
run_rc "$bin" gen "$env_lua" -n 2 -o out.jsonl --no-progress
check "gen -o writes on success" test "$rc" = 0 -a "$(wc -l <out.jsonl)" = 2
echo keep > rep.html
run_rc "$bin" report --db eps.db -o rep.html --run no-such-run
check "report failing keeps the old file" test "$(cat rep.html)" = keep
echo keep > x.jsonl
run_rc "$bin" export --db eps.db --format sft --env no-such-env -o x.jsonl
check "export failing keeps the old file" test "$(cat x.jsonl)" = keep
if python3 -c 'import pyarrow' 2>/dev/null; then
  run_rc "$bin" export --db eps.db --format sft --parquet -o p.parquet
  check "export --parquet writes the file" test "$rc" = 0 -a -s p.parquet
  check "export --parquet leaves no temporary file" test -z "$(ls | grep tmp-)"
else
  echo "skip export --parquet (no pyarrow)"
fi
run_rc "$bin" report --db eps.db -o /nonexistent/dir/r.html
check "report to a missing dir exits 1" test "$rc" = 1
check "report to a missing dir says why" err_has "No such file or directory"

# -o through a symlink replaces its target and keeps the link; /dev/stdout is written
echo old > target.html; ln -s target.html link.html
run_rc "$bin" report --db eps.db -o link.html
check "report -o SYMLINK keeps the link" test -L link.html
check "report -o SYMLINK writes the target" grep -q "<html" target.html
run_rc "$bin" export --db eps.db --format sft -o /dev/stdout
check "export -o /dev/stdout writes to stdout" test "$rc" = 0 -a -s "$tmp/out"
check "/dev/stdout is still the link it was" test -L /dev/stdout
mkfifo fifo
cat fifo > from_fifo &
run_rc "$bin" export --db eps.db --format sft -o fifo
wait
check "export -o FIFO writes into the pipe" test "$rc" = 0 -a -s from_fifo -a -p fifo

# corpus build replaces only a corpus
printf '%s\n' '{"id":"a","title":"t","text":"hello world"}' > docs.jsonl
cp store.db cstore.db; before=$(sum cstore.db)
run_rc "$bin" corpus build docs.jsonl -o cstore.db
check "corpus build over a store exits 1" test "$rc" = 1
check "corpus build over a store says what it is" err_has "is an envforge store"
check "corpus build keeps the store" test "$(sum cstore.db)" = "$before"
echo text > notes.txt
run_rc "$bin" corpus build docs.jsonl -o notes.txt
check "corpus build over a text file refused" test "$rc" = 1 -a "$(cat notes.txt)" = text
run_rc "$bin" corpus build docs.jsonl -o c.db
check "corpus build to a new file" test "$rc" = 0
run_rc "$bin" corpus build docs.jsonl -o c.db
check "corpus build over an earlier corpus" test "$rc" = 0
run_rc "$bin" corpus search c.db hello
check "rebuilt corpus answers" out_has "hello"
finish
