# Floods every record with student text: an exception message of 12 MB (after lifting the child's
# own cap on messages, which runs in this process), a 12 MB string as a return value, and an
# exception whose text is one 12 MB line. f, f_prime and f_second are lost; derivative is right.
import sys

from mindspore import grad

for name in ("__main__", "mslab._child"):
    module = sys.modules.get(name)
    if module is not None and hasattr(module, "MAX_MESSAGE"):
        module.MAX_MESSAGE = 1 << 30


class Loud(Exception):
    def __str__(self):
        return "L" * (12 * 1024 * 1024)


def f(x):
    raise ValueError("A" * (12 * 1024 * 1024))


def f_prime(x):
    return "B" * (12 * 1024 * 1024)


def f_second(x):
    raise Loud()


def derivative(fn, x, order=1):
    for _ in range(order):
        fn = grad(fn)
    return fn(x)
