"""Expected values of the `custom_gradients` lab, in float64 NumPy — never by MindSpore, never by
the reference solution. Each function is the rule a Cell's bprop declares, or the value its
construct computes; tests/test_references.py checks them against finite differences.
"""

import numpy as np


def ste_mask(x) -> np.ndarray:
    """The straight-through gradient of sign: 1 where |x| ≤ 1 (both ends included), else 0."""
    return (np.abs(np.asarray(x, dtype=np.float64)) <= 1).astype(np.float64)


def clip(g, bound: float) -> np.ndarray:
    """A gradient clipped to [−bound, bound], elementwise."""
    return np.clip(np.asarray(g, dtype=np.float64), -bound, bound)


def softplus(x) -> np.ndarray:
    """log(1 + eˣ) without overflow: max(x, 0) + log1p(e^(−|x|))."""
    x = np.asarray(x, dtype=np.float64)
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def sigmoid(x) -> np.ndarray:
    """σ(x) = 1 / (1 + e^(−x)), the derivative of softplus, without overflow."""
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def sigmoid_derivative(x) -> np.ndarray:
    """σ′(x) = σ(x)(1 − σ(x)), softplus's second derivative."""
    s = sigmoid(x)
    return s * (1 - s)


def quantized(x) -> np.ndarray:
    """q = sign(x), what QuantizedLoss passes forward (and returns as its aux output)."""
    return np.sign(np.asarray(x, dtype=np.float64))
