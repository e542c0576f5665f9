"""Hints an instructor can trust: a tutorial erratum is named only when the answer IS the
erratum's (mslab.checks.mistake), any other wrong value gets the check's plain hint, no hint is
shown for a file that did not load (said once, not under every check), a timeout or a wrong type,
and "most common hints" counts students."""

from __future__ import annotations

import copy
import pickle
import re

import pytest

from conftest import LABS, ROOT, write_variant
from mslab import checks
from mslab.checker import run_checks
from mslab.classreport import TOP_HINTS

LAB = LABS["derivatives"]
ERRATUM = {m["erratum"]: m["hint"] for lab in LABS.values() for m in lab.mistakes}
ERRATUM_2 = ERRATUM[2]
#: The plain hints of the f′ and f″ checks (labs/derivatives/checks/*.py).
F1 = "f′(x) = 3x² − 2: return grad(f)(x)"
F2 = "f″(x) = 6x: return grad(grad(f))(x)"
SIGN = ("    return grad(grad(f))(x)", "    return -grad(grad(f))(x)")  # f″ with the wrong sign
SHAPE = ("    return grad(f)(x)", "    return grad(f)(x).reshape(-1, 1)")  # f′ of six points: shape (6, 1)


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
    run = run_checks(LAB, sub, seed=1)
    checks = by_name(run)
    wrong_type = checks["test_f_prime_at_points"]
    assert not wrong_type.passed and "expected a mindspore.Tensor" in wrong_type.reason
    assert wrong_type.hint == "", "erratum 1's hint for a float is misleading"
    wrong_value = checks["test_f_second_at_one"]
    assert not wrong_value.passed and wrong_value.hint == ERRATUM_2


def test_a_timeout_gives_no_hint(tmp_path):
    from mslab.sandbox.host import Limits

    sub = write_variant(LAB, tmp_path, [("    return grad(grad(f))(x)", "    while True:\n        pass")])
    run = run_checks(LAB, sub, seed=1, limits=Limits(call_seconds=2))
    timed_out = [c for c in run.checks if "timed out after" in c.reason]
    assert timed_out and all(c.hint == "" for c in timed_out)


def test_a_load_failure_is_said_once(tmp_path):
    sub = tmp_path / "derivatives.py"
    sub.write_text("def f(x)\n    return x\n")
    run = run_checks(LAB, sub, seed=1)
    assert "SyntaxError" in run.load_error
    assert run.checks and all((c.passed, c.reason, c.hint) == (False, "", "") for c in run.checks)


def variant(tmp_path, name, edits):
    (tmp_path / name).mkdir()
    return write_variant(LAB, tmp_path / name, edits)


def test_an_erratum_is_named_only_when_the_answer_is_the_erratum_s(tmp_path):
    """A sign error in f″ and a (6, 1) shape in f′ are wrong, but not the tutorial's
    errata: they get the checks' plain hints and no erratum tag; the erratum's own value gets its
    hint and its tag."""
    sign = by_name(run_checks(LAB, variant(tmp_path, "a", [SIGN]), hidden=True, seed=1))
    for name in ("test_f_second_at_one", "test_f_second_at_points", "test_f_second_hidden"):
        assert not sign[name].passed and (sign[name].hint, sign[name].errata) == (F2, ()), name
    assert sign["test_f_second_at_one"].reason == "f″(1): got -6., expected 6. (largest error 12)"
    assert [c.name for c in sign.values() if not c.passed] == [
        "test_f_second_at_one", "test_f_second_at_points", "test_f_second_hidden",
    ]  # fmt: skip
    shape = by_name(run_checks(LAB, variant(tmp_path, "b", [SHAPE]), hidden=True, seed=1))
    assert shape["test_f_prime_at_points"].reason == "f_prime(x) has shape (6, 1); expected (6,)"
    for name in ("test_f_prime_at_one", "test_f_prime_at_points", "test_f_prime_hidden"):
        assert not shape[name].passed and (shape[name].hint, shape[name].errata) == (F1, ()), name
    tutorial = [tuple(e) for m in LAB.mistakes for e in m["replace"]]
    both = by_name(run_checks(LAB, variant(tmp_path, "c", tutorial), hidden=True, seed=1))
    assert [(c.name, c.hint, c.errata) for c in both.values() if not c.passed] == [
        ("test_f_prime_at_points", ERRATUM[1], (1,)),
        ("test_f_second_at_one", ERRATUM[2], (2,)),
        ("test_f_second_at_points", ERRATUM[2], (2,)),
        ("test_f_prime_hidden", ERRATUM[1], (1,)),
        ("test_f_second_hidden", ERRATUM[2], (2,)),
    ]
    assert all(c.errata == () for c in both.values() if c.passed)


