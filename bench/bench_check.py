"""`inv lab.check` wall time as a ratio to the floor: one process that imports MindSpore and
computes the same values (the same student calls with the same inputs, in-process).

    .venv/bin/python bench/bench_check.py [--repeat 5] [LAB ...]

Prints the median of each and their ratio, measured in one run (goal: ratio ≤ 1.15).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mslab import checker  # noqa: E402
from mslab.labs import all_labs, get_lab  # noqa: E402
from mslab.sandbox import host as sandbox  # noqa: E402
from mslab.sandbox import wire  # noqa: E402

REPLAY = r"""
import json, sys, importlib.util
import mindspore, numpy as np
from mslab.sandbox import wire
from mslab.sandbox.serve import make_fn
calls = json.load(open(sys.argv[2]))
spec = importlib.util.spec_from_file_location("student", sys.argv[1])
module = importlib.util.module_from_spec(spec)
sys.modules["student"] = module  # MindSpore's parser imports a function's module by name (jvp, vjp)
spec.loader.exec_module(module)
def arg(a):
    v = wire.decode(a, make_fn=make_fn)
    return mindspore.Tensor(v.value) if isinstance(v, wire.Array) else v
for name, args in calls:
    out = getattr(module, name)(*[arg(a) for a in args])
    for o in (out if isinstance(out, tuple) else (out,)):
        if isinstance(o, mindspore.Tensor):
            o.asnumpy()
"""


def record_calls(lab) -> list:
    """The student calls one check run makes, with their encoded arguments."""
    calls = []
    original = sandbox.Sandbox.call

    def recording(self, fn, *args, timeout=None):
        calls.append([fn, [wire.encode(a) for a in args]])
        return original(self, fn, *args, timeout=timeout)

    sandbox.Sandbox.call = recording
    try:
        checker.run_checks(lab, lab.solution, seed=0)
    finally:
        sandbox.Sandbox.call = original
    return calls


def wall(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, env={"GLOG_v": "3", "PATH": "/usr/bin:/bin"})
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("labs", nargs="*", help="labs to measure (default: all)")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each command")
    args = parser.parse_args()
    labs = [get_lab(n) for n in args.labs] if args.labs else all_labs()
    inv = str(Path(sys.executable).with_name("inv"))
    print(f"{'lab':<20} {'calls':>5} {'floor s':>8} {'check s':>8} {'ratio':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        for lab in labs:
            calls_file = Path(tmp) / f"{lab.name}.json"
            calls = record_calls(lab)
            calls_file.write_text(json.dumps(calls))
            script = Path(tmp) / "replay.py"
            script.write_text(REPLAY)
            floor_cmd = [sys.executable, str(script), str(lab.solution), str(calls_file)]
            check_cmd = [inv, "--search-root", str(ROOT), "lab.check", lab.name, "--submission", str(lab.solution)]
            floors, checks = [], []
            for _ in range(args.repeat):  # interleaved, so drift hits both alike
                floors.append(wall(floor_cmd, Path(tmp)))
                checks.append(wall(check_cmd, Path(tmp)))
            f, c = statistics.median(floors), statistics.median(checks)
            print(f"{lab.name:<20} {len(calls):>5} {f:>8.3f} {c:>8.3f} {c / f:>6.2f}")
    np.set_printoptions()


if __name__ == "__main__":
    main()
