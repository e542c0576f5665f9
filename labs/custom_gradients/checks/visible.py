"""Visible checks of the `custom_gradients` lab, on fixed inputs.

Expected values are the rules in reference.py, next to this file (float64 NumPy), and the
derivatives of the checker's own functions (mslab.numeric): never MindSpore, never the solution.
"""

import numpy as np

from mslab.checks import Fn, StudentError, check, close, hints, matches, mistake, raised, sequence, sibling, tensor
from mslab.numeric import derivative, evaluate
from mslab.sandbox.wire import Array

reference = sibling(__file__, "reference")
HINT = hints(__file__)  # by mistake number, from ../mistakes.yaml

#: Both ends of the straight-through window, points inside and outside it (never 0: sign(0) = 0).
STE_POINTS = np.array([-2.5, -1.0, -0.75, -0.1, 0.3, 1.0, 1.5], np.float32)
#: Where log(1 + eˣ) overflows in float32 (x = 100) and where it does not yet (x = ±30).
SOFTPLUS_POINTS = np.array([-100.0, -30.0, -2.0, -0.5, 0.0, 0.5, 2.0, 30.0, 100.0], np.float32)


def ste_gradient_check(student, x):
    try:
        got = student.ste_sign_gradient(x)
    except StudentError as exc:
        mistake(raised(exc, "TypeError", "positional argument"), HINT[21], str(exc))
        raise
    got = tensor(got, "ste_sign_gradient(x)", shape=x.shape)
    mask = reference.ste_mask(x)
    strict = (np.abs(x.astype(np.float64)) < 1).astype(np.float64)
    mistake(matches(got, strict) and not matches(got, mask), HINT[22], "the gradient is 0 at x = ±1")
    mistake(
        matches(got, np.zeros(x.shape)),
        "the gradient is 0 everywhere, the true derivative of sign: MindSpore did not use your rule — "
        "the method must be named bprop, on the Cell you differentiate",
        "ste_sign_gradient(x) is 0 everywhere",
    )
    close(got, mask, "the straight-through gradient 1{|x| ≤ 1}")


def clipped_check(student, fn, x, bound, expected_gradient):
    """(value, gradient) of fn through ClipGradient(bound): fn(x) unchanged, the gradient clipped."""
    value, gradient = sequence(student.clipped_value_and_grad(fn, x, bound), 2, "clipped_value_and_grad(...)")
    value = tensor(value, "clipped_value_and_grad(...)[0]", shape=x.shape)
    expr = fn.expr
    mistake(
        matches(value, evaluate(expr, np.clip(x, -bound, bound))) and not matches(value, evaluate(expr, x)),
        HINT[23],
        f"the value is fn(clip(x, −{bound}, {bound})), not fn(x)",
    )
    close(value, evaluate(expr, x), "the value fn(x)")
    gradient = tensor(gradient, "clipped_value_and_grad(...)[1]", shape=x.shape)
    return gradient, reference.clip(expected_gradient, bound)


def softplus_gradient_check(student, x):
    got = tensor(student.softplus_gradient(x), "softplus_gradient(x)", shape=x.shape)
    mistake(not np.all(np.isfinite(got)), HINT[24], f"softplus_gradient(x) is not finite at x = {x[~np.isfinite(got)]}")
    close(got, reference.sigmoid(x), "σ(x)")


def quantized_check(student, fn, x, expected_at_q, plain_at_q=None):
    """grad(QuantizedLoss(fn), has_aux=True)(x): (fn′(q) · 1{|x| ≤ 1}, (q,)) with q = sign(x);
    ``expected_at_q`` is fn′ at q, the gradient autodiff gives for fn there, and ``plain_at_q``
    (for an fn with a declared gradient) the plain derivative of what fn computes."""
    mask = reference.ste_mask(x)
    got = student.quantized_gradient(fn, x)
    mistake(
        isinstance(got, Array) and matches(got.value, expected_at_q * mask + mask),
        HINT[25],
        "quantized_gradient(...) is one Tensor: the gradients of the loss and of q, summed",
    )
    gradient, aux = sequence(got, 2, "quantized_gradient(...)")
    gradient = tensor(gradient, "quantized_gradient(...)[0]", shape=x.shape)
    mistake(
        matches(gradient, expected_at_q) and not matches(gradient, expected_at_q * mask),
        HINT[26],
        "the gradient flows at |x| > 1 too",
    )
    if plain_at_q is not None:
        mistake(
            matches(gradient, plain_at_q * mask) and not matches(gradient, expected_at_q * mask),
            "the gradient uses the plain derivative of what fn computes, not fn's own gradient: "
            "let grad differentiate QuantizedLoss(fn)",
            "the gradient ignores fn's declared gradient",
        )
    close(gradient, expected_at_q * mask, "fn′(sign(x)) · 1{|x| ≤ 1}")
    (q,) = sequence(aux, 1, "quantized_gradient(...)[1]")
    close(tensor(q, "quantized_gradient(...)[1][0]", shape=x.shape), reference.quantized(x), "q = sign(x)")


