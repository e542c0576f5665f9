"""Every lab: the reference scores full marks, the starter zero, each known mistake loses exactly its points."""

from __future__ import annotations

import ast

import pytest
import yaml

from conftest import LABS, write_variant
from mslab.checker import collect, run_checks


def test_lab_folders_have_the_same_shape(lab):
    for path in (
        lab.dir / "lab.yaml",
        lab.dir / "README.md",
        lab.walkthrough,
        lab.starter,
        lab.solution,
        lab.visible_checks,
        lab.hidden_checks,
        lab.dir / "mistakes.yaml",
    ):
        assert path.is_file(), path
    checks = collect(lab)
    assert {c.task for c in checks} == set(lab.tasks), "every task has checks, every check a task"
    assert any(c.hidden for c in checks) and any(not c.hidden for c in checks)
    assert all(c.points > 0 for c in checks)


def test_starter_functions_raise_not_implemented_naming_their_task(lab):
    tree = ast.parse(lab.starter.read_text(encoding="utf-8"))
    stubs = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            raises = [n for n in ast.walk(node) if isinstance(n, ast.Raise)]
            if raises:
                message = ast.literal_eval(raises[0].exc.args[0])
                stubs[node.name] = message
                assert ast.get_docstring(node), f"{node.name} explains the math in its docstring"
    assert stubs, "the starter has functions to fill in"
    assert all(msg.startswith("Task ") for msg in stubs.values()), stubs


@pytest.mark.parametrize("seed", [0, 1])
def test_reference_solution_scores_full_marks(lab, seed):
    report = run_checks(lab, lab.solution, hidden=True, seed=seed)
    failed = [(c.name, c.reason) for c in report.checks if not c.passed]
    assert failed == []
    assert report.score == report.max_score == sum(c.points for c in collect(lab)) > 0


def test_starter_scores_zero_without_crashing_the_grader(lab):
    report = run_checks(lab, lab.starter, hidden=True, seed=0)
    assert len(report.checks) == len(collect(lab))
    assert report.score == 0
    for c in report.checks:
        assert c.reason.startswith("not done yet — Task "), (c.name, c.reason)


MISTAKES = [(name, m) for name, lab in sorted(LABS.items()) for m in lab.mistakes]


@pytest.mark.parametrize("lab_name,mistake", MISTAKES, ids=[f"{n}-erratum{m['erratum']}" for n, m in MISTAKES])
def test_known_mistake_loses_exactly_its_points(lab_name, mistake, tmp_path):
    lab = LABS[lab_name]
    number = mistake["erratum"]
    submission = write_variant(lab, tmp_path, [tuple(e) for e in mistake["replace"]])
    report = run_checks(lab, submission, hidden=True, seed=3)
    tagged = {c.name for c in report.checks if number in c.errata}
    failed = {c.name for c in report.checks if not c.passed}
    assert tagged, f"no check is tagged with erratum {number}"
    assert failed == tagged
    assert report.score == report.max_score - sum(c.points for c in report.checks if number in c.errata)
    for c in report.checks:
        if not c.passed:
            assert c.hint == mistake["hint"], (c.name, c.reason, c.hint)


def test_every_erratum_has_a_mistake_and_checks(lab):
    in_mistakes = [m["erratum"] for m in lab.mistakes]
    in_checks = {e for c in collect(lab) for e in c.errata}
    assert len(in_mistakes) == len(set(in_mistakes)), "one entry per erratum: it holds the erratum's hint"
    assert set(in_mistakes) == in_checks


def test_mistake_files_are_valid_yaml_lists(lab):
    data = yaml.safe_load((lab.dir / "mistakes.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, list) and all({"erratum", "what", "hint", "replace"} <= set(m) for m in data)
    assert all(isinstance(m["hint"], str) and m["hint"] for m in data)


def test_train_that_fakes_its_losses_does_not_lower_the_loss(tmp_path):
    """Losses [inf, 0, 0, ...] with W and b unchanged passed "gradient descent lowers
    the loss"; now losses[0] must be the real initial loss and every loss finite."""
    lab = LABS["value_and_grad"]
    fake = (
        "def train(inputs, targets, W, b, lr, steps):\n"
        "    import numpy as np\n"
        "    return W, b, ops.stack([Tensor(float('inf'))] + [Tensor(0.0)] * (steps - 1))\n"
        "def _unused(inputs, targets, W, b, lr, steps):\n"
    )
    path = write_variant(lab, tmp_path, [("def train(inputs, targets, W, b, lr, steps):\n", fake)])
    path.write_text("from mindspore import Tensor\n" + path.read_text())
    report = run_checks(lab, path, hidden=False)
    failed = {c.name: c.reason for c in report.checks if not c.passed}
    assert "test_train_lowers_the_loss" in failed
    assert "not finite" in failed["test_train_lowers_the_loss"]


def test_answers_computed_without_autodiff_are_flagged_for_the_instructor(tmp_path):
    lab = LABS["derivatives"]
    path = write_variant(lab, tmp_path, [("    return grad(f)(x)", "    return 3 * x**2 - 2")])
    report = run_checks(lab, path, hidden=False)
    assert report.flags == ["no autodiff API (grad, value_and_grad, ...) reached by: f_prime"]
    assert run_checks(lab, lab.solution, hidden=False).flags == []
    assert run_checks(lab, lab.starter, hidden=False).flags == []  # nothing answered: nothing to flag
