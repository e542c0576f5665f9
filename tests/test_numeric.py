"""The checker's expected values, checked against independent math (no MindSpore here)."""

from __future__ import annotations

import numpy as np
import pytest

from mslab import numeric


@pytest.mark.parametrize(
    "expr,exact",
    [
        ("x**3 - 2*x + 1", [lambda x: 3 * x**2 - 2, lambda x: 6 * x, lambda x: 6 + 0 * x]),
        ("sin(x) * x", [lambda x: np.cos(x) * x + np.sin(x), lambda x: 2 * np.cos(x) - x * np.sin(x),
                        lambda x: -3 * np.sin(x) - x * np.cos(x)]),
        ("exp(0.5 * x)", [lambda x: 0.5 * np.exp(0.5 * x), lambda x: 0.25 * np.exp(0.5 * x),
                          lambda x: 0.125 * np.exp(0.5 * x)]),
        ("log(1 + x**2)", [lambda x: 2 * x / (1 + x**2), lambda x: 2 * (1 - x**2) / (1 + x**2) ** 2,
                           lambda x: 4 * x * (x**2 - 3) / (1 + x**2) ** 3]),
    ],
)
def test_finite_differences_match_closed_forms(expr, exact):
    x = np.linspace(-2, 2, 9)
    for order, fn in enumerate(exact, 1):
        np.testing.assert_allclose(numeric.derivative(expr, x, order), fn(x), rtol=1e-5, atol=1e-5)


def test_stop_gradient_parts_count_as_constants():
    x = np.linspace(-1.5, 1.5, 7)
    np.testing.assert_allclose(numeric.derivative("0.5 * x**2 + stop_gradient(x**3)", x), x, atol=1e-7)
    np.testing.assert_allclose(
        numeric.derivative("sin(x) * stop_gradient(exp(x))", x, 2), -np.sin(x) * np.exp(x), rtol=1e-5
    )
    np.testing.assert_allclose(numeric.evaluate("x + stop_gradient(x**2)", x), x + x**2)


def test_logistic_closed_forms_match_finite_differences():
    rng = np.random.default_rng(1)
    X, y, W, b = numeric.logistic_problem(rng, 7, 4)
    args = [X, y.astype(np.float64), W, b]
    closed = numeric.logistic_gradients(*args)
    for position, name in enumerate(["inputs", "targets", "W", "b"]):
        fd = numeric.numeric_gradient(numeric.logistic_loss, args, position)
        np.testing.assert_allclose(closed[name], fd, rtol=1e-6, atol=1e-6, err_msg=name)


def test_logistic_loss_reproduces_the_errata_reference():
    # The errata's hand-checkable identity: with p = 1/2 everywhere, L = n·log 2.
    X = np.zeros((5, 3))
    assert numeric.logistic_loss(X, np.array([1, 0, 1, 1, 0]), np.zeros(3), np.zeros(1)) == pytest.approx(5 * np.log(2))


def test_gradient_descent_lowers_the_loss_and_steps_against_the_gradient():
    rng = np.random.default_rng(2)
    X, y, W, b = numeric.logistic_problem(rng, 20, 3)
    losses, W1, b1 = numeric.gradient_descent(X, y, W, b, lr=0.05, steps=6)
    assert losses.shape == (6,) and np.all(np.diff(losses) < 0)
    g = numeric.logistic_gradients(X, y, W, b)
    _, W_one, b_one = numeric.gradient_descent(X, y, W, b, lr=0.05, steps=1)
    np.testing.assert_allclose(W_one, W - 0.05 * g["W"])
    np.testing.assert_allclose(b_one, b - 0.05 * g["b"])


def test_problems_are_the_checkers_own_reproducible_draws():
    a = numeric.logistic_problem(np.random.default_rng(9), 4, 3)
    b = numeric.logistic_problem(np.random.default_rng(9), 4, 3)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)
    X, y, W, b_ = a
    assert (X.dtype, y.dtype, W.dtype, b_.dtype) == (np.float32, np.bool_, np.float32, np.float32)
    assert X.shape == (4, 3) and y.shape == (4,) and W.shape == (3,) and b_.shape == (1,)
