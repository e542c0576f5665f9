"""Expected values of the `training_step` lab, in float64 NumPy — never by MindSpore, never by
the reference solution.

The model: z = X·w, p = σ(z) (or a = act(z) for an activation the checker hands over), labels
y ∈ {0, 1}, and the mean logistic loss L(w) = (1/N) Σ ℓᵢ with ℓᵢ = −[yᵢ log pᵢ + (1 − yᵢ) log(1 − pᵢ)].

- one sample's gradient ∇ℓᵢ = (pᵢ − yᵢ) xᵢ; the batch gradient is their mean, Xᵀ(p − y)/N;
- with any activation a = act(z): ∇L = (1/N) Σ ℓ′(aᵢ) act′(zᵢ) xᵢ, ℓ′(a) = (a − y)/(a(1 − a)),
  and act′ is whatever autodiff uses: the declared gradient of a Cell with its own bprop;
- the Hessian H = XᵀDX/N with D = diag(pᵢ(1 − pᵢ)); a Newton step is w − H⁻¹∇L;
- nn.Dense(d, 1) with weight W (1, d) and bias b (1,): p = σ(XWᵀ + b), the same loss (what
  nn.BCELoss computes, mean over samples), ∂L/∂W = (p − y)ᵀX/N, ∂L/∂b = mean(p − y);
  one SGD step is W − lr·∂L/∂W, b − lr·∂L/∂b;
- gradient accumulation: micro-batch k of size nₖ has mean gradient gₖ; Σ (nₖ/N) gₖ = ∇L.

tests/test_references.py checks each against central finite differences (mslab.numeric).
"""

import numpy as np

from mslab.numeric import derivative, evaluate


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def _f64(*arrays):
    return tuple(np.asarray(a, dtype=np.float64) for a in arrays)


def problem(rng: np.random.Generator, n: int, d: int):
    """The checker's own draw of (w, X, y): float32, labels 0/1 as float32, X scaled so that no
    prediction saturates in float32."""
    w = rng.standard_normal(d).astype(np.float32)
    X = (0.5 * rng.standard_normal((n, d))).astype(np.float32)
    y = (rng.random(n) < 0.5).astype(np.float32)
    return w, X, y


def dense_problem(rng: np.random.Generator, n: int, d: int):
    """(W, b, X, y) for nn.Dense(d, 1): W of shape (1, d), b of shape (1,)."""
    w, X, y = problem(rng, n, d)
    return w.reshape(1, d), rng.standard_normal(1).astype(np.float32), X, y


def loss(w, X, y, act: str = "sigmoid(x)") -> float:
    """L = mean of −[y log a + (1 − y) log(1 − a)], a = act(X·w) (an Fn expression in x)."""
    w, X, y = _f64(w, X, y)
    a = evaluate(act, X @ w)
    return float(np.mean(-(y * np.log(a) + (1 - y) * np.log(1 - a))))


def per_sample_gradients(w, X, y) -> np.ndarray:
    """Row i: ∇ℓᵢ = (σ(w·xᵢ) − yᵢ) xᵢ, shape (N, d)."""
    w, X, y = _f64(w, X, y)
    return (sigmoid(X @ w) - y)[:, None] * X


def batch_gradient(w, X, y) -> np.ndarray:
    """∇L = Xᵀ(p − y)/N: the mean of the per-sample gradients."""
    w, X, y = _f64(w, X, y)
    return X.T @ (sigmoid(X @ w) - y) / X.shape[0]


def activation_gradient(w, X, y, act: str = "sigmoid(x)", declared: str = "") -> np.ndarray:
    """∇L for a = act(z): (1/N) Σ ℓ′(aᵢ) act′(zᵢ) xᵢ, with act′ the declared gradient when there
    is one (what autodiff follows), else the derivative of ``act``."""
    w, X, y = _f64(w, X, y)
    z = X @ w
    a = evaluate(act, z)
    slope = evaluate(declared, z) if declared else derivative(act, z, 1)
    return X.T @ ((a - y) / (a * (1 - a)) * slope) / X.shape[0]


def micro_batches(n: int, size: int) -> list[slice]:
    """The micro-batches of ``size`` samples in order; the last one may be smaller."""
    return [slice(start, min(start + size, n)) for start in range(0, n, size)]


def accumulated_gradient(w, X, y, size: int, act: str = "sigmoid(x)", declared: str = "", how: str = "weighted"):
    """The micro-batch gradients gₖ (each a mean over its micro-batch) combined: ``weighted``
    Σ (nₖ/N) gₖ (= ∇L), or the usual mistakes, ``mean`` (1/K) Σ gₖ and ``sum`` Σ gₖ."""
    w, X, y = _f64(w, X, y)
    parts = micro_batches(X.shape[0], size)
    grads = [activation_gradient(w, X[s], y[s], act, declared) for s in parts]
    if how == "mean":
        return np.mean(grads, axis=0)
    if how == "sum":
        return np.sum(grads, axis=0)
    return sum(g * (s.stop - s.start) / X.shape[0] for g, s in zip(grads, parts, strict=True))


def hessian(w, X, y) -> np.ndarray:
    """H = XᵀDX/N, D = diag(p(1 − p)), shape (d, d)."""
    w, X, _ = _f64(w, X, y)
    p = sigmoid(X @ w)
    return (X.T * (p * (1 - p))) @ X / X.shape[0]


def newton_step(w, X, y) -> np.ndarray:
    """w − H⁻¹∇L."""
    return np.asarray(w, dtype=np.float64) - np.linalg.solve(hessian(w, X, y), batch_gradient(w, X, y))


def dense_gradients(W, b, X, y) -> dict:
    """nn.Dense(d, 1) set to (W, b), then σ, under the mean logistic loss: the loss, the
    predictions p = σ(XWᵀ + b) (shape (N,)), ∂L/∂W (shape (1, d)) and ∂L/∂b (shape (1,)), and
    the gradients of Σ p (what a forward_fn's second output adds without has_aux)."""
    W, b, X, y = _f64(W, b, X, y)
    z = X @ W[0] + b[0]
    p = sigmoid(z)
    r = p - y
    return {
        "loss": float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p)))),
        "p": p,
        "W": (r @ X / X.shape[0])[None, :],
        "b": np.array([r.mean()]),
        "sum_p_W": ((p * (1 - p)) @ X)[None, :],
        "sum_p_b": np.array([(p * (1 - p)).sum()]),
    }


def sgd_step(W, b, X, y, lr: float) -> tuple[float, np.ndarray, np.ndarray]:
    """One SGD step from (W, b): the loss before it, then W − lr·∂L/∂W and b − lr·∂L/∂b."""
    g = dense_gradients(W, b, X, y)
    W, b = _f64(W, b)
    return g["loss"], W - lr * g["W"], b - lr * g["b"]
