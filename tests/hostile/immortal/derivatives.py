# Outlives the sandbox: clears its death signal, leaves its process group, turns os._exit into a
# sleep, and starts a grandchild in a session of its own that ignores the polite signals. A canary:
# the grandchild is /bin/sleep 45 (it exits by itself), named with this run's marker; the test
# looks for that name once the class is graded.
import ctypes
import os
import signal
import time

from mindspore import grad

MARKER = "MSLAB_HOSTILE_MARKER"
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl(1, 0, 0, 0, 0)  # PR_SET_PDEATHSIG: none
try:
    os.setpgid(0, 0)
except OSError:
    pass
pid = os.fork()
if pid == 0:
    try:
        os.setsid()
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(sig, signal.SIG_IGN)
        os.execv("/bin/sleep", [MARKER + "-immortal", "45"])
    finally:
        os._exit(0)
_real_exit = os._exit


def _linger(code=0):
    time.sleep(40)
    _real_exit(code)


os._exit = _linger


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
