# Writes the host's sysctls from inside the sandbox (`kernel/core_pattern = |program` ran that
# program as root on the host). A canary: it writes back exactly the value it read, so nothing
# changes even where the wall is missing, and sabotages itself if any write was accepted.
import os

from mindspore import grad

ACCEPTED = []
for name in ("kernel/core_pattern", "kernel/hostname", "kernel/domainname", "fs/file-max"):
    path = "/proc/sys/" + name
    try:
        with open(path, "rb") as fh:
            value = fh.read()
        fd = os.open(path, os.O_WRONLY)
    except OSError:
        continue
    try:
        if os.write(fd, value) > 0:
            ACCEPTED.append(name)
    except OSError:
        pass
    finally:
        os.close(fd)
if ACCEPTED:
    raise RuntimeError("ESCAPED: wrote /proc/sys/" + ", /proc/sys/".join(ACCEPTED))


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
