"""Lab `derivatives` — fill in the four functions below, then run `inv lab.check derivatives`.

Every function takes and returns mindspore.Tensor values (any shape; work elementwise).
Use mindspore.grad for the derivatives: the checker also differentiates functions you cannot
know in advance, so derivatives worked out by hand cannot pass.
"""

from mindspore import grad  # noqa: F401 - you will need it


def f(x):
    """Task 1. f(x) = x³ − 2x + 1, elementwise.

    f(1) = 0.
    """
    raise NotImplementedError("Task 1: f(x)")


def f_prime(x):
    """Task 2. f′(x), computed with mindspore.grad (not written out by hand).

    Math: f′(x) = 3x² − 2, so f′(1) = 1 and f′(2) = 10.
    (The tutorial writes 3x − 2: wrong, although it also gives 1 at x = 1.)
    """
    raise NotImplementedError("Task 2: f_prime(x)")


def f_second(x):
    """Task 3. f″(x), the gradient of the gradient: grad(grad(f)).

    Math: f″(x) = 6x, so f″(1) = 6 and f″(2) = 12.
    (The tutorial writes f″(x) = 3: wrong.)
    """
    raise NotImplementedError("Task 3: f_second(x)")


def derivative(fn, x, order=1):
    """Task 4. The `order`-th derivative of `fn` at `x` (order ≥ 1), by applying grad `order` times.

    `fn` is an elementwise MindSpore function chosen by the checker, e.g.
    `lambda x: ops.sin(x) * x`; its derivative is cos(x)·x + sin(x).
    Parts of `fn` wrapped in ops.stop_gradient must count as constants.
    """
    raise NotImplementedError("Task 4: derivative(fn, x, order)")
