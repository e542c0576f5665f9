"""Hidden inputs are every student's own: a classmate's answers, passed by any channel, are
worth nothing, and `inv lab.check --seed` with a record's seed draws that student's inputs again.

The attack (found by an attacker's review): two students graded at once or one after the other
passed answers through the kernel (POSIX locks, the page cache). Here the channel is taken as
perfect: the copier holds the very values its classmate's code returned, in order, and replays
them. With one set of hidden inputs for the class it scored full marks without computing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import LABS
from mslab.checker import run_checks
from mslab.grade import grade_class
from mslab.records import Record

pytestmark = pytest.mark.slow  # grades a class twice (about a minute)

LAB = LABS["derivatives"]
#: The reference solution, each answer also printed: what a perfect channel would carry.
RECORDER = (
    LAB.solution.read_text()
    + """

import json as _json

def _recorded(fn):
    def wrapper(*args):
        value = fn(*args)
        print("REC " + _json.dumps(value.asnumpy().tolist()), flush=True)
        return value
    return wrapper

f_prime, f_second, derivative = _recorded(f_prime), _recorded(f_second), _recorded(derivative)
"""
)
COPIER = """
import mindspore, numpy as np
from mindspore import grad

ANSWERS = {answers!r}
_calls = iter(ANSWERS)

def f(x):
    return x**3 - 2 * x + 1

def _next(*args):  # the classmate's next answer, whatever was asked: no computing at all
    return mindspore.Tensor(np.array(next(_calls), dtype=np.float32))

f_prime = f_second = derivative = _next
"""


def _answers(results: Path) -> list:
    output = json.loads(results.read_text())["extra_data"]["student_output"]
    return [json.loads(line[4:]) for line in output.splitlines() if line.startswith("REC ")]


def test_a_classmates_answers_are_worth_nothing(tmp_path):
    root = tmp_path / "class"
    (root / "alice").mkdir(parents=True)
    (root / "alice" / "derivatives.py").write_text(RECORDER)
    out = tmp_path / "out"
    (alice,) = grade_class(root, out, labs=["derivatives"], jobs=1, seed=11)
    assert alice.score == alice.max_score == 20
    answers = _answers(out / "alice" / "derivatives" / "results.json")
    assert len(answers) >= 10

    (root / "mallory").mkdir()
    (root / "mallory" / "derivatives.py").write_text(COPIER.format(answers=answers))
    records = {r.student: r for r in grade_class(root, out, labs=["derivatives"], jobs=1, seed=11)}
    mallory = records["mallory"]
    hidden = [c for c in mallory.checks if c.hidden]
    assert hidden and not any(c.passed for c in hidden), [(c.name, c.reason) for c in hidden]
    assert mallory.key["seed"] != records["alice"].key["seed"]

    # `inv lab.check --all --seed N` with the record's seed draws alice's hidden inputs again.
    again = run_checks(LAB, root / "alice" / "derivatives.py", hidden=True, seed=alice.key["seed"])
    assert [line for line in again.output.splitlines() if line.startswith("REC ")][-len(answers) :] == [
        "REC " + json.dumps(a) for a in answers
    ]
    assert Record.read(out / "alice" / "derivatives" / "record.json").key["seed"] == alice.key["seed"]