@check(points=1, task="1", hint="SignSTE's construct returns ops.sign(x)")
def test_ste_sign_values(student, rng):
    """SignSTE()(x) = sign(x)"""
    x = rng.permutation(STE_POINTS)
    close(tensor(student.ste_sign(x), "ste_sign(x)", shape=x.shape), np.sign(x.astype(np.float64)), "sign(x)")


@check(points=2, task="1", hint="bprop(self, x, out, dout) returns (dout * (|x| ≤ 1),)", errata=(21, 22))
def test_ste_gradient(student, rng):
    """grad(SignSTE()) is 1{|x| ≤ 1}, ends included"""
    ste_gradient_check(student, rng.permutation(STE_POINTS))


@check(
    points=3,
    task="2",
    hint="ClipGradient: construct returns x, bprop returns (clip(dout, −bound, bound),)",
    errata=(23,),
)
def test_clipped_value_and_grad(student, rng):
    """fn(x) unchanged, its gradient clipped to [−2, 2]"""
    expr, bound = "x**3 - x", 2.0
    x = np.array([-1.8, -1.2, -0.5, 0.1, 0.6, 1.1, 2.4], np.float32)[rng.permutation(7)]
    gradient, expected = clipped_check(student, Fn(expr), x, bound, derivative(expr, x))
    close(gradient, expected, "the clipped gradient clip(3x² − 1, −2, 2)")


@check(points=2, task="3", hint="max(x, 0) + log1p(exp(−|x|)): log(1 + exp(x)) overflows at x = 100")
def test_softplus_values(student, rng):
    """softplus(x) from −100 to 100"""
    x = rng.permutation(SOFTPLUS_POINTS)
    got = tensor(student.softplus(x), "softplus(x)", shape=x.shape)
    close(got, reference.softplus(x), "softplus(x)")


@check(points=2, task="3", hint="StableSoftplus's bprop returns (dout * ops.sigmoid(x),)", errata=(24,))
def test_softplus_gradient(student, rng):
    """grad(StableSoftplus()) is σ(x), finite at x = ±100"""
    softplus_gradient_check(student, rng.permutation(SOFTPLUS_POINTS))


@check(points=2, task="3", hint="grad(grad(StableSoftplus())): the derivative of σ is σ(1 − σ)", errata=(24,))
def test_softplus_second(student, rng):
    """grad(grad(StableSoftplus())) is σ(x)(1 − σ(x))"""
    x = rng.permutation(SOFTPLUS_POINTS)
    got = tensor(student.softplus_second(x), "softplus_second(x)", shape=x.shape)
    mistake(not np.all(np.isfinite(got)), HINT[24], f"softplus_second(x) is not finite at x = {x[~np.isfinite(got)]}")
    close(got, reference.sigmoid_derivative(x), "σ(x)(1 − σ(x))")


@check(
    points=3,
    task="4",
    hint="q = c + ops.stop_gradient(ops.sign(x) − c) with c = clip(x, −1, 1); grad(QuantizedLoss(fn), has_aux=True)",
    errata=(25, 26),
)
def test_quantized_gradient(student, rng):
    """(gradient, (q,)) of Σ fn(q), q = sign(x) straight through"""
    expr = "x**3 + 2 * x"
    x = np.array([-2.0, -1.0, -0.4, 0.2, 0.9, 1.0, 1.7], np.float32)[rng.permutation(7)]
    quantized_check(student, Fn(expr), x, derivative(expr, reference.quantized(x)))
