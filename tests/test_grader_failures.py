"""Marks never upload wrong: a grader that cannot start its sandbox is refused before the first
student, rows the grader itself could not grade are listed, make the run exit 3 and are never
counted as zeros, and `--labs` on an existing OUT keeps every lab in the sheets."""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import pytest
from test_grade_cli import inv_env
from test_tasks import one_line_error

from conftest import LABS, inv

SKIP = shutil.ignore_patterns("__pycache__")


def _class(tmp_path: Path, students: dict[str, dict[str, str]]) -> Path:
    root = tmp_path / "class"
    for student, files in students.items():
        (root / student).mkdir(parents=True)
        for lab, text in files.items():
            (root / student / f"{lab}.py").write_text(text, encoding="utf-8")
    return root


def _grades(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "grades.csv", newline="", encoding="utf-8") as fh:
        return {row["student"]: row for row in csv.DictReader(fh)}


@pytest.mark.skipif(os.geteuid() != 0, reason="the uid range is used when the grader is root")
def test_a_grader_whose_sandbox_cannot_start_is_refused_in_one_line(tmp_path):
    solution = LABS["derivatives"].solution.read_text()
    root = _class(tmp_path, {"alice": {"derivatives": solution}, "bob": {"derivatives": solution}})
    out = tmp_path / "out"
    result = inv_env("grade", str(root), "--out", str(out), "--labs", "derivatives", env={"MSLAB_SANDBOX_UIDS": "abc"})
    line = one_line_error(result)
    assert "cannot grade: a sandbox does not start here" in line and "MSLAB_SANDBOX_UIDS" in line, line
    assert not out.exists()  # no sheet of zeros to upload


def test_rows_the_grader_could_not_grade_are_listed_and_exit_3(tmp_path):
    labs = tmp_path / "labs"
    shutil.copytree(LABS["derivatives"].dir, labs / "derivatives", ignore=SKIP)
    hidden = labs / "derivatives" / "checks" / "hidden.py"
    hidden.write_text(
        hidden.read_text()
        + '''

@check(points=1, task="4", hint="")
def test_the_checker_itself_breaks(student, rng):
    """a check whose run the grader cannot finish"""
    import pytest

    pytest.exit("the checker broke")
'''
    )
    solution = LABS["derivatives"].solution.read_text()
    root = _class(tmp_path, {"alice": {"derivatives": solution}, "bob": {"derivatives": solution}})
    out = tmp_path / "out"
    result = inv_env("grade", str(root), "--out", str(out), "--jobs", "1", env={"MSLAB_LABS": str(labs)})
    assert result.returncode == 3, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: 2 row(s) not graded because of the grader, not the students: ")
    assert "alice derivatives" in last and "bob derivatives" in last and "rerun" in last
    assert not list(out.glob("*/*/record.json"))  # nothing a rerun would keep
    grades = _grades(out)
    assert {grades["alice"]["total"], grades["bob"]["total"]} == {""}  # blank, never 0


@pytest.mark.slow
def test_labs_on_an_existing_out_keeps_every_lab_in_the_sheets(tmp_path):
    files = {name: LABS[name].solution.read_text() for name in ("derivatives", "value_and_grad")}
    root = _class(tmp_path, {"alice": files, "bob": {"derivatives": files["derivatives"]}})
    out = tmp_path / "out"
    first = inv("grade", str(root), "--out", str(out), "--labs", "derivatives,value_and_grad", "--seed", "3")
    assert first.returncode == 0, first.stdout + first.stderr
    before = _grades(out)
    again = inv("grade", str(root), "--out", str(out), "--labs", "derivatives", "--force")
    assert again.returncode == 0, again.stdout + again.stderr
    after = _grades(out)
    assert after == before  # value_and_grad's column and the totals are still there
    assert "value_and_grad" in next(iter(after.values()))
    assert float(after["alice"]["total"]) == 40  # 20 + 20
