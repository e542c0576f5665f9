# Takes the CPU from classmates: at import, up to 200 spinning processes, each in a session (and so
# an autogroup) of its own, for 20 s. Its own answers are all wrong (it only spins, then raises);
# the test grades a correct classmate beside it.
import os
import time

SPINNERS, SECONDS = 200, 20
until = time.monotonic() + SECONDS
for _ in range(SPINNERS):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        try:
            os.setsid()
            while time.monotonic() < until:
                pass
        finally:
            os._exit(0)


def f(x):
    time.sleep(1)
    raise RuntimeError("spinner only spins")


f_prime = f_second = f


def derivative(fn, x, order=1):
    time.sleep(1)
    raise RuntimeError("spinner only spins")
