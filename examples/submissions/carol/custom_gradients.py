# Carol — tasks 1 and 3 done; 2 and 4 not yet.
from mindspore import grad, nn, ops


class SignSTE(nn.Cell):
    def construct(self, x):
        return ops.sign(x)

    def bprop(self, x, out, dout):
        return (dout * (ops.abs(x) <= 1).astype(x.dtype),)


def ste_sign(x):
    return SignSTE()(x)


def ste_sign_gradient(x):
    return grad(SignSTE())(x)


def clipped_value_and_grad(fn, x, bound):
    raise NotImplementedError("Task 2: clipped_value_and_grad(fn, x, bound)")


class StableSoftplus(nn.Cell):
    def construct(self, x):
        return ops.relu(x) + ops.log(1 + ops.exp(-ops.abs(x)))

    def bprop(self, x, out, dout):
        return (dout * ops.sigmoid(x),)


def softplus(x):
    return StableSoftplus()(x)


def softplus_gradient(x):
    return grad(StableSoftplus())(x)


def softplus_second(x):
    return grad(grad(StableSoftplus()))(x)


def quantized_gradient(fn, x):
    raise NotImplementedError("Task 4: quantized_gradient(fn, x)")
