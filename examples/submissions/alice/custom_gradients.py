# Alice — a complete, correct submission.
from mindspore import grad, nn, ops, value_and_grad


class SignSTE(nn.Cell):
    def construct(self, x):
        return ops.sign(x)

    def bprop(self, x, out, dout):
        window = ops.abs(x) <= 1.0
        return (ops.where(window, dout, ops.zeros_like(dout)),)


def ste_sign(x):
    return SignSTE()(x)


def ste_sign_gradient(x):
    return grad(SignSTE())(x)


class ClipGradient(nn.Cell):
    def __init__(self, bound):
        super().__init__()
        self.bound = bound

    def construct(self, x):
        return x

    def bprop(self, x, out, dout):
        return (ops.clip_by_value(dout, -self.bound, self.bound),)


def clipped_value_and_grad(fn, x, bound):
    layer = ClipGradient(bound)

    def through(v):
        return fn(layer(v))

    return value_and_grad(through)(x)


class StableSoftplus(nn.Cell):
    def construct(self, x):
        return ops.relu(x) + ops.log1p(ops.exp(-ops.abs(x)))

    def bprop(self, x, out, dout):
        return (dout * ops.sigmoid(x),)


def softplus(x):
    return StableSoftplus()(x)


def softplus_gradient(x):
    return grad(StableSoftplus())(x)


def softplus_second(x):
    return grad(grad(StableSoftplus()))(x)


class QuantizedLoss(nn.Cell):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def construct(self, x):
        c = ops.clamp(x, -1.0, 1.0)
        q = c + ops.stop_gradient(ops.sign(x) - c)
        loss = self.fn(q).sum()
        return loss, q


def quantized_gradient(fn, x):
    gradient, aux = grad(QuantizedLoss(fn), has_aux=True)(x)
    return gradient, aux
