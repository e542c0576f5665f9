"""Lab `jacobians` — fill in the functions below, then run `inv lab.check jacobians`.

Every function takes and returns mindspore.Tensor values (float32). A Jacobian is laid out as
jacrev and jacfwd lay it out: output dimensions first, J[i, j] = ∂yᵢ/∂xⱼ. Use MindSpore's autodiff
(jacrev, jacfwd, jvp, vjp, grad) for every derivative: the checker also hands you activations whose
gradient only MindSpore knows, so Jacobians worked out by hand cannot pass.

jacrev, jacfwd and jvp compile the function they differentiate: define it with `def` (a lambda is
fine alone on its line), give it tensor arguments only (use `act` from the enclosing function, do not
pass it in), and write the layer's product as ops.mv(W, x) and xᵀAx as (x * ops.mv(A, x)).sum()
(measured on MindSpore 2.7.2: ops.matmul(W, x) with a 1-D x fails to compile under jacrev, and
ops.dot refuses 1-D inputs).
"""

import mindspore  # noqa: F401 - you may need mindspore.float32
from mindspore import grad, jacfwd, jacrev, jvp, ops, vjp  # noqa: F401 - you will need them


def softmax_jacobians(x):
    """Task 1. The Jacobian of softmax at x, twice: (jacrev's, jacfwd's).

    x has shape (n,); each Jacobian has shape (n, n): J = diag(s) − ssᵀ with s = softmax(x)
    (ops.softmax). It is symmetric and each row sums to 0, because Σ sᵢ = 1.
    """
    raise NotImplementedError("Task 1: softmax_jacobians(x)")


def layer(W, b, x, act):
    """Task 2. One layer of an MLP: y = act(W x + b).

    W (m, n), b (m,), x (n,) → y (m,). `act` is an elementwise activation the checker hands you
    (tanh, or a function of its own): call it, act(z).
    """
    raise NotImplementedError("Task 2: layer(W, b, x, act)")


def layer_jacobians(W, b, x, act):
    """Task 2. (∂y/∂x with jacrev, ∂y/∂W with jacfwd) for y = layer(W, b, x, act).

    With z = Wx + b and act′ its derivative: ∂y/∂x = diag(act′(z))·W, shape (m, n);
    ∂yᵢ/∂Wⱼₖ = δᵢⱼ·act′(zᵢ)·xₖ, shape (m, m, n). Differentiate x ↦ layer(W, b, x, act) and
    W ↦ layer(W, b, x, act): define each as a function of the one input.
    """
    raise NotImplementedError("Task 2: layer_jacobians(W, b, x, act)")


def layer_jvp(W, b, x, act, v):
    """Task 3. The Jacobian-vector product J v of x ↦ layer(W, b, x, act), with jvp.

    J = ∂y/∂x is (m, n), v is (n,), J v is (m,): the directional derivative of y along v, in one
    forward pass, without building J. jvp(fn, x, v) returns (fn(x), J v).
    """
    raise NotImplementedError("Task 3: layer_jvp(W, b, x, act, v)")


def layer_vjp(W, b, x, act, u):
    """Task 3. The vector-Jacobian product uᵀJ of x ↦ layer(W, b, x, act), with vjp.

    u is (m,), uᵀJ is (n,): one reverse pass, as backpropagation does. vjp(fn, x) returns
    (fn(x), pullback), and pullback(u) returns a tuple with one gradient per input of fn.
    """
    raise NotImplementedError("Task 3: layer_vjp(W, b, x, act, u)")


def quadratic_hessian(A, x):
    """Task 4. The Hessian of q(x) = ½ xᵀAx at x, by composition: jacfwd(grad(q)).

    A (n, n), not necessarily symmetric; the Hessian is (A + Aᵀ)/2, shape (n, n).
    MindSpore has no hessian function: the Jacobian of the gradient is the Hessian.
    """
    raise NotImplementedError("Task 4: quadratic_hessian(A, x)")


def logistic_hessian(X, y, w):
    """Task 4. The Hessian, in w, of the mean logistic loss
    L(w) = −(1/N) Σ [yₙ log pₙ + (1 − yₙ) log(1 − pₙ)], p = sigmoid(X w).

    X (N, d), y (N,) of 0.0 and 1.0, w (d,). The Hessian is XᵀDX/N with D = diag(p(1 − p)),
    shape (d, d), symmetric. Compose jacrev/jacfwd with jacrev or grad.
    """
    raise NotImplementedError("Task 4: logistic_hessian(X, y, w)")


def cheapest_jacobian(W, b, x, act):
    """Task 5. ∂y/∂x of x ↦ layer(W, b, x, act) in the fewest passes, one result per pass, stacked.

    Forward mode (jvp with v = eⱼ) gives one COLUMN J eⱼ per pass: n passes for n inputs.
    Reverse mode (the pullback of vjp with u = eᵢ) gives one ROW eᵢᵀJ per pass: m passes.
    With W of shape (m, n): if n < m (a tall J) return the n columns stacked, shape (n, m);
    if m < n (a wide J) return the m rows stacked, shape (m, n). (ops.eye and ops.stack help.)
    """
    raise NotImplementedError("Task 5: cheapest_jacobian(W, b, x, act)")
