# f_prime returns the right values in the wrong shape; the rest is right.
from mindspore import grad


def f(x):
    return x**3 - 2 * x + 1


def f_prime(x):
    return grad(f)(x).reshape(1, -1)


def f_second(x):
    return grad(grad(f))(x)


def derivative(fn, x, order=1):
    for _ in range(order):
        fn = grad(fn)
    return fn(x)
