"""A local grading worker that dies (the kernel's OOM killer, a kill -9) costs only the student it
held: that student is graded again by another worker, the run ends, and its files equal those of
an uninterrupted run. A student whose grading kills its worker every time gets error rows after
MAX_DEATHS tries, and the classmates are graded. (ProcessPoolExecutor, used before, broke as a
whole: the run never ended.)"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_tasks import descendants

from conftest import LABS, ROOT, inv
from mslab.executor import MAX_DEATHS

pytestmark = pytest.mark.slow  # grades a class three times

SKIP = shutil.ignore_patterns("__pycache__")
SOLUTION = LABS["derivatives"].solution.read_text()


def _class(root: Path, count: int) -> Path:
    for i in range(count):
        (root / f"s{i:02d}").mkdir(parents=True)
        # a second at import: every worker is always in the middle of a student
        (root / f"s{i:02d}" / "derivatives.py").write_text("import time\ntime.sleep(1)\n" + SOLUTION)
    return root


def _files(out: Path) -> dict[str, bytes]:
    return {name: (out / name).read_bytes() for name in ("gradebook.csv", "grades.csv", "grades.json", "summary.md")}


def _workers(pid: int) -> list[int]:
    found = []
    for child, _start in descendants(pid):
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"multiprocessing.spawn" in command and b"resource_tracker" not in command:
            found.append(child)
    return found


def test_a_worker_killed_mid_run_costs_only_its_student(tmp_path):
    root = _class(tmp_path / "class", 8)
    whole = inv("grade", str(root), "--out", str(tmp_path / "whole"), "--seed", "5", "--jobs", "2")
    assert whole.returncode == 0, whole.stdout + whole.stderr
    exe = shutil.which("inv", path=str(Path(sys.executable).parent)) or "inv"
    out = tmp_path / "killed"
    grader = subprocess.Popen(
        [exe, "--search-root", str(ROOT), "grade", str(root), "--out", str(out), "--seed", "5", "--jobs", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not list(out.glob("*/*/record.json")) and time.monotonic() < deadline:
            time.sleep(0.1)
        workers = _workers(grader.pid)
        assert len(workers) == 2, workers
        os.kill(workers[0], signal.SIGKILL)  # as the OOM killer would
        stdout, stderr = grader.communicate(timeout=300)
    finally:
        grader.kill()
    assert grader.returncode == 0, stdout + stderr
    assert "1 grading worker(s) died mid-run" in stdout
    assert _files(out) == _files(tmp_path / "whole")


def test_a_student_that_kills_its_worker_every_time_gets_error_rows_and_the_class_is_graded(tmp_path):
    labs = tmp_path / "labs"
    shutil.copytree(LABS["derivatives"].dir, labs / "derivatives", ignore=SKIP)
    visible = labs / "derivatives" / "checks" / "visible.py"
    # The check runs in the worker: for this student only, the worker dies as if killed.
    visible.write_text(
        visible.read_text()
        + '''

@check(points=1, task="1", hint="")
def test_the_worker_dies_on_this_student(student, rng):
    """a student whose grading kills the worker"""
    import os, signal

    if float(student.f(np.array(7.0, np.float32)).value) == 999.0:
        os.kill(os.getpid(), signal.SIGKILL)
'''
    )
    root = _class(tmp_path / "class", 3)
    (root / "s01" / "derivatives.py").write_text(SOLUTION.replace("return x**3 - 2 * x + 1", "return x * 0 + 999"))
    result = subprocess.run(
        [shutil.which("inv", path=str(Path(sys.executable).parent)) or "inv", "--search-root", str(ROOT)]
        + ["grade", str(root), "--out", str(tmp_path / "out"), "--jobs", "2"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "MSLAB_LABS": str(labs)},
    )
    assert result.returncode == 3, result.stdout + result.stderr
    assert f"the grader's worker died {MAX_DEATHS} times while grading it" in result.stderr
    last = result.stderr.strip().splitlines()[-1]  # the one line (above it: the progress bar)
    assert "s01 derivatives" in last and "s00" not in last and "s02" not in last
    assert (tmp_path / "out" / "s00" / "derivatives" / "record.json").is_file()
    assert (tmp_path / "out" / "s02" / "derivatives" / "record.json").is_file()


def _nothing() -> None:
    pass


def _check_then_die(text: str) -> str:
    """A worker that starts its sandbox and then dies on every student it is given."""
    import json

    if json.loads(text)["op"] == "check":
        return ""
    os._exit(9)


def test_when_no_worker_is_left_each_student_not_graded_gets_an_error_row_and_the_run_ends():
    import json

    from mslab import executor
    from mslab.worker import Job

    students = [[Job(f"s{i}", f"s{i}", "derivatives", "/nonexistent", {"seed": 1}, ("a",), 5.0)] for i in range(3)]

    class NoReplacements(executor.Local):
        def start(self, students: int) -> None:
            super().start(students)
            self.pool.replacements = 0  # no worker may be started again: both die on their first student

    local = NoReplacements(2, _nothing, (), _check_then_die)
    rows: list[dict] = []
    started = time.monotonic()
    try:
        met = executor.grade_students(local, students, lambda job, text: rows.append(json.loads(text)["record"]))
    finally:
        local.close(kill=True)
    assert time.monotonic() - started < 60
    assert [(r["student"], r["status"]) for r in sorted(rows, key=lambda r: r["student"])] == [
        ("s0", "error"),
        ("s1", "error"),
        ("s2", "error"),
    ]
    assert {r["reason"] for r in rows} == {"not graded: no grading worker is left; rerun to grade the rest"}
    assert met == {"lost": 2, "retried": 2}
