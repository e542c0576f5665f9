# Fills the disk: scratch was a folder on the host's disk, and the file-size limit caps one file,
# not how many. A canary: in f_second it writes 1 MiB files (and then empty ones) into its folder,
# /tmp and /dev/shm, stops as soon as it has more than the sandbox should hold (70 MiB, 12 000
# files), deletes them all, and sabotages itself if it got that far.
import os

from mindspore import grad

MIB = 1 << 20
FOLDERS = (".", "/tmp", "/dev/shm")


def _fill():
    made, written, files = [], 0, 0
    try:
        block = b"\x00" * MIB
        while written <= 70 * MIB:
            path = os.path.join(FOLDERS[len(made) % 3], f"disk-filler-{len(made)}.bin")
            with open(path, "wb") as fh:
                made.append(path)
                fh.write(block)
            written += MIB
    except OSError:
        pass
    try:
        while files < 12_000:
            path = os.path.join(FOLDERS[files % 3], f"disk-filler-{files}.empty")
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
            made.append(path)
            files += 1
    except OSError:
        pass
    finally:
        for path in made:
            try:
                os.unlink(path)
            except OSError:
                pass
    return written, files


def f_second(x):
    written, files = _fill()
    if written > 70 * MIB or files >= 12_000:
        raise RuntimeError(f"ESCAPED: wrote {written // MIB} MiB and {files} files")
    return grad(grad(f))(x)


def f(x):
    return x**3 - 2 * x + 1


def f_prime(x):
    return grad(f)(x)


def derivative(fn, x, order=1):
    for _ in range(order):
        fn = grad(fn)
    return fn(x)
