"""Lab `value_and_grad` — fill in the three functions below, then run `inv lab.check value_and_grad`.

The checker passes the tutorial's logistic-regression data:
    inputs — float32 (n, d); targets — bool (n,); W — float32 (d,); b — float32 (1,).
`loss` and `multi_loss` are given. Keep the name `loss` bound to the function: never write
`loss, grads = value_and_grad(loss, ...)(...)` (the tutorial does, and it breaks later code).
"""

from mindspore import ops, value_and_grad  # noqa: F401


def loss(inputs, targets, W, b):
    """Given. L = −Σ log(p·y + (1 − p)(1 − y)), p = sigmoid(inputs @ W + b)."""
    preds = ops.sigmoid(ops.matmul(inputs, W) + b)
    logit_loss = preds * targets + (1 - preds) * (1 - targets)
    return -ops.log(logit_loss).sum()


def multi_loss(inputs, targets, W, b):
    """Given. (loss1, loss2) = (loss(...), Σ W²)."""
    return loss(inputs, targets, W, b), (W**2).sum()


def loss_and_gradients(inputs, targets, W, b):
    """Task 1. (L, (∂L/∂W, ∂L/∂b)) from one value_and_grad call with grad_position=(2, 3)."""
    raise NotImplementedError("Task 1: loss_and_gradients")


def loss_and_gradients_with_aux(inputs, targets, W, b):
    """Task 2. value_and_grad of multi_loss with has_aux=True: ((loss1, loss2), (∂loss1/∂W, ∂loss1/∂b)).

    Only the first output is differentiated; loss2 rides along as auxiliary data.
    """
    raise NotImplementedError("Task 2: loss_and_gradients_with_aux")


def train(inputs, targets, W, b, lr, steps):
    """Task 3. `steps` steps of gradient descent on `loss`: W ← W − lr·∂L/∂W, b ← b − lr·∂L/∂b.

    Return (W, b, losses): the final W and b, and a float32 Tensor of shape (steps,) holding
    the loss *before* each step (value_and_grad gives it together with the gradients).
    """
    raise NotImplementedError("Task 3: train")
