#!/usr/bin/env bash
# tests/run_unprivileged.sh — runs a test program as an unprivileged user (nobody), the
# way envforge runs for a user who is not root: the program enters a user namespace of its
# own (sandbox/rootless.c) and must still get full isolation.
#
#   tests/run_unprivileged.sh TEST_BINARY [ARGS...]
#
# Skips (exit 77) when this shell cannot switch users (not root, no setpriv) or the kernel
# refuses unprivileged user namespaces. When the build folder is not reachable by nobody
# (a clone under /root), the test binary, the attack program (EF_ATTACK_BIN) and envforge
# (EF_BIN) are copied to a folder it can reach first.
set -u
bin=$1
shift
if [ "$(id -u)" != 0 ]; then
  echo "skip: switching to an unprivileged user needs root"
  exit 77
fi
if ! command -v setpriv >/dev/null; then
  echo "skip: no setpriv (util-linux)"
  exit 77
fi
as_nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)
if ! "${as_nobody[@]}" unshare --user true 2>/dev/null; then
  echo "skip: this kernel refuses unprivileged user namespaces"
  exit 77
fi
tmp=$(mktemp -d /tmp/ef-unpriv-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
if ! "${as_nobody[@]}" test -x "$bin"; then
  cp "$bin" "$tmp/test"
  bin=$tmp/test
  for v in EF_ATTACK_BIN EF_BIN; do
    if [ -n "${!v:-}" ] && [ -e "${!v}" ]; then
      cp "${!v}" "$tmp/$v"
      export "$v=$tmp/$v"
    fi
  done
fi
mkdir -m 1777 "$tmp/work"
cd "$tmp/work"
HOME=$tmp/work TMPDIR=$tmp/work "${as_nobody[@]}" "$bin" "$@"
