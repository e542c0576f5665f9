# Carol — tasks 1 to 3 done, task 4 not yet.
from mindspore import grad


def f(x):
    return x**3 - 2 * x + 1


def f_prime(x):
    return grad(f)(x)


def f_second(x):
    return grad(grad(f))(x)


def derivative(fn, x, order=1):
    raise NotImplementedError("Task 4: derivative(fn, x, order)")
