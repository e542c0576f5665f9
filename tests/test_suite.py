"""A worker collects each lab's checks once (checker.Suite) and runs them for one student × lab
after another without a new pytest start. That changes nothing a student gets: the files of a
graded class are those of one ``pytest.main`` per student × lab (``MSLAB_PYTEST_PER_RUN=1``) byte
for byte, less the timings; and nothing of one student reaches the next — not through a check
module's state (a dict, a list, a global, a ``functools.cache``, a default argument, a function
attribute, a module loaded with ``checks.sibling``), nor a fixture of wider scope, nor the
target's tolerances."""

from __future__ import annotations

import json
import multiprocessing
import re
import shutil
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from conftest import LABS, ROOT
from mslab import checks
from mslab import grade as grade_module
from mslab.checker import Suite, run_checks
from mslab.grade import grade_class
from mslab.labs import Lab
from mslab.sandbox.host import Limits
from mslab.sandbox.zygote import Zygote
from mslab.target import LOCAL_TARGET, Target

sys.path.insert(0, str(ROOT / "bench"))
from bench_grade import make_class

#: Fields that are timings: the only ones a suite may change.
TIMINGS = {"seconds", "start_seconds", "student_seconds", "execution_time"}


#: MindSpore's own log lines (a student's output tail may hold them): their time, process and
#: thread differ from run to run whoever runs the checks.
MINDSPORE_LOG = re.compile(r"\[(ERROR|WARNING|INFO|DEBUG)\] (\w+)\(\d+,[0-9a-f]+,[^)]*\):[0-9:.-]+ ")


def _untimed(value):
    if isinstance(value, str):
        return MINDSPORE_LOG.sub(r"[\1] \2(...) ", value)
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items() if k not in TIMINGS}
    if isinstance(value, list):
        return [_untimed(v) for v in value]
    return value


def _files(out: Path) -> dict[str, object]:
    """Every file of a graded OUT, the JSON ones less their timings."""
    files: dict[str, object] = {}
    for path in sorted(out.rglob("*")):
        if path.is_file():
            name = str(path.relative_to(out))
            text = path.read_text(errors="replace")
            files[name] = _untimed(json.loads(text)) if path.suffix == ".json" else _untimed(text)
    return files


@pytest.mark.slow
def test_a_class_graded_with_suites_equals_one_pytest_main_per_run(tmp_path, monkeypatch):
    """The bundled class and a bench class (solutions and each lab's known mistakes), graded
    with suites and with one pytest.main per student × lab: the same files, less timings."""
    submissions = tmp_path / "class"
    shutil.copytree(ROOT / "examples" / "submissions", submissions)
    first = ["derivatives", "logistic_gradients", "value_and_grad"]
    make_class(submissions, [LABS[name] for name in first], 6)
    monkeypatch.setenv("GLOG_v", "3")
    monkeypatch.setenv("MSLAB_PYTEST_PER_RUN", "1")
    before = grade_class(submissions, tmp_path / "before", labs=first, seed=11, jobs=2)
    monkeypatch.delenv("MSLAB_PYTEST_PER_RUN")
    after = grade_class(submissions, tmp_path / "after", labs=first, seed=11, jobs=2)
    assert len(after) == 10 * len(first)
    assert {r.status.value for r in after} >= {"graded", "missing", "unloadable"}
    assert 0 < sum(r.score for r in after) < sum(r.max_score for r in after)  # right and wrong answers
    in_order = lambda records: sorted(records, key=lambda r: (r.folder, r.lab))  # noqa: E731 - as workers finish
    for old_record, new_record in zip(in_order(before), in_order(after), strict=True):
        old, new = _untimed(old_record.to_dict()), _untimed(new_record.to_dict())
        old_checks, new_checks = old.pop("checks"), new.pop("checks")
        assert old == new
        assert [c for c in old_checks if c not in new_checks] == [c for c in new_checks if c not in old_checks]
    old, new = _files(tmp_path / "before"), _files(tmp_path / "after")
    assert "grades.csv" in new and "alice/derivatives/results.json" in new
    assert old.keys() == new.keys()
    for name in old:
        assert old[name] == new[name], name


