# Carol — tasks 1, 2 and 4 done; the rest not yet.
from mindspore import grad, ops


def loss(inputs, targets, W, b):
    preds = ops.sigmoid(ops.matmul(inputs, W) + b)
    logit_loss = preds * targets + (1 - preds) * (1 - targets)
    return -ops.log(logit_loss).sum()


def input_gradient(inputs, targets, W, b):
    return grad(loss, 0)(inputs, targets, W, b)


def weight_gradient(inputs, targets, W, b):
    return grad(loss, 2)(inputs, targets, W, b)


def bias_gradient(inputs, targets, W, b):
    return grad(loss, 3)(inputs, targets, W, b)


def weight_and_bias_gradients(inputs, targets, W, b):
    return grad(loss, (2, 3))(inputs, targets, W, b)


def targets_gradient(inputs, targets, W, b):
    raise NotImplementedError("Task 3: targets_gradient")


def multi_loss(inputs, targets, W, b):
    raise NotImplementedError("Task 5: multi_loss")


def multi_loss_gradients(inputs, targets, W, b):
    raise NotImplementedError("Task 5: multi_loss_gradients")


def stop_gradient_loss(inputs, targets, W, b):
    raise NotImplementedError("Task 6: stop_gradient_loss")


def stop_gradient_gradients(inputs, targets, W, b):
    raise NotImplementedError("Task 6: stop_gradient_gradients")


def aux_gradients(inputs, targets, W, b):
    raise NotImplementedError("Task 7: aux_gradients")


def loss1_gradients(inputs, targets, W, b):
    raise NotImplementedError("Task 7: loss1_gradients")
