# Bob — the tutorial's value_and_grad line (erratum 6).
from mindspore import ops, value_and_grad


def loss(inputs, targets, W, b):
    preds = ops.sigmoid(ops.matmul(inputs, W) + b)
    logit_loss = preds * targets + (1 - preds) * (1 - targets)
    return -ops.log(logit_loss).sum()


def multi_loss(inputs, targets, W, b):
    return loss(inputs, targets, W, b), (W**2).sum()


def loss_and_gradients(inputs, targets, W, b):
    loss, (W_grad, b_grad) = value_and_grad(loss, (2, 3))(inputs, targets, W, b)
    return loss, (W_grad, b_grad)


def loss_and_gradients_with_aux(inputs, targets, W, b):
    return value_and_grad(multi_loss, (2, 3), has_aux=True)(inputs, targets, W, b)


def train(inputs, targets, W, b, lr, steps):
    step = value_and_grad(loss, (2, 3))
    losses = []
    for _ in range(steps):
        value, (W_grad, b_grad) = step(inputs, targets, W, b)
        losses.append(value)
        W, b = W - lr * W_grad, b - lr * b_grad
    return W, b, ops.stack(losses)
