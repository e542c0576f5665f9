"""Hidden checks of the `jacobians` lab: shapes, values and activations drawn per run.

The layer's activation is handed over as an nn.Cell whose declared gradient (its bprop) is not the
derivative of what it computes: jacrev, jacfwd, jvp and vjp follow the declaration, a Jacobian
worked out by hand, symbolically or by finite differences gets the true derivative and fails.
"""

import numpy as np

from mslab.checks import Fn, check, sibling
from mslab.numeric import declared_derivative, derivative

visible = sibling(__file__, "visible")
reference = sibling(__file__, "reference")

#: What the handed-over activation computes; coefficients drawn per run, smooth everywhere.
FAMILIES = ["tanh({a} * x)", "sigmoid({a} * x) + {c} * x", "sin({a} * x)", "{c} * x * tanh(x)"]
#: The gradient it declares (its bprop), unrelated to what it computes. No `**`: MindSpore compiles
#: what jacrev and jvp differentiate, and cannot compile `**` (operator.pow) under vmap.
DECLARED = ["{a} * cos({b} * x)", "{c} * exp({b} * x)", "{a} * x * x + {c}", "tanh({b} * x) + {c}"]


def draw(rng, families):
    a, b = (round(float(v), 2) for v in rng.uniform(0.4, 1.5, 2) * rng.choice([-1, 1], 2))
    c = round(float(rng.uniform(0.4, 1.5)), 2)
    return str(rng.choice(families)).format(a=a, b=b, c=c)


def declared_act(rng, W, b, x):
    """An activation with a declared gradient, its slope as autodiff sees it and as the math does."""
    expr, declared = draw(rng, FAMILIES), draw(rng, DECLARED)
    z = reference.layer_preactivation(W, b, x)
    return Fn(expr, declared), declared_derivative(expr, declared, z, 1), derivative(expr, z, 1)


def layer_shape(rng):
    m, n = (int(v) for v in rng.choice(np.arange(2, 7), 2, replace=False))
    return m, n


@check(points=1, task="1", hint="softmax_jacobians must work for any length of x", errata=(11,))
def test_softmax_jacobians_hidden(student, rng):
    """jacrev and jacfwd of softmax on a vector of unforeseen length"""
    visible.softmax_check(student, rng.uniform(-2, 2, int(rng.integers(3, 8))).astype(np.float32))


@check(points=2, task="2", hint="differentiate act with jacrev/jacfwd: its gradient is whatever MindSpore says it is")
def test_layer_jacobians_follow_declared_gradient(student, rng):
    """the layer's Jacobians for an activation whose gradient only autodiff knows"""
    W, b, x = visible.layer_problem(rng, *layer_shape(rng))
    visible.layer_jacobians_check(student, W, b, x, *declared_act(rng, W, b, x))


@check(points=2, task="3", hint="jvp and vjp differentiate act as MindSpore does", errata=(12, 13))
def test_jvp_and_vjp_follow_declared_gradient(student, rng):
    """Jv and uᵀJ for an activation whose gradient only autodiff knows"""
    W, b, x = visible.layer_problem(rng, *layer_shape(rng))
    act, slope, true_slope = declared_act(rng, W, b, x)
    m, n = W.shape
    v, u = rng.standard_normal(n).astype(np.float32), rng.standard_normal(m).astype(np.float32)
    visible.jvp_check(student, W, b, x, act, slope, v, true_slope)
    visible.vjp_check(student, W, b, x, act, slope, u, true_slope)


@check(points=2, task="4", hint="the logistic Hessian must work for any number of samples and features", errata=(15,))
def test_logistic_hessian_hidden(student, rng):
    """the logistic loss's Hessian on unforeseen shapes"""
    visible.logistic_hessian_check(
        student, *reference.logistic_problem(rng, int(rng.integers(6, 25)), int(rng.integers(2, 6)))
    )


@check(
    points=2, task="5", hint="fewest passes: jvp per input when J is tall, vjp per output when it is wide", errata=(16,)
)
def test_cheapest_jacobian_hidden(student, rng):
    """a tall and a wide Jacobian of unforeseen shapes, activations whose gradient only autodiff knows"""
    small, large = int(rng.integers(2, 4)), int(rng.integers(4, 8))
    for m, n in ((large, small), (small, large)):
        W, b, x = visible.layer_problem(rng, m, n)
        visible.cheapest_check(student, W, b, x, *declared_act(rng, W, b, x))
