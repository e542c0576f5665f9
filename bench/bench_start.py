"""The grader's fixed start, measured in one run: from starting the local workers to every
worker's first sandbox ready (what `inv grade` waits for before the first student), with the
workers started by ``spawn`` (what `inv grade` does) and by ``forkserver`` (one interpreter
imports the worker's modules, the workers fork from it); and a zygote's start (MindSpore's
import) alone against as many as there are workers at once — what one zygote per machine shared
by the workers would save.

    .venv/bin/python bench/bench_start.py [--jobs 2] [--repeat 3]

Printed, not asserted.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mslab import worker  # noqa: E402
from mslab.labs import all_labs  # noqa: E402
from mslab.pool import Pool  # noqa: E402
from mslab.sandbox.host import Limits  # noqa: E402
from mslab.sandbox.zygote import Zygote  # noqa: E402
from mslab.target import LOCAL_TARGET  # noqa: E402


def workers_ready(jobs: int, method: str) -> float:
    """Seconds from starting ``jobs`` workers to every worker's first sandbox ready."""
    labs = tuple(lab.name for lab in all_labs())
    start = time.perf_counter()
    pool = Pool(jobs, worker.start_local, (LOCAL_TARGET, Limits(), labs), worker.handle, method=method)
    try:
        answers = pool.each(json.dumps({"op": "check"}))
        assert not any(answers), answers
        return time.perf_counter() - start
    finally:
        pool.close()


def zygotes_ready(count: int) -> float:
    """Seconds from starting ``count`` zygotes at once to all of them ready."""
    start = time.perf_counter()
    zygotes = [Zygote(Limits().load_seconds) for _ in range(count)]
    try:
        with concurrent.futures.ThreadPoolExecutor(count) as pool:
            list(pool.map(lambda z: z.ready(), zygotes))
        return time.perf_counter() - start
    finally:
        for z in zygotes:
            z.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="workers")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each (the median is printed)")
    args = parser.parse_args()
    import multiprocessing

    multiprocessing.get_context("forkserver").set_forkserver_preload(["mslab.worker"])
    runs: dict[str, list[float]] = {}
    for _ in range(args.repeat):  # interleaved, so drift hits each alike
        runs.setdefault("spawn", []).append(workers_ready(args.jobs, "spawn"))
        runs.setdefault("forkserver", []).append(workers_ready(args.jobs, "forkserver"))
        runs.setdefault("one zygote", []).append(zygotes_ready(1))
        runs.setdefault(f"{args.jobs} zygotes", []).append(zygotes_ready(args.jobs))
    print(f"{args.jobs} workers, {os.cpu_count()} CPUs; median of {args.repeat} (all runs in brackets)")
    for name, label in (
        ("spawn", "workers started by spawn (inv grade), to every first sandbox ready"),
        ("forkserver", "workers started by forkserver, to every first sandbox ready"),
        ("one zygote", "one zygote ready (a zygote shared by the workers)"),
        (f"{args.jobs} zygotes", f"{args.jobs} zygotes at once ready (one per worker, as now)"),
    ):
        values = runs[name]
        shown = ", ".join(f"{v:.2f}" for v in values)
        print(f"{label:<72} {statistics.median(values):6.2f} s  [{shown}]")


if __name__ == "__main__":
    main()
