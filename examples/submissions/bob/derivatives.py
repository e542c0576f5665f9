# Bob — copied the tutorial's formulas (errata 1 and 2).
from mindspore import grad


def f(x):
    return x**3 - 2 * x + 1


def f_prime(x):
    # "f'(x) = 3x - 2", as the tutorial says
    return 3 * x - 2


def f_second(x):
    # "f''(x) = 3"
    return x * 0 + 3


def derivative(fn, x, order=1):
    for _ in range(order):
        fn = grad(fn)
    return fn(x)
