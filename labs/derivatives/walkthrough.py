"""Walk-through of the `derivatives` lab: section 1 of the tutorial, corrected.

教程第 1 节「使用 mindspore.grad 对函数进行求导」的可运行版本（已按勘误修正）。
Section 1 of the tutorial ("differentiating a function with mindspore.grad"), runnable and
corrected per the tutorial's errata (docs/errata.md, at the repository's root).

Run: `inv lab.run derivatives`, or `python labs/derivatives/walkthrough.py` from any folder.
"""

import mindspore
from mindspore import Tensor, grad

# 在 CPU 上运行（本机练习的默认设备）/ Run on the CPU, the labs' local target.
if mindspore.get_context("device_target") != "CPU":
    mindspore.set_context(device_target="CPU")

# f(x) = x³ − 2x + 1
f = lambda x: x**3 - 2 * x + 1  # noqa: E731 - as in the tutorial

# 勘误 1、2 / Errata 1 and 2:
#   教程写 f′(x) = 3x − 2、f″(x) = 3，都是错的：正确的是 f′(x) = 3x² − 2，f″(x) = 6x。
#   The tutorial says f′(x) = 3x − 2 and f″(x) = 3; in fact f′(x) = 3x² − 2 and f″(x) = 6x.
#   grad 本身没有错，错的只是教程手推的公式 / grad itself was right; only the hand-written math was wrong.
dfdx = grad(f)  # f′(x) = 3x² − 2
d2fdx = grad(grad(f))  # f″(x) = 6x

# x = 1：f(1) = 0，f′(1) = 1，f″(1) = 6（教程误写为 3 / the tutorial wrongly says 3）
print(f"f(1) = {f(Tensor(1.0))}")
print(f"f′(1) = {dfdx(Tensor(1.0))}")
print(f"f″(1) = {d2fdx(Tensor(1.0))}")

# 勘误 1、2：只看 x = 1 会掩盖错误（3x − 2 在 x = 1 时恰好也等于 1），所以再看 x = 2。
# Errata 1 and 2: x = 1 hides the mistake (3x − 2 also gives 1 there), so evaluate at x = 2 as well:
# f(2) = 5, f′(2) = 3·4 − 2 = 10 (not 3·2 − 2 = 4), f″(2) = 6·2 = 12 (not 3).
print(f"f(2) = {f(Tensor(2.0))}")
print(f"f′(2) = {dfdx(Tensor(2.0))}")
print(f"f″(2) = {d2fdx(Tensor(2.0))}")
