# Takes the CPU from classmates: at import, up to 200 spinning processes, each in a session (and so
# an autogroup) of its own, for 20 s. Its own answers are all wrong (it only spins, then raises);
# the test grades a correct classmate beside it.
import os
import time

LAUNCHER = r"""
import os, sys, time
count, seconds = int(sys.argv[1]), float(sys.argv[2])
start, made = time.monotonic() + 1, 0
for _ in range(count):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        try:
            os.setsid()
            os.dup2(os.open(os.devnull, os.O_RDWR), 1)  # not holding the launcher's pipe open
            time.sleep(max(0.0, start - time.monotonic()))
            while time.monotonic() < start + seconds:
                pass
        finally:
            os._exit(0)
    made += 1
print(made, flush=True)
"""


def start_spinners(count, seconds):
    """``count`` processes spinning for ``seconds``, each in a session of its own, forked by a fresh
    small interpreter (forking this one, MindSpore and all, takes ~40 ms a time); returns how many."""
    import subprocess
    import sys
    for python in (sys.executable, "/usr/bin/python3", "/usr/local/bin/python3", "/bin/python3"):
        if python and os.path.exists(python):
            break
    else:
        return 0
    out = subprocess.run([python, "-I", "-c", LAUNCHER, str(count), str(seconds)], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True, timeout=60).stdout
    return int(out.strip() or 0)


start_spinners(200, 20)


def f(x):
    time.sleep(2)  # keeps the sandbox (and its spinners) alive beside the classmate
    raise RuntimeError("spinner only spins")


f_prime = f_second = f


def derivative(fn, x, order=1):
    time.sleep(2)  # keeps the sandbox (and its spinners) alive beside the classmate
    raise RuntimeError("spinner only spins")
