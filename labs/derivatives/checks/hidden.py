"""Hidden checks of the `derivatives` lab: shapes, points and functions drawn per run."""

import numpy as np

from mslab.checks import Fn, check, close, hints, matches, mistake, tensor
from mslab.numeric import declared_derivative, derivative, evaluate

HINT = hints(__file__)  # by erratum number, from ../mistakes.yaml

#: Function families; coefficients are drawn per run. All are smooth on [-2, 2].
FAMILIES = [
    "{a} * x**3 + {b} * x**2 + {c} * x",
    "sin({a} * x) * exp({b} * x)",
    "{a} * log(1 + x**2)",
    "tanh({a} * x) + {b} * x**2",
    "x * sigmoid({a} * x)",
    "{a} * x * cos({b} * x)",
    "sqrt(1 + {c} * x**2)",
]
#: Functions with a stop_gradient part: a finite difference of the function gets these wrong.
STOPPED = [
    "{a} * x**2 + stop_gradient({b} * x**3)",
    "sin({a} * x) * stop_gradient(exp({b} * x))",
]
#: Gradients a handed-over Cell declares (its bprop), unrelated to what it computes: MindSpore's
#: grad follows the declaration at every order; a derivative made by hand gets the true one.
DECLARED = [
    "{a} * cos({b} * x)",
    "{a} * x**2 + {c}",
    "{c} * exp({b} * x)",
    "tanh({a} * x) + {c} * x",
]


def draw(rng, families):
    a, b = (round(float(v), 2) for v in rng.uniform(0.3, 1.5, 2) * rng.choice([-1, 1], 2))
    c = round(float(rng.uniform(0.3, 1.5)), 2)
    return str(rng.choice(families)).format(a=a, b=b, c=c)


@check(points=1, task="2", hint="f′(x) = 3x² − 2: return grad(f)(x)", errata=(1,))
def test_f_prime_hidden(student, rng):
    """f′(x) on a vector of unforeseen length and range"""
    x = rng.uniform(-5, 5, int(rng.integers(3, 10))).astype(np.float32)
    got = tensor(student.f_prime(x), "f_prime(x)", shape=x.shape)
    x64 = x.astype(np.float64)
    mistake(matches(got, 3 * x64 - 2), HINT[1], "f_prime(x) returns 3x − 2")
    close(got, 3 * x64**2 - 2, "f′(x)")


@check(points=1, task="3", hint="f″(x) = 6x: return grad(grad(f))(x)", errata=(2,))
def test_f_second_hidden(student, rng):
    """f″(x) on a matrix"""
    x = rng.uniform(-5, 5, (2, int(rng.integers(2, 5)))).astype(np.float32)
    got = tensor(student.f_second(x), "f_second(x)", shape=x.shape)
    mistake(matches(got, np.full(x.shape, 3.0)), HINT[2], "f_second(x) returns 3 everywhere")
    close(got, 6 * x.astype(np.float64), "f″(x)")


@check(points=2, task="4", hint="derivative must work for any fn and order 1, 2 or 3")
def test_derivative_unforeseen_functions(student, rng):
    """derivative() of three functions drawn at random, orders 1 to 3"""
    for order in (1, 2, 3):
        fn = draw(rng, FAMILIES)
        x = rng.uniform(-2, 2, int(rng.integers(3, 7))).astype(np.float32)
        got = tensor(student.derivative(Fn(fn), x, order), f"derivative({fn}, x, {order})", shape=x.shape)
        close(got, derivative(fn, x, order), f"order-{order} derivative of {fn}")


@check(points=2, task="4", hint="derivative must apply mindspore.grad to fn itself, order times")
def test_derivative_follows_declared_gradient(student, rng):
    """derivative() of functions whose gradient only autodiff knows, orders 1 to 3"""
    for order in (1, 2, 3):
        fn, declared = draw(rng, FAMILIES), draw(rng, DECLARED)
        x = rng.uniform(-2, 2, int(rng.integers(3, 7))).astype(np.float32)
        got = tensor(student.derivative(Fn(fn, declared), x, order), f"derivative(fn, x, {order})", shape=x.shape)
        mistake(
            matches(got, derivative(fn, x, order)) and not matches(got, declared_derivative(fn, declared, x, order)),
            "derivative was worked out by hand or numerically: apply mindspore.grad to fn",
            f"derivative(fn, x, {order}) is the plain derivative of what fn computes, not its gradient",
        )
        close(got, declared_derivative(fn, declared, x, order), f"order-{order} derivative of fn")


@check(points=2, task="4", hint="use mindspore.grad: a numerical derivative ignores stop_gradient")
def test_derivative_respects_stop_gradient(student, rng):
    """derivative() treats stop_gradient parts as constants"""
    fn = draw(rng, STOPPED)
    x = rng.uniform(-2, 2, 5).astype(np.float32)
    got = tensor(student.derivative(Fn(fn), x, 1), f"derivative({fn}, x, 1)", shape=x.shape)
    plain = derivative(fn.replace("stop_gradient", ""), x, 1)
    mistake(
        matches(got, plain) and not matches(plain, derivative(fn, x, 1)),
        "your derivative differentiates through stop_gradient: use mindspore.grad, not finite differences",
        f"derivative({fn}) ignores stop_gradient",
    )
    close(got, derivative(fn, x, 1), f"d/dx [{fn}]")
    assert np.all(np.isfinite(evaluate(fn, x)))
