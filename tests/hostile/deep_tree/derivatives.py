# Plants a 3000-deep chain of folders in its scratch folder: the grader's
# shutil.rmtree(..., ignore_errors=True) raised RecursionError, the row became "error", was retried
# on every run and left the chain behind. The chain's top is named with this run's marker so the
# test can look for leftovers (and remove them). Otherwise right.
import os

from mindspore import grad

MARKER = "MSLAB_HOSTILE_MARKER"
fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY)
try:
    name = f"deep-{MARKER}"
    for _ in range(3000):
        os.mkdir(name, dir_fd=fd)
        inner = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd, name = inner, "d"
except OSError:
    pass
finally:
    os.close(fd)


def f(x):
    return x**3 - 2 * x + 1


def f_prime(x):
    return grad(f)(x)


def f_second(x):
    return grad(grad(f))(x)


def derivative(fn, x, order=1):
    for _ in range(order):
        fn = grad(fn)
    return fn(x)
