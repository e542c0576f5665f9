# Takes over cgroups from inside: in a forked child, unshare(CLONE_NEWUSER|CLONE_NEWNS|
# CLONE_NEWCGROUP), map itself to root, mount the v1 `pids`/`memory` hierarchies or cgroup2 and
# write its limits (`pids.max = max`, the grader's memory limit, `cgroup.kill` of anything).
# A canary: the mounts live only in the child's private mount namespace, and the only writes
# are of a file's current value. Any mount or write that works sabotages the answers.
import ctypes
import os

from mindspore import grad

CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUSER = 0x00020000, 0x02000000, 0x10000000
MNT_DETACH = 2


def _child(report):
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
    uid, gid = os.getuid(), os.getgid()
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWCGROUP) == 0:
        report("unshare(NEWUSER|NEWNS|NEWCGROUP)")
        for path, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1")):
            try:
                with open(f"/proc/self/{path}", "w") as fh:
                    fh.write(text)
            except OSError:
                pass
        libc.mount(None, b"/", None, 16384 | (1 << 18), None)  # MS_REC|MS_PRIVATE: nothing leaks out
    elif libc.unshare(CLONE_NEWCGROUP) == 0:
        report("unshare(NEWCGROUP)")
    mnt = os.path.abspath("cgroup-escaper-mnt")
    os.makedirs(mnt, exist_ok=True)
    for fstype, data, knob in (("cgroup", b"pids", "pids.max"), ("cgroup", b"memory", "memory.limit_in_bytes"),
                               ("cgroup2", None, "pids.max")):
        if libc.mount(fstype.encode(), mnt.encode(), fstype.encode(), 0, data) != 0:
            continue
        report(f"mounted {fstype} {data.decode() if data else ''}")
        path = os.path.join(mnt, knob)  # its own cgroup, at the root of the new cgroup namespace
        try:
            with open(path) as fh:
                value = fh.read()
            with open(path, "w") as fh:
                fh.write(value)  # its current value: nothing changes
            report(f"wrote {knob}")
        except OSError:
            pass
        libc.umount2(mnt.encode(), MNT_DETACH)
    for path in ("/sys/fs/cgroup/pids/pids.max", "/sys/fs/cgroup/cgroup.procs", "/sys/fs/cgroup/pids/cgroup.procs"):
        try:
            os.close(os.open(path, os.O_WRONLY))
            report(f"opened {path} for writing")
        except OSError:
            pass


def attempt():
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            _child(lambda what: os.write(write, (what + "\n").encode()))
        finally:
            os._exit(0)
    os.close(write)
    got = b""
    while chunk := os.read(read, 4096):
        got += chunk
    os.close(read)
    os.waitpid(pid, 0)
    try:
        os.rmdir("cgroup-escaper-mnt")
    except OSError:
        pass
    return [line for line in got.decode().splitlines() if line]


DONE = attempt()
if DONE:
    raise RuntimeError("ESCAPED: " + "; ".join(DONE))


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
