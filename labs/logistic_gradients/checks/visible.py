"""Visible checks of the `logistic_gradients` lab, on the tutorial's shapes (4 samples, 3 features).

Expected values are the closed forms in reference.py, next to this file (float64 NumPy).
"""

import numpy as np

from mslab.checks import StudentError, check, close, hints, matches, mistake, raised, sequence, sibling, tensor

reference = sibling(__file__, "reference")
logistic_gradients, logistic_loss, logistic_problem = (
    reference.logistic_gradients,
    reference.logistic_loss,
    reference.logistic_problem,
)
HINT = hints(__file__)  # by erratum number, from ../mistakes.yaml

N, D = 4, 3


@check(points=2, task="1", hint="−Σ log(p·y + (1−p)(1−y)) with p = sigmoid(inputs @ W + b), summed to a scalar")
def test_loss(student, rng):
    """loss(inputs, targets, W, b)"""
    data = logistic_problem(rng, N, D)
    close(tensor(student.loss(*data), "loss(...)", shape=()), logistic_loss(*data), "loss")


@check(points=2, task="2", hint="grad(loss, grad_position=0)(inputs, targets, W, b)")
def test_input_gradient(student, rng):
    """∂L/∂inputs"""
    data = logistic_problem(rng, N, D)
    got = tensor(student.input_gradient(*data), "input_gradient(...)", shape=(N, D))
    close(got, logistic_gradients(*data)["inputs"], "∂L/∂inputs")


@check(points=2, task="2", hint="grad(loss, 2)(inputs, targets, W, b)")
def test_weight_gradient(student, rng):
    """∂L/∂W"""
    data = logistic_problem(rng, N, D)
    got = tensor(student.weight_gradient(*data), "weight_gradient(...)", shape=(D,))
    close(got, logistic_gradients(*data)["W"], "∂L/∂W")


def bias_gradient_check(student, data):
    try:
        got = student.bias_gradient(*data)
    except StudentError as exc:
        mistake(raised(exc, "TypeError", "missing 2 required positional"), HINT[4], str(exc))
        raise
    close(tensor(got, "bias_gradient(...)", shape=(1,)), logistic_gradients(*data)["b"], "∂L/∂b")


@check(points=2, task="2", hint="grad(loss, 3)(inputs, targets, W, b): ∂L/∂b has shape (1,)", errata=(4,))
def test_bias_gradient(student, rng):
    """∂L/∂b"""
    bias_gradient_check(student, logistic_problem(rng, N, D))


def targets_gradient_check(student, data):
    try:
        got = student.targets_gradient(*data)
    except StudentError as exc:
        mistake(raised(exc, "TypeError", "Bool"), HINT[3], str(exc))
        raise
    n = data[0].shape[0]
    close(tensor(got, "targets_gradient(...)", shape=(n,)), logistic_gradients(*data)["targets"], "∂L/∂targets")


@check(points=2, task="3", hint="differentiate with respect to targets as float32: grad(loss, 1)", errata=(3,))
def test_targets_gradient(student, rng):
    """∂L/∂targets, with Bool targets"""
    targets_gradient_check(student, logistic_problem(rng, N, D))


def pair_check(got, what, expected_W, expected_b, d):
    gW, gb = sequence(got, 2, what)
    close(tensor(gW, f"{what}[0]", shape=(d,)), expected_W, f"{what}: ∂/∂W")
    close(tensor(gb, f"{what}[1]", shape=(1,)), expected_b, f"{what}: ∂/∂b")


@check(points=2, task="4", hint="grad(loss, (2, 3)) returns the tuple (∂L/∂W, ∂L/∂b)")
def test_weight_and_bias_gradients(student, rng):
    """(∂L/∂W, ∂L/∂b) in one call"""
    data = logistic_problem(rng, N, D)
    g = logistic_gradients(*data)
    pair_check(student.weight_and_bias_gradients(*data), "weight_and_bias_gradients(...)", g["W"], g["b"], D)


@check(points=2, task="5", hint="with several outputs, grad sums the gradients of all of them: ∂/∂W gains 2W")
def test_multi_loss_gradients(student, rng):
    """gradients of a two-output loss are summed"""
    data = logistic_problem(rng, N, D)
    g, W = logistic_gradients(*data), data[2].astype(np.float64)
    got = student.multi_loss_gradients(*data)
    gW = tensor(sequence(got, 2, "multi_loss_gradients(...)")[0], "multi_loss_gradients(...)[0]", shape=(D,))
    mistake(
        matches(gW, g["W"]),
        "the 2W from loss2 = ΣW² is missing: both outputs' gradients count",
        "∂/∂W equals loss1's alone",
    )
    pair_check(got, "multi_loss_gradients(...)", g["W"] + 2 * W, g["b"], D)


@check(points=2, task="6", hint="return loss1, ops.stop_gradient(loss2): then only loss1 is differentiated")
def test_stop_gradient_gradients(student, rng):
    """ops.stop_gradient cuts loss2's gradient"""
    data = logistic_problem(rng, N, D)
    g, W = logistic_gradients(*data), data[2].astype(np.float64)
    got = student.stop_gradient_gradients(*data)
    gW = tensor(sequence(got, 2, "stop_gradient_gradients(...)")[0], "stop_gradient_gradients(...)[0]", shape=(D,))
    mistake(matches(gW, g["W"] + 2 * W), "loss2 still contributes 2W: wrap it in ops.stop_gradient", "∂/∂W includes 2W")
    pair_check(got, "stop_gradient_gradients(...)", g["W"], g["b"], D)


def aux_check(student, data):
    d = data[2].shape[0]
    g, W = logistic_gradients(*data), data[2].astype(np.float64)
    grads, aux = sequence(student.aux_gradients(*data), 2, "aux_gradients(...)")
    pair_check(grads, "aux_gradients(...)[0]", g["W"], g["b"], d)
    (loss2,) = sequence(aux, 1, "aux_gradients(...)[1]")
    close(tensor(loss2, "aux_gradients(...)[1][0]", shape=()), (W**2).sum(), "aux output loss2 = ΣW²")


@check(points=2, task="7", hint="has_aux=True makes grad return (gradients, aux): ((∂W, ∂b), (loss2,))")
def test_aux_gradients(student, rng):
    """has_aux returns (gradients, aux)"""
    aux_check(student, logistic_problem(rng, N, D))


def loss1_check(student, data):
    d = data[2].shape[0]
    g = logistic_gradients(*data)
    got = student.loss1_gradients(*data)
    mistake(
        isinstance(got, (tuple, list)) and len(got) == 2 and all(isinstance(v, (tuple, list)) for v in got),
        HINT[5],
        "loss1_gradients(...) returns ((∂W, ∂b), (loss2,)) — the whole has_aux result",
    )
    pair_check(got, "loss1_gradients(...)", g["W"], g["b"], d)


@check(
    points=2, task="7", hint="with has_aux=True, grad returns (gradients, aux): keep only the gradients", errata=(5,)
)
def test_loss1_gradients(student, rng):
    """has_aux: gradients of loss1 only, unpacked"""
    loss1_check(student, logistic_problem(rng, N, D))
