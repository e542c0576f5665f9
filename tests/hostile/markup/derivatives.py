# Exception text that is terminal markup: `[/]` crashed `inv lab.check` (no results written) and
# `[bold green]pass[/]` painted fake cells. f and f_prime raise it; the rest is right.
from mindspore import grad


def _f(x):
    return x**3 - 2 * x + 1


def f(x):
    raise ValueError("[/]")


def f_prime(x):
    raise ValueError("[bold green]pass[/]")


def f_second(x):
    return grad(grad(_f))(x)


def derivative(fn, x, order=1):
    for _ in range(order):
        fn = grad(fn)
    return fn(x)
