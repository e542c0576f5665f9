# Alice — every task done, with MindSpore's autodiff.
import mindspore
from mindspore import grad, jacfwd, jacrev, jvp, ops, vjp


def softmax_jacobians(x):
    reverse = jacrev(ops.softmax)(x)
    forward = jacfwd(ops.softmax)(x)
    return reverse, forward


def layer(W, b, x, act):
    z = ops.mv(W, x) + b
    return act(z)


def layer_jacobians(W, b, x, act):
    def y_of_x(x):
        return layer(W, b, x, act)

    def y_of_W(W):
        return layer(W, b, x, act)

    dy_dx = jacrev(y_of_x)(x)
    dy_dW = jacfwd(y_of_W)(W)
    return dy_dx, dy_dW


def layer_jvp(W, b, x, act, v):
    def y_of_x(x):
        return layer(W, b, x, act)

    y, Jv = jvp(y_of_x, x, v)
    return Jv


def layer_vjp(W, b, x, act, u):
    def y_of_x(x):
        return layer(W, b, x, act)

    y, pullback = vjp(y_of_x, x)
    return pullback(u)[0]


def quadratic_hessian(A, x):
    def q(x):
        return 0.5 * ops.sum(x * ops.mv(A, x))

    return jacfwd(jacrev(q))(x)


def mean_logistic_loss(w, X, y):
    p = ops.sigmoid(ops.mv(X, w))
    return ops.mean(-(y * ops.log(p) + (1 - y) * ops.log(1 - p)))


def logistic_hessian(X, y, w):
    return jacrev(grad(mean_logistic_loss))(w, X, y)


def cheapest_jacobian(W, b, x, act):
    def y_of_x(x):
        return layer(W, b, x, act)

    m, n = W.shape
    if m > n:  # tall: a column per jvp, n of them
        basis = ops.eye(n, n, mindspore.float32)
        return ops.stack([jvp(y_of_x, x, basis[j])[1] for j in range(n)])
    y, pullback = vjp(y_of_x, x)  # wide: a row per vjp, m of them
    basis = ops.eye(m, m, mindspore.float32)
    return ops.stack([pullback(basis[i])[0] for i in range(m)])
