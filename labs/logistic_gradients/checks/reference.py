"""Expected values of the `logistic_gradients` lab: the tutorial's logistic regression in closed
form, computed in float64 NumPy — never by MindSpore, never by the reference solution.

σ = sigmoid, p = σ(XW + b), y = targets as float; docs/errata.md has the tutorial's own numbers.
The checks load this file with ``sibling(__file__, "reference")``; it lives in the lab's folder so
that a lab is one folder (labs/value_and_grad carries its own copy, with gradient descent).
"""

import numpy as np


def _sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def logistic_loss(X, y, W, b) -> float:
    """L = −Σ log(p·y + (1−p)(1−y))."""
    X, y, W, b = (np.asarray(a, dtype=np.float64) for a in (X, y, W, b))
    p = _sigmoid(X @ W + b)
    return float(-np.log(p * y + (1 - p) * (1 - y)).sum())


def logistic_gradients(X, y, W, b) -> dict[str, np.ndarray]:
    """∂L/∂X = (p−y)Wᵀ, ∂L/∂y = −(2p−1)/(p·y + (1−p)(1−y)), ∂L/∂W = Xᵀ(p−y), ∂L/∂b = Σ(p−y)."""
    X, y, W, b = (np.asarray(a, dtype=np.float64) for a in (X, y, W, b))
    p = _sigmoid(X @ W + b)
    r = p - y
    return {
        "inputs": np.outer(r, W),
        "targets": -(2 * p - 1) / (p * y + (1 - p) * (1 - y)),
        "W": X.T @ r,
        "b": np.array([r.sum()]),
    }


def logistic_problem(rng: np.random.Generator, n: int, d: int):
    """The checker's own draw of (inputs, targets, W, b): float32, Bool targets, shapes as the tutorial's.

    Inputs are scaled so that no prediction saturates to exactly 0 or 1 in float32.
    """
    inputs = (0.5 * rng.standard_normal((n, d))).astype(np.float32)
    targets = rng.random(n) < 0.5
    W = rng.standard_normal(d).astype(np.float32)
    b = rng.standard_normal(1).astype(np.float32)
    return inputs, targets, W, b
