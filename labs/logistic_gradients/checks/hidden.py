"""Hidden checks of the `logistic_gradients` lab: sample counts, feature counts and data drawn per run."""

import numpy as np

from mslab.checks import check, close, sibling, tensor

visible = sibling(__file__, "visible")
reference = sibling(__file__, "reference")
logistic_gradients, logistic_loss, logistic_problem = (
    reference.logistic_gradients,
    reference.logistic_loss,
    reference.logistic_problem,
)


def problem(rng):
    return logistic_problem(rng, int(rng.integers(5, 31)), int(rng.integers(2, 7)))


@check(points=1, task="1", hint="the loss must work for any number of samples and features")
def test_loss_hidden(student, rng):
    """loss on unforeseen shapes"""
    data = problem(rng)
    close(tensor(student.loss(*data), "loss(...)", shape=()), logistic_loss(*data), "loss")


@check(points=2, task="2", hint="gradients keep the shape of what they differentiate")
def test_input_and_weight_gradients_hidden(student, rng):
    """∂L/∂inputs and ∂L/∂W on unforeseen shapes"""
    data = problem(rng)
    g = logistic_gradients(*data)
    close(tensor(student.input_gradient(*data), "input_gradient(...)", shape=data[0].shape), g["inputs"], "∂L/∂inputs")
    close(tensor(student.weight_gradient(*data), "weight_gradient(...)", shape=data[2].shape), g["W"], "∂L/∂W")


@check(points=1, task="2", hint="grad(loss, 3)(inputs, targets, W, b) for any shapes", errata=(4,))
def test_bias_gradient_hidden(student, rng):
    """∂L/∂b on unforeseen shapes"""
    visible.bias_gradient_check(student, problem(rng))


@check(points=1, task="3", hint="the targets gradient has one value per sample", errata=(3,))
def test_targets_gradient_hidden(student, rng):
    """∂L/∂targets on unforeseen shapes"""
    visible.targets_gradient_check(student, problem(rng))


@check(points=1, task="4", hint="grad(loss, (2, 3)) returns the tuple (∂L/∂W, ∂L/∂b)")
def test_weight_and_bias_gradients_hidden(student, rng):
    """(∂L/∂W, ∂L/∂b) on unforeseen shapes"""
    data = problem(rng)
    g = logistic_gradients(*data)
    visible.pair_check(
        student.weight_and_bias_gradients(*data), "weight_and_bias_gradients(...)", g["W"], g["b"], data[2].shape[0]
    )


@check(points=1, task="5", hint="with several outputs, grad sums the gradients of all of them")
def test_multi_loss_gradients_hidden(student, rng):
    """summed gradients on unforeseen shapes"""
    data = problem(rng)
    g, W = logistic_gradients(*data), data[2].astype(np.float64)
    visible.pair_check(
        student.multi_loss_gradients(*data), "multi_loss_gradients(...)", g["W"] + 2 * W, g["b"], W.shape[0]
    )


@check(points=1, task="6", hint="wrap loss2 in ops.stop_gradient")
def test_stop_gradient_hidden(student, rng):
    """stop_gradient on unforeseen shapes"""
    data = problem(rng)
    g = logistic_gradients(*data)
    visible.pair_check(
        student.stop_gradient_gradients(*data), "stop_gradient_gradients(...)", g["W"], g["b"], data[2].shape[0]
    )


@check(points=1, task="7", hint="has_aux=True makes grad return (gradients, aux)")
def test_aux_gradients_hidden(student, rng):
    """has_aux result on unforeseen shapes"""
    visible.aux_check(student, problem(rng))


@check(points=1, task="7", hint="with has_aux=True, grad returns (gradients, aux)", errata=(5,))
def test_loss1_gradients_hidden(student, rng):
    """loss1's gradients via has_aux on unforeseen shapes"""
    visible.loss1_check(student, problem(rng))
