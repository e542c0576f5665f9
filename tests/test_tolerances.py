"""A target's tolerances reach every check through the checker's fixture, for that run only."""

from __future__ import annotations

import numpy as np

from mslab import checks
from mslab.checker import run_checks
from mslab.labs import get_lab
from mslab.target import LOCAL_TARGET, TARGET_TOLERANCES, Target


def test_the_targets_tolerances_decide_the_checks_and_leave_nothing_behind():
    lab = get_lab("derivatives")
    default = run_checks(lab, lab.solution, seed=3)
    assert default.full_marks
    # A target that allowed no rounding at all: float32 answers cannot equal float64 references.
    exact = Target("local", tolerances={"float32": (0.0, 0.0)})
    strict = run_checks(lab, lab.solution, seed=3, target=exact)
    failed = {c.name for c in strict.checks if not c.passed}
    assert "test_f_prime_at_points" in failed
    assert all("largest error" in c.reason for c in strict.checks if c.name in failed and "f′" in c.reason)
    # Nothing of that run stays in force for the next one, nor outside a check.
    assert checks.tolerance(np.float32) == checks.TOLERANCES["float32"]
    again = run_checks(lab, lab.solution, seed=3, target=LOCAL_TARGET)
    assert again.full_marks


def test_ascend_loosens_float32_and_only_float32():
    table = checks.tolerances_for(TARGET_TOLERANCES["ascend"])
    assert table["float32"] == (2e-3, 1e-3)
    assert table["float64"] == checks.TOLERANCES["float64"]
    with checks.tolerances_in_force(table):
        assert checks.matches(np.float32([1.0015]), [1.0])  # within Ascend's float32 tolerance
    assert not checks.matches(np.float32([1.0015]), [1.0])  # not on the CPU
