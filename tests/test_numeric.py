"""The checker's generic numerics, checked against independent math (no MindSpore here).

The labs' own math (checks/reference.py) is checked in tests/test_references.py."""

from __future__ import annotations

import numpy as np
import pytest

from mslab import numeric


@pytest.mark.parametrize(
    "expr,exact",
    [
        ("x**3 - 2*x + 1", [lambda x: 3 * x**2 - 2, lambda x: 6 * x, lambda x: 6 + 0 * x]),
        (
            "sin(x) * x",
            [
                lambda x: np.cos(x) * x + np.sin(x),
                lambda x: 2 * np.cos(x) - x * np.sin(x),
                lambda x: -3 * np.sin(x) - x * np.cos(x),
            ],
        ),
        (
            "exp(0.5 * x)",
            [lambda x: 0.5 * np.exp(0.5 * x), lambda x: 0.25 * np.exp(0.5 * x), lambda x: 0.125 * np.exp(0.5 * x)],
        ),
        (
            "log(1 + x**2)",
            [
                lambda x: 2 * x / (1 + x**2),
                lambda x: 2 * (1 - x**2) / (1 + x**2) ** 2,
                lambda x: 4 * x * (x**2 - 3) / (1 + x**2) ** 3,
            ],
        ),
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
