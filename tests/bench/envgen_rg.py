#!/usr/bin/env python3
"""tests/bench/envgen_rg.py — reasoning-gym's side of tests/bench/envgen.sh.

Makes N items of one reasoning-gym dataset (its default config) and scores each item's
own answer (its generation plus its validation), split over J processes (one per core,
like envforge's workers). Prints one JSON line: dataset, tasks (items made and scored 1),
errors (items whose generation raised, e.g. maze's "Could not find suitable path cell
after 1000 attempts"), wall_s, cpu_s (all processes), tasks_per_s, cpu_us_p50 (median CPU
per item). The time spent on items that raised is taken out of cpu_s and, per process,
out of wall_s, so reasoning-gym is not charged for items it failed to make.
"""
import json
import multiprocessing as mp
import sys
import time


def work(args):
    name, n, seed = args
    import reasoning_gym as rg
    clock = time.process_time
    w0 = time.time()
    t0 = clock()
    ds = rg.create_dataset(name, size=n, seed=seed)
    per_item = []
    ok = err = 0
    err_cpu = err_wall = 0.0
    for i in range(n):
        a, aw = clock(), time.time()
        try:
            item = ds[i]
        except Exception:  # noqa: BLE001 (a generation failure of the dataset itself)
            err += 1
            err_cpu += clock() - a
            err_wall += time.time() - aw
            continue
        ok += ds.score_answer(answer=item["answer"], entry=item) >= 1.0
        per_item.append(clock() - a)
    elapsed = time.time() - w0
    return ok, err, clock() - t0 - err_cpu, elapsed, elapsed - err_wall, per_item


def main():
    name, n, jobs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    import reasoning_gym  # noqa: F401  (import cost outside the timed part)
    parts = [(name, n // jobs + (1 if i < n % jobs else 0), 1000 + i) for i in range(jobs)]
    t0 = time.time()
    with mp.Pool(jobs) as pool:
        res = pool.map(work, parts)
    wall = time.time() - t0
    ok = sum(r[0] for r in res)
    err = sum(r[1] for r in res)
    cpu = sum(r[2] for r in res)
    # the pool's own start-up stays in; the slowest process counts without its failed items
    wall_adj = wall - max(r[3] for r in res) + max(r[4] for r in res)
    items = sorted(t for r in res for t in r[5])
    p50 = items[len(items) // 2] * 1e6 if items else 0.0
    print(json.dumps({"dataset": name, "tasks": ok, "errors": err, "wall_s": wall_adj,
                      "cpu_s": cpu, "tasks_per_s": ok / wall_adj if wall_adj > 0 else 0.0,
                      "cpu_us_p50": p50}))


if __name__ == "__main__":
    main()
