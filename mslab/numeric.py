"""Generic numerics for the checks, in float64 NumPy — never MindSpore.

Central finite differences, and the NumPy evaluation of the functions the checker hands to
students (:class:`mslab.sandbox.wire.Fn` expressions). A lab's own math (the logistic
regression's closed forms, say) lives in that lab's ``checks/reference.py``, not here.
"""

from __future__ import annotations

import numpy as np

from mslab.sandbox.wire import FN_FUNCTIONS

#: The functions NumPy lacks under their name; the others are ``numpy.<name>``.
_NOT_IN_NUMPY = {"sigmoid": lambda v: 1.0 / (1.0 + np.exp(-v))}

#: What an :class:`~mslab.sandbox.wire.Fn` expression may use (:data:`~mslab.sandbox.wire.FN_FUNCTIONS`),
#: as NumPy functions.
NUMPY_FUNCTIONS = {name: _NOT_IN_NUMPY.get(name) or getattr(np, name) for name in FN_FUNCTIONS}

#: Step for an n-th central difference in float64, balancing truncation and rounding error.
_STEPS = {1: 1e-5, 2: 1e-4, 3: 1e-3, 4: 5e-3}


def evaluate(expr: str, x):
    """The value of an ``Fn`` expression at ``x`` (``stop_gradient`` is the identity)."""
    x = np.asarray(x, dtype=np.float64)
    return eval(expr, {**NUMPY_FUNCTIONS, "stop_gradient": lambda v: v}, {"x": x})  # noqa: S307


def derivative(expr: str, x, order: int = 1) -> np.ndarray:
    """The ``order``-th derivative of an elementwise ``Fn`` expression at ``x``, as autodiff sees it.

    ``stop_gradient(...)`` terms are frozen at their value at ``x`` (their derivative is zero),
    which is what MindSpore's autodiff computes and what a finite difference of the plain
    function would get wrong. Recorded in a first pass, replayed in the same order after.
    """
    x = np.asarray(x, dtype=np.float64)
    frozen: list = []

    def record(v):
        frozen.append(v)
        return v

    namespace = {**NUMPY_FUNCTIONS, "stop_gradient": record}
    eval(expr, namespace, {"x": x})  # noqa: S307

    def f(point):
        replay = iter(frozen)
        ns = {**NUMPY_FUNCTIONS, "stop_gradient": lambda v: next(replay)}
        return eval(expr, ns, {"x": point})  # noqa: S307

    return central_difference(f, x, order)


def declared_derivative(expr: str, bprop: str, x, order: int = 1) -> np.ndarray:
    """The ``order``-th derivative autodiff gives of an ``Fn(expr, bprop)``: its declared
    gradient ``bprop`` at order 1, and the derivatives of ``bprop``'s expression above (MindSpore
    differentiates the declared rule itself). ``expr`` does not enter: that is the point."""
    del expr
    if order == 1:
        return np.asarray(evaluate(bprop, x), dtype=np.float64)
    return derivative(bprop, x, order - 1)


def central_difference(f, x, order: int = 1, step: float | None = None) -> np.ndarray:
    """The ``order``-th derivative of an elementwise ``f`` at ``x`` by central differences."""
    h = step if step is not None else _STEPS[order]
    x = np.asarray(x, dtype=np.float64)
    if order == 0:
        return np.asarray(f(x), dtype=np.float64)
    return (central_difference(f, x + h, order - 1, h) - central_difference(f, x - h, order - 1, h)) / (2 * h)


def numeric_gradient(f, arrays: list[np.ndarray], position: int, step: float = 1e-6) -> np.ndarray:
    """∂f/∂arrays[position] of a scalar ``f(*arrays)``, one central difference per element."""
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    target = arrays[position]
    out = np.zeros_like(target)
    for idx in np.ndindex(target.shape):
        plus, minus = target.copy(), target.copy()
        plus[idx] += step
        minus[idx] -= step
        hi = f(*arrays[:position], plus, *arrays[position + 1 :])
        lo = f(*arrays[:position], minus, *arrays[position + 1 :])
        out[idx] = (hi - lo) / (2 * step)
    return out
