# Bob — the tutorial's code as printed (errata 3, 4 and 5).
from mindspore import grad, ops


def loss(inputs, targets, W, b):
    preds = ops.sigmoid(ops.matmul(inputs, W) + b)
    logit_loss = preds * targets + (1 - preds) * (1 - targets)
    return -ops.log(logit_loss).sum()


def input_gradient(inputs, targets, W, b):
    x_grad = grad(loss, grad_position=0)(inputs, targets, W, b)
    return x_grad


def weight_gradient(inputs, targets, W, b):
    W_grad = grad(loss, 2)(inputs, targets, W, b)
    return W_grad


def bias_gradient(inputs, targets, W, b):
    b_grad = grad(loss, 3)(W, b)
    return b_grad


def targets_gradient(inputs, targets, W, b):
    y_grad = grad(loss, 1)(inputs, targets, W, b)
    return y_grad


def weight_and_bias_gradients(inputs, targets, W, b):
    (W_grad, b_grad) = grad(loss, (2, 3))(inputs, targets, W, b)
    return W_grad, b_grad


def multi_loss(inputs, targets, W, b):
    loss1 = loss(inputs, targets, W, b)
    loss2 = (W**2).sum()
    return loss1, loss2


def multi_loss_gradients(inputs, targets, W, b):
    (W_grad, b_grad) = grad(multi_loss, (2, 3))(inputs, targets, W, b)
    return W_grad, b_grad


def stop_gradient_loss(inputs, targets, W, b):
    loss1 = loss(inputs, targets, W, b)
    loss2 = (W**2).sum()
    return loss1, ops.stop_gradient(loss2)


def stop_gradient_gradients(inputs, targets, W, b):
    (W_grad, b_grad) = grad(stop_gradient_loss, (2, 3))(inputs, targets, W, b)
    return W_grad, b_grad


def aux_gradients(inputs, targets, W, b):
    return grad(multi_loss, (2, 3), has_aux=True)(inputs, targets, W, b)


def loss1_gradients(inputs, targets, W, b):
    (W_grad, b_grad) = grad(multi_loss, (2, 3), has_aux=True)(inputs, targets, W, b)
    return W_grad, b_grad
