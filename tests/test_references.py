"""Each lab's own math (labs/<lab>/checks/reference.py), checked against independent math:
finite differences (mslab.numeric) and hand-checkable identities. No MindSpore here."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import LABS
from mslab import numeric
from mslab.checks import sibling


def reference(lab_name):
    return sibling(str(LABS[lab_name].visible_checks), "reference")


#: The labs whose checks use the tutorial's logistic regression (each carries its own copy).
LOGISTIC = ["logistic_gradients", "value_and_grad"]


@pytest.mark.parametrize("lab_name", LOGISTIC)
def test_logistic_closed_forms_match_finite_differences(lab_name):
    ref = reference(lab_name)
    rng = np.random.default_rng(1)
    X, y, W, b = ref.logistic_problem(rng, 7, 4)
    args = [X, y.astype(np.float64), W, b]
    closed = ref.logistic_gradients(*args)
    for position, name in enumerate(["inputs", "targets", "W", "b"]):
        fd = numeric.numeric_gradient(ref.logistic_loss, args, position)
        np.testing.assert_allclose(closed[name], fd, rtol=1e-6, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("lab_name", LOGISTIC)
def test_logistic_loss_reproduces_the_errata_reference(lab_name):
    ref = reference(lab_name)
    # The errata's hand-checkable identity: with p = 1/2 everywhere, L = n·log 2.
    X = np.zeros((5, 3))
    assert ref.logistic_loss(X, np.array([1, 0, 1, 1, 0]), np.zeros(3), np.zeros(1)) == pytest.approx(5 * np.log(2))


def test_gradient_descent_lowers_the_loss_and_steps_against_the_gradient():
    ref = reference("value_and_grad")
    rng = np.random.default_rng(2)
    X, y, W, b = ref.logistic_problem(rng, 20, 3)
    losses, W1, b1 = ref.gradient_descent(X, y, W, b, lr=0.05, steps=6)
    assert losses.shape == (6,) and np.all(np.diff(losses) < 0)
    g = ref.logistic_gradients(X, y, W, b)
    _, W_one, b_one = ref.gradient_descent(X, y, W, b, lr=0.05, steps=1)
    np.testing.assert_allclose(W_one, W - 0.05 * g["W"])
    np.testing.assert_allclose(b_one, b - 0.05 * g["b"])


@pytest.mark.parametrize("lab_name", LOGISTIC)
def test_problems_are_the_checkers_own_reproducible_draws(lab_name):
    ref = reference(lab_name)
    a = ref.logistic_problem(np.random.default_rng(9), 4, 3)
    b = ref.logistic_problem(np.random.default_rng(9), 4, 3)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)
    X, y, W, b_ = a
    assert (X.dtype, y.dtype, W.dtype, b_.dtype) == (np.float32, np.bool_, np.float32, np.float32)
    assert X.shape == (4, 3) and y.shape == (4,) and W.shape == (3,) and b_.shape == (1,)


def test_custom_gradients_rules_match_finite_differences():
    """custom_gradients' softplus has σ as its derivative and σ(1 − σ) as its second; the
    stop_gradient STE's backward part, clip(x, −1, 1), has the mask as its derivative away from
    the ends; softplus equals the naive log(1 + eˣ) where that does not overflow, and stays finite
    where it does."""
    ref = reference("custom_gradients")
    x = np.linspace(-40, 40, 161) + 0.01
    np.testing.assert_allclose(ref.sigmoid(x), numeric.central_difference(ref.softplus, x), rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(
        ref.sigmoid_derivative(x), numeric.central_difference(ref.sigmoid, x), rtol=1e-6, atol=1e-10
    )
    small = x[np.abs(x) < 5]  # a second difference of softplus itself, where rounding allows it
    np.testing.assert_allclose(
        ref.sigmoid_derivative(small), numeric.central_difference(ref.softplus, small, 2), atol=1e-7
    )
    np.testing.assert_allclose(ref.softplus(x), np.log1p(np.exp(x)), rtol=1e-12)
    inside = np.abs(np.abs(x) - 1) > 1e-3
    clip = lambda v: np.clip(v, -1, 1)  # noqa: E731
    np.testing.assert_allclose(ref.ste_mask(x)[inside], numeric.central_difference(clip, x[inside]), atol=1e-10)
    np.testing.assert_array_equal(ref.ste_mask([-1.0, 1.0, 1.0001, -0.5, 3.0]), [1, 1, 0, 1, 0])  # ends included
    big = np.array([-1000.0, 1000.0])
    np.testing.assert_array_equal(ref.softplus(big), [0.0, 1000.0])
    np.testing.assert_array_equal(ref.sigmoid(big), [0.0, 1.0])
    np.testing.assert_array_equal(ref.clip([-3.0, 0.5, 3.0], 2.0), [-2.0, 0.5, 2.0])
    np.testing.assert_array_equal(ref.quantized([-0.2, 0.7, -5.0]), [-1.0, 1.0, -1.0])


def numeric_jacobian(f, x, step=1e-6) -> np.ndarray:
    """J[i..., j...] = ∂f(x)[i...]/∂x[j...] by central differences (output dimensions first)."""
    x = np.asarray(x, dtype=np.float64)
    out = np.asarray(f(x))
    J = np.zeros(out.shape + x.shape)
    for idx in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[idx] += step
        minus[idx] -= step
        J[(...,) + idx] = (np.asarray(f(plus)) - np.asarray(f(minus))) / (2 * step)
    return J


def test_jacobians_softmax_jacobian_matches_finite_differences_and_is_symmetric():
    ref = reference("jacobians")
    x = np.array([0.5, -1.0, 2.0, 0.0])
    J = ref.softmax_jacobian(x)
    np.testing.assert_allclose(J, numeric_jacobian(ref.softmax, x), atol=1e-8)
    np.testing.assert_allclose(J, J.T)
    np.testing.assert_allclose(J.sum(axis=1), 0, atol=1e-15)  # Σ softmax = 1


def test_jacobians_layer_jacobians_match_finite_differences():
    ref = reference("jacobians")
    rng = np.random.default_rng(3)
    W, b, x = rng.standard_normal((3, 4)), rng.standard_normal(3), rng.standard_normal(4)
    slope = 1 - np.tanh(ref.layer_preactivation(W, b, x)) ** 2  # tanh′(z)
    np.testing.assert_allclose(
        ref.layer_jacobian_x(W, slope), numeric_jacobian(lambda v: np.tanh(W @ v + b), x), atol=1e-8
    )
    np.testing.assert_allclose(
        ref.layer_jacobian_W(x, slope), numeric_jacobian(lambda M: np.tanh(M @ x + b), W), atol=1e-8
    )


def test_jacobians_quadratic_hessian_is_the_symmetric_part_of_A():
    ref = reference("jacobians")
    A, x = np.array([[1.0, 2.0], [0.0, 1.0]]), np.array([1.0, -1.0])
    gradient = lambda v: numeric.numeric_gradient(lambda u: ref.quadratic(A, u), [v], 0)  # noqa: E731
    np.testing.assert_allclose(ref.quadratic_hessian(A), numeric_jacobian(gradient, x, step=1e-4), atol=1e-5)
    np.testing.assert_array_equal(ref.quadratic_hessian(A), [[1.0, 1.0], [1.0, 1.0]])  # not A


def test_jacobians_logistic_gradient_and_hessian_match_finite_differences():
    ref = reference("jacobians")
    X, y, w = ref.logistic_problem(np.random.default_rng(4), 9, 3)
    args = [X, y, w]
    np.testing.assert_allclose(
        ref.logistic_gradient(*args), numeric.numeric_gradient(ref.logistic_loss, args, 2), atol=1e-8
    )
    H = ref.logistic_hessian(X, w)
    np.testing.assert_allclose(H, numeric_jacobian(lambda v: ref.logistic_gradient(X, y, v), w), atol=1e-7)
    np.testing.assert_allclose(H, H.T)
    flipped = numeric_jacobian(lambda v: ref.logistic_gradient(X, 1 - y, v), w)  # other targets, same Hessian
    np.testing.assert_allclose(H, flipped, atol=1e-7)
    assert np.all(np.linalg.eigvalsh(H) > 0)  # XᵀDX/N with D > 0: positive definite


def test_training_step_gradients_match_finite_differences():
    ref = reference("training_step")
    rng = np.random.default_rng(3)
    w, X, y = ref.problem(rng, 9, 4)
    batch = numeric.numeric_gradient(lambda w_: ref.loss(w_, X, y), [w], 0)
    np.testing.assert_allclose(ref.batch_gradient(w, X, y), batch, rtol=1e-6, atol=1e-8)
    rows = ref.per_sample_gradients(w, X, y)
    for i in range(X.shape[0]):
        one = numeric.numeric_gradient(lambda w_, i=i: ref.loss(w_, X[i : i + 1], y[i : i + 1]), [w], 0)
        np.testing.assert_allclose(rows[i], one, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(rows.mean(axis=0), batch, rtol=1e-6, atol=1e-8)
    for act in ("sigmoid(x)", "0.5 + 0.45 * tanh(-0.8 * x)", "0.05 + 0.9 * sigmoid(1.3 * x + -0.4)"):
        fd = numeric.numeric_gradient(lambda w_, act=act: ref.loss(w_, X, y, act), [w], 0)
        np.testing.assert_allclose(ref.activation_gradient(w, X, y, act), fd, rtol=1e-6, atol=1e-8, err_msg=act)


def test_training_step_declared_gradient_replaces_the_activation_s_derivative():
    ref = reference("training_step")
    w, X, y = ref.problem(np.random.default_rng(4), 6, 3)
    z = X.astype(np.float64) @ w
    p = 1 / (1 + np.exp(-z))
    expected = X.astype(np.float64).T @ ((p - y) / (p * (1 - p)) * 0.7 * np.cos(z)) / 6
    np.testing.assert_allclose(ref.activation_gradient(w, X, y, "sigmoid(x)", "0.7 * cos(x)"), expected)
    assert not np.allclose(expected, ref.batch_gradient(w, X, y))


def test_training_step_hessian_and_newton_step():
    ref = reference("training_step")
    w, X, y = ref.problem(np.random.default_rng(5), 8, 3)
    H = ref.hessian(w, X, y)
    fd = np.stack([numeric.numeric_gradient(lambda w_, j=j: ref.batch_gradient(w_, X, y)[j], [w], 0) for j in range(3)])
    np.testing.assert_allclose(H, fd, rtol=1e-5, atol=1e-8)
    assert np.all(np.linalg.eigvalsh(H) > 0)
    step = ref.newton_step(w, X, y)
    np.testing.assert_allclose(H @ (w - step), ref.batch_gradient(w, X, y), rtol=1e-9, atol=1e-12)


def test_training_step_dense_gradients_and_one_sgd_step():
    ref = reference("training_step")
    W, b, X, y = ref.dense_problem(np.random.default_rng(6), 10, 3)
    g = ref.dense_gradients(W, b, X, y)

    def loss(W_, b_):
        p = 1 / (1 + np.exp(-(X.astype(np.float64) @ W_[0] + b_[0])))
        return float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p))))

    np.testing.assert_allclose(g["W"], numeric.numeric_gradient(loss, [W, b], 0), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(g["b"], numeric.numeric_gradient(loss, [W, b], 1), rtol=1e-6, atol=1e-8)
    assert g["loss"] == pytest.approx(loss(W.astype(np.float64), b.astype(np.float64)))
    sum_p = numeric.numeric_gradient(lambda W_, b_: float((1 / (1 + np.exp(-(X @ W_[0] + b_[0])))).sum()), [W, b], 0)
    np.testing.assert_allclose(g["sum_p_W"], sum_p, rtol=1e-6, atol=1e-8)
    value, W1, b1 = ref.sgd_step(W, b, X, y, 0.3)
    assert value == g["loss"]
    np.testing.assert_allclose(W1, W - 0.3 * g["W"])
    np.testing.assert_allclose(b1, b - 0.3 * g["b"])


def test_training_step_accumulation_over_uneven_micro_batches_is_the_batch_gradient():
    ref = reference("training_step")
    w, X, y = ref.problem(np.random.default_rng(7), 11, 3)
    assert [(s.start, s.stop) for s in ref.micro_batches(11, 4)] == [(0, 4), (4, 8), (8, 11)]
    np.testing.assert_allclose(ref.accumulated_gradient(w, X, y, 4), ref.batch_gradient(w, X, y), rtol=1e-7, atol=1e-10)
    mean, summed = (ref.accumulated_gradient(w, X, y, 4, how=how) for how in ("mean", "sum"))
    np.testing.assert_allclose(summed, 3 * mean)
    assert not np.allclose(mean, ref.batch_gradient(w, X, y), rtol=1e-3)
    # an even split: the plain mean is right
    np.testing.assert_allclose(
        ref.accumulated_gradient(w, X[:8], y[:8], 4, how="mean"), ref.batch_gradient(w, X[:8], y[:8])
    )
