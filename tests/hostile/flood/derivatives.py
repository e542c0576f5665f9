# f() prints without end; the rest is right.
from mindspore import grad


def f(x):
    while True:
        print("x" * 100_000)


def f_prime(x):
    return grad(lambda v: v**3 - 2 * v + 1)(x)


def f_second(x):
    return grad(grad(lambda v: v**3 - 2 * v + 1))(x)


def derivative(fn, x, order=1):
    for _ in range(order):
        fn = grad(fn)
    return fn(x)
