# Dave — works every Jacobian out by hand in NumPy, with no autodiff, and returns NumPy arrays.
import numpy as np


def softmax_jacobians(x):
    s = np.exp(x.asnumpy()) / np.exp(x.asnumpy()).sum()
    J = np.diag(s) - np.outer(s, s)
    return J, J


def layer(W, b, x, act):
    return np.tanh(W.asnumpy() @ x.asnumpy() + b.asnumpy())


def layer_jacobians(W, b, x, act):
    W, x = W.asnumpy(), x.asnumpy()
    d = 1 - layer(mindspore_free(W), b, mindspore_free(x), act) ** 2
    return d[:, None] * W, np.einsum("ij,k->ijk", np.diag(d), x)


def mindspore_free(a):
    class Plain:
        def asnumpy(self):
            return a

    return Plain()


def layer_jvp(W, b, x, act, v):
    return layer_jacobians(W, b, x, act)[0] @ v.asnumpy()


def layer_vjp(W, b, x, act, u):
    return u.asnumpy() @ layer_jacobians(W, b, x, act)[0]


def quadratic_hessian(A, x):
    return (A.asnumpy() + A.asnumpy().T) / 2


def logistic_hessian(X, y, w):
    X = X.asnumpy()
    p = 1 / (1 + np.exp(-X @ w.asnumpy()))
    return X.T @ np.diag(p * (1 - p)) @ X / len(X)


def cheapest_jacobian(W, b, x, act):
    J = layer_jacobians(W, b, x, act)[0]
    return J.T if J.shape[0] > J.shape[1] else J
