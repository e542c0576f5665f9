# f_second asks for 20 GiB; the rest is right.
from mindspore import grad


def f(x):
    return x**3 - 2 * x + 1


def f_prime(x):
    return grad(f)(x)


def f_second(x):
    hog = bytearray(20 * 1024**3)
    return hog


def derivative(fn, x, order=1):
    for _ in range(order):
        fn = grad(fn)
    return fn(x)
