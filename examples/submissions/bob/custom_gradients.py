# Bob — four of the mistakes students make with custom gradients (22, 23, 24 and 26).
from mindspore import grad, nn, ops, value_and_grad


class SignSTE(nn.Cell):
    def construct(self, x):
        return ops.sign(x)

    def bprop(self, x, out, dout):
        return (dout * (ops.abs(x) < 1).astype(x.dtype),)


def ste_sign(x):
    return SignSTE()(x)


def ste_sign_gradient(x):
    return grad(SignSTE())(x)


class ClipGradient(nn.Cell):
    def __init__(self, bound):
        super().__init__()
        self.bound = bound

    def construct(self, x):
        return ops.clamp(x, -self.bound, self.bound)

    def bprop(self, x, out, dout):
        return (ops.clamp(dout, -self.bound, self.bound),)


def clipped_value_and_grad(fn, x, bound):
    clip = ClipGradient(bound)
    return value_and_grad(lambda v: fn(clip(v)))(x)


class StableSoftplus(nn.Cell):
    def construct(self, x):
        return ops.maximum(x, 0) + ops.log1p(ops.exp(-ops.abs(x)))

    def bprop(self, x, out, dout):
        e = ops.exp(x)
        return (dout * e / (1 + e),)


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
        q = x + ops.stop_gradient(ops.sign(x) - x)
        return self.fn(q).sum(), q


def quantized_gradient(fn, x):
    return grad(QuantizedLoss(fn), has_aux=True)(x)
