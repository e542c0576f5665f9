"""Visible checks of the `training_step` lab: fixed inputs, expected values from reference.py
(float64 NumPy closed forms).

vmap and jacrev compile a graph for each new function object and input shape (about 0.4 s and
0.8 s on a CPU): the checks that reach them use one shape, N × D, so that a solution that builds
them once compiles each once (hidden checks draw new values in the same shape).
"""

from mslab.checks import Fn, StudentError, check, close, hints, matches, mistake, raised, sequence, sibling, tensor
from mslab.sandbox.wire import Array

reference = sibling(__file__, "reference")
HINT = hints(__file__)  # by number, from ../mistakes.yaml

N, D = 8, 3  # the shape of every check that reaches vmap or jacrev


def per_sample_gradients(student, data):
    """The student's per-sample gradients of ``data``, compared with (σ(w·xᵢ) − yᵢ)xᵢ."""
    w, X, y = data
    try:
        got = student.per_sample_gradients(w, X, y)
    except StudentError as exc:
        mistake(raised(exc, "RuntimeError", "axis_size"), HINT[31], f"vmap raised: {exc}")
        raise
    rows = tensor(got, "per_sample_gradients(w, X, y)", shape=X.shape)
    close(rows, reference.per_sample_gradients(w, X, y), "the per-sample gradients (σ(w·xᵢ) − yᵢ)xᵢ")
    return rows


@check(points=2, task="1", hint="−mean(y·log p + (1 − y)·log(1 − p)) with p = act((X * w).sum(-1)): a scalar")
def test_loss(student, rng):
    """the mean logistic loss of a batch and of one sample"""
    w, X, y = reference.problem(rng, N, D)
    close(tensor(student.loss(w, X, y), "loss(w, X, y)", shape=()), reference.loss(w, X, y), "the loss")
    one = tensor(student.loss(w, X[0], y[0]), "loss(w, x, y) of one sample", shape=())
    close(one, reference.loss(w, X[:1], y[:1]), "the loss of sample 0 alone")


@check(points=3, task="2", hint="vmap(grad(loss), in_axes=(None, 0, 0))(w, X, y): one row per sample", errata=(31,))
def test_per_sample_gradients(student, rng):
    """per-sample gradients: row i is (σ(w·xᵢ) − yᵢ)xᵢ"""
    per_sample_gradients(student, reference.problem(rng, N, D))


@check(points=2, task="2", hint="grad(loss)(w, X, y): the mean loss's gradient", errata=(31,))
def test_batch_gradient_is_the_mean(student, rng):
    """the batch gradient is the mean of the per-sample gradients"""
    w, X, y = reference.problem(rng, N, D)
    batch = tensor(student.batch_gradient(w, X, y), "batch_gradient(w, X, y)", shape=(D,))
    close(batch, reference.batch_gradient(w, X, y), "the batch gradient Xᵀ(p − y)/N")
    rows = per_sample_gradients(student, (w, X, y))
    close(rows.mean(axis=0), batch, "the mean of your per-sample gradients against your batch gradient")


def parameter_gradients(student, data):
    W, b, X, y = data
    n, d = X.shape
    expected = reference.dense_gradients(*data)
    values, grads = sequence(student.parameter_gradients(*data), 2, "parameter_gradients(W, b, X, y)")
    mistake(
        isinstance(grads, (tuple, list))
        and len(grads) == 2
        and isinstance(grads[0], Array)
        and grads[0].value.shape == X.shape
        and isinstance(grads[1], (tuple, list)),
        HINT[32],
        "the gradients came back as (∂/∂X, (∂/∂W, ∂/∂b))",
    )
    loss_value, p = sequence(values, 2, "parameter_gradients(...)[0]")
    close(tensor(loss_value, "parameter_gradients(...)[0][0] (the loss)", shape=()), expected["loss"], "the loss")
    close(tensor(p, "parameter_gradients(...)[0][1] (p)", shape=(n,)), expected["p"], "the predictions p")
    gW, gb = sequence(grads, 2, "parameter_gradients(...)[1]")
    gW = tensor(gW, "parameter_gradients(...)[1][0] (∂L/∂weight)", shape=(1, d))
    gb = tensor(gb, "parameter_gradients(...)[1][1] (∂L/∂bias)", shape=(1,))
    mistake(
        matches(gW, expected["W"] + expected["sum_p_W"]) and matches(gb, expected["b"] + expected["sum_p_b"]),
        HINT[33],
        "the gradients include those of Σ p, the second output",
    )
    close(gW, expected["W"], "∂L/∂weight = (p − y)ᵀX/N")
    close(gb, expected["b"], "∂L/∂bias = mean(p − y)")


@check(
    points=3,
    task="3",
    hint="value_and_grad(forward_fn, None, net.trainable_params(), has_aux=True)(X, y) gives ((loss, p), (∂W, ∂b))",
    errata=(32, 33),
)
def test_parameter_gradients(student, rng):
    """gradients with respect to an nn.Dense's trainable_params()"""
    parameter_gradients(student, reference.dense_problem(rng, N, D))


