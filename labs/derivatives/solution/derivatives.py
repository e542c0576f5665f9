"""Reference solution of the `derivatives` lab."""

from mindspore import grad


def f(x):
    """Task 1. f(x) = x³ − 2x + 1."""
    return x**3 - 2 * x + 1


def f_prime(x):
    """Task 2. f′(x) = 3x² − 2."""
    return grad(f)(x)


def f_second(x):
    """Task 3. f″(x) = 6x."""
    return grad(grad(f))(x)


def derivative(fn, x, order=1):
    """Task 4. grad applied `order` times."""
    for _ in range(order):
        fn = grad(fn)
    return fn(x)
