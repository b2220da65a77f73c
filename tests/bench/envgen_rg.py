#!/usr/bin/env python3
"""tests/bench/envgen_rg.py — reasoning-gym's side of tests/bench/envgen.sh.

Makes N items of one reasoning-gym dataset and scores each item's own answer (its
generation plus its validation), split over J processes (one per core, like envforge's
workers). Prints one JSON line: dataset, tasks, wall_s, cpu_s (all processes), tasks_per_s.
"""
import json
import multiprocessing as mp
import resource
import sys
import time


def work(args):
    name, n, seed = args
    import reasoning_gym as rg
    t0 = time.process_time()
    ds = rg.create_dataset(name, size=n, seed=seed)
    ok = 0
    for i in range(n):
        item = ds[i]
        ok += ds.score_answer(answer=item["answer"], entry=item) >= 1.0
    return ok, time.process_time() - t0


def main():
    name, n, jobs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    import reasoning_gym  # noqa: F401  (import cost outside the timed part)
    parts = [(name, n // jobs + (1 if i < n % jobs else 0), 1000 + i) for i in range(jobs)]
    t0 = time.time()
    with mp.Pool(jobs) as pool:
        res = pool.map(work, parts)
    wall = time.time() - t0
    ok = sum(r[0] for r in res)
    cpu = sum(r[1] for r in res)
    print(json.dumps({"dataset": name, "tasks": n, "verified": ok, "wall_s": wall,
                      "cpu_s": cpu, "tasks_per_s": n / wall}))


if __name__ == "__main__":
    main()
