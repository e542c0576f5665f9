"""Visible checks of the `jacobians` lab: fixed inputs, expected values in float64 NumPy.

Closed forms are in reference.py, next to this file; the activation's derivative comes from
mslab.numeric (central differences of the same expression the sandbox builds in MindSpore).
"""

import numpy as np

from mslab.checks import Fn, check, close, hints, matches, mistake, sequence, sibling, tensor
from mslab.numeric import derivative, evaluate

reference = sibling(__file__, "reference")
HINT = hints(__file__)  # by mistake number, from ../mistakes.yaml

ACT = "tanh(x)"  # the visible checks' activation; the hidden ones hand over others
#: Seconds for one call that compiles (jacrev, jacfwd, jvp compile what they differentiate: about
#: 0.2–2 s a graph on an idle CPU, ten times that on a loaded grader), in place of the default 20 s;
#: the submission's whole budget still holds.
COMPILES = 60.0


def layer_problem(rng, m, n):
    """W (m, n), b (m,), x (n,) in float32, small enough that no activation saturates."""
    W = (0.6 * rng.standard_normal((m, n))).astype(np.float32)
    b = (0.3 * rng.standard_normal(m)).astype(np.float32)
    x = rng.standard_normal(n).astype(np.float32)
    return W, b, x


def slope_of(act: str, W, b, x) -> np.ndarray:
    """act′(z) at z = Wx + b, as autodiff sees act (stop_gradient parts frozen)."""
    return derivative(act, reference.layer_preactivation(W, b, x), 1)


def softmax_check(student, x):
    n = x.shape[0]
    rev, fwd = sequence(student.softmax_jacobians(x, timeout=COMPILES), 2, "softmax_jacobians(x)")
    expected = reference.softmax_jacobian(x)
    for got, what in ((rev, "jacrev"), (fwd, "jacfwd")):
        value = tensor(got, f"softmax_jacobians(x): the {what} Jacobian", shape=None)
        mistake(
            value.shape == (n,) and matches(value, np.zeros(n)),
            HINT[11],
            f"the {what} result is a vector of {n} zeros: the gradient of Σ softmax(x) = 1",
        )
        value = tensor(got, f"softmax_jacobians(x): the {what} Jacobian", shape=(n, n))
        close(value, expected, f"{what}: ∂softmax(x)/∂x = diag(s) − ssᵀ")


@check(points=2, task="1", hint="jacrev(ops.softmax)(x) and jacfwd(ops.softmax)(x): both are (n, n)", errata=(11,))
def test_softmax_jacobians(student):
    """jacrev and jacfwd of softmax at x = [0.5, −1, 2, 0]"""
    softmax_check(student, np.array([0.5, -1.0, 2.0, 0.0], np.float32))


@check(points=1, task="2", hint="y = act(ops.mv(W, x) + b): call the activation you are given")
def test_layer(student, rng):
    """layer(W, b, x, tanh)"""
    W, b, x = layer_problem(rng, 3, 4)
    got = tensor(student.layer(W, b, x, Fn(ACT)), "layer(W, b, x, act)", shape=(3,))
    close(got, np.tanh(reference.layer_preactivation(W, b, x)), "act(Wx + b)")


BY_HAND = "the Jacobian was worked out by hand or numerically: let MindSpore's autodiff differentiate act"


def by_hand(got, expected_true, expected, what: str) -> None:
    """Fail with BY_HAND when ``got`` is what act's true derivative gives, not its declared gradient
    (``true_slope`` is None for an activation without a declared gradient: nothing to tell apart)."""
    if expected_true is not None:
        mistake(
            matches(got, expected_true) and not matches(expected_true, expected),
            BY_HAND,
            f"{what} uses act's true derivative, not the gradient MindSpore knows",
        )


def layer_jacobians_check(student, W, b, x, act: Fn, slope, true_slope=None):
    m, n = W.shape
    jx, jW = sequence(student.layer_jacobians(W, b, x, act, timeout=COMPILES), 2, "layer_jacobians(W, b, x, act)")
    jx = tensor(jx, "layer_jacobians(...)[0]", shape=(m, n))
    expected = reference.layer_jacobian_x(W, slope)
    by_hand(jx, None if true_slope is None else reference.layer_jacobian_x(W, true_slope), expected, "∂y/∂x")
    close(jx, expected, "∂y/∂x")
    close(tensor(jW, "layer_jacobians(...)[1]", shape=(m, m, n)), reference.layer_jacobian_W(x, slope), "∂y/∂W")


@check(
    points=3,
    task="2",
    hint="jacrev of x ↦ layer(W, b, x, act) is (m, n); jacfwd of W ↦ layer(W, b, x, act) is (m, m, n)",
)
def test_layer_jacobians(student, rng):
    """∂y/∂x with jacrev and ∂y/∂W with jacfwd, for a 2 × 3 tanh layer"""
    W, b, x = layer_problem(rng, 2, 3)
    layer_jacobians_check(student, W, b, x, Fn(ACT), slope_of(ACT, W, b, x))


def jvp_check(student, W, b, x, act: Fn, slope, v, true_slope=None):
    J = reference.layer_jacobian_x(W, slope)
    got = tensor(
        student.layer_jvp(W, b, x, act, v, timeout=COMPILES), "layer_jvp(W, b, x, act, v)", shape=(W.shape[0],)
    )
    y = evaluate(act.expr, reference.layer_preactivation(W, b, x))
    mistake(
        matches(got, y) and not matches(y, J @ v.astype(np.float64)),
        HINT[12],
        "layer_jvp returned the layer's output y, not Jv",
    )
    v64 = v.astype(np.float64)
    by_hand(got, None if true_slope is None else reference.layer_jacobian_x(W, true_slope) @ v64, J @ v64, "Jv")
    close(got, J @ v.astype(np.float64), "Jv")


