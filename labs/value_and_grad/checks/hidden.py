"""Hidden checks of the `value_and_grad` lab: shapes, data, learning rate and step count drawn per run."""

from mslab.checks import check, sibling

visible = sibling(__file__, "visible")
logistic_problem = sibling(__file__, "reference").logistic_problem


def problem(rng):
    return logistic_problem(rng, int(rng.integers(5, 31)), int(rng.integers(2, 7)))


@check(points=2, task="1", hint="value_and_grad(loss, (2, 3)) for any shapes", errata=(6,))
def test_loss_and_gradients_hidden(student, rng):
    """(loss, gradients) on unforeseen shapes"""
    visible.loss_and_gradients_check(student, problem(rng))


@check(points=2, task="2", hint="value_and_grad(multi_loss, (2, 3), has_aux=True)")
def test_loss_and_gradients_with_aux_hidden(student, rng):
    """has_aux on unforeseen shapes"""
    visible.with_aux_check(student, problem(rng))


@check(points=4, task="3", hint="use the lr and steps you are given; return the loss before each step")
def test_train_hidden(student, rng):
    """gradient descent with an unforeseen learning rate and number of steps"""
    lr = round(float(rng.uniform(0.01, 0.1)), 3)
    visible.trajectory_check(student, problem(rng), lr, int(rng.integers(3, 9)))