LEAKY = '''
"""Checks that keep what they saw at module level, as a careless author could write them."""
import functools

import pytest

import numpy as np

from mslab import checks as checks_module
from mslab.checks import check, sibling

helper = sibling(__file__, "helper")
FIRST = {}
SEEN = []
LAST = None


@functools.cache
def memo():
    return []


@pytest.fixture(scope="module")
def box():
    return []


@check(points=1, task="1", hint="answer 42")
def test_dict(student):
    """a dict"""
    FIRST.setdefault("answer", student.answer())
    assert FIRST["answer"] == 42


@check(points=1, task="1", hint="answer 42")
def test_list(student):
    """a list"""
    SEEN.append(student.answer())
    assert SEEN[0] == 42


@check(points=1, task="1", hint="answer 42")
def test_global(student):
    """a global"""
    global LAST
    if LAST is None:
        LAST = student.answer()
    assert LAST == 42


@check(points=1, task="1", hint="answer 42")
def test_cache(student):
    """functools.cache"""
    memo().append(student.answer())
    assert memo()[0] == 42


@check(points=1, task="1", hint="answer 42")
def test_default(student, seen=[]):  # noqa: B006 - the mistake this test is about
    """a default argument"""
    seen.append(student.answer())
    assert seen[0] == 42


@check(points=1, task="1", hint="answer 42")
def test_attribute(student):
    """a function attribute"""
    if not hasattr(test_attribute, "first"):
        test_attribute.first = student.answer()
    assert test_attribute.first == 42


@check(points=1, task="1", hint="answer 42")
def test_sibling(student):
    """a sibling module"""
    helper.REMEMBERED.append(student.answer())
    assert helper.REMEMBERED[0] == 42


@check(points=1, task="1", hint="answer 42")
def test_module_fixture(student, box):
    """a module-scoped fixture"""
    box.append(student.answer())
    assert box[0] == 42


@check(points=1, task="1", hint="answer 42")
def test_tolerance(student, rng):
    """the target's tolerances, and rng"""
    assert checks_module.tolerance("float32") == (2e-4, 1e-4)
    assert checks_module.matches(np.float32([42.0001]), [float(student.answer())])
'''


@pytest.fixture(scope="module")
def leaky(tmp_path_factory) -> tuple[Lab, dict[str, Path]]:
    root = tmp_path_factory.mktemp("labs")
    lab = Lab("leaky", root / "leaky")
    (lab.dir / "checks").mkdir(parents=True)
    (lab.dir / "lab.yaml").write_text('title: Leaky\ntasks:\n  "1": answer\n')
    (lab.dir / "checks" / "visible.py").write_text(LEAKY)
    (lab.dir / "checks" / "hidden.py").write_text("")
    (lab.dir / "checks" / "helper.py").write_text("REMEMBERED = []\n")
    students = {}
    for name, answer in (("right", 42), ("wrong", 0)):
        students[name] = root / name / "leaky.py"
        students[name].parent.mkdir()
        students[name].write_text(f"def answer():\n    return {answer}\n")
    return lab, students


@pytest.fixture(scope="module")
def zygote():
    warm = Zygote(Limits().load_seconds)
    yield warm
    warm.close()


def test_nothing_of_one_student_reaches_the_next(leaky, zygote):
    """A right answer, then a wrong one, then a right one, through one suite: if any state of
    the first run stayed, the wrong answer would pass the checks that kept it."""
    lab, students = leaky
    suite = Suite(lab, hidden=True)
    try:
        runs = [
            run_checks(lab, students[name], hidden=True, seed=seed, zygote=zygote, suite=suite)
            for name, seed in (("right", 1), ("wrong", 2), ("right", 3))
        ]
    finally:
        suite.close()
    names = {c.name for c in runs[0].checks}
    assert len(names) == 9
    assert runs[0].full_marks, [c.reason for c in runs[0].checks if not c.passed]
    assert [c.name for c in runs[1].checks if c.passed] == []  # every check saw the wrong answer
    assert runs[2].full_marks
    # and the same as one pytest.main for that run alone
    alone = run_checks(lab, students["wrong"], hidden=True, seed=2, zygote=zygote)
    assert [(c.name, c.passed, c.reason) for c in alone.checks] == [
        (c.name, c.passed, c.reason) for c in runs[1].checks
    ]
    assert checks.tolerance(np.float32) == checks.TOLERANCES["float32"]  # nothing left in force


