"""Grading one submission in the CPU container against grading it locally, as `inv lab.check
--all` wall times measured interleaved in one run (goal: ratio <= 1.25).

    .venv/bin/python bench/bench_container.py [--repeat 5] [--target cpu] [LAB ...]

Needs the image (`inv image.build --target cpu`). Printed, not asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INV = [str(Path(sys.executable).with_name("inv")), "--search-root", str(ROOT)]
sys.path.insert(0, str(ROOT))

from mslab.labs import all_labs, get_lab  # noqa: E402


def wall(cmd: list[str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "GLOG_v": "3"})
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[3:])} failed: {result.stderr.strip() or result.stdout[-500:]}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("labs", nargs="*", help="labs to measure (default: all)")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each")
    parser.add_argument("--target", default="cpu", help="container target to compare with local")
    args = parser.parse_args()
    labs = [get_lab(n) for n in args.labs] if args.labs else all_labs()
    print(f"{'lab':<20} {'local s':>8} {args.target + ' s':>8} {'ratio':>6}")
    for lab in labs:
        check = [*INV, "lab.check", lab.name, "--submission", str(lab.solution), "--all", "--seed", "1"]
        local, container = [], []
        for _ in range(args.repeat):
            local.append(wall([*check, "--target", "local"]))
            container.append(wall([*check, "--target", args.target]))
        lo, co = statistics.median(local), statistics.median(container)
        print(f"{lab.name:<20} {lo:>8.3f} {co:>8.3f} {co / lo:>6.2f}")


if __name__ == "__main__":
    main()
