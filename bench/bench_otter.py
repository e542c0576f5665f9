"""`inv grade` side by side with Otter-Grader 7's `otter run` on the same `derivatives`
submissions (10 and 30 by default), measured in one run.

    .venv/bin/python bench/bench_otter.py --otter /path/to/otter [--sizes 10,30] [--jobs 2] [--otter-jobs 1]

(or ``OTTER=/path/to/otter``). Otter is not a dependency of mslab: install it in a venv of its
own, with MindSpore importable there (e.g. a ``.pth`` file naming this venv's site-packages, and
the NumPy and pandas versions MindSpore takes). Without it the script says so and exits 2.

Otter's autograder zip is built here from the lab's own checks: one exception-based Otter test
file (``OK_FORMAT = False``, ``@test_case``) per mslab check, with its points and hidden flag,
whose test calls that very check function with the student's functions called in Otter's
process (no sandbox: arguments and results converted as the sandbox converts them) and the hidden
inputs drawn from the seed `inv grade` draws for that student — so both grade the same calls on
the same inputs, and the script prints whether their scores agree. `otter run` grades one
submission per process (a fresh interpreter importing Otter and MindSpore each time), one after
another (``--otter-jobs`` runs that many at once). Goals: mslab ≥ 20× faster at 10 submissions,
≥ 40× at 30. Printed, not asserted.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import csv
import inspect
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

LAB = "derivatives"
SEED = 1  # the class seed given to inv grade

TEST_FILE = """OK_FORMAT = False
import sys
sys.path[:0] = [{root!r}, {bench!r}]
from otter.test_files import test_case

name = {name!r}
points = {points!r}


@test_case(points={points!r}, hidden={hidden!r})
def {name}(env):
    from bench_otter import run_check

    run_check(env, {file!r}, {name!r}, {visible_seed!r})
