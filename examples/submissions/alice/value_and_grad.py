# Alice — a complete, correct submission.
from mindspore import ops, value_and_grad


def loss(inputs, targets, W, b):
    preds = ops.sigmoid(ops.matmul(inputs, W) + b)
    logit_loss = preds * targets + (1 - preds) * (1 - targets)
    return -ops.log(logit_loss).sum()


def multi_loss(inputs, targets, W, b):
    return loss(inputs, targets, W, b), (W**2).sum()


def loss_and_gradients(inputs, targets, W, b):
    return value_and_grad(loss, grad_position=(2, 3))(inputs, targets, W, b)


def loss_and_gradients_with_aux(inputs, targets, W, b):
    values, gradients = value_and_grad(multi_loss, (2, 3), has_aux=True)(inputs, targets, W, b)
    return values, gradients


def train(inputs, targets, W, b, lr, steps):
    history = []
    for _ in range(steps):
        value, (dW, db) = loss_and_gradients(inputs, targets, W, b)
        history.append(value)
        W = W - lr * dW
        b = b - lr * db
    return W, b, ops.stack(history)
