"""Seconds of each student call one lab's checks make, in a real sandbox: the reference solution
(or ``--submission``), visible and hidden checks, one fixed seed. Shows which calls cost (for the
jacobians lab: the graphs jacrev, jacfwd and jvp compile on every call).

    .venv/bin/python bench/bench_calls.py [--lab jacobians] [--seed 7] [--submission FILE]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mslab.checker import run_checks  # noqa: E402
from mslab.labs import get_lab  # noqa: E402
from mslab.sandbox.host import Sandbox  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab", default="jacobians")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--submission", type=Path, help="a student's file (default: the lab's reference solution)")
    args = parser.parse_args()
    lab = get_lab(args.lab)
    calls: list[tuple[str, float]] = []
    plain = Sandbox.call

    def timed(self, fn, *a, **kw):
        started = time.perf_counter()
        try:
            return plain(self, fn, *a, **kw)
        finally:
            calls.append((fn, time.perf_counter() - started))

    Sandbox.call = timed  # type: ignore[method-assign]
    run = run_checks(lab, args.submission or lab.solution, hidden=True, seed=args.seed)
    for fn, seconds in calls:
        print(f"{seconds:7.3f} s  {fn}")
    passed = sum(result.passed for result in run.checks)
    print(
        f"{len(calls)} calls, {run.student_seconds:.2f} s student code, {run.seconds:.2f} s in all, "
        f"{passed}/{len(run.checks)} checks passed; load average {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
