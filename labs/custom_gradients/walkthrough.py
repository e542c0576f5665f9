"""Walk-through of the `custom_gradients` lab: a Cell with its own bprop, stop_gradient, has_aux.

自定义梯度：Cell 的 bprop 决定 grad 返回什么（二阶导数也一样），stop_gradient 和 has_aux 在 Cell 里同样适用。
A Cell's bprop decides what grad returns (at second order too); stop_gradient and has_aux work
inside a Cell as they do in a function. The common mistakes (docs/errata.md, numbers 21–26) are
marked where the correct version avoids them.

Run: `inv lab.run custom_gradients`, or `python labs/custom_gradients/walkthrough.py` from any folder.
"""

import mindspore
import numpy as np
from mindspore import Tensor, grad, nn, ops, value_and_grad

# 在 CPU 上运行（本机练习的默认设备）/ Run on the CPU, the labs' local target.
if mindspore.get_context("device_target") != "CPU":
    mindspore.set_context(device_target="CPU")

x = Tensor(np.array([-2.0, -1.0, -0.5, 0.5, 1.0, 3.0], np.float32))
print(f"x = {x}")


# 1. 直通估计器（STE）/ A straight-through estimator for sign.
class SignSTE(nn.Cell):
    def construct(self, x):
        return ops.sign(x)

    # 错误 21：参数必须是 (x, out, dout) / Mistake 21: the arguments are (x, out, dout), out included.
    # 错误 22：|x| ≤ 1，端点也算 / Mistake 22: |x| ≤ 1, ends included.
    def bprop(self, x, out, dout):
        return (dout * (ops.abs(x) <= 1).astype(x.dtype),)


print(f"[1] sign(x) = {SignSTE()(x)}")
print(f"[1] grad(ops.sign)(x), the true derivative = {grad(ops.sign)(x)}")
print(f"[1] grad(SignSTE())(x), the declared rule 1{{|x| <= 1}} = {grad(SignSTE())(x)}")


# 2. 只在反向传播中裁剪梯度 / Clip the gradient in the backward pass only.
class ClipGradient(nn.Cell):
    def __init__(self, bound):
        super().__init__()
        self.bound = bound

    # 错误 23：前向不裁剪 / Mistake 23: the forward pass is not clipped.
    def construct(self, x):
        return x

    def bprop(self, x, out, dout):
        return (ops.clamp(dout, -self.bound, self.bound),)


clip = ClipGradient(2.0)
value, gradient = value_and_grad(lambda v: clip(v) ** 3)(x)
print(f"[2] value x**3 (unchanged) = {value}")
print(f"[2] gradient clip(3x**2, -2, 2) = {gradient}")


# 3. 数值稳定的 softplus / A numerically stable softplus.
class StableSoftplus(nn.Cell):
    def construct(self, x):
        return ops.maximum(x, 0) + ops.log1p(ops.exp(-ops.abs(x)))

    # 错误 24：exp(x)/(1+exp(x)) 在 x = 100 处是 inf/inf = nan / Mistake 24: that is inf/inf = nan at x = 100.
    def bprop(self, x, out, dout):
        return (dout * ops.sigmoid(x),)


big = Tensor(np.array([-100.0, -30.0, 0.0, 30.0, 100.0], np.float32))
print(f"[3] x = {big}")
print(f"[3] naive log(1 + exp(x)) = {ops.log(1 + ops.exp(big))}")
print(f"[3] stable softplus(x) = {StableSoftplus()(big)}")
print(f"[3] grad: sigmoid(x) = {grad(StableSoftplus())(big)}")
# 二阶导数求的是 bprop 规则本身的导数 / The second derivative differentiates the bprop's rule: σ(1 − σ).
print(f"[3] grad(grad): sigmoid(x)(1 - sigmoid(x)) = {grad(grad(StableSoftplus()))(big)}")


# 4. 用 stop_gradient 写直通估计器，Cell 返回 (loss, aux) / The STE with stop_gradient; the Cell returns (loss, aux).
class QuantizedLoss(nn.Cell):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def construct(self, x):
        clipped = ops.clamp(x, -1.0, 1.0)
        # 错误 26：x + stop_gradient(sign(x) - x) 没有窗口 / Mistake 26: that has no window.
        q = clipped + ops.stop_gradient(ops.sign(x) - clipped)
        return self.fn(q).sum(), q


def cube(v):
    return v**3 + 2 * v


# 错误 25：要写 has_aux=True / Mistake 25: has_aux=True, or grad sums the gradients of both outputs.
gradient, (q,) = grad(QuantizedLoss(cube), has_aux=True)(x)
print(f"[4] q = sign(x) = {q}")
print(f"[4] gradient fn'(q) * 1{{|x| <= 1}} = {gradient}")
print(f"[4] without has_aux (mistake 25), summed = {grad(QuantizedLoss(cube))(x)}")
