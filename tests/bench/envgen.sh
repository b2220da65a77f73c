#!/usr/bin/env bash
# tests/bench/envgen.sh — task generation speed: tasks/s per env on J cores (default 2),
# generation plus validation (solve through call(), verify = 1, four trivial answers
# below 1, dedup), and, side by side in the same run, reasoning-gym on the families both
# have (generation plus score_answer of its own answer, over J processes).
#
#   tests/bench/envgen.sh [BUILD_DIR] [-n N] [-N NF] [-j J]
#
# -n: tasks per env in the per-env table (default 1000; code_* envs and repo_fix run N/10,
# sandboxed python runs per task); -N: tasks per family on each side of the comparison (default 10000,
# enough that start-up is amortized on both sides). Prints tables on stdout. CPU columns
# are CPU time per task (all threads/processes), which a busy machine disturbs less than
# wall time. reasoning-gym runs its default config of each dataset; its items that raise
# (maze gives up on some grids) are counted as errors and their time taken out. rg_p50 is
# its median CPU per item: its mean has a heavy tail (basic_arithmetic's divisor search
# takes up to ~0.6 s on an item; 10 items of 5000 are 80% of its time). Needs: a built envforge; python3 with reasoning-gym (pip
# install reasoning-gym) for the comparison (skipped without it).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build="$src/build"
n=1000
nf=10000
jobs=2
while [ $# -gt 0 ]; do
  case "$1" in
    -n) n=$2; shift 2 ;;
    -N) nf=$2; shift 2 ;;
    -j) jobs=$2; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) build=$1; shift ;;
  esac
done
bin="$build/cli/envforge"
[ -x "$bin" ] || { echo "envgen.sh: no envforge at $bin (build first)" >&2; exit 1; }
py=${PYTHON:-python3}

# ours: wall from the summary, CPU from the process's rusage
ours() { # env.lua level-range n -> "tasks wall_s cpu_s"
  local out
  local lv=()
  [ "$2" = all ] || lv=(--level "$2")
  out=$( { /usr/bin/time -f "%U %S" "$bin" gen "$1" -n "$3" --seed 1 "${lv[@]}" --jobs "$jobs" \
           --json --no-progress > /tmp/envgen_bench.$$ ; } 2>&1 | tail -1)
  "$py" - "$out" /tmp/envgen_bench.$$ <<'PY'
import json, sys
u, s = map(float, sys.argv[1].split())
d = json.loads(open(sys.argv[2]).read().splitlines()[-1])
print(d["kept"], d["wall_s"], u + s, str(d["self_check"]["pass"]).lower())
PY
  rm -f /tmp/envgen_bench.$$
}

echo "# envforge gen: tasks/s with $jobs jobs, n=$n per env, generation + validation"
printf "%-14s %8s %10s %12s %10s\n" env tasks tasks/s cpu_us/task selfcheck
for f in "$src"/examples/envs/*.lua; do
  name=$(basename "$f" .lua)
  nn=$n
  case "$name" in code_*|repo_fix) nn=$(( n / 10 > 20 ? n / 10 : 20 )) ;; esac  # sandboxed python per task
  read -r kept wall cpu pass < <(ours "$f" all "$nn" 2>/dev/null || echo "0 1 1 false")
  "$py" -c "import sys; k,w,c=float('$kept'),float('$wall'),float('$cpu'); print('%-14s %8d %10.0f %12.0f %10s' % ('$name', k, k/w if w else 0, c/k*1e6 if k else 0, '$pass'))" 2>/dev/null || true
done

if ! "$py" -c "import reasoning_gym" 2>/dev/null; then
  echo "# reasoning-gym not installed: comparison skipped (pip install reasoning-gym)"
  exit 0
fi
echo
echo "# side by side (same run, $jobs cores each, n=$nf per family on each side): envforge env and levels vs reasoning-gym dataset (default config)"
# the floor: what a task costs around an env's own code (an env that does nothing but one
# tool call); a family can reach 10x only if rg_cpu_us / 10 is above it
read -r fk fw fc _ < <(ours "$here/envgen_floor.lua" all "$nf")
floor_us=$("$py" -c "print('%.1f' % (float('$fc') / float('$fk') * 1e6))")
echo "# floor: an env that does nothing (tests/bench/envgen_floor.lua) costs $floor_us us of CPU per task here"
printf "%-16s %-17s %9s %9s %7s %10s %9s %9s %7s %6s %9s\n" envforge reasoning-gym ours/s rg/s wall_x ours_cpu_us rg_cpu_us rg_p50_us cpu_x rg_err 10x_needs
# family: our env, the levels comparable in difficulty with reasoning-gym's default
# config, its dataset, how many items reasoning-gym makes (countdown: its search makes
# 10000 items take many minutes, so fewer; its per-item cost is what is compared)
while read -r env lv rg rn; do
  [ "$rn" = N ] && rn=$nf
  # each side twice, alternating, best of two per side: a busy machine (2 cores shared)
  # then slows both sides alike instead of whichever happened to run at the bad moment
  o1=$(ours "$src/examples/envs/$env.lua" "$lv" "$nf")
  r1=$("$py" "$here/envgen_rg.py" "$rg" "$rn" "$jobs")
  o2=$(ours "$src/examples/envs/$env.lua" "$lv" "$nf")
  r2=$("$py" "$here/envgen_rg.py" "$rg" "$rn" "$jobs")
  "$py" - "$env" "$lv" "$rg" "$o1" "$o2" "$r1" "$r2" "$floor_us" <<'PY'
import json, sys
env, lv, rg = sys.argv[1:4]
floor = float(sys.argv[8])
runs = [o.split() for o in sys.argv[4:6]]
ok = all(o[3] == "true" for o in runs)
ours = max(float(o[0]) / float(o[1]) for o in runs)
ocpu = min(float(o[2]) / float(o[0]) * 1e6 for o in runs)
rr = [json.loads(x) for x in sys.argv[6:8]]
theirs = max(r["tasks_per_s"] for r in rr)
rcpu = min(r["cpu_s"] / r["tasks"] * 1e6 for r in rr)
p50 = min(r["cpu_us_p50"] for r in rr)
need = rcpu / 10
print("%-16s %-17s %9.0f %9.0f %6.1fx %10.1f %9.1f %9.1f %6.1fx %6d %6.1f us%s%s" % (
    env + " L" + lv, rg, ours, theirs, ours / theirs, ocpu, rcpu, p50, rcpu / ocpu,
    max(r["errors"] for r in rr), need, " (below the floor)" if need < floor else "",
    "" if ok else "  (self-check FAILED)"))
PY
done <<'FAMILIES'
arith 1-4 basic_arithmetic N
countdown 3-4 countdown 200
maze 1-2 maze N
sudoku 2 mini_sudoku N
FAMILIES
echo "# levels: arith L1-4 (2-8 terms, 2-4 digits, + - * / with parentheses, negatives at L4) vs"
echo "#   basic_arithmetic (2-6 terms, 1-4 digits, + - * /, parentheses, negation);"
echo "# countdown L3-4 vs countdown (4-6 numbers, targets 100-999); maze L1-2 (6x6 and 9x9,"
echo "#   distance >= 6/8) vs maze (5-10 grid, distance 5-10); sudoku L2 (4x4, 8-11 blanks) vs"
echo "#   mini_sudoku (4x4, 8-12 empty). wall_x = ours/s over rg/s; cpu_x = rg CPU per task over ours;"
echo "#   each side ran twice, alternating, and shows its better run. 10x_needs: the CPU per task"
echo "#   10x would allow ours (rg_cpu_us / 10); below the floor, no env code could reach it."
