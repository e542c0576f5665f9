"""Lab `custom_gradients` — fill in the Cells and functions below, then run `inv lab.check custom_gradients`.

Every function takes and returns mindspore.Tensor values (float32, any shape; work elementwise).
A Cell's gradient rule is its `bprop(self, x, out, dout)` method: MindSpore calls it with the
Cell's input `x`, its output `out` and the gradient `dout` arriving from above, and uses what it
returns — a tuple with one gradient per input — instead of differentiating `construct`.
Some checks hand you a function `fn` (elementwise, built by the checker): compose it with your
Cells and let MindSpore's grad / value_and_grad differentiate the whole.
"""

from mindspore import grad, nn, ops, value_and_grad  # noqa: F401 - you will need them


class SignSTE(nn.Cell):
    """Task 1. Forward sign(x); backward the straight-through gradient dout · 1{|x| ≤ 1}."""

    def construct(self, x):
        raise NotImplementedError("Task 1: SignSTE.construct")

    def bprop(self, x, out, dout):
        raise NotImplementedError("Task 1: SignSTE.bprop")


def ste_sign(x):
    """Task 1. SignSTE()(x): sign(x), −1 or +1 (the checker never sends 0)."""
    raise NotImplementedError("Task 1: ste_sign(x)")


def ste_sign_gradient(x):
    """Task 1. grad(SignSTE())(x): 1 where |x| ≤ 1 (x = ±1 included), 0 elsewhere.

    The true derivative of sign is 0 everywhere (grad(ops.sign) gives zeros): only the
    declared bprop makes a gradient flow.
    """
    raise NotImplementedError("Task 1: ste_sign_gradient(x)")


class ClipGradient(nn.Cell):
    """Task 2. Forward the identity, y = x; backward the incoming gradient clipped:
    clip(dout, −bound, bound). The value that flows forward is never clipped."""

    def __init__(self, bound):
        super().__init__()
        self.bound = bound

    def construct(self, x):
        raise NotImplementedError("Task 2: ClipGradient.construct")

    def bprop(self, x, out, dout):
        raise NotImplementedError("Task 2: ClipGradient.bprop")


def clipped_value_and_grad(fn, x, bound):
    """Task 2. value_and_grad of v ↦ fn(ClipGradient(bound)(v)) at x: (value, gradient).

    Math: value = fn(x) (unchanged); gradient = clip(fn′(x), −bound, bound), elementwise,
    where fn′ is the gradient MindSpore's autodiff gives for fn.
    """
    raise NotImplementedError("Task 2: clipped_value_and_grad(fn, x, bound)")


class StableSoftplus(nn.Cell):
    """Task 3. softplus(x) = log(1 + eˣ), computed as max(x, 0) + log(1 + e^(−|x|)) so that
    it never overflows; its bprop declares the gradient dout · σ(x), σ = sigmoid."""

    def construct(self, x):
        raise NotImplementedError("Task 3: StableSoftplus.construct")

    def bprop(self, x, out, dout):
        raise NotImplementedError("Task 3: StableSoftplus.bprop")


def softplus(x):
    """Task 3. StableSoftplus()(x); softplus(100) = 100, softplus(−100) ≈ 3.7e−44."""
    raise NotImplementedError("Task 3: softplus(x)")


def softplus_gradient(x):
    """Task 3. grad(StableSoftplus())(x) = σ(x), finite for every float32 x (σ(100) = 1)."""
    raise NotImplementedError("Task 3: softplus_gradient(x)")


def softplus_second(x):
    """Task 3. grad(grad(StableSoftplus()))(x) = σ(x)(1 − σ(x)): the derivative of the bprop's rule."""
    raise NotImplementedError("Task 3: softplus_second(x)")


class QuantizedLoss(nn.Cell):
    """Task 4. A loss on sign(x) with a straight-through gradient made by ops.stop_gradient:

    c = clip(x, −1, 1);  q = c + stop_gradient(sign(x) − c)     (q = sign(x) forward)
    construct(x) returns (Σ fn(q), q): the loss and an auxiliary output.
    """

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def construct(self, x):
        raise NotImplementedError("Task 4: QuantizedLoss.construct")


def quantized_gradient(fn, x):
    """Task 4. grad(QuantizedLoss(fn), has_aux=True)(x), as it is: (gradient, (q,)).

    Math: gradient = fn′(sign(x)) · 1{|x| ≤ 1}; q = sign(x).
    """
    raise NotImplementedError("Task 4: quantized_gradient(fn, x)")
