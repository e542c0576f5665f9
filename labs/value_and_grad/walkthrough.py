"""Walk-through of the `value_and_grad` lab: section 3 of the tutorial, corrected.

教程第 3 节「使用 mindspore.value_and_grad 计算梯度与损失」的可运行版本（已按勘误修正）。
Section 3 of the tutorial ("loss and gradients with mindspore.value_and_grad"), runnable and
corrected per the tutorial's errata (docs/errata.md, at the repository's root). It uses
section 2's definitions, repeated here so that this script runs on its own.

Run: `inv lab.run value_and_grad`, or `python labs/value_and_grad/walkthrough.py` from any folder.
"""

import mindspore
from mindspore import Tensor, grad, ops, set_seed, value_and_grad

# 在 CPU 上运行（本机练习的默认设备）/ Run on the CPU, the labs' local target.
if mindspore.get_context("device_target") != "CPU":
    mindspore.set_context(device_target="CPU")

# ---- 第 2 节的定义 / Section 2's definitions ------------------------------------------------
# 教程的演示数据。注意：固定种子的随机数在不同设备上并不相同（Ascend 上种子不起作用），
# 所以这里打印的数值只是示例；评分检查会自己生成数据并传入。
# The tutorial's demo data. Seeded random draws differ across devices (on Ascend the seed has
# no effect), so the numbers printed here are only an illustration; the checks draw their own data.
set_seed(0)

inputs = ops.randn((4, 3))
targets = Tensor([True, True, False, True])

W, b = ops.randn((3,)), ops.randn((1,))


def loss(inputs, targets, W, b):
    preds = ops.sigmoid(ops.matmul(inputs, W) + b)
    logit_loss = preds * targets + (1 - preds) * (1 - targets)
    return -ops.log(logit_loss).sum()


print(f"inputs = {inputs}")
print(f"targets = {targets}")
print(f"W = {W}")
print(f"b = {b}")

# ---- 第 3 节 / Section 3 ----------------------------------------------------------------------
# 一次调用同时得到损失值和梯度 / The loss value and the gradients from one call.
# 勘误 6：教程写 loss, (W_grad, b_grad) = value_and_grad(loss, (2, 3))(...)，
#         把名字 loss 从函数改绑成了一个 Tensor，之后再 grad(loss, ...) 就会出错。
#         损失值另起名字 loss_value，让 loss 保持为函数。
# Erratum 6: the tutorial's `loss, (W_grad, b_grad) = value_and_grad(loss, (2, 3))(...)` rebinds
#            the name `loss` from the function to a Tensor, so any later grad(loss, ...) fails.
#            Call the value loss_value and keep `loss` the function.
loss_value, (W_grad, b_grad) = value_and_grad(loss, (2, 3))(inputs, targets, W, b)

print(f"loss value, value_and_grad(loss, (2, 3)) = {loss_value}")
print(f"(∂loss/∂W, ∂loss/∂b), value_and_grad(loss, (2, 3)) = ({W_grad}, {b_grad})")

# 勘误 6：loss 仍然是函数，可以再次求导（结果与上面相同）。
# Erratum 6: `loss` is still the function, so it can be differentiated again (same gradients).
W_grad_again, b_grad_again = grad(loss, (2, 3))(inputs, targets, W, b)
print(f"(∂loss/∂W, ∂loss/∂b), grad(loss, (2, 3)) again = ({W_grad_again}, {b_grad_again})")
