#!/usr/bin/env bash
# Export speed and memory: builds fixture stores of two sizes (default ~0.25 GB and
# ~1.1 GB: groups of 4 samples, 16384 tokens each, with log-probs, top-p sets and 4x8
# expert routes), then times `envforge export --format rl` and `--format sft` to
# /dev/null and `envforge stats`, reporting store MB/s, output MB/s and peak RSS (GNU
# time). Memory must stay flat as the store grows: the script prints the RSS ratio
# large/small. A peer measured in the same run: a plain-Python rl exporter (sqlite3 +
# json, the layout of docs/store.md) over the first 64 episodes, as an MB/s ratio.
# Speed is reported, never asserted.
#   tests/bench/export.sh [BUILD_DIR] [SMALL_GROUPS] [LARGE_GROUPS] [TOKENS]
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-${BUILD:-build}}
SMALL=${2:-64}
LARGE=${3:-288}
TOKENS=${4:-16384}
BIN=$BUILD/cli/envforge
MAKE=$BUILD/tests/export_make_store
if [ ! -x "$MAKE" ] || [ ! -x "$BIN" ]; then
  cmake --build "$BUILD" --target envforge export_make_store >/dev/null
fi
if [ ! -x /usr/bin/time ]; then
  echo "export bench: skipped (needs GNU time, Debian package time)"
  exit 0
fi
DIR=$(mktemp -d "${TMPDIR:-/tmp}/efbench-export-XXXXXX")
trap 'rm -rf "$DIR"' EXIT
export EF_PROGRESS=0

# seconds and peak RSS (KB) of a command: "secs rss"
measure() {
  /usr/bin/time -f "%e %M" -o "$DIR/time" "$@" >/dev/null 2>"$DIR/err" || {
    cat "$DIR/err" >&2
    return 1
  }
  cat "$DIR/time"
}

declare -A RSS
for size in small large; do
  groups=$SMALL
  [ $size = large ] && groups=$LARGE
  db=$DIR/$size.db
  t0=$(date +%s.%N)
  "$MAKE" large "$db" "$groups" 4 "$TOKENS"
  t1=$(date +%s.%N)
  mb=$(du -m "$db" | cut -f1)
  printf 'store %-5s %6d MB  (%d episodes of %d tokens; built in %.1f s)\n' \
    $size "$mb" $((groups * 4)) "$TOKENS" "$(echo "$t1 - $t0" | bc)"
  for fmt in rl sft; do
    read -r secs rss < <(measure sh -c "'$BIN' export --db '$db' --format $fmt | wc -c > '$DIR/bytes'")
    out_mb=$(awk '{print $1 / 1000000}' "$DIR/bytes")
    printf '  export %-3s %7.1f s  store %7.1f MB/s  output %7.1f MB/s (%.0f MB)  peak RSS %6.1f MB\n' \
      $fmt "$secs" "$(echo "$mb / $secs" | bc -l)" "$(echo "$out_mb / $secs" | bc -l)" "$out_mb" \
      "$(echo "$rss / 1024" | bc -l)"
    RSS[$size-$fmt]=$rss
  done
  read -r secs rss < <(measure "$BIN" stats --db "$db" --json)
  printf '  stats      %7.1f s  peak RSS %6.1f MB\n' "$secs" "$(echo "$rss / 1024" | bc -l)"
  RSS[$size-stats]=$rss
done
for k in rl sft stats; do
  printf 'peak RSS large/small (%s): %.2f (store %.1fx larger)\n' $k \
    "$(echo "${RSS[large-$k]} / ${RSS[small-$k]}" | bc -l)" "$(echo "$LARGE / $SMALL" | bc -l)"
done

# The peer: plain Python writing the same rl fields for the first 64 episodes.
cat >"$DIR/peer.py" <<'PY'
import json, sqlite3, struct, sys, time
db = sqlite3.connect(sys.argv[1])
t0, out = time.time(), 0
q = db.execute("SELECT n_tokens, token_ids, loss_mask, logprobs, topp_offsets, topp_ids, "
               "route_layers, route_topk, routes FROM token_streams ORDER BY episode_id LIMIT 64")
for n, ids, mask, lp, offs, topp, L, K, routes in q:
    ids = struct.unpack("<%di" % n, ids); mask = list(mask)
    lp = struct.unpack("<%df" % n, lp); offs = struct.unpack("<%di" % (n + 1), offs)
    topp = struct.unpack("<%di" % offs[n], topp)
    p = mask.index(1)
    r = list(routes)
    row = {"tokens": ids, "response_length": n - p, "loss_mask": mask[p:],
           "rollout_log_probs": lp[p:], "rollout_top_p_token_ids": topp[offs[p]:],
           "rollout_top_p_token_offsets": [o - offs[p] for o in offs[p:]],
           "rollout_routed_experts": [[r[(i * L + l) * K:(i * L + l + 1) * K] for l in range(L)]
                                      for i in range(p, n)]}
    out += len(json.dumps(row)) + 1
print(out / 1e6 / (time.time() - t0))
PY
peer=$(python3 "$DIR/peer.py" "$DIR/small.db")
t0=$(date +%s.%N)
ours=$("$BIN" export --db "$DIR/small.db" --format rl 2>/dev/null | head -n 64 | wc -c || true)
t1=$(date +%s.%N)
ours_mbs=$(echo "$ours / 1000000 / ($t1 - $t0)" | bc -l)
printf 'rl output, first 64 episodes: envforge %.1f MB/s, plain Python %.1f MB/s: %.1fx\n' \
  "$ours_mbs" "$peer" "$(echo "$ours_mbs / $peer" | bc -l)"
