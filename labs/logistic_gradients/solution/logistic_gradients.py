"""Reference solution of the `logistic_gradients` lab."""

import mindspore
from mindspore import grad, ops


def loss(inputs, targets, W, b):
    """Task 1."""
    preds = ops.sigmoid(ops.matmul(inputs, W) + b)
    logit_loss = preds * targets + (1 - preds) * (1 - targets)
    return -ops.log(logit_loss).sum()


def input_gradient(inputs, targets, W, b):
    """Task 2."""
    return grad(loss, grad_position=0)(inputs, targets, W, b)


def weight_gradient(inputs, targets, W, b):
    """Task 2."""
    return grad(loss, 2)(inputs, targets, W, b)


def bias_gradient(inputs, targets, W, b):
    """Task 2."""
    return grad(loss, 3)(inputs, targets, W, b)


def targets_gradient(inputs, targets, W, b):
    """Task 3."""
    return grad(loss, 1)(inputs, targets.astype(mindspore.float32), W, b)


def weight_and_bias_gradients(inputs, targets, W, b):
    """Task 4."""
    return grad(loss, (2, 3))(inputs, targets, W, b)


def multi_loss(inputs, targets, W, b):
    """Task 5."""
    loss1 = loss(inputs, targets, W, b)
    loss2 = (W**2).sum()
    return loss1, loss2


def multi_loss_gradients(inputs, targets, W, b):
    """Task 5."""
    return grad(multi_loss, (2, 3))(inputs, targets, W, b)


def stop_gradient_loss(inputs, targets, W, b):
    """Task 6."""
    loss1 = loss(inputs, targets, W, b)
    loss2 = (W**2).sum()
    return loss1, ops.stop_gradient(loss2)


def stop_gradient_gradients(inputs, targets, W, b):
    """Task 6."""
    return grad(stop_gradient_loss, (2, 3))(inputs, targets, W, b)


def aux_gradients(inputs, targets, W, b):
    """Task 7."""
    return grad(multi_loss, (2, 3), has_aux=True)(inputs, targets, W, b)


def loss1_gradients(inputs, targets, W, b):
    """Task 7."""
    (W_grad, b_grad), _aux = grad(multi_loss, (2, 3), has_aux=True)(inputs, targets, W, b)
    return W_grad, b_grad
