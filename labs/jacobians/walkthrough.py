"""Walk-through of the `jacobians` lab: Jacobians both ways, JVP and VJP, Hessians by composition.

MindSpore《自动微分》与《高级自动微分》教程的可运行小结：jacrev/jacfwd、jvp/vjp、用组合求 Hessian。
A runnable summary of MindSpore's "Automatic Differentiation" and "Advanced Automatic
Differentiation" tutorials: jacrev and jacfwd, jvp and vjp, a Hessian built by composition.

Run: `inv lab.run jacobians`, or `python labs/jacobians/walkthrough.py` from any folder.
"""

import mindspore
import numpy as np
from mindspore import Tensor, grad, jacfwd, jacrev, jvp, ops, vjp

# 在 CPU 上运行（本机练习的默认设备）/ Run on the CPU, the labs' local target.
if mindspore.get_context("device_target") != "CPU":
    mindspore.set_context(device_target="CPU")
np.set_printoptions(precision=4, suppress=True)

# 1. softmax 的雅可比矩阵：反向模式与前向模式结果相同，都等于 diag(s) − ssᵀ
#    The softmax's Jacobian: reverse and forward mode agree, and both are diag(s) − ssᵀ.
x = Tensor(np.array([0.5, -1.0, 2.0], np.float32))
s = ops.softmax(x).asnumpy()
print("jacrev(softmax)(x) =\n", jacrev(ops.softmax)(x).asnumpy())
print("jacfwd(softmax)(x) =\n", jacfwd(ops.softmax)(x).asnumpy())
print("diag(s) - s s^T =\n", np.diag(s) - np.outer(s, s))
# grad 只适用于标量：对向量函数它求的是输出之和的梯度；Σ softmax = 1，所以结果全为 0。
# grad is for scalars: on a vector function it differentiates the SUM of the outputs; Σ softmax = 1.
print("grad(softmax)(x) (the gradient of the sum, ~0) =", grad(ops.softmax)(x).asnumpy())

# 2. 一层 MLP：y = tanh(Wx + b)。∂y/∂x 形状 (m, n)，∂y/∂W 形状 (m, m, n)。
#    One MLP layer. Define the function of the one input with def: jacrev/jacfwd compile it.
W = Tensor(np.array([[0.2, -0.4, 0.1], [0.5, 0.3, -0.2]], np.float32))
b = Tensor(np.array([0.1, -0.1], np.float32))


def of_x(x):
    return ops.tanh(ops.mv(W, x) + b)  # ops.mv: ops.matmul(W, x) with a 1-D x fails under jacrev on 2.7.2


def of_W(W):
    return ops.tanh(ops.mv(W, x) + b)


J = jacrev(of_x)(x)
print("dy/dx = jacrev(of_x)(x), shape", J.shape, "=\n", J.asnumpy())
z = (W.asnumpy() @ x.asnumpy()) + b.asnumpy()
print("diag(1 - tanh(z)^2) W =\n", (1 - np.tanh(z) ** 2)[:, None] * W.asnumpy())
print("dy/dW = jacfwd(of_W)(W), shape", jacfwd(of_W)(W).shape)

# 3. JVP 与 VJP：不构造 J，一次前向得 Jv，一次反向得 uᵀJ。
#    jvp returns (y, Jv); vjp returns (y, pullback), and pullback(u) is a tuple (uᵀJ,).
v = Tensor(np.array([1.0, 0.0, -1.0], np.float32))
u = Tensor(np.array([1.0, 2.0], np.float32))
_y, Jv = jvp(of_x, x, v)
_y, pullback = vjp(of_x, x)
print("jvp: Jv =", Jv.asnumpy(), " J @ v =", J.asnumpy() @ v.asnumpy())
print("vjp: pullback(u) =", pullback(u), " u @ J =", u.asnumpy() @ J.asnumpy())

# 4. Hessian 用组合求得：MindSpore 没有 hessian 接口，梯度的雅可比矩阵就是 Hessian。
#    There is no hessian API: the Jacobian of the gradient is the Hessian.
A = Tensor(np.array([[2.0, 1.0, 0.0], [-1.0, 3.0, 0.5], [0.0, 0.5, 1.0]], np.float32))


def q(x):
    return 0.5 * (x * ops.mv(A, x)).sum()


print("jacfwd(grad(q))(x) =\n", jacfwd(grad(q))(x).asnumpy())
print("(A + A^T)/2 =\n", (A.asnumpy() + A.asnumpy().T) / 2, "\n(not A: A is not symmetric)")

X = Tensor(np.array([[0.5, -1.0], [1.5, 0.2], [-0.3, 0.8], [1.0, 1.0]], np.float32))
y = Tensor(np.array([1.0, 0.0, 1.0, 0.0], np.float32))
w = Tensor(np.array([0.3, -0.6], np.float32))


def logistic_loss(w, X, y):
    p = ops.sigmoid(ops.mv(X, w))
    return -(y * ops.log(p) + (1 - y) * ops.log(1 - p)).mean()  # the mean: the Hessian is XᵀDX/N


p = 1 / (1 + np.exp(-(X.asnumpy() @ w.asnumpy())))
print("jacrev(grad(logistic_loss))(w, X, y) =\n", jacrev(grad(logistic_loss))(w, X, y).asnumpy())
print("X^T D X / N =\n", X.asnumpy().T @ np.diag(p * (1 - p)) @ X.asnumpy() / 4)

# 5. 前向还是反向：前向模式每次得到 J 的一列，反向模式每次得到一行。
#    Forward mode: a column of J per pass (n passes); reverse: a row per pass (m passes).
#    Here J is 2 × 3 (wide): 2 reverse passes are enough, where forward mode needs 3.
rows = ops.stack([pullback(e)[0] for e in ops.eye(2, 2, mindspore.float32)])
print("2 reverse passes, one row each, stacked: shape", rows.shape, "=\n", rows.asnumpy())
