# Alice — a complete, correct submission.
import mindspore as ms
from mindspore import grad, ops


def loss(inputs, targets, W, b):
    y = targets.astype(ms.float32)
    p = ops.sigmoid(ops.matmul(inputs, W) + b)
    return -ops.log(p * y + (1 - p) * (1 - y)).sum()


def input_gradient(inputs, targets, W, b):
    return grad(loss, grad_position=0)(inputs, targets, W, b)


def weight_gradient(inputs, targets, W, b):
    return grad(loss, grad_position=2)(inputs, targets, W, b)


def bias_gradient(inputs, targets, W, b):
    return grad(loss, grad_position=3)(inputs, targets, W, b)


def targets_gradient(inputs, targets, W, b):
    return grad(loss, grad_position=1)(inputs, targets.astype(ms.float32), W, b)


def weight_and_bias_gradients(inputs, targets, W, b):
    return grad(loss, grad_position=(2, 3))(inputs, targets, W, b)


def multi_loss(inputs, targets, W, b):
    return loss(inputs, targets, W, b), ops.sum(W * W)


def multi_loss_gradients(inputs, targets, W, b):
    return grad(multi_loss, grad_position=(2, 3))(inputs, targets, W, b)


def stop_gradient_loss(inputs, targets, W, b):
    first, second = multi_loss(inputs, targets, W, b)
    return first, ops.stop_gradient(second)


def stop_gradient_gradients(inputs, targets, W, b):
    return grad(stop_gradient_loss, grad_position=(2, 3))(inputs, targets, W, b)


def aux_gradients(inputs, targets, W, b):
    return grad(multi_loss, grad_position=(2, 3), has_aux=True)(inputs, targets, W, b)


def loss1_gradients(inputs, targets, W, b):
    gradients, _ = aux_gradients(inputs, targets, W, b)
    return gradients
