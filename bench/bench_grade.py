"""Class grading throughput: warm workers (`inv grade`) against a naive serial loop that starts
one fresh checker process per submission (`inv lab.check --all`, which imports MindSpore each
time), on N generated students, measured in one run; the same warm grading with a fresh child per
lab instead of one per student (MSLAB_SANDBOX_PER_LAB=1); the cost per submission × lab split
into start-up, student code and checking (and per lab: student code and checking, without the
start-up a child shares between a student's labs); and the efficiency of the warm workers: the student
code's own compute in cold children (a run with one worker and a fresh child per lab: the sum of
its records' student_seconds, the time inside student calls) shared between the workers, over
the wall time — 1.0 would mean that everything around MindSpore's own compute (start-up,
checking, pytest, writing) costs nothing.

    .venv/bin/python bench/bench_grade.py [--students 100] [--jobs 2] [--labs derivatives,value_and_grad]
                                          [--warm-only] [--naive 12]

Per lab, the cost per submission in a warm worker (student code and checking, from the warm
run's records) and its ratio to the slowest lab's: a new lab's goal is at most 2× the slowest
of the first three. `--warm-only` runs just the warm grading, for those per-lab figures.

The naive loop runs ``--naive`` submission × labs (spread over the class) and is scaled to the
class (``--naive 0``: every one). Goals: naive ratio ≥ 6×; efficiency ≥ 0.8 on 100 students ×
the first three labs (``--labs derivatives,logistic_gradients,value_and_grad``). Printed, not
asserted. bench/profile_grade.py says where the rest of the wall time goes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INV = [str(Path(sys.executable).with_name("inv")), "--search-root", str(ROOT)]
sys.path.insert(0, str(ROOT))

from mslab.labs import all_labs, get_lab  # noqa: E402
from mslab.records import Record  # noqa: E402


def make_class(folder: Path, labs: list, students: int) -> None:
    """Half the class hands in the reference solutions, half each lab's known mistakes in turn."""
    for lab in labs:
        source = lab.solution.read_text(encoding="utf-8")
        variants = [source]
        for mistake in lab.mistakes:
            text = source
            for old, new in mistake["replace"]:
                text = text.replace(old, new)
            variants.append(text)
        for i in range(students):
            student = folder / f"student{i:03d}"
            student.mkdir(parents=True, exist_ok=True)
            text = variants[0] if i % 2 == 0 else variants[1 + (i // 2) % (len(variants) - 1)]
            (student / f"{lab.name}.py").write_text(text, encoding="utf-8")


def timed(cmd: list[str], **env: str) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=False, capture_output=True, env={**os.environ, "GLOG_v": "3", **env})
    return time.perf_counter() - start


def naive_loop(class_dir: Path, labs: list, sample: int) -> tuple[float, int]:
    """Seconds of one `inv lab.check --all` process per submission × lab, one after another, over
    ``sample`` of them spread over the class (0: all); and how many ran."""
    runs = [(p, lab) for p in sorted(class_dir.iterdir()) for lab in labs]
    if sample and sample < len(runs):
        runs = [runs[round(i * len(runs) / sample)] for i in range(sample)]
    seconds = sum(
        timed([*INV, "lab.check", lab.name, "--submission", str(p / f"{lab.name}.py"), "--all", "--seed", "1"])
        for p, lab in runs
    )
    return seconds, len(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=100, help="generated students")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="warm workers")
    parser.add_argument("--labs", default="", help="labs to grade (default: every lab)")
    parser.add_argument("--warm-only", action="store_true", help="only the warm run and the per-lab figures")
    parser.add_argument("--naive", type=int, default=12, help="submission x labs the naive loop runs (0: all)")
    args = parser.parse_args()
    args.labs = args.labs or ",".join(lab.name for lab in all_labs())
    labs = [get_lab(name) for name in args.labs.split(",")]
    n = args.students * len(labs)
    with tempfile.TemporaryDirectory() as tmp:
        class_dir = Path(tmp) / "class"
        make_class(class_dir, labs, args.students)

        def grade(out: Path, jobs: int, **env: str) -> tuple[float, list[Record]]:
            wall = timed(
                [*INV, "grade", str(class_dir), "--out", str(out), "--labs", args.labs]
                + ["--jobs", str(jobs), "--seed", "1", "--force"],
                **env,
            )
            return wall, [Record.read(p) for p in out.glob("*/*/record.json")]

        warm, records = grade(Path(tmp) / "out", args.jobs)
        print(f"{args.students} students x {len(labs)} labs, {args.jobs} warm workers, {os.cpu_count()} CPUs")
        per_lab_split(records, args.jobs, args.students)
        if args.warm_only:
            return
        per_lab, _ = grade(Path(tmp) / "per-lab", args.jobs, MSLAB_SANDBOX_PER_LAB="1")
        # one worker, a fresh child per lab: each submission's calls in a cold child, unshared
        _, serial = grade(Path(tmp) / "serial", 1, MSLAB_SANDBOX_PER_LAB="1")
        sampled, ran = naive_loop(class_dir, labs, args.naive)
        naive = sampled * n / ran
    start = statistics.mean(r.start_seconds for r in records)
    student = statistics.mean(r.student_seconds for r in records)
    total = statistics.mean(r.seconds for r in records)
    compute = sum(r.student_seconds for r in serial)
    scaled = f" (scaled from {ran})" if ran < n else ""
    print(f"labs: {args.labs}")
    print(f"naive serial loop (one checker process each):   {naive:8.2f} s  ({naive / n:.3f} s each{scaled})")
    print(f"warm workers, a fresh child per lab:             {per_lab:8.2f} s  ({per_lab / n:.3f} s each)")
    print(f"warm workers, one child per student (inv grade): {warm:8.2f} s  ({warm / n:.3f} s each)")
    print(
        f"throughput ratio: {naive / warm:.1f}x   (goal >= 6x); one child per student / per lab: {warm / per_lab:.2f}"
    )
    print(
        f"efficiency: student compute {compute:.2f} s (one worker, cold children) / {args.jobs} workers / "
        f"wall {warm:.2f} s = {compute / args.jobs / warm:.2f}   (goal >= 0.8)"
    )
    print(
        f"per submission x lab in a warm worker: start-up {start:.3f} s, student code {student:.3f} s, "
        f"checking {total - start - student:.3f} s (total {total:.3f} s)"
    )
    for lab in labs:
        mine = [r for r in records if r.lab == lab.name]
        code = statistics.mean(r.student_seconds for r in mine)
        checking = statistics.mean(r.seconds - r.start_seconds - r.student_seconds for r in mine)
        print(f"  {lab.name:<22} student code {code:.3f} s, checking {checking:.3f} s (total {code + checking:.3f} s)")