def test_each_run_has_its_own_targets_tolerances_and_seed(zygote, tmp_path):
    """A target that allows no rounding, then the CPU's, through one suite (the tolerances
    fixture is the run's), and the hidden inputs drawn from each run's own seed."""
    lab = LABS["derivatives"]
    suite = Suite(lab, hidden=True)
    try:
        exact = Target("local", tolerances={"float32": (0.0, 0.0)})
        strict = run_checks(lab, lab.solution, hidden=True, seed=3, target=exact, zygote=zygote, suite=suite)
        again = run_checks(lab, lab.solution, hidden=True, seed=3, target=LOCAL_TARGET, zygote=zygote, suite=suite)
        off = tmp_path / "derivatives.py"  # f′ off by one: the reasons quote the drawn inputs' values
        off.write_text(lab.solution.read_text().replace("return grad(f)(x)", "return grad(f)(x) + 1"))
        drawn = {seed: run_checks(lab, off, hidden=True, seed=seed, zygote=zygote, suite=suite) for seed in (5, 6, 5)}
    finally:
        suite.close()
    assert "test_f_prime_at_points" in {c.name for c in strict.checks if not c.passed}
    assert again.full_marks
    reasons = {seed: [c.reason for c in run.checks if c.hidden and not c.passed] for seed, run in drawn.items()}
    assert reasons[5] != reasons[6]  # hidden inputs differ with the seed ...
    assert all("got [" in reason for reason in reasons[5]) and reasons[5]
    alone = run_checks(lab, off, hidden=True, seed=5, zygote=zygote)
    assert reasons[5] == [c.reason for c in alone.checks if c.hidden and not c.passed]  # ... and are the seed's


def test_the_workers_start_while_intake_runs(tmp_path, monkeypatch):
    """The local workers are started before intake (which does not need them), and a class with
    fewer students than workers lets the others go."""
    submissions = tmp_path / "class"
    (submissions / "alice").mkdir(parents=True)
    shutil.copy(LABS["derivatives"].solution, submissions / "alice" / "derivatives.py")
    (submissions / "bob").mkdir()  # hands in nothing: one student to grade, two entries
    seen: list[int] = []
    intake = grade_module.find_submissions

    def watched(*args, **kwargs):
        seen.append(len(multiprocessing.active_children()))
        return intake(*args, **kwargs)

    monkeypatch.setattr(grade_module, "find_submissions", watched)
    monkeypatch.setenv("GLOG_v", "3")
    records = grade_class(submissions, tmp_path / "out", labs=["derivatives"], seed=2, jobs=2)
    assert seen and seen[0] >= 2  # both workers (and the resource tracker, perhaps) already there
    assert {(r.student, r.status.value) for r in records} == {("alice", "graded"), ("bob", "missing")}
    assert next(r for r in records if r.student == "alice").score == 20


def test_pytests_own_junit_xml_is_still_written_when_asked(zygote, tmp_path):
    """``junitxml=`` (pytest's own report) takes one pytest.main even when a suite is given:
    the same test cases, the same outcomes as the suite's run."""
    lab = LABS["derivatives"]
    bob = ROOT / "examples" / "submissions" / "bob" / "derivatives.py"
    suite = Suite(lab, hidden=True)
    try:
        ran = run_checks(lab, bob, hidden=True, seed=4, zygote=zygote, suite=suite)
        report = tmp_path / "junit.xml"
        asked = run_checks(lab, bob, hidden=True, seed=4, zygote=zygote, suite=suite, junitxml=report)
    finally:
        suite.close()
    cases = ET.parse(report).getroot().iter("testcase")
    failed = {case.get("name") for case in cases if case.find("failure") is not None}
    assert failed == {c.name for c in ran.checks if not c.passed} == {c.name for c in asked.checks if not c.passed}
    assert failed  # bob repeats the tutorial's mistakes
