#!/usr/bin/env bash
# Opening a store for writing (gen, merge) refuses a foreign SQLite database before it
# changes anything in it (its journal mode stays as it was); an empty file is a new
# store for writers and "empty" for readers (stats, export, report).
. "$(dirname "$0")/cli_testlib.sh"
command -v sqlite3 >/dev/null || { echo "skip: no sqlite3 command"; exit 77; }

sqlite3 foreign.db "create table foo(x); insert into foo values (1);"
before=$(sha256sum foreign.db)
run_rc "$bin" gen "$env_lua" -n 1 --db foreign.db --no-progress
check "gen into a foreign database exits 1" test "$rc" = 1
check "gen says it is not an envforge store" err_has "not an envforge store"
check "gen leaves its journal mode" test "$(sqlite3 foreign.db 'pragma journal_mode')" = delete
check "gen leaves no -wal file" test ! -e foreign.db-wal
check "gen leaves the file unchanged" test "$(sha256sum foreign.db)" = "$before"
"$bin" gen "$env_lua" -n 2 --db shard.db --no-progress >/dev/null 2>&1
run_rc "$bin" merge --quiet foreign.db shard.db
check "merge into a foreign database exits 1" test "$rc" = 1
check "merge leaves its journal mode" test "$(sqlite3 foreign.db 'pragma journal_mode')" = delete
check "merge leaves the file unchanged" test "$(sha256sum foreign.db)" = "$before"
run_rc "$bin" stats --db foreign.db
check "stats on a foreign database exits 1" test "$rc" = 1

: > empty.db
run_rc "$bin" stats --db empty.db
check "stats on an empty file exits 1" test "$rc" = 1
check "stats says the file is empty" err_has "empty"
check "stats does not talk of migrating" bash -c "! grep -q migrating '$tmp/err'"
run_rc "$bin" export --db empty.db --format tasks
check "export on an empty file says empty" err_has "empty"
: > empty2.db
run_rc "$bin" gen "$env_lua" -n 1 --db empty2.db --no-progress
check "gen into an empty file makes a new store" test "$rc" = 0
check "the new store has the task" test "$(sqlite3 empty2.db 'select count(*) from tasks')" = 1
# a store the user may not write: gen says why (it used to print "envforge gen: " alone)
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
  chmod 755 "$tmp"; chmod 644 empty2.db
  run_rc setpriv --reuid=65534 --regid=65534 --clear-groups "$bin" gen "$env_lua" -n 1 --seed 9 --db "$tmp/empty2.db" --no-progress
  check "gen into a read-only store exits 1" test "$rc" = 1
  check "gen names the read-only store" err_has "readonly database"
fi
finish
