# Dave — does not even parse.
from mindspore import grad

def f(x)
    return x**3 - 2 * x + 1