def vjp_check(student, W, b, x, act: Fn, slope, u, true_slope=None):
    J = reference.layer_jacobian_x(W, slope)
    got = student.layer_vjp(W, b, x, act, u)
    mistake(
        isinstance(got, (tuple, list)) and len(got) == 1,
        HINT[13],
        "layer_vjp returned the pullback's whole result, a tuple of one",
    )
    got = tensor(got, "layer_vjp(W, b, x, act, u)", shape=(W.shape[1],))
    u64 = u.astype(np.float64)
    by_hand(got, None if true_slope is None else u64 @ reference.layer_jacobian_x(W, true_slope), u64 @ J, "uᵀJ")
    close(got, u64 @ J, "uᵀJ")


@check(points=2, task="3", hint="jvp(fn, x, v) returns (fn(x), Jv): return the second", errata=(12,))
def test_layer_jvp(student, rng):
    """Jv with jvp, for a 3 × 4 tanh layer"""
    W, b, x = layer_problem(rng, 3, 4)
    v = rng.standard_normal(4).astype(np.float32)
    jvp_check(student, W, b, x, Fn(ACT), slope_of(ACT, W, b, x), v)


@check(points=2, task="3", hint="vjp(fn, x) returns (fn(x), pullback); pullback(u) is uᵀJ", errata=(13,))
def test_layer_vjp(student, rng):
    """uᵀJ with vjp, for a 3 × 4 tanh layer"""
    W, b, x = layer_problem(rng, 3, 4)
    u = rng.standard_normal(3).astype(np.float32)
    vjp_check(student, W, b, x, Fn(ACT), slope_of(ACT, W, b, x), u)


@check(points=2, task="4", hint="jacfwd(grad(q))(x) with q(x) = ½ xᵀAx", errata=(14,))
def test_quadratic_hessian(student, rng):
    """the Hessian of ½ xᵀAx for a 3 × 3 A that is not symmetric"""
    A = rng.standard_normal((3, 3)).astype(np.float32)
    x = rng.standard_normal(3).astype(np.float32)
    got = tensor(student.quadratic_hessian(A, x, timeout=COMPILES), "quadratic_hessian(A, x)", shape=(3, 3))
    mistake(matches(got, A), HINT[14], "quadratic_hessian returned A itself")
    close(got, reference.quadratic_hessian(A), "∇²(½ xᵀAx) = (A + Aᵀ)/2")


def logistic_hessian_check(student, X, y, w):
    d, N = w.shape[0], X.shape[0]
    got = tensor(student.logistic_hessian(X, y, w, timeout=COMPILES), "logistic_hessian(X, y, w)", shape=(d, d))
    H = reference.logistic_hessian(X, w)
    mistake(matches(got, N * H), HINT[15], f"logistic_hessian is N = {N} times XᵀDX/N")
    close(got, H, "∇²L = XᵀDX/N")


@check(points=2, task="4", hint="the Hessian of the mean logistic loss is XᵀDX/N, D = diag(p(1 − p))", errata=(15,))
def test_logistic_hessian(student, rng):
    """the Hessian of the logistic loss, 8 samples × 3 features"""
    logistic_hessian_check(student, *reference.logistic_problem(rng, 8, 3))


def cheapest_check(student, W, b, x, act: Fn, slope, true_slope=None):
    m, n = W.shape
    J = reference.layer_jacobian_x(W, slope)
    what = f"cheapest_jacobian(...) for a {m} × {n} Jacobian"
    answer = student.cheapest_jacobian(W, b, x, act, timeout=COMPILES)
    passes, expected = ((n, m), J.T) if n < m else ((m, n), J)
    wrong = ((m, n), J) if n < m else ((n, m), J.T)
    got = tensor(answer, what, shape=None)
    mistake(
        got.shape == wrong[0] and matches(got, wrong[1]),
        HINT[16],
        f"{what}: {wrong[0][0]} passes where {passes[0]} were enough",
    )
    got = tensor(answer, what, shape=passes)
    if true_slope is not None:
        J_true = reference.layer_jacobian_x(W, true_slope)
        by_hand(got, J_true.T if n < m else J_true, expected, what)
    close(got, expected, f"{what}: one {'column' if n < m else 'row'} of J per pass")


@check(points=1, task="5", hint="a tall J (more outputs than inputs): one jvp per input, stacked", errata=(16,))
def test_cheapest_jacobian_tall(student, rng):
    """a tall 5 × 2 Jacobian in 2 forward passes"""
    W, b, x = layer_problem(rng, 5, 2)
    cheapest_check(student, W, b, x, Fn(ACT), slope_of(ACT, W, b, x))


@check(points=1, task="5", hint="a wide J (more inputs than outputs): one vjp per output, stacked", errata=(16,))
def test_cheapest_jacobian_wide(student, rng):
    """a wide 2 × 5 Jacobian in 2 reverse passes"""
    W, b, x = layer_problem(rng, 2, 5)
    cheapest_check(student, W, b, x, Fn(ACT), slope_of(ACT, W, b, x))
