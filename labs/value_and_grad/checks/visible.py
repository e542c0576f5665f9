"""Visible checks of the `value_and_grad` lab: closed forms and a float64 NumPy gradient descent."""

import numpy as np

from mslab.checks import CheckFailed, StudentError, check, close, hints, mistake, raised, sequence, sibling, tensor

reference = sibling(__file__, "reference")
gradient_descent, logistic_gradients, logistic_loss, logistic_problem = (
    reference.gradient_descent,
    reference.logistic_gradients,
    reference.logistic_loss,
    reference.logistic_problem,
)
HINT = hints(__file__)  # by erratum number, from ../mistakes.yaml

N, D = 4, 3


def loss_and_gradients_check(student, data):
    d = data[2].shape[0]
    try:
        got = student.loss_and_gradients(*data)
    except StudentError as exc:
        rebound = raised(exc, "UnboundLocalError", "loss") or raised(exc, "TypeError", "not callable")
        mistake(rebound, HINT[6], str(exc))
        raise
    value, grads = sequence(got, 2, "loss_and_gradients(...)")
    close(tensor(value, "loss_and_gradients(...)[0]", shape=()), logistic_loss(*data), "the loss")
    gW, gb = sequence(grads, 2, "loss_and_gradients(...)[1]")
    g = logistic_gradients(*data)
    close(tensor(gW, "loss_and_gradients(...)[1][0]", shape=(d,)), g["W"], "∂L/∂W")
    close(tensor(gb, "loss_and_gradients(...)[1][1]", shape=(1,)), g["b"], "∂L/∂b")


@check(
    points=4,
    task="1",
    hint="value_and_grad(loss, (2, 3))(inputs, targets, W, b) returns (loss, (∂L/∂W, ∂L/∂b))",
    errata=(6,),
)
def test_loss_and_gradients(student, rng):
    """(loss, (∂L/∂W, ∂L/∂b)) in one call"""
    loss_and_gradients_check(student, logistic_problem(rng, N, D))


def with_aux_check(student, data):
    d = data[2].shape[0]
    W = data[2].astype(np.float64)
    values, grads = sequence(student.loss_and_gradients_with_aux(*data), 2, "loss_and_gradients_with_aux(...)")
    loss1, loss2 = sequence(values, 2, "loss_and_gradients_with_aux(...)[0]")
    close(tensor(loss1, "loss_and_gradients_with_aux(...)[0][0]", shape=()), logistic_loss(*data), "loss1")
    close(tensor(loss2, "loss_and_gradients_with_aux(...)[0][1]", shape=()), (W**2).sum(), "loss2 = ΣW²")
    gW, gb = sequence(grads, 2, "loss_and_gradients_with_aux(...)[1]")
    g = logistic_gradients(*data)
    gW = tensor(gW, "loss_and_gradients_with_aux(...)[1][0]", shape=(d,))
    mistake(
        np.allclose(gW, g["W"] + 2 * W, rtol=1e-3, atol=1e-4),
        "without has_aux=True both outputs are differentiated (∂/∂W gains 2W)",
        "∂/∂W includes loss2's 2W",
    )
    close(gW, g["W"], "∂loss1/∂W")
    close(tensor(gb, "loss_and_gradients_with_aux(...)[1][1]", shape=(1,)), g["b"], "∂loss1/∂b")


@check(points=3, task="2", hint="value_and_grad(multi_loss, (2, 3), has_aux=True) returns ((loss1, loss2), (∂W, ∂b))")
def test_loss_and_gradients_with_aux(student, rng):
    """value_and_grad with has_aux"""
    with_aux_check(student, logistic_problem(rng, N, D))


def run_training(student, data, lr, steps):
    got = sequence(student.train(*data, lr, steps), 3, f"train(..., lr={lr}, steps={steps})")
    W = tensor(got[0], "train(...)[0] (W)", shape=data[2].shape)
    b = tensor(got[1], "train(...)[1] (b)", shape=(1,))
    losses = tensor(got[2], "train(...)[2] (losses)", shape=(steps,))
    return W, b, losses


@check(points=2, task="3", hint="each step goes against the gradient: W − lr·∂L/∂W, b − lr·∂L/∂b")
def test_train_lowers_the_loss(student, rng):
    """gradient descent lowers the loss"""
    data = logistic_problem(rng, N, D)
    W, b, losses = run_training(student, data, 0.1, 5)
    if not np.all(np.isfinite(losses)):
        raise CheckFailed(f"the losses are not finite: {np.array2string(losses, precision=5)}")
    # The first loss is the loss before any step: tie it to the real one, so that made-up
    # losses (a large first one, then zeros) cannot pass for progress.
    close(losses[0], logistic_loss(*data), "the loss before the first step")
    final = logistic_loss(data[0], data[1], W, b)
    if not (losses[-1] < losses[0] and final < losses[0]):
        raise CheckFailed(f"the loss went from {losses[0]:.5g} to {final:.5g}; it should go down")


def trajectory_check(student, data, lr, steps):
    W, b, losses = run_training(student, data, lr, steps)
    ref_losses, ref_W, ref_b = gradient_descent(*data, lr, steps)
    close(losses, ref_losses, "the losses before each step")
    close(W, ref_W, "the final W")
    close(b, ref_b, "the final b")


@check(points=3, task="3", hint="record the loss before each update and update W and b together, with the same lr")
def test_train_follows_reference(student, rng):
    """gradient descent follows the reference trajectory"""
    trajectory_check(student, logistic_problem(rng, N, D), 0.1, 5)
