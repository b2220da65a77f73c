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
  # the reference solutions of travel and search_clues at the top levels make more tool
  # calls than the default limit of 16 turns, so the demonstrations get room for them
  echo "demo: run: oracle policy (demonstrations), group 2, up to 64 turns" >&2
  "$bin" run --db "$db" --model oracle --group 2 --concurrency 2 --max-turns 64
  echo "demo: run: a scripted model (replay) that calls an unknown tool, then guesses" >&2
  "$bin" run --db "$db" --model replay:tests/agent_fixtures/demo_replay.jsonl --limit 20
fi
if have serve && [ -f tests/fixtures/tiny_model/config.json ]; then
  echo "demo: run: the built-in engine on the random tiny model (engine:DIR, batched decode);" \
    "token streams with log-probs, kept top-p sets and MoE routes" >&2
  "$bin" run --db "$db" --model engine:tests/fixtures/tiny_model --limit 8 --group 2 \
    --concurrency 4 --max-turns 2 --max-completion-tokens 48 --temperature 1 --top-p 0.95
fi
if have export; then
  echo "demo: export: sft (chat rows of episodes that passed: reward 1), rl (token samples with GRPO" \
    "advantages), tasks" >&2
  "$bin" export --db "$db" --format sft --verified-only --min-reward 1 -o "$out/sft.jsonl"
  "$bin" export --db "$db" --format rl -o "$out/rl.jsonl"
  "$bin" export --db "$db" --format tasks -o "$out/tasks.jsonl"
  echo "demo: exported $(wc -l < "$out/sft.jsonl") SFT rows, $(wc -l < "$out/rl.jsonl") RL samples" \
    "(episodes without token streams are skipped: see docs/export.md), $(wc -l < "$out/tasks.jsonl")" \
    "tasks to $out/" >&2
  if python3 -c 'import pyarrow' 2>/dev/null; then
    "$bin" export --db "$db" --format sft --verified-only --min-reward 1 --parquet -o "$out/sft.parquet"
  fi
fi
if have stats; then
  echo "demo: stats: pass@k, rewards, turns, tool errors per env and level" >&2
  "$bin" stats --db "$db" --k 1,2
  "$bin" stats --db "$db" --k 1,2 --json > "$out/stats.json"
fi
if have report; then
  "$bin" report --db "$db" --k 1,2 -o "$out/report.html"
  echo "demo: report: open $out/report.html in a browser (self-contained, works offline)" >&2
fi
echo "demo: done" >&2
