"""Hidden checks of the `custom_gradients` lab: points, bounds and functions drawn per run.

Two of them hand the student's code an ``Fn(expr, declared)``: an nn.Cell whose bprop declares
a gradient that is not the derivative of what it computes. MindSpore's autodiff follows the
declaration through the student's Cells; a gradient worked out by hand, symbolically or by
finite differences gets the plain derivative instead, and fails.
"""

import numpy as np

from mslab.checks import Fn, check, close, matches, mistake, sibling
from mslab.numeric import declared_derivative, derivative

visible = sibling(__file__, "visible")
reference = sibling(__file__, "reference")

#: What the handed functions compute; coefficients are drawn per run. Smooth on [-3, 3].
FAMILIES = [
    "{a} * x**3 + {b} * x",
    "sin({a} * x) * exp({b} * x)",
    "{a} * log(1 + x**2) + {b} * x",
    "tanh({a} * x) + {b} * x**2",
    "x * sigmoid({a} * x)",
]
#: The gradients they declare (their bprop), unrelated to what they compute, never 0 at ±1.
DECLARED = [
    "{c} * exp({b} * x)",
    "{c} * (1 + x**2)",
    "2 + {a} * sin({b} * x)",
    "{c} * sigmoid({a} * x) + {c}",
]


def draw(rng, families):
    a, b = (round(float(v), 2) for v in rng.uniform(0.3, 1.5, 2) * rng.choice([-1, 1], 2))
    c = round(float(rng.uniform(0.3, 1.5)), 2)
    return str(rng.choice(families)).format(a=a, b=b, c=c)


def declared_fn(rng):
    """A function whose declared gradient differs from its true derivative at every point checked."""
    expr, declared = draw(rng, FAMILIES), draw(rng, DECLARED)
    return Fn(expr, declared)


@check(points=2, task="1", hint="bprop(self, x, out, dout) returns (dout * (|x| ≤ 1),)", errata=(21, 22))
def test_ste_gradient_hidden(student, rng):
    """grad(SignSTE()) on unforeseen points, x = ±1 among them"""
    x = rng.uniform(-3, 3, int(rng.integers(6, 12))).astype(np.float32)
    x[rng.choice(x.size, 2, replace=False)] = [-1.0, 1.0]
    visible.ste_gradient_check(student, x)


@check(
    points=3,
    task="2",
    hint="clip in bprop only, and let value_and_grad differentiate fn itself: fn's gradient is what autodiff says",
    errata=(23,),
)
def test_clipped_gradient_follows_declared_gradient(student, rng):
    """clipped gradient of a function whose gradient only autodiff knows"""
    fn = declared_fn(rng)
    bound = round(float(rng.uniform(0.4, 1.0)), 2)
    x = rng.uniform(-2.5, 2.5, int(rng.integers(8, 14))).astype(np.float32)
    x[0] = np.float32(rng.choice([-1, 1]) * rng.uniform(bound + 0.5, 2.5))  # one value beyond the bound
    gradient, expected = visible.clipped_check(student, fn, x, bound, declared_derivative(fn.expr, fn.bprop, x))
    plain = reference.clip(derivative(fn.expr, x), bound)
    mistake(
        matches(gradient, plain) and not matches(gradient, expected),
        "the gradient is the clipped plain derivative of what fn computes, not fn's own gradient: "
        "compose fn with ClipGradient and let value_and_grad differentiate",
        "the gradient ignores fn's declared gradient",
    )
    close(gradient, expected, "clip(fn′(x), −bound, bound)")


@check(points=2, task="3", hint="StableSoftplus's bprop returns (dout * ops.sigmoid(x),)", errata=(24,))
def test_softplus_gradient_hidden(student, rng):
    """grad(StableSoftplus()) on unforeseen points up to |x| = 100"""
    x = np.concatenate([rng.uniform(-5, 5, 4), rng.uniform(90, 100, 2) * rng.choice([-1, 1], 2), [100.0]])
    visible.softplus_gradient_check(student, rng.permutation(x).astype(np.float32))


@check(
    points=3,
    task="4",
    hint="q = c + ops.stop_gradient(ops.sign(x) − c); grad(QuantizedLoss(fn), has_aux=True) differentiates fn too",
    errata=(25, 26),
)
def test_quantized_gradient_follows_declared_gradient(student, rng):
    """(gradient, (q,)) through a function whose gradient only autodiff knows"""
    fn = declared_fn(rng)
    x = rng.uniform(-3, 3, int(rng.integers(6, 12))).astype(np.float32)
    x[:2] = [rng.uniform(-3, -1.2), rng.uniform(-0.9, 0.9)]  # one outside the window, one inside
    q = reference.quantized(x)
    expected_at_q = declared_derivative(fn.expr, fn.bprop, q)
    visible.quantized_check(student, fn, x, expected_at_q, derivative(fn.expr, q))