"""


def run_check(env: dict, file: str, name: str, visible_seed: int) -> None:
    """Run mslab check ``name`` of check file ``file`` against a submission Otter executed into
    ``env``: its functions called here, arguments and results converted as the sandbox does."""
    import importlib.util

    import mindspore
    import numpy as np

    from mslab.sandbox import wire
    from mslab.sandbox.host import StudentRaised
    from mslab.sandbox.serve import make_fn

    key = f"mslab_otter_{Path(file).stem}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, file)
        assert spec is not None and spec.loader is not None
        sys.modules[key] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    check = getattr(sys.modules[key], name)

    def to_array(obj):
        if isinstance(obj, mindspore.Tensor):
            kind = "Parameter" if isinstance(obj, mindspore.Parameter) else "Tensor"
            return obj.asnumpy(), kind
        return None

    def from_wire(value):
        return mindspore.Tensor(value.value) if isinstance(value, wire.Array) else value

    class Student:
        def __getattr__(self, fn: str):
            def call(*args):
                values = [from_wire(wire.decode(wire.encode(a), make_fn=make_fn)) for a in args]
                try:
                    out = env[fn](*values)
                except Exception as exc:  # noqa: BLE001 - as the sandbox reports it
                    raise StudentRaised(fn, type(exc).__name__, str(exc)) from None
                return wire.decode(wire.encode(out, to_array=to_array))

            return call

    hidden = Path(file).name == "hidden.py"
    seed = int(os.environ["MSLAB_OTTER_SEED"]) if hidden else visible_seed
    fixtures = {"student": Student(), "rng": np.random.default_rng([seed, zlib.crc32(name.encode())])}
    check(**{p: fixtures[p] for p in inspect.signature(check).parameters})


def autograder(folder: Path) -> tuple[Path, float]:
    """Otter's autograder zip for the lab: a test file per check; and the lab's points."""
    from mslab.checker import VISIBLE_SEED, collect
    from mslab.labs import get_lab

    lab = get_lab(LAB)
    zip_path = folder / "autograder.zip"
    checks = collect(lab)
    with zipfile.ZipFile(zip_path, "w") as zf:
        zf.writestr("otter_config.json", json.dumps({"lang": "python", "pdf": False, "print_summary": False}))
        zf.writestr("requirements.txt", "")
        for c in checks:
            file = lab.hidden_checks if c.hidden else lab.visible_checks
            text = TEST_FILE.format(
                root=str(ROOT),
                bench=str(ROOT / "bench"),
                name=c.name,
                points=c.points,
                hidden=c.hidden,
                file=str(file),
                visible_seed=VISIBLE_SEED,
            )
            zf.writestr(f"tests/{c.name}.py", text)
    return zip_path, sum(c.points for c in checks)


def timed(cmd: list[str], **env: str) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=False, capture_output=True, env={**os.environ, "GLOG_v": "3", **env})
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--otter", default=os.environ.get("OTTER", ""), help="Otter-Grader 7's otter (or $OTTER)")
    parser.add_argument("--sizes", default="10,30", help="class sizes to grade")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="inv grade's warm workers")
    parser.add_argument("--otter-jobs", type=int, default=1, help="otter run processes at once")
    args = parser.parse_args()
    otter = shutil.which(args.otter) if args.otter else None
    if not otter:
        print(
            "bench_otter: no otter executable: pass --otter PATH or set OTTER (Otter-Grader 7, in a venv of its own "
            "where MindSpore imports)",
            file=sys.stderr,
        )
        sys.exit(2)
    version = subprocess.run([otter, "--version"], capture_output=True, text=True, check=False).stdout
    if "Otter-Grader version: 7." not in version:
        print(f"bench_otter: {otter} is not Otter-Grader 7", file=sys.stderr)
        sys.exit(2)

    from bench_grade import make_class

    from mslab.grade import student_seed
    from mslab.labs import get_lab

    inv = [str(Path(sys.executable).with_name("inv")), "--search-root", str(ROOT)]
    print(
        f"{LAB}: inv grade ({args.jobs} warm workers) against otter run ({args.otter_jobs} at once), {os.cpu_count()} CPUs"
    )
    print(f"{'submissions':>11} {'otter s':>8} {'mslab s':>8} {'ratio':>6} {'goal':>5}  scores agree")
    goals = {10: 20, 30: 40}
    with tempfile.TemporaryDirectory() as tmp:
        zip_path, _ = autograder(Path(tmp))
        for size in (int(n) for n in args.sizes.split(",")):
            class_dir = Path(tmp) / f"class{size}"
            make_class(class_dir, [get_lab(LAB)], size)
            students = sorted(p.name for p in class_dir.iterdir())

            def otter_one(student: str, size=size, class_dir=class_dir) -> float:
                out = Path(tmp) / f"otter{size}" / student
                out.mkdir(parents=True)
                seed = str(student_seed(SEED, student, LAB))
                cmd = [otter, "run", "-a", str(zip_path), "-o", str(out), "--no-logo"]
                return timed([*cmd, str(class_dir / student / f"{LAB}.py")], MSLAB_OTTER_SEED=seed)

            start = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(args.otter_jobs) as pool:
                list(pool.map(otter_one, students))
            otter_wall = time.perf_counter() - start
            out = Path(tmp) / f"mslab{size}"
            cmd = [*inv, "grade", str(class_dir), "--out", str(out), "--labs", LAB, "--jobs", str(args.jobs)]
            mslab_wall = timed([*cmd, "--seed", str(SEED), "--force"])
            agree = 0
            with open(out / "gradebook.csv", newline="", encoding="utf-8") as fh:
                ours = {row["student"]: float(row["score"]) for row in csv.DictReader(fh)}
            for student in students:
                try:
                    theirs = json.loads((Path(tmp) / f"otter{size}" / student / "results.json").read_text())
                    total = sum(float(t.get("score") or 0) for t in theirs["tests"])
                except (OSError, ValueError, KeyError):
                    continue
                agree += abs(total - ours.get(student, -1)) < 1e-9
            ratio = otter_wall / mslab_wall
            goal = goals.get(size)
            print(
                f"{size:>11} {otter_wall:>8.2f} {mslab_wall:>8.2f} {ratio:>5.1f}x {f'{goal}x' if goal else '':>5}"
                f"  {agree} of {size}"
            )


if __name__ == "__main__":
    main()
