"""Visible checks of the `derivatives` lab: expected values are closed forms in NumPy."""

import numpy as np

from mslab.checks import Fn, check, close, hints, matches, mistake, tensor
from mslab.numeric import derivative

HINT = hints(__file__)  # by erratum number, from ../mistakes.yaml


def points(rng, n=6, low=-3.0, high=3.0):
    return rng.uniform(low, high, n).astype(np.float32)


@check(points=2, task="1", hint="f(x) = x**3 - 2*x + 1, with Tensor arithmetic")
def test_f_values(student, rng):
    """f(x) at six points"""
    x = points(rng)
    got = tensor(student.f(x), "f(x)", shape=x.shape)
    close(got, x.astype(np.float64) ** 3 - 2 * x + 1, "f(x)")


@check(points=1, task="2", hint="f′(x) = 3x² − 2: return grad(f)(x)")
def test_f_prime_at_one(student):
    """f′(1) = 1"""
    got = tensor(student.f_prime(np.float32(1.0)), "f_prime(1.0)", shape=())
    close(got, 1.0, "f′(1)")


@check(points=2, task="2", hint="f′(x) = 3x² − 2: return grad(f)(x)", errata=(1,))
def test_f_prime_at_points(student, rng):
    """f′(x) = 3x² − 2 at six points"""
    x = points(rng)
    got = tensor(student.f_prime(x), "f_prime(x)", shape=x.shape)
    x64 = x.astype(np.float64)
    mistake(matches(got, 3 * x64 - 2), HINT[1], "f_prime(x) returns 3x − 2")
    close(got, 3 * x64**2 - 2, "f′(x)")


@check(points=1, task="3", hint="f″(x) = 6x: return grad(grad(f))(x)", errata=(2,))
def test_f_second_at_one(student):
    """f″(1) = 6"""
    got = tensor(student.f_second(np.float32(1.0)), "f_second(1.0)", shape=())
    mistake(matches(got, 3.0), HINT[2], "f_second(1.0) returns 3")
    close(got, 6.0, "f″(1)")


@check(points=2, task="3", hint="f″(x) = 6x: return grad(grad(f))(x)", errata=(2,))
def test_f_second_at_points(student, rng):
    """f″(x) = 6x at six points"""
    x = points(rng)
    got = tensor(student.f_second(x), "f_second(x)", shape=x.shape)
    mistake(matches(got, np.full(x.shape, 3.0)), HINT[2], "f_second(x) returns 3 everywhere")
    close(got, 6 * x.astype(np.float64), "f″(x)")


@check(points=2, task="4", hint="derivative(fn, x, 1) is grad(fn)(x)")
def test_derivative_first_order(student, rng):
    """derivative(sin(x)·x, x, 1)"""
    fn, x = "sin(x) * x", points(rng, 5)
    got = tensor(student.derivative(Fn(fn), x, 1), "derivative(fn, x, 1)", shape=x.shape)
    close(got, derivative(fn, x, 1), f"d/dx [{fn}]")


@check(points=2, task="4", hint="apply grad `order` times: grad(grad(fn)) for order 2")
def test_derivative_second_order(student, rng):
    """derivative(exp(x/2) − x², x, 2)"""
    fn, x = "exp(0.5 * x) - x**2", points(rng, 5)
    got = tensor(student.derivative(Fn(fn), x, 2), "derivative(fn, x, 2)", shape=x.shape)
    close(got, derivative(fn, x, 2), f"d²/dx² [{fn}]")
