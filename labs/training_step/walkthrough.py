"""Walk-through of the `training_step` lab: the gradients training really uses.

训练中真正用到的梯度：逐样本梯度（vmap）、Cell 参数的梯度、一步 SGD（手写与 nn.TrainOneStepCell）、
牛顿法的一步（Hessian）、以及梯度累积。每一段打印的数值都与 NumPy 的闭式解对照。
The gradients training really uses: per-sample gradients (vmap), a Cell's parameter gradients,
one SGD step (by hand and with nn.TrainOneStepCell), a Newton step (the Hessian) and gradient
accumulation. Each part prints MindSpore's numbers beside NumPy's closed form.

Run: `inv lab.run training_step`, or `python labs/training_step/walkthrough.py` from any folder.
"""

import mindspore
import numpy as np
from mindspore import Tensor, grad, jacrev, nn, ops, value_and_grad, vmap

# 在 CPU 上运行（本机练习的默认设备）/ Run on the CPU, the labs' local target.
if mindspore.get_context("device_target") != "CPU":
    mindspore.set_context(device_target="CPU")

# 数据由 NumPy 生成（在任何设备上都相同）/ Data drawn by NumPy: the same on every device.
rng = np.random.default_rng(0)
N, d = 8, 3
X_np = 0.5 * rng.standard_normal((N, d))
y_np = (rng.random(N) < 0.5).astype(np.float64)
w_np = rng.standard_normal(d)
X, y, w = (Tensor(a.astype(np.float32)) for a in (X_np, y_np, w_np))
p_np = 1 / (1 + np.exp(-X_np @ w_np))


def loss(w, X, y):
    """平均逻辑损失；(X * w).sum(-1) 对一个样本或一批样本都成立 / the mean logistic loss, for one sample or a batch."""
    p = ops.sigmoid((X * w).sum(-1))
    return -(y * ops.log(p) + (1 - y) * ops.log(1 - p)).mean()


# 1. 逐样本梯度：w 共享（None），X、y 沿第 0 维拆开 / per-sample gradients: w shared, X and y split on axis 0.
per_sample = vmap(grad(loss), in_axes=(None, 0, 0))(w, X, y)
print(f"per-sample gradients (vmap), row 0: {per_sample[0]}")
print(f"(sigma(w.x0) - y0) x0 (NumPy):       {(p_np[0] - y_np[0]) * X_np[0]}")
print(f"their mean:                          {per_sample.mean(axis=0)}")
print(f"batch gradient grad(loss):           {grad(loss)(w, X, y)}")

# 2. Cell 的参数梯度：grad_position=None 只对 weights 求导；has_aux=True 让 p 作为辅助输出。
#    A Cell's parameter gradients: grad_position=None differentiates the weights only; has_aux=True
#    keeps p as an auxiliary output (without it, p's gradient would be added).
W0, b0 = w_np.reshape(1, d).astype(np.float32), np.array([0.1], np.float32)


class LogisticNet(nn.Cell):
    def __init__(self, W, b):
        super().__init__()
        self.dense = nn.Dense(W.shape[1], 1, weight_init=W, bias_init=b)

    def construct(self, X):
        return ops.sigmoid(self.dense(X).squeeze(-1))


net, loss_fn = LogisticNet(Tensor(W0), Tensor(b0)), nn.BCELoss()


def forward_fn(X, y):
    p = net(X)
    return loss_fn(p, y), p


(loss_value, p), (W_grad, b_grad) = value_and_grad(forward_fn, None, net.trainable_params(), has_aux=True)(X, y)
q_np = 1 / (1 + np.exp(-(X_np @ W0[0] + b0[0])))
print(f"trainable_params: {[param.name for param in net.trainable_params()]}")
print(f"loss {loss_value}, dL/dweight {W_grad}, dL/dbias {b_grad}")
print(f"NumPy: dL/dweight {(q_np - y_np) @ X_np / N}, dL/dbias {(q_np - y_np).mean()}")

# 3. 一步 SGD：手写的更新与 nn.TrainOneStepCell + nn.SGD 相同（它返回更新之前的损失）。
#    One SGD step by hand equals one step of nn.TrainOneStepCell with nn.SGD (which returns the loss before the step).
lr = 0.5
by_hand = (W0 - lr * W_grad.asnumpy(), b0 - lr * b_grad.asnumpy())
train_net = LogisticNet(Tensor(W0), Tensor(b0))
step = nn.TrainOneStepCell(nn.WithLossCell(train_net, nn.BCELoss()), nn.SGD(train_net.trainable_params(), lr))
print(f"TrainOneStepCell loss (before the step): {step(X, y)}")
print(f"weight by hand {by_hand[0]}, by TrainOneStepCell {train_net.dense.weight.value()}")
print(f"bias by hand   {by_hand[1]}, by TrainOneStepCell {train_net.dense.bias.value()}")

# 4. 牛顿法：H 是梯度的雅可比矩阵 jacrev(grad(loss))，等于 XᵀDX/N。
#    (在 MindSpore 2.7.2 的 PyNative 下，对这个损失嵌套 grad 得到的是 0：不要用它求 Hessian。)
#    Newton: H is the Jacobian of the gradient, jacrev(grad(loss)) = XᵀDX/N. (On MindSpore 2.7.2's
#    PyNative, nested grad gives zeros for this loss: do not take the Hessian that way.)
H = jacrev(grad(loss))(w, X, y)
print(f"Hessian (jacrev):\n{H}")
print(f"X^T D X / N (NumPy):\n{(X_np.T * (p_np * (1 - p_np))) @ X_np / N}")
print(f"Newton step w - H^-1 g: {w - ops.mv(ops.inverse(H), grad(loss)(w, X, y))}")

# 5. 梯度累积：每个微批次的梯度按其大小 nₖ/N 加权求和，等于整批的梯度（最后一个微批次可以更短）。
#    Gradient accumulation: each micro-batch's gradient weighted by its size over N adds up to the
#    full batch's gradient (the last micro-batch may be shorter).
total = ops.zeros_like(w)
for start in range(0, N, 3):  # micro-batches of 3, 3 and 2
    Xb, yb = X[start : start + 3], y[start : start + 3]
    total = total + grad(loss)(w, Xb, yb) * (Xb.shape[0] / N)
print(f"accumulated over micro-batches of 3, 3, 2: {total}")
print(f"full-batch gradient:                       {grad(loss)(w, X, y)}")
