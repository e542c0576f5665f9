# Holds memory the address-space limit cannot see: pages written to memfds (never mapped), in a
# child of its own, at import. A canary: the child stops at 2.5 GiB (more than a sandbox may hold),
# says so and is killed by its parent, which then sabotages itself; if the sandbox's memory
# accounting stops the child first (an error, or the OOM killer, which is told to prefer it), the
# file is right.
import os
import signal

from mindspore import grad

LIMIT = 5 << 29  # 2.5 GiB
CHUNK = 4 << 20  # per memfd: under any file-size limit


def _hoard(report):
    try:
        with open("/proc/self/oom_score_adj", "w") as fh:
            fh.write("1000")
    except OSError:
        pass
    block, total, fds = b"\x5a" * (1 << 20), 0, []
    while total < LIMIT:
        fd = os.memfd_create("hoard")
        fds.append(fd)
        for _ in range(CHUNK >> 20):
            os.write(fd, block)
        total += CHUNK
        os.write(report, b"%d\n" % total)
    os.write(report, b"held\n")
    signal.pause()


def hoard():
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            _hoard(write)
        finally:
            os._exit(0)
    os.close(write)
    got = b""
    while b"held" not in got and (chunk := os.read(read, 4096)):
        got += chunk
    os.close(read)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return b"held" in got


if hoard():
    raise RuntimeError("ESCAPED: held 2.5 GiB in memfds")


def f(x):
    return x**3 - 2 * x + 1


def f_prime(x):
    return grad(lambda v: v**3 - 2 * v + 1)(x)


def f_second(x):
    return grad(grad(lambda v: v**3 - 2 * v + 1))(x)


def derivative(fn, x, order=1):
    for _ in range(order):
        fn = grad(fn)
    return fn(x)
