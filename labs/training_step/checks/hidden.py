"""Hidden checks of the `training_step` lab: data, learning rates, micro-batch sizes and
activations drawn per run; sample and feature counts too, except where vmap or jacrev is
reached (those keep the visible checks' shape, so that a solution that builds them once compiles
each once: see visible.py)."""

import numpy as np

from mslab.checks import Fn, check, close, hints, matches, mistake, sibling, tensor

visible = sibling(__file__, "visible")
reference = sibling(__file__, "reference")
HINT = hints(__file__)  # by number, from ../mistakes.yaml

#: Activations the checker hands over, each with values in (0, 1); coefficients drawn per run.
ACTIVATIONS = [
    "sigmoid({a} * x)",
    "0.5 + 0.45 * tanh({a} * x)",
    "0.05 + 0.9 * sigmoid({a} * x + {b})",
]
#: Gradients the handed-over Cell declares (its bprop), unrelated to what it computes: grad
#: follows the declaration; a gradient worked out by hand or numerically gets the true one.
DECLARED = [
    "{c} * cos({b} * x)",
    "{c} * exp({b} * x)",
    "{c} + 0.1 * x * x",
    "{c} * sigmoid({a} * x)",
]


def draw(rng, family):
    a, b = (round(float(v), 2) for v in rng.uniform(0.5, 1.5, 2) * rng.choice([-1, 1], 2))
    c = round(float(rng.uniform(0.3, 1.5)), 2)
    return str(rng.choice(family)).format(a=a, b=b, c=c)


def shape(rng):
    return int(rng.integers(5, 31)), int(rng.integers(2, 7))


@check(points=1, task="1", hint="the loss must work for any shapes and the activation act it is given")
def test_loss_hidden(student, rng):
    """the loss on unforeseen shapes, with an activation the checker hands over"""
    act = draw(rng, ACTIVATIONS)
    w, X, y = reference.problem(rng, *shape(rng))
    got = tensor(student.loss(w, X, y, Fn(act)), "loss(w, X, y, act)", shape=())
    close(got, reference.loss(w, X, y, act), f"the loss with act(x) = {act}")


@check(points=2, task="2", hint="vmap(grad(loss), in_axes=(None, 0, 0)), and grad(loss) for the batch", errata=(31,))
def test_per_sample_gradients_hidden(student, rng):
    """per-sample gradients on unforeseen data, and their mean"""
    w, X, y = data = reference.problem(rng, visible.N, visible.D)
    rows = visible.per_sample_gradients(student, data)
    batch = tensor(student.batch_gradient(w, X, y), "batch_gradient(w, X, y)", shape=(visible.D,))
    close(rows.mean(axis=0), batch, "the mean of your per-sample gradients against your batch gradient")


@check(
    points=2,
    task="3",
    hint="value_and_grad(forward_fn, None, net.trainable_params(), has_aux=True) for any shapes",
    errata=(32, 33),
)
def test_parameter_gradients_hidden(student, rng):
    """a Cell's parameter gradients on unforeseen shapes"""
    visible.parameter_gradients(student, reference.dense_problem(rng, *shape(rng)))


@check(points=2, task="4", hint="both steps must use the lr they are given and agree for any shapes", errata=(34,))
def test_one_step_two_ways_hidden(student, rng):
    """one SGD step by hand and with nn.TrainOneStepCell, unforeseen shapes and learning rate"""
    data, lr = reference.dense_problem(rng, *shape(rng)), round(float(rng.uniform(0.05, 2.0)), 3)
    visible.one_step(student, "sgd_step", data, lr)
    visible.one_step(student, "train_one_step", data, lr)


@check(points=2, task="5", hint="jacrev(grad(loss)) for H, then w − H⁻¹∇L")
def test_hessian_and_newton_hidden(student, rng):
    """the Hessian and a Newton step on unforeseen data"""
    data = reference.problem(rng, visible.N, visible.D)
    visible.hessian(student, data)
    visible.newton_step(student, data)


@check(
    points=3,
    task="6",
    hint="differentiate loss with the act you are given: grad(loss)(w, Xb, yb, act)",
    errata=(35, 36),
)
def test_accumulation_follows_declared_gradient(student, rng):
    """accumulation with an activation whose gradient only autodiff knows, unforeseen sizes"""
    act, declared = draw(rng, ACTIVATIONS), draw(rng, DECLARED)
    size = int(rng.integers(3, 8))
    n = size * int(rng.integers(2, 5)) + int(rng.integers(1, size))  # the last micro-batch is shorter
    data = reference.problem(rng, n, int(rng.integers(2, 7)))
    got, expected = visible.accumulation(student, data, size, act, declared)
    by_hand = reference.accumulated_gradient(*data, size, act)  # the true derivative of act
    mistake(
        matches(got, by_hand) and not matches(got, expected),
        "the gradient was worked out by hand or numerically: apply mindspore.grad to loss with the act you are given",
        "the gradient follows the derivative of what act computes, not act's own gradient",
    )
    close(got, expected, "the accumulated gradient against the full batch's")
    assert np.all(np.isfinite(expected))
