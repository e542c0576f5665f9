"""The source tutorial's known mistakes, and the hint a check gives a student who repeats one.

Measured in shared/docs/seed-errata.md; each lab's ``mistakes.yaml`` reproduces them as edits
of its reference solution, and every erratum has checks tagged ``errata=(n,)`` that catch it.
"""

ERRATA: dict[int, str] = {
    1: "f′(x) is 3x² − 2, not 3x − 2 (tutorial erratum 1; both give 1 at x = 1): "
    "let grad(f) compute it",
    2: "f″(1) is 6, not 3: the derivative of 3x² − 2 is 6x (tutorial erratum 2); "
    "use grad(grad(f))",
    3: "targets is a Bool tensor, and grad cannot differentiate a Bool input (tutorial erratum 3): "
    "cast it first, targets.astype(mindspore.float32)",
    4: "the gradient function takes all of loss's arguments (tutorial erratum 4): "
    "grad(loss, 3)(inputs, targets, W, b), not grad(loss, 3)(W, b)",
    5: "with has_aux=True, grad returns (gradients, aux) (tutorial erratum 5): "
    "write (W_grad, b_grad), aux = grad(multi_loss, (2, 3), has_aux=True)(...)",
    6: "`loss, grads = value_and_grad(loss, ...)` rebinds the name `loss` (tutorial erratum 6): "
    "call the value loss_value and keep `loss` the function",
}


def hint(number: int) -> str:
    return ERRATA[number]
