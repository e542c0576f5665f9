"""An erratum's hint is shown only when the check got a value and it was wrong: never for a file
that did not load (said once, not under every check), a timeout or a wrong type."""

from __future__ import annotations

from conftest import LABS, write_variant
from mslab.checker import run_checks
from mslab.present import tidy_run

LAB = LABS["derivatives"]
ERRATUM_2 = next(m["hint"] for m in LAB.mistakes if m["erratum"] == 2)


def by_name(run):
    return {c.name: c for c in run.checks}


def test_hints_only_for_wrong_values(tmp_path):
    sub = write_variant(
        LAB,
        tmp_path,
        [
            ("    return grad(f)(x)", "    return 1.0"),  # f_prime: a float, not a Tensor (a wrong type)
            ("    return grad(grad(f))(x)", "    return grad(f)(x) * 0 + 3.0"),  # f_second: erratum 2's value
        ],
    )
    run = tidy_run(run_checks(LAB, sub, seed=1))
    checks = by_name(run)
    wrong_type = checks["test_f_prime_at_points"]
    assert not wrong_type.passed and "expected a mindspore.Tensor" in wrong_type.reason
    assert wrong_type.hint == "", "erratum 1's hint for a float is misleading"
    wrong_value = checks["test_f_second_at_one"]
    assert not wrong_value.passed and wrong_value.hint == ERRATUM_2


def test_a_timeout_gives_no_hint(tmp_path):
    from mslab.sandbox import Limits

    sub = write_variant(LAB, tmp_path, [("    return grad(grad(f))(x)", "    while True:\n        pass")])
    run = tidy_run(run_checks(LAB, sub, seed=1, limits=Limits(call_seconds=2)))
    timed_out = [c for c in run.checks if "timed out after" in c.reason]
    assert timed_out and all(c.hint == "" for c in timed_out)


def test_a_load_failure_is_said_once(tmp_path):
    sub = tmp_path / "derivatives.py"
    sub.write_text("def f(x)\n    return x\n")
    run = tidy_run(run_checks(LAB, sub, seed=1))
    assert "SyntaxError" in run.load_error
    assert run.checks and all((c.passed, c.reason, c.hint) == (False, "", "") for c in run.checks)