def one_step(student, name, data, lr):
    """``name`` (sgd_step or train_one_step) from ``data`` with ``lr``: (loss, W, b) against one SGD step."""
    W, b, X, y = data
    n, d = X.shape
    got = sequence(getattr(student, name)(W, b, X, y, lr), 3, f"{name}(W, b, X, y, lr={lr:g})")
    loss_value = tensor(got[0], f"{name}(...)[0] (the loss)", shape=())
    W1 = tensor(got[1], f"{name}(...)[1] (W after the step)", shape=(1, d))
    b1 = tensor(got[2], f"{name}(...)[2] (b after the step)", shape=(1,))
    ref_loss, ref_W, ref_b = reference.sgd_step(W, b, X, y, lr)
    if name == "sgd_step":
        _, big_W, big_b = reference.sgd_step(W, b, X, y, lr * n)
        mistake(
            matches(loss_value, n * ref_loss) or (matches(W1, big_W) and matches(b1, big_b)),
            HINT[34],
            "the loss, or the step, is N times too large",
        )
    close(loss_value, ref_loss, f"{name}: the loss before the step")
    close(W1, ref_W, f"{name}: W − lr·∂L/∂W")
    close(b1, ref_b, f"{name}: b − lr·∂L/∂b")


@check(
    points=2,
    task="4",
    hint="value_and_grad of the mean loss for W and b, then W − lr·∂L/∂W, b − lr·∂L/∂b",
    errata=(34,),
)
def test_sgd_step_by_hand(student, rng):
    """one SGD step written by hand"""
    one_step(student, "sgd_step", reference.dense_problem(rng, N, D), 0.5)


@check(
    points=2,
    task="4",
    hint="nn.TrainOneStepCell(nn.WithLossCell(net, nn.BCELoss()), nn.SGD(net.trainable_params(), lr)): "
    "call it once on (X, y); it returns the loss before the step",
)
def test_train_one_step_cell(student, rng):
    """one step of nn.TrainOneStepCell with nn.SGD, as by hand"""
    one_step(student, "train_one_step", reference.dense_problem(rng, N, D), 0.5)


NESTED = "nested grad gives zeros for this loss on MindSpore 2.7's PyNative: use jacrev(grad(loss))(w, X, y)"


def hessian(student, data):
    w, X, y = data
    H = tensor(student.hessian(w, X, y), "hessian(w, X, y)", shape=(D, D))
    mistake(not H.any(), NESTED, "hessian(w, X, y) is all zeros")
    close(H, reference.hessian(w, X, y), "the Hessian XᵀDX/N")


def newton_step(student, data):
    w, X, y = data
    step = tensor(student.newton_step(w, X, y), "newton_step(w, X, y)", shape=(D,))
    close(step, reference.newton_step(w, X, y), "w − H⁻¹∇L")


@check(points=2, task="5", hint="the Jacobian of the gradient: jacrev(grad(loss))(w, X, y), shape (d, d)")
def test_hessian(student, rng):
    """the Hessian of the loss is XᵀDX/N, D = diag(p(1 − p))"""
    hessian(student, reference.problem(rng, N, D))


@check(points=2, task="5", hint="w − H⁻¹∇L: ops.mv(ops.inverse(H), g), with H and g at w")
def test_newton_step(student, rng):
    """one Newton step w − H⁻¹∇L"""
    newton_step(student, reference.problem(rng, N, D))


def accumulation(student, data, size, act, declared=""):
    """accumulated_gradient with micro-batches of ``size`` and the activation ``act`` (an Fn
    expression, with a declared gradient or not), against the full-batch gradient."""
    w, X, y = data
    n, d = X.shape
    got = tensor(
        student.accumulated_gradient(w, X, y, size, Fn(act, declared)),
        f"accumulated_gradient(w, X, y, {size}, act) with N = {n}",
        shape=(d,),
    )
    expected = reference.accumulated_gradient(w, X, y, size, act, declared)
    summed = reference.accumulated_gradient(w, X, y, size, act, declared, how="sum")
    mistake(matches(got, summed), HINT[36], "the micro-batch gradients were added up")
    if n % size:
        averaged = reference.accumulated_gradient(w, X, y, size, act, declared, how="mean")
        mistake(matches(got, averaged), HINT[35], "the micro-batch gradients were averaged with equal weights")
    return got, expected


@check(points=2, task="6", hint="add each micro-batch's gradient times its size over N", errata=(36,))
def test_accumulation_even_split(student, rng):
    """accumulating 2 micro-batches of 4 gives the full-batch gradient"""
    got, expected = accumulation(student, reference.problem(rng, 8, D), 4, "sigmoid(x)")
    close(got, expected, "the accumulated gradient against the full batch's")


@check(
    points=2,
    task="6",
    hint="weight each micro-batch's gradient by its own size over N: the last micro-batch is smaller",
    errata=(35, 36),
)
def test_accumulation_uneven_split(student, rng):
    """micro-batches of 4, 4 and 2 give the full-batch gradient"""
    got, expected = accumulation(student, reference.problem(rng, 10, D), 4, "sigmoid(x)")
    close(got, expected, "the accumulated gradient against the full batch's")
