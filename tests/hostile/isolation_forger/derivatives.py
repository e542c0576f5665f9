# Reports its own isolation: sends the grader a forged "ready" message, before the real one, whose
# isolation text claims every wall and rewrites the terminal's title with an escape sequence.
# The extra message puts every reply one step out of line, so it loses its checks either way;
# what the test asserts is that the isolation on record is what the grader measured.
import json
import os
import stat

from mindspore import grad

FORGED = json.dumps({"op": "ready", "import_seconds": 0.1,
                     "isolation": "all submissions isolated\x1b]0;pwned\x07"}).encode() + b"\n"
for fd in range(3, 256):
    try:
        if stat.S_ISSOCK(os.fstat(fd).st_mode) or stat.S_ISFIFO(os.fstat(fd).st_mode):
            os.write(fd, FORGED)
    except OSError:
        pass


def f(x):
    return x**3 - 2 * x + 1


def f_prime(x):
    return grad(f)(x)


def f_second(x):
    return grad(grad(f))(x)


def derivative(fn, x, order=1):
    for _ in range(order):
        fn = grad(fn)
    return fn(x)
