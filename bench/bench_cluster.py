"""The overhead of grading through Ray: the bundled class (or N copies of it) graded by a
two-node Ray cluster started on this machine (a head and a second node process, one CPU each:
two workers) against a local `inv grade --jobs 2`, same seed, measured in one run. One machine
cannot show a cluster's speed-up; this shows what going through Ray costs. Ray's own start-up
(the cluster's processes) is not timed; connecting to it and starting the workers are.

    .venv/bin/python bench/bench_cluster.py [--copies 3]

Goal: cluster wall / local wall ≤ 1.15. Printed, not asserted. Needs '.[cluster]'.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INV = [str(Path(sys.executable).with_name("inv")), "--search-root", str(ROOT)]
CLASS = ROOT / "examples" / "submissions"
FILES = ("gradebook.csv", "grades.csv", "grades.json")


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, check=False, capture_output=True, text=True, env={**os.environ, "GLOG_v": "3"})
    if done.returncode:
        sys.exit(f"failed: {' '.join(cmd)}\n{done.stderr[-2000:]}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=3, help="copies of the bundled class (4 students each)")
    args = parser.parse_args()
    from ray.cluster_utils import Cluster

    with tempfile.TemporaryDirectory(prefix="mslab-bench-") as tmp:
        class_dir = Path(tmp) / "class"
        for copy in range(args.copies):
            for student in CLASS.iterdir():
                shutil.copytree(student, class_dir / f"{student.name}{copy}")
        os.environ["RAY_TMPDIR"] = tmp  # Ray's files (and its "current cluster") of its own
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
        cluster.add_node(num_cpus=1)
        try:
            common = ["grade", str(class_dir), "--seed", "1", "--force"]
            local = timed([*INV, *common, "--out", str(Path(tmp) / "local"), "--jobs", "2"])
            on_ray = timed([*INV, *common, "--out", str(Path(tmp) / "ray"), "--cluster", cluster.address])
        finally:
            cluster.shutdown()
        same = all((Path(tmp) / "local" / f).read_bytes() == (Path(tmp) / "ray" / f).read_bytes() for f in FILES)
    print(f"{args.copies * 4} students, {os.cpu_count()} CPUs; local: 2 workers; cluster: 2 nodes x 1 worker")
    print(f"local inv grade --jobs 2:        {local:7.2f} s")
    print(f"inv grade --cluster (2 nodes):   {on_ray:7.2f} s")
    print(f"cluster / local: {on_ray / local:.2f}   (goal <= 1.15)   same gradebook, grades.csv, grades.json: {same}")


if __name__ == "__main__":
    main()