def per_lab_split(records: list[Record], jobs: int, students: int) -> None:
    """Each lab's cost per submission in a warm worker: student code, checking (the record's time
    less start-up and student code) and both together, against the slowest of the first labs."""
    print(f"per lab, per submission in a warm worker ({students} students, {jobs} workers, {os.cpu_count()} CPUs):")
    cost = {}
    for lab in sorted({r.lab for r in records}):
        rows = [r for r in records if r.lab == lab]
        student = statistics.mean(r.student_seconds for r in rows)
        checking = statistics.mean(r.seconds - r.start_seconds - r.student_seconds for r in rows)
        cost[lab] = student + checking
        print(f"  {lab:20s} student code {student:6.3f} s  checking {checking:6.3f} s  total {cost[lab]:6.3f} s")
    first = [cost[name] for name in FIRST_LABS if name in cost]
    if first:
        slowest = max(first)
        for lab in sorted(set(cost) - set(FIRST_LABS)):
            print(f"  {lab}: {cost[lab] / slowest:.1f}x the slowest first lab ({slowest:.3f} s; goal <= 2x)")


#: The labs the course started with: a new lab's cost is compared with the slowest of them.
FIRST_LABS = ("derivatives", "logistic_gradients", "value_and_grad")


if __name__ == "__main__":
    main()
