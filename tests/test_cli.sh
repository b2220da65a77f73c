#!/usr/bin/env bash
# The envforge binary: --help lists every subcommand of the architecture, each
# subcommand answers --help with exit 0, --version prints, exit codes are as documented.
set -u
bin=${EF_BIN:?EF_BIN not set}
pass=0; fail=0
check() { if eval "$2"; then echo "ok   $1"; pass=$((pass+1)); else echo "FAIL $1"; fail=$((fail+1)); fi; }
help=$("$bin" --help)
for c in gen inspect run export stats report sandbox swe engine serve merge tools; do
  check "help lists $c" "grep -qE '^  $c ' <<<\"\$help\""
  check "$c --help exits 0" "\"$bin\" $c --help >/dev/null 2>&1"
  check "$c --help prints usage" "\"$bin\" $c --help 2>/dev/null | grep -q 'usage: envforge $c'"
done
check "--version" "\"$bin\" --version | grep -qE '^envforge [0-9]+\.[0-9]+\.[0-9]+$'"
"$bin" >/dev/null 2>&1; rc=$?
check "no command exits 2" "[ $rc = 2 ]"
"$bin" frobnicate >/dev/null 2>&1; rc=$?
check "unknown command exits 2" "[ $rc = 2 ]"
echo "$pass passed, $fail failed, 0 skipped"
[ $fail = 0 ]
