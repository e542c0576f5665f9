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
