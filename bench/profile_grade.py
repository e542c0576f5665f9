"""Where a class's grading time goes, item by item, in seconds, measured in one run.

    .venv/bin/python bench/profile_grade.py [--students 100] [--jobs 2] [--profiled 20]

1. `inv grade`'s own code (grade_class, in this process) on a generated class (as
   bench/bench_grade.py makes it: half solutions, half each lab's known mistakes): the wall time,
   the time to the first record (the fixed start: workers, zygotes, first sandboxes, intake), the
   time after the last record (reports), and the students' own compute (the records'
   ``student_seconds``: inside student calls, in warm children).
2. One worker in this process under cProfile on the first ``--profiled`` students: its time per
   submission × lab split into student calls, waiting for a child to be ready, pytest's protocol,
   the checks' own code (expected values in NumPy), re-executing the check modules, and the
   record's texts. (cProfile slows Python code down: those shares are upper bounds.)

Printed, not asserted.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_grade import make_class  # noqa: E402

from mslab.grade import grade_class  # noqa: E402
from mslab.labs import get_lab  # noqa: E402
from mslab.sandbox.host import Limits  # noqa: E402
from mslab.target import LOCAL_TARGET  # noqa: E402
from mslab.worker import Job, Worker  # noqa: E402

#: Buckets of one worker's time: (label, function name, file ending).
BUCKETS = {
    "all": ("grade_student", "mslab/worker.py"),
    "calls": ("_exchange", "mslab/sandbox/host.py"),
    "ready": ("_ensure_ready", "mslab/sandbox/host.py"),
    "handover": ("shared_child", "mslab/worker.py"),
    "protocol": ("runtestprotocol", "_pytest/runner.py"),
    "check": ("pytest_pyfunc_call", "_pytest/python.py"),
    "sandbox_call": ("call", "mslab/sandbox/host.py"),
    "fresh": ("_fresh_modules", "mslab/checker.py"),
    "texts": ("graded_text", "mslab/worker.py"),
    "results": ("results_text", "mslab/present.py"),
    "junit": ("junit_text", "mslab/present.py"),
    "close": ("close_shared", "mslab/worker.py"),
}


def cumulative(stats: pstats.Stats, name: str, ending: str) -> float:
    return sum(
        value[3]
        for (file, _line, func), value in stats.stats.items()  # type: ignore[attr-defined]
        if func == name and file.endswith(ending)
    )


def end_to_end(class_dir: Path, out: Path, labs: list[str], jobs: int) -> dict:
    marks: dict[str, float] = {}

    def progress(**event) -> None:
        if "record" in event:
            marks.setdefault("first", time.perf_counter())
            marks["last"] = time.perf_counter()

    start = time.perf_counter()
    records = grade_class(class_dir, out, labs=labs, jobs=jobs, seed=1, force=True, progress=progress)
    end = time.perf_counter()
    graded = [r for r in records if r.student_seconds or r.seconds]
    return {
        "wall": end - start,
        "first": marks["first"] - start,
        "reports": end - marks["last"],
        "student": sum(r.student_seconds for r in graded),
        "start": sum(r.start_seconds for r in graded),
        "seconds": sum(r.seconds for r in graded),
        "rows": len(graded),
    }


def profile_worker(class_dir: Path, labs: list[str], students: int) -> tuple[dict, int]:
    worker = Worker(LOCAL_TARGET, Limits())
    for name in labs:
        worker.suite(get_lab(name))
    worker.check_sandbox()  # the zygote and a first child, as before any student
    folders = sorted(p for p in class_dir.iterdir())[:students]
    jobs = [[Job(f.name, f.name, lab, str(f / f"{lab}.py"), {"seed": 7}, (), 0.0) for lab in labs] for f in folders]
    profiler = cProfile.Profile()
    profiler.enable()
    for student in jobs:
        worker.grade_student(student)
    profiler.disable()
    worker.close()
    stats = pstats.Stats(profiler)
    return {key: cumulative(stats, *where) for key, where in BUCKETS.items()}, sum(len(s) for s in jobs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=100, help="generated students")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="warm workers")
    parser.add_argument("--labs", default="derivatives,logistic_gradients,value_and_grad", help="labs to grade")
    parser.add_argument("--profiled", type=int, default=20, help="students graded by the profiled worker")
    args = parser.parse_args()
    labs = args.labs.split(",")
    os.environ.setdefault("GLOG_v", "3")
    with tempfile.TemporaryDirectory() as tmp:
        class_dir = Path(tmp) / "class"
        make_class(class_dir, [get_lab(name) for name in labs], args.students)
        e2e = end_to_end(class_dir, Path(tmp) / "out", labs, args.jobs)
        buckets, runs = profile_worker(class_dir, labs, args.profiled)
    n = e2e["rows"]
    share = e2e["student"] / args.jobs
    print(f"{args.students} students x {len(labs)} labs, {args.jobs} workers, {os.cpu_count()} CPUs")
    print(f"wall {e2e['wall']:.2f} s; the students' compute {e2e['student']:.2f} s ({share:.2f} s per worker)")
    print(f"  efficiency (compute per worker / wall): {share / e2e['wall']:.2f}")
    print(f"  fixed start, to the first record (workers, zygotes, first children, intake): {e2e['first']:.2f} s")
    print(f"  reports, after the last record: {e2e['reports']:.2f} s")
    middle = e2e["wall"] - e2e["first"] - e2e["reports"]
    per_worker = (e2e["seconds"] - e2e["student"]) / args.jobs
    print(
        f"  grading, first to last record: {middle:.2f} s, of which per worker outside student calls {per_worker:.2f} s"
    )
    print(f"    (records: {n} rows, children starting {e2e['start']:.2f} s in all)")
    b = {k: v / runs for k, v in buckets.items()}
    checks_own = b["check"] - b["sandbox_call"]
    pytest_own = b["protocol"] - b["check"]
    texts = b["texts"] + b["results"] + b["junit"]
    rest = b["all"] - b["protocol"] - b["handover"] - b["fresh"] - texts - b["close"]
    print(f"one worker under cProfile, {runs} submission x lab runs, seconds per run:")
    for label, value in (
        ("in student calls (the student's compute and the pipe)", b["calls"]),
        ("waiting for the child to be ready (its file loaded)", b["ready"]),
        ("the checks' own code (NumPy references, comparisons)", checks_own),
        ("pytest's protocol (setup, fixtures, reports, teardown)", pytest_own),
        ("a student's child taken over / forked ahead", b["handover"]),
        ("check modules executed afresh", b["fresh"]),
        ("record, results.json, junit.xml texts", texts),
        ("closing the student's child", b["close"]),
        ("the rest (flags, output, bookkeeping)", rest),
        ("total", b["all"]),
    ):
        print(f"  {label:<58} {value:.4f}")


if __name__ == "__main__":
    main()
