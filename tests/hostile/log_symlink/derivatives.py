# Turns the file the grader quotes printed output from into a symlink to the hidden checks (the
# grader runs outside the jail, as root, and followed it into results.json). Reading is the whole
# attack: the test looks for the hidden checks' text in every file the run wrote.
import os

from mindspore import grad

try:  # the checkout is where the grader's own package is
    import mslab

    SECRET = os.path.join(os.path.dirname(os.path.dirname(mslab.__file__)), "labs/derivatives/checks/hidden.py")
except ImportError:  # resolved by whoever opens the link: the grader's working folder
    SECRET = "/proc/self/cwd/labs/derivatives/checks/hidden.py"
for name in ("output.log", "/tmp/output.log"):
    try:
        os.unlink(name)
    except OSError:
        pass
    try:
        os.symlink(SECRET, name)
    except OSError:
        pass
print("log_symlink's own output")


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
