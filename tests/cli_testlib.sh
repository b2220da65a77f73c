# Sourced by tests/test_cli_*.sh: EF_BIN, a scratch directory removed at exit, and
#   check NAME CMD...       passes when CMD succeeds
#   run_rc CMD...           runs CMD with output to $tmp/out and $tmp/err, sets $rc
#   finish                  prints the counts and exits 0 / 1
set -u
bin=${EF_BIN:?EF_BIN not set}
src=${EF_SOURCE_DIR:?EF_SOURCE_DIR not set}
env_lua=$src/examples/envs/arith.lua
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
pass=0; fail=0
check() {
  local name=$1; shift
  if "$@"; then echo "ok   $name"; pass=$((pass+1));
  else echo "FAIL $name"; fail=$((fail+1)); fi
}
run_rc() { "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?; }
err_has() { grep -qF -- "$1" "$tmp/err"; }
out_has() { grep -qF -- "$1" "$tmp/out"; }
finish() { echo "$pass passed, $fail failed, 0 skipped"; [ "$fail" = 0 ]; }
