# Bob — makes every listed mistake of this lab (docs/errata.md, 11–16).
import mindspore
from mindspore import grad, jacfwd, jacrev, jvp, ops, vjp


def softmax_jacobians(x):
    return grad(ops.softmax)(x), jacfwd(ops.softmax)(x)  # 11: grad sums the outputs


def layer(W, b, x, act):
    return act(ops.mv(W, x) + b)


def layer_jacobians(W, b, x, act):
    def of_x(x):
        return layer(W, b, x, act)

    def of_W(W):
        return layer(W, b, x, act)

    return jacrev(of_x)(x), jacfwd(of_W)(W)


def layer_jvp(W, b, x, act, v):
    def of_x(x):
        return layer(W, b, x, act)

    jv, y = jvp(of_x, x, v)  # 12: the wrong way round
    return jv


def layer_vjp(W, b, x, act, u):
    def of_x(x):
        return layer(W, b, x, act)

    y, pullback = vjp(of_x, x)
    return pullback(u)  # 13: a tuple of one


def quadratic_hessian(A, x):
    return A  # 14: only when A is symmetric


def logistic_loss(w, X, y):
    p = ops.sigmoid(ops.mv(X, w))
    return -(y * ops.log(p) + (1 - y) * ops.log(1 - p)).sum()  # 15: a sum, not a mean


def logistic_hessian(X, y, w):
    return jacfwd(jacrev(logistic_loss))(w, X, y)


def cheapest_jacobian(W, b, x, act):
    def of_x(x):
        return layer(W, b, x, act)

    m, n = W.shape
    if m < n:  # 16: forward mode for a wide J
        eye = ops.eye(n, n, mindspore.float32)
        return ops.stack([jvp(of_x, x, eye[j])[1] for j in range(n)])
    eye = ops.eye(m, m, mindspore.float32)
    y, pullback = vjp(of_x, x)
    return ops.stack([pullback(eye[i])[0] for i in range(m)])
