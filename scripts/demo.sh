#!/usr/bin/env bash
# The main job end to end on the embedded defaults: no server, no network.
# Each stage runs when its capability is in the build; the demo grows as issues land.
set -euo pipefail
build=${1:-build}
bin="$build/cli/envforge"
out=${EF_DEMO_DIR:-out/demo}
mkdir -p "$out"
db="$out/demo.db"
rm -f "$db" "$db-wal" "$db-shm"
echo "demo: envforge $("$bin" --version | cut -d' ' -f2), store $db" >&2

have() { "$bin" "$1" --help 2>/dev/null | grep -q '^status: not available' && return 1 || return 0; }

if have sandbox; then
  echo "demo: sandbox: python3 in the sandbox, network off" >&2
  "$bin" sandbox --wall-ms 5000 --mem-mb 256 -- /usr/bin/python3 -c 'print(sum(range(10)))'
fi
if have gen; then
  echo "demo: gen: 50 tasks per example env" >&2
  "$bin" gen examples/envs/*.lua -n 50 --seed 1 --db "$db"
fi
if have run; then
  echo "demo: run: oracle policy (demonstrations), group 2" >&2
  "$bin" run --db "$db" --model oracle --group 2 --concurrency 2
  echo "demo: run: a scripted model (replay) that calls an unknown tool, then guesses" >&2
  "$bin" run --db "$db" --model replay:tests/agent_fixtures/demo_replay.jsonl --limit 20
fi
if have export; then
  "$bin" export --db "$db" --format sft -o "$out/sft.jsonl"
  "$bin" export --db "$db" --format rl -o "$out/rl.jsonl"
  echo "demo: exported $(wc -l < "$out/sft.jsonl") SFT rows to $out/sft.jsonl" >&2
fi
if have stats; then
  "$bin" stats --db "$db"
fi
echo "demo: done" >&2
