"""Checks that only MindSpore's autodiff can pass: the checker hands the student's derivative()
an nn.Cell whose declared gradient (its bprop) is not the derivative of what it computes. Hand-
made derivatives — symbolic, by finite differences, or through the checker's own operations
re-bound to a tracer — get the true derivative and fail; grad follows the declaration."""

from __future__ import annotations

import numpy as np

from conftest import LABS, ROOT, write_variant
from mslab.checker import run_checks, without_autodiff
from mslab.numeric import declared_derivative, derivative
from mslab.sandbox.host import Sandbox
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


#: custom_gradients' gradients of a handed fn, made by finite differences in float64 instead of
#: autodiff: right for a plain function, wrong for one whose bprop declares another gradient.
HAND_MADE = """

import mindspore


def _slope(fn, at, h=1e-5):
    wide = at.astype(mindspore.float64)
    return ((fn(wide + h) - fn(wide - h)) / (2 * h)).astype(mindspore.float32)


def clipped_value_and_grad(fn, x, bound):
    return fn(x), ops.clamp(_slope(fn, x), -bound, bound)


def quantized_gradient(fn, x):
    q = ops.sign(x)
    return _slope(fn, q) * (ops.abs(x) <= 1).astype(x.dtype), (q,)
"""
CUSTOM_DECLARED = {
    "test_clipped_gradient_follows_declared_gradient": "the gradient ignores fn's declared gradient",
    "test_quantized_gradient_follows_declared_gradient": "the gradient ignores fn's declared gradient",
}


def test_custom_gradients_declared_checks_pass_autodiff_and_fail_finite_differences(tmp_path):
    """The lab's tasks 2 and 4 hand over fn: the reference (grad through the student's Cells) passes
    the declared-gradient checks; finite differences of fn pass the visible checks (a plain fn)
    and fail exactly those two, on two seeds."""
    lab = LABS["custom_gradients"]
    text = lab.solution.read_text(encoding="utf-8") + HAND_MADE
    hand_made = tmp_path / "custom_gradients.py"
    hand_made.write_text(text, encoding="utf-8")
    for seed in (5, 6):
        assert all(c.passed for c in run_checks(lab, lab.solution, hidden=True, seed=seed).checks)
        report = run_checks(lab, hand_made, hidden=True, seed=seed)
        failed = {c.name: c.reason for c in report.checks if not c.passed}
        assert set(failed) == set(CUSTOM_DECLARED), failed
        for name, words in CUSTOM_DECLARED.items():
            assert words in failed[name], failed[name]


def test_compiled_autodiff_of_the_checkers_functions_inside_the_walls(tmp_path):
    """jacrev, jacfwd and jvp compile what they differentiate, and compiling reads the source of
    every function traced — the checker's own, whose file the sandbox cannot read. They compile
    (a unary minus too) and follow the declared gradient, as grad does."""
    source = tmp_path / "probe.py"
    source.write_text(
        "from mindspore import jacfwd, jacrev, jvp, ops\n"
        "def diagonals(fn, x):\n"
        "    return jacrev(fn)(x).diagonal(), jacfwd(fn)(x).diagonal(), jvp(fn, x, ops.ones_like(x))[1]\n"
    )
    x = np.array([-1.5, 0.2, 1.1], np.float32)
    x64 = x.astype(np.float64)
    with Sandbox(source, "probe") as sandbox:
        plain = sandbox.call("diagonals", Fn("-sin(x)"), x)
        declared = sandbox.call("diagonals", Fn("sin(x)", "-2 * cos(x)"), x)
    for got in plain:
        np.testing.assert_allclose(got.value, -np.cos(x64), rtol=2e-4, atol=1e-4)
    for got in declared:
        np.testing.assert_allclose(got.value, -2 * np.cos(x64), rtol=2e-4, atol=1e-4)


#: jacobians' layer Jacobian worked out by hand: act′ by a central difference of act itself (which
#: only calls the handed function forward), then diag(act′(z))·W — right for tanh, wrong for an
#: activation whose gradient is declared.
BY_HAND_LAYER = """
def _slope(act, z):
    h = 1e-2
    return (act(z + h) - act(z - h)) / (2 * h)


def layer_jacobians(W, b, x, act):
    s = _slope(act, ops.mv(W, x) + b)
    return s[:, None] * W, ops.stack([ops.outer(s * ops.eye(len(s), len(s), s.dtype)[i], x) for i in range(len(s))], 1)


def layer_jvp(W, b, x, act, v):
    return ops.mv(_slope(act, ops.mv(W, x) + b)[:, None] * W, v)


def layer_vjp(W, b, x, act, u):
    return ops.mv((_slope(act, ops.mv(W, x) + b)[:, None] * W).T, u)
"""


def test_jacobians_worked_out_by_hand_pass_tanh_and_fail_declared_gradients(tmp_path):
    lab = LABS["jacobians"]
    text = lab.solution.read_text(encoding="utf-8")
    path = tmp_path / "jacobians.py"
    path.write_text(text + BY_HAND_LAYER, encoding="utf-8")  # later definitions win
    report = run_checks(lab, path, hidden=True, seed=5)
    result = {c.name: c for c in report.checks}
    assert result["test_layer_jacobians"].passed and result["test_layer_jvp"].passed and result["test_layer_vjp"].passed
    for name in ("test_layer_jacobians_follow_declared_gradient", "test_jvp_and_vjp_follow_declared_gradient"):
        assert not result[name].passed
        assert result[name].hint.startswith("the Jacobian was worked out by hand or numerically"), result[name]


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
