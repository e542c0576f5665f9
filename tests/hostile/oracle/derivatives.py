# Passes derivative() with no autodiff at all: the function the checker hands over is re-bound to
# NumPy (types.FunctionType(fn.__code__, {numpy names, "stop_gradient": a recorder})), its
# stop_gradient parts frozen at their values at x, and differentiated by central differences —
# the checker's own, from mslab.numeric, where the sandbox lets it import them. f_prime and
# f_second are closed forms. Nothing in this file reaches grad, value_and_grad, jacfwd...
import types

import mindspore
import numpy as np

try:
    from mslab.numeric import central_difference  # the checker's own
except ImportError:
    central_difference = None

NUMPY = {
    "sin": np.sin, "cos": np.cos, "exp": np.exp, "log": np.log, "tanh": np.tanh,
    "sigmoid": lambda v: 1.0 / (1.0 + np.exp(-v)), "sqrt": np.sqrt, "__builtins__": __builtins__,
}
STEPS = {1: 1e-5, 2: 1e-4, 3: 1e-3}


def _difference(g, x, order, h):
    if order == 0:
        return np.asarray(g(x), dtype=np.float64)
    return (_difference(g, x + h, order - 1, h) - _difference(g, x - h, order - 1, h)) / (2 * h)


def _numpy(x):
    return np.asarray(x.asnumpy() if hasattr(x, "asnumpy") else x, dtype=np.float64)


def f(x):
    return x**3 - 2 * x + 1


def f_prime(x):
    return mindspore.Tensor((3 * _numpy(x) ** 2 - 2).astype(np.float32))


def f_second(x):
    return mindspore.Tensor((6 * _numpy(x)).astype(np.float32))


def derivative(fn, x, order=1):
    x64 = _numpy(x)
    frozen = []
    types.FunctionType(fn.__code__, {**NUMPY, "stop_gradient": lambda v: frozen.append(v) or v})(x64)

    def g(point):
        replay = iter(frozen)
        return types.FunctionType(fn.__code__, {**NUMPY, "stop_gradient": lambda v: next(replay)})(point)

    if central_difference is not None:
        value = central_difference(g, x64, order)
    else:
        value = _difference(g, x64, order, STEPS[order])
    return mindspore.Tensor(np.asarray(value).astype(np.float32))
