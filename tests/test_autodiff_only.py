"""Checks that only MindSpore's autodiff can pass: the checker hands the student's derivative()
an nn.Cell whose declared gradient (its bprop) is not the derivative of what it computes. Hand-
made derivatives — symbolic, by finite differences, or through the checker's own operations
re-bound to a tracer — get the true derivative and fail; grad follows the declaration."""

from __future__ import annotations

import numpy as np

from conftest import LABS, ROOT, write_variant
from mslab.checker import run_checks, without_autodiff
from mslab.numeric import declared_derivative, derivative
from mslab.sandbox import Sandbox
from mslab.sandbox.wire import Fn, decode, encode

LAB = LABS["derivatives"]
DODGER = ROOT / "tests" / "hostile" / "taylor_dodger" / "derivatives.py"
DECLARED = "test_derivative_follows_declared_gradient"


def test_a_declared_gradient_crosses_the_wire_as_plain_data():
    msg = encode(Fn("sin(x)", "2 * cos(x)"))
    assert msg == {"t": "fn", "expr": "sin(x)", "bprop": "2 * cos(x)"}
    assert encode(Fn("sin(x)")) == {"t": "fn", "expr": "sin(x)"}  # as before: no bprop key
    assert decode(msg, make_fn=lambda *a: a) == ("sin(x)", "2 * cos(x)")


def test_grad_follows_the_declared_gradient_at_every_order(tmp_path):
    source = tmp_path / "probe.py"
    source.write_text(
        "from mindspore import grad\n"
        "def d(fn, x, order):\n"
        "    for _ in range(order):\n"
        "        fn = grad(fn)\n"
        "    return fn(x)\n"
    )
    x = np.array([-1.5, 0.2, 1.1], np.float32)
    with Sandbox(source, "probe") as sandbox:
        got = [sandbox.call("d", Fn("sin(x)", "2 * cos(x)"), x, order).value for order in (1, 2, 3)]
    x64 = x.astype(np.float64)
    for order, value in enumerate(got, 1):
        np.testing.assert_allclose(value, declared_derivative("sin(x)", "2 * cos(x)", x, order), rtol=2e-4, atol=1e-4)
        assert not np.allclose(value, derivative("sin(x)", x64, order), rtol=2e-4, atol=1e-4)
    np.testing.assert_allclose(got[1], -2 * np.sin(x64), rtol=2e-4, atol=1e-4)


def test_the_reference_passes_and_hand_made_derivatives_fail():
    reference = run_checks(LAB, LAB.solution, hidden=True, seed=5)
    assert {c.name: c.passed for c in reference.checks}[DECLARED] is True
    dodger = run_checks(LAB, DODGER, hidden=True, seed=5)
    failed = {c.name: c.reason for c in dodger.checks if not c.passed}
    assert DECLARED in failed and "test_derivative_respects_stop_gradient" in failed, failed
    assert not dodger.load_error


def test_the_flag_is_not_fooled_by_a_dead_mention_of_grad():
    source = DODGER.read_bytes()
    assert without_autodiff(source, ["f_prime", "f_second", "derivative"]) == ["f_prime", "f_second", "derivative"]
    live = b"from mindspore import grad\ndef derivative(fn, x, order):\n    return grad(fn)(x)\n"
    assert without_autodiff(live, ["derivative"]) == []


def test_a_handed_function_can_be_an_argument_of_the_differentiated_function(tmp_path):
    """grad(loss)(w, x, act) with the checker's function as an argument: MindSpore reads the
    source of a function (or Cell's construct) passed that way, and the jail cannot read the file
    that defines it — the call raised OSError ("can not compile temporary source code")."""
    source = tmp_path / "probe.py"
    source.write_text(
        "from mindspore import grad\n"
        "def loss(w, x, act):\n"
        "    return act(x * w).sum()\n"
        "def g(w, x, act):\n"
        "    return grad(loss)(w, x, act)\n"
    )
    w, x = np.array([0.5, -1.0, 2.0], np.float32), np.array([1.5, 0.25, -0.5], np.float32)
    with Sandbox(source, "probe") as sandbox:
        plain = sandbox.call("g", w, x, Fn("sin(x)")).value
        declared = sandbox.call("g", w, x, Fn("sin(x)", "2 * cos(x)")).value
    z = x.astype(np.float64) * w
    np.testing.assert_allclose(plain, np.cos(z) * x, rtol=2e-4, atol=1e-4)
    np.testing.assert_allclose(declared, 2 * np.cos(z) * x, rtol=2e-4, atol=1e-4)


def test_training_step_accumulation_by_hand_fails_the_declared_gradient(tmp_path):
    """training_step's accumulated_gradient gets an activation whose gradient is declared: a
    gradient made by hand with a numerical derivative of act passes the visible checks (sigmoid)
    and fails the hidden one, with its own reason; the reference passes it."""
    lab = LABS["training_step"]
    by_hand = (
        "def accumulated_gradient(w, X, y, micro_batch, act):\n"
        "    z = (X * w).sum(-1)\n"
        "    a, h = act(z), 1e-3\n"
        "    slope = (act(z + h) - act(z - h)) / (2 * h)\n"
        "    return ops.mv(X.T, (a - y) / (a * (1 - a)) * slope) / X.shape[0]\n"
        "\n\ndef _unused(w, X, y, micro_batch, act):\n"
    )
    path = write_variant(lab, tmp_path, [("def accumulated_gradient(w, X, y, micro_batch, act):\n", by_hand)])
    report = run_checks(lab, path, hidden=True, seed=5)
    failed = {c.name: c.reason for c in report.checks if not c.passed}
    assert set(failed) == {"test_accumulation_follows_declared_gradient"}, failed
    assert "not act's own gradient" in failed["test_accumulation_follows_declared_gradient"]
    reference = run_checks(lab, lab.solution, hidden=True, seed=5)
    assert {c.name: c.passed for c in reference.checks}["test_accumulation_follows_declared_gradient"] is True
