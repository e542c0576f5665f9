"""A new lab is a copied folder: copy labs/derivatives under a new name, edit only inside the copy
(its file names and title), and the new lab is listed, checks its reference to full marks and
passes the lab tests — with no edit to mslab/, the examples or the other labs.

The copy lives in a temporary labs root (``MSLAB_LABS``) next to copies of the real labs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import LABS, ROOT, inv
from mslab.grade import checks_digest
from mslab.labs import Lab

NAME = "chain_rule"
SKIP = shutil.ignore_patterns("__pycache__")


@pytest.fixture(scope="module")
def labs_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("labs")
    for lab in LABS.values():
        shutil.copytree(lab.dir, root / lab.name, ignore=SKIP)
    new = root / NAME
    shutil.copytree(LABS["derivatives"].dir, new, ignore=SKIP)
    # The only edits, all inside the new folder: the starter's and solution's names, the title.
    (new / "derivatives.py").rename(new / f"{NAME}.py")
    (new / "solution" / "derivatives.py").rename(new / "solution" / f"{NAME}.py")
    meta = (new / "lab.yaml").read_text(encoding="utf-8")
    (new / "lab.yaml").write_text(
        meta.replace("title: Derivatives with mindspore.grad", "title: The chain rule"), encoding="utf-8"
    )
    return root


@pytest.fixture
def with_labs(labs_root, monkeypatch):
    monkeypatch.setenv("MSLAB_LABS", str(labs_root))
    return labs_root


def test_the_copy_is_listed_with_its_points(with_labs):
    result = inv("lab.list")
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if NAME in line)
    assert "The chain rule" in line and "20" in line, line
    for name in LABS:
        assert name in result.stdout


def test_the_copy_checks_its_reference_to_full_marks(with_labs):
    solution = with_labs / NAME / "solution" / f"{NAME}.py"
    result = inv("lab.check", NAME, "--submission", str(solution), "--all")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Score: 20/20" in result.stdout, result.stdout


@pytest.mark.slow
def test_the_copy_passes_the_lab_tests_and_the_examples_test_ignores_it(with_labs):
    """tests/test_labs.py on the new lab (every test parametrised by lab), and the bundled class,
    which has no file for the new lab, graded with it present."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-v",
            "-p",
            "no:cacheprovider",
            "-k",
            f"{NAME} or test_grading_the_bundled_class",
            "tests/test_labs.py",
            "tests/test_tasks.py::test_grading_the_bundled_class",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "MSLAB_LABS": str(with_labs)},
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    passed = [line.split(" PASSED")[0] for line in result.stdout.splitlines() if " PASSED" in line]
    for test in (
        f"test_reference_solution_scores_full_marks[{NAME}-0]",
        f"test_starter_scores_zero_without_crashing_the_grader[{NAME}]",
        f"test_known_mistake_loses_exactly_its_points[{NAME}-erratum1]",
        f"test_every_erratum_has_a_mistake_and_checks[{NAME}]",
        "test_grading_the_bundled_class",
    ):
        assert any(line.endswith(test) for line in passed), (test, passed)
    summary = result.stdout.strip().splitlines()[-1]
    assert re.search(rf"\b{len(passed)} passed", summary) and not re.search(r"skipped|failed|error", summary), summary


def test_editing_a_labs_math_or_hints_regrades_it(labs_root, tmp_path):
    """The grader keeps a row while the lab's checks are unchanged: the lab's own math and hints count."""
    lab_dir = tmp_path / NAME
    shutil.copytree(labs_root / NAME, lab_dir, ignore=SKIP)
    lab = Lab(NAME, lab_dir)
    before = checks_digest(lab)
    (lab_dir / "checks" / "reference.py").write_text("SCALE = 1.0\n", encoding="utf-8")
    with_reference = checks_digest(lab)
    assert with_reference != before
    mistakes = lab_dir / "mistakes.yaml"
    mistakes.write_text(
        mistakes.read_text(encoding="utf-8").replace("let grad(f) compute it", "use grad(f)"), encoding="utf-8"
    )
    assert checks_digest(lab) not in (before, with_reference)