def test_a_check_s_own_hint_cannot_be_an_erratum_s():
    """The decorator's hint is shown for any failure, so it may not name an erratum: only
    mistake() does, when the answer matches."""
    hint = checks.hints(str(LAB.visible_checks))[2]
    with pytest.raises(TypeError, match="not tutorial erratum 2's"):
        checks.check(points=1, task="3", hint=hint)
    # an erratum's hint keeps its number through copies and pickles (records are deep-copied)
    assert copy.deepcopy(hint).number == pickle.loads(pickle.dumps(hint)).number == 2
    with pytest.raises(checks.CheckFailed) as failed:
        checks.mistake(True, hint, "f_second(1.0) returns 3")
    assert (failed.value.hint, failed.value.errata) == (ERRATUM_2, (2,))
    with pytest.raises(checks.CheckFailed) as failed:
        checks.mistake(True, "a mistake that is no erratum")
    assert failed.value.errata == ()


def hint_rows(out) -> list[tuple[int, str]]:
    """(students, hint) rows of summary.md's "Most common hints" table, unescaped."""
    text = (out / "summary.md").read_text(encoding="utf-8")
    table = text.split("## Most common hints of failed checks")[1].split("\n## ")[0]
    rows = re.findall(r"^\| (\d+) \| (.*) \|$", table, re.M)
    return [(int(n), re.sub(r"\\(.)", r"\1", hint)) for n, hint in rows]


def test_the_bundled_class_hints_are_bob_s_mistakes(tmp_path):
    """Checked by hand: only bob repeats the tutorial's mistakes, each one once, the jacobians
    lab's (11–16), four of the mistakes students make with custom gradients (22, 23, 24, 26) and
    four of training_step's (31, 32, 34, 36); carol's undone tasks raise NotImplementedError (no
    hint), dave's files do not load or return floats or NumPy arrays (wrong types: no hint); alice
    passes everything."""
    from mslab.grade import grade_class

    grade_class(ROOT / "examples" / "submissions", tmp_path, seed=11, jobs=2)
    bobs = sorted((1, ERRATUM[n]) for n in [*range(1, 7), *range(11, 17), 22, 23, 24, 26, 31, 32, 34, 36])
    assert len(bobs) == 20 > TOP_HINTS  # the table shows the first TOP_HINTS: most students, then by text
    assert hint_rows(tmp_path) == bobs[:TOP_HINTS]


def test_a_class_of_mistakes_sign_and_shape_errors_and_empty_files(tmp_path):
    """Checked by hand. Six students hand in derivatives.py: `tutorial` repeats
    errata 1 and 2 (f′ = 3x − 2 fails 2 checks, f″ = 3 fails 3); `sign` returns −f″ (3 f″ checks
    fail, no erratum); `shape` returns f′ as (6, 1) (3 f′ checks fail, no erratum); three
    empty files (each fails all 11 checks: 2 call f, 3 f_prime, 3 f_second, 4 derivative — 1 + 3
    + 3 + 4 = 11). Counted in students, a hint once per student: 3 per missing function, and 1
    for each of the rest. Today's main put "9 · f″(1) is 6, not 3 (tutorial erratum 2)" first."""
    from mslab.grade import grade_class

    subs = tmp_path / "subs"
    tutorial = [tuple(e) for m in LAB.mistakes for e in m["replace"]]
    for student, edits in {"tutorial": tutorial, "sign": [SIGN], "shape": [SHAPE]}.items():
        (subs / student).mkdir(parents=True)
        write_variant(LAB, subs / student, edits)
    for student in ("empty1", "empty2", "empty3"):
        (subs / student).mkdir(parents=True)
        (subs / student / "derivatives.py").write_text("")
    grade_class(subs, tmp_path / "out", labs=["derivatives"], seed=5, jobs=2)
    missing = "derivatives.py has no function {}(): define it (the lab's starter has each one)"
    assert hint_rows(tmp_path / "out") == [
        (3, missing.format("derivative")),
        (3, missing.format("f")),
        (3, missing.format("f_prime")),
        (3, missing.format("f_second")),
        (1, F1),  # shape
        (1, ERRATUM[1]),  # tutorial
        (1, ERRATUM[2]),  # tutorial
        (1, F2),  # sign
    ]
