"""Expected values of the `jacobians` lab in float64 NumPy — never MindSpore, never the solution.

A Jacobian is laid out as MindSpore's jacrev and jacfwd lay it out: output dimensions first, then
the input's, J[i, j] = ∂yᵢ/∂xⱼ. The layer is y = act(Wx + b) with an elementwise act whose
derivative at z = Wx + b the checks pass in as ``slope`` (the true derivative, or the gradient a
handed-over Cell declares): then ∂y/∂x = diag(slope)·W and ∂yᵢ/∂Wⱼₖ = δᵢⱼ·slopeᵢ·xₖ.
tests/test_references.py checks each closed form against finite differences.
"""

import numpy as np


def _f64(*arrays):
    return tuple(np.asarray(a, dtype=np.float64) for a in arrays)


def softmax(x) -> np.ndarray:
    (x,) = _f64(x)
    e = np.exp(x - x.max())
    return e / e.sum()


def softmax_jacobian(x) -> np.ndarray:
    """J = diag(s) − ssᵀ, s = softmax(x): symmetric, each row sums to 0."""
    s = softmax(x)
    return np.diag(s) - np.outer(s, s)


def layer_preactivation(W, b, x) -> np.ndarray:
    """z = Wx + b."""
    W, b, x = _f64(W, b, x)
    return W @ x + b


def layer_jacobian_x(W, slope) -> np.ndarray:
    """∂y/∂x = diag(slope)·W, shape (m, n)."""
    W, slope = _f64(W, slope)
    return slope[:, None] * W


def layer_jacobian_W(x, slope) -> np.ndarray:
    """∂yᵢ/∂Wⱼₖ = δᵢⱼ·slopeᵢ·xₖ, shape (m, m, n)."""
    x, slope = _f64(x, slope)
    return np.einsum("ij,k->ijk", np.diag(slope), x)


def quadratic(A, x) -> float:
    """q(x) = ½ xᵀAx."""
    A, x = _f64(A, x)
    return float(0.5 * x @ A @ x)


def quadratic_hessian(A) -> np.ndarray:
    """∇²q = (A + Aᵀ)/2 — not A, unless A is symmetric."""
    (A,) = _f64(A)
    return (A + A.T) / 2


def _sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def logistic_loss(X, y, w) -> float:
    """L(w) = (1/N) Σ [log(1 + e^{zₙ}) − yₙzₙ], z = Xw: the mean cross-entropy of σ(Xw) against y ∈ {0, 1}."""
    X, y, w = _f64(X, y, w)
    z = X @ w
    return float(np.mean(np.logaddexp(0.0, z) - y * z))


def logistic_gradient(X, y, w) -> np.ndarray:
    """∇L = Xᵀ(p − y)/N, p = σ(Xw)."""
    X, y, w = _f64(X, y, w)
    return X.T @ (_sigmoid(X @ w) - y) / X.shape[0]


def logistic_hessian(X, w) -> np.ndarray:
    """∇²L = XᵀDX/N with D = diag(p(1 − p)): symmetric, and free of y."""
    X, w = _f64(X, w)
    p = _sigmoid(X @ w)
    return X.T @ ((p * (1 - p))[:, None] * X) / X.shape[0]


def logistic_problem(rng: np.random.Generator, n: int, d: int):
    """The checker's own draw of (X, y, w): float32, y in {0, 1} as float32, no saturated σ."""
    X = (0.7 * rng.standard_normal((n, d))).astype(np.float32)
    y = (rng.random(n) < 0.5).astype(np.float32)
    w = rng.standard_normal(d).astype(np.float32)
    return X, y, w
