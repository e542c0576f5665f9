"""Lab `training_step` — fill in the functions below, then run `inv lab.check training_step`.

The checker passes float32 Tensors:
    w — the weights, shape (d,);  X — the inputs, shape (N, d);  y — the labels, 0.0 or 1.0, shape (N,)
    W — nn.Dense's weight, shape (1, d);  b — its bias, shape (1,);  lr — a Python float
Notation: z = X·w, p = σ(z), L(w) = (1/N) Σ ℓᵢ with ℓᵢ = −[yᵢ log pᵢ + (1 − yᵢ) log(1 − pᵢ)].

vmap and jacrev compile a graph the first time they meet a function object and input shapes
(about a second on a CPU): build them once, at module level, and call what they return.
"""

from mindspore import grad, jacrev, nn, ops, value_and_grad, vmap  # noqa: F401 - you will need them


def loss(w, X, y, act=ops.sigmoid):
    """Task 1. L = −mean(y·log p + (1 − y)·log(1 − p)) with p = act(X·w): a scalar Tensor.

    Write X·w as (X * w).sum(-1): it works for a batch X of shape (N, d) and for one sample x of
    shape (d,) with a scalar label, as vmap hands it over (and jacrev can differentiate it twice).
    `act` is the activation, ops.sigmoid unless the checker hands you another one.
    """
    raise NotImplementedError("Task 1: loss")


def per_sample_gradients(w, X, y):
    """Task 2. One gradient per sample, shape (N, d): row i is ∇ℓᵢ = (σ(w·xᵢ) − yᵢ)·xᵢ.

    vmap(grad(loss), in_axes=(None, 0, 0)): w is shared, X and y are split along their axis 0.
    """
    raise NotImplementedError("Task 2: per_sample_gradients")


def batch_gradient(w, X, y):
    """Task 2. ∇L = Xᵀ(p − y)/N, shape (d,): grad(loss). It is the mean of the per-sample gradients."""
    raise NotImplementedError("Task 2: batch_gradient")


class LogisticNet(nn.Cell):
    """Given. Logistic regression as a Cell: p = σ(X Wᵀ + b), shape (N,), from an nn.Dense(d, 1)
    whose weight starts at W (shape (1, d)) and bias at b (shape (1,))."""

    def __init__(self, W, b):
        super().__init__()
        self.dense = nn.Dense(W.shape[1], 1, weight_init=W, bias_init=b)

    def construct(self, X):
        return ops.sigmoid(self.dense(X).squeeze(-1))


def parameter_gradients(W, b, X, y):
    """Task 3. The gradients with respect to LogisticNet(W, b).trainable_params() (weight, bias).

    With net = LogisticNet(W, b), forward_fn(X, y) returns (loss, p) with loss = nn.BCELoss()(p, y)
    (the mean loss above) and p = net(X); return
    value_and_grad(forward_fn, None, net.trainable_params(), has_aux=True)(X, y) as it is:
    ((loss, p), (∂L/∂weight, ∂L/∂bias)), with ∂L/∂weight = (p − y)ᵀX/N of shape (1, d) and
    ∂L/∂bias = mean(p − y) of shape (1,).
    """
    raise NotImplementedError("Task 3: parameter_gradients")


def sgd_step(W, b, X, y, lr):
    """Task 4. One SGD step written by hand: (loss, W − lr·∂L/∂W, b − lr·∂L/∂b).

    L is the mean loss of p = σ(X Wᵀ + b) (what nn.BCELoss computes); `loss` is its value before
    the step. Take its gradients with value_and_grad.
    """
    raise NotImplementedError("Task 4: sgd_step")


def train_one_step(W, b, X, y, lr):
    """Task 4. The same step by MindSpore: (loss, weight, bias) after one call of
    nn.TrainOneStepCell(nn.WithLossCell(net, nn.BCELoss()), nn.SGD(net.trainable_params(), lr))
    on (X, y), with net = LogisticNet(W, b). The cell returns the loss before the step.
    """
    raise NotImplementedError("Task 4: train_one_step")


def hessian(w, X, y):
    """Task 5. The Hessian of L at w, shape (d, d): H = XᵀDX/N with D = diag(p(1 − p)).

    H is the Jacobian of the gradient: jacrev(grad(loss)).
    """
    raise NotImplementedError("Task 5: hessian")


def newton_step(w, X, y):
    """Task 5. One Newton step: w − H⁻¹∇L, shape (d,) (ops.inverse and ops.mv)."""
    raise NotImplementedError("Task 5: newton_step")


def accumulated_gradient(w, X, y, micro_batch, act):
    """Task 6. ∇L of loss(w, X, y, act) over the whole batch, computed micro-batch by micro-batch.

    Split X and y into consecutive micro-batches of `micro_batch` samples (the last one may be
    shorter); micro-batch k, of nₖ samples, has gradient gₖ = grad(loss)(w, Xₖ, yₖ, act) (a mean
    over its own samples). Return Σₖ (nₖ/N)·gₖ, which equals the full batch's gradient.
    `act` is an activation the checker hands you: differentiate it with grad, as it is.
    """
    raise NotImplementedError("Task 6: accumulated_gradient")
