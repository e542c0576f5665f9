"""Expected values of the `value_and_grad` lab: the tutorial's logistic regression in closed
form and plain gradient descent on it, computed in float64 NumPy — never by MindSpore, never by
the reference solution.

σ = sigmoid, p = σ(XW + b), y = targets as float; docs/errata.md has the tutorial's own numbers.
The checks load this file with ``sibling(__file__, "reference")``. The closed forms are the same
as labs/logistic_gradients/checks/reference.py's: each lab carries its own, so a lab is one folder.
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


def gradient_descent(X, y, W, b, lr: float, steps: int):
    """Plain gradient descent on the logistic loss: the losses before each step, then W, b."""
    W, b = np.asarray(W, dtype=np.float64), np.asarray(b, dtype=np.float64)
    losses = []
    for _ in range(steps):
        losses.append(logistic_loss(X, y, W, b))
        g = logistic_gradients(X, y, W, b)
        W, b = W - lr * g["W"], b - lr * g["b"]
    return np.array(losses), W, b
