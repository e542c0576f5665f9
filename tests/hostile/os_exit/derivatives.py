# f_prime kills its own process without unwinding: os._exit(0).
import os

from mindspore import grad


def f(x):
    return x**3 - 2 * x + 1


def f_prime(x):
    os._exit(0)


def f_second(x):
    return grad(grad(f))(x)


def derivative(fn, x, order=1):
    for _ in range(order):
        fn = grad(fn)
    return fn(x)
