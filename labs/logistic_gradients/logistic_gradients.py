"""Lab `logistic_gradients` — fill in the functions below, then run `inv lab.check logistic_gradients`.

Every function receives the same four Tensors, chosen by the checker:
    inputs  — float32, shape (n, d)
    targets — bool (True/False labels), shape (n,)
    W       — float32, shape (d,)
    b       — float32, shape (1,)
and must return mindspore.Tensor values (or tuples of them, as stated).
Notation: p = sigmoid(inputs @ W + b), y = targets as 0/1 floats.
"""

import mindspore  # noqa: F401
from mindspore import grad, ops  # noqa: F401


def loss(inputs, targets, W, b):
    """Task 1. L = −Σ log(p·y + (1 − p)(1 − y)), a scalar Tensor (shape ())."""
    raise NotImplementedError("Task 1: loss")


def input_gradient(inputs, targets, W, b):
    """Task 2. ∂L/∂inputs = (p − y) Wᵀ, shape (n, d): grad with grad_position=0."""
    raise NotImplementedError("Task 2: input_gradient")


def weight_gradient(inputs, targets, W, b):
    """Task 2. ∂L/∂W = inputsᵀ (p − y), shape (d,): grad_position=2."""
    raise NotImplementedError("Task 2: weight_gradient")


def bias_gradient(inputs, targets, W, b):
    """Task 2. ∂L/∂b = Σ (p − y), shape (1,): grad_position=3.

    The gradient function takes all of loss's arguments; grad_position only picks which
    one is differentiated.
    """
    raise NotImplementedError("Task 2: bias_gradient")


def targets_gradient(inputs, targets, W, b):
    """Task 3. ∂L/∂targets = −(2p − 1) / (p·y + (1 − p)(1 − y)), shape (n,), float32.

    targets arrives as a Bool tensor, which grad cannot differentiate: treat it as float32.
    """
    raise NotImplementedError("Task 3: targets_gradient")


def weight_and_bias_gradients(inputs, targets, W, b):
    """Task 4. (∂L/∂W, ∂L/∂b) from one grad call with grad_position=(2, 3)."""
    raise NotImplementedError("Task 4: weight_and_bias_gradients")


def multi_loss(inputs, targets, W, b):
    """Task 5. Two outputs: (loss1, loss2) = (loss(...), Σ W²)."""
    raise NotImplementedError("Task 5: multi_loss")


def multi_loss_gradients(inputs, targets, W, b):
    """Task 5. (∂/∂W, ∂/∂b) of multi_loss: gradients of both outputs are summed.

    Math: ∂/∂W = inputsᵀ (p − y) + 2W; ∂/∂b = Σ (p − y).
    """
    raise NotImplementedError("Task 5: multi_loss_gradients")


def stop_gradient_loss(inputs, targets, W, b):
    """Task 6. (loss1, loss2) as in multi_loss, with loss2 wrapped in ops.stop_gradient."""
    raise NotImplementedError("Task 6: stop_gradient_loss")


def stop_gradient_gradients(inputs, targets, W, b):
    """Task 6. (∂/∂W, ∂/∂b) of stop_gradient_loss: only loss1 contributes."""
    raise NotImplementedError("Task 6: stop_gradient_gradients")


def aux_gradients(inputs, targets, W, b):
    """Task 7. grad(multi_loss, (2, 3), has_aux=True)(...) as it is: ((∂W, ∂b), (loss2,))."""
    raise NotImplementedError("Task 7: aux_gradients")


def loss1_gradients(inputs, targets, W, b):
    """Task 7. (∂loss1/∂W, ∂loss1/∂b) using has_aux=True on multi_loss — mind the unpacking."""
    raise NotImplementedError("Task 7: loss1_gradients")
