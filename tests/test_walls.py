"""Direct tests of each wall of the sandbox: a probe module whose functions try one thing
each from inside and say what happened ("ok" or the errno's name), and what the grader measured.

Everything a probe tries is harmless where the wall is missing: sysctls get their own value back,
mounts happen in a private mount namespace of a throwaway child, files are deleted, processes are
named with this run's marker and exit by themselves. These tests look only at their own processes.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import LABS, ROOT
from mslab.sandbox.host import Limits, Sandbox, StudentCrashed, StudentError, StudentRaised

pytestmark = pytest.mark.slow  # sandboxes under attack: minutes (pytest -m 'not slow' skips them)

LIMITS = Limits(load_seconds=30, call_seconds=20)
MIB = 1 << 20
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="checked as root, as CI runs the grader")

PROBE = r'''
import ctypes, errno, os, signal, stat, sys, time

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
X86 = os.uname().machine == "x86_64"
SYS = {"keyctl": 250 if X86 else 219, "bpf": 321 if X86 else 280, "perf_event_open": 298 if X86 else 241,
       "userfaultfd": 323 if X86 else 282, "setns": 308 if X86 else 268}
CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUSER, CLONE_NEWPID = 0x20000, 0x2000000, 0x10000000, 0x20000000


def _result(ret):
    if ret == -1:
        return errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno()))
    return "ok"


def _in_child(fn, *args):
    """Run fn in a forked, single-threaded child (unshare needs one); its answer comes back as text."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            answer = str(fn(*args))
        except BaseException as exc:
            answer = "raised " + type(exc).__name__
        os.write(write, answer.encode())
        os._exit(0)
    os.close(write)
    got = b""
    while chunk := os.read(read, 4096):
        got += chunk
    os.close(read)
    os.waitpid(pid, 0)
    return got.decode()


def ids():
    return [os.getuid(), os.geteuid(), os.getgid(), os.getegid()]


def write_sysctl(name):
    path = "/proc/sys/" + name
    try:
        with open(path, "rb") as fh:
            value = fh.read()  # written back unchanged: nothing changes even if this works
        fd = os.open(path, os.O_WRONLY)
    except OSError as exc:
        return errno.errorcode[exc.errno]
    try:
        os.write(fd, value)
        return "ok"
    except OSError as exc:
        return errno.errorcode[exc.errno]
    finally:
        os.close(fd)


def unshare(flags):
    return _in_child(lambda: _result(libc.unshare(flags)))


def unshare_then_mount():
    def attempt():
        libc.unshare(CLONE_NEWUSER | CLONE_NEWNS)
        os.makedirs("probe-mnt", exist_ok=True)
        try:
            return _result(libc.mount(b"tmpfs", b"probe-mnt", b"tmpfs", 0, None))
        finally:
            libc.umount2(b"probe-mnt", 2)
    try:
        return _in_child(attempt)
    finally:
        try:
            os.rmdir("probe-mnt")
        except OSError:
            pass


def mount():
    os.makedirs("probe-mnt", exist_ok=True)
    try:
        return _in_child(lambda: _result(libc.mount(b"tmpfs", b"probe-mnt", b"tmpfs", 0, None)))
    finally:
        os.rmdir("probe-mnt")


def keyctl():
    return _result(libc.syscall(SYS["keyctl"], 0, ctypes.c_int(-4), 0))  # KEYCTL_GET_KEYRING_ID, user keyring


def ptrace():
    def attempt():
        target = os.fork()
        if target == 0:
            time.sleep(5)
            os._exit(0)
        try:
            return _result(libc.ptrace(16, target, None, None))  # PTRACE_ATTACH its own child
        finally:
            os.kill(target, signal.SIGKILL)
            os.waitpid(target, 0)
    return _in_child(attempt)


def bpf():
    attr = (ctypes.c_uint32 * 32)(2, 4, 4, 1)  # BPF_MAP_CREATE: an array of one 4-byte value
    return _result(libc.syscall(SYS["bpf"], 0, attr, ctypes.c_uint(ctypes.sizeof(attr))))


def perf_event_open():
    attr = (ctypes.c_uint32 * 32)(1, 128)  # PERF_TYPE_SOFTWARE, size; PERF_COUNT_SW_CPU_CLOCK
    ret = libc.syscall(SYS["perf_event_open"], attr, 0, -1, -1, 0)
    if ret >= 0:
        os.close(ret)
        return "ok"
    return _result(ret)


def userfaultfd():
    ret = libc.syscall(SYS["userfaultfd"], 0)
    if ret >= 0:
        os.close(ret)
        return "ok"
    return _result(ret)


def personality(persona):
    return _in_child(lambda: _result(libc.personality(ctypes.c_ulong(persona))))


def commands():
    found = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/cmdline", "rb") as fh:
                    found.append(fh.read().replace(b"\0", b" ").decode(errors="replace"))
            except OSError:
                pass
    return found


def cgroups():
    """What of the cgroup file system it can see and write (writes only of current values)."""
    own = open("/proc/self/cgroup").read().split()
    seen, written = [], []
    if os.path.isdir("/sys/fs/cgroup"):
        for folder, dirs, files in os.walk("/sys/fs/cgroup"):
            for name in files:
                path = os.path.join(folder, name)
                seen.append(path)
                if name in ("pids.max", "memory.max", "memory.limit_in_bytes", "cgroup.procs", "cpu.weight", "cpu.shares"):
                    try:
                        with open(path) as fh:
                            value = fh.read()
                        if name == "cgroup.procs":
                            os.close(os.open(path, os.O_WRONLY))
                        else:
                            with open(path, "w") as fh:
                                fh.write(value)
                        written.append(path)
                    except OSError:
                        pass
            if len(seen) > 2000:
                break
    return [own, len(seen), written]


def imports(name):
    import importlib
    try:
        importlib.import_module(name)
        return "ok"
    except BaseException as exc:
        return type(exc).__name__


def linger(marker):
    """Clear its death signal, leave its process group, make os._exit a sleep, and start a
    grandchild in a session of its own named with the marker (it exits by itself after 30 s)."""
    libc.prctl(1, 0, 0, 0, 0)
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
            os.execv("/bin/sleep", [marker, "30"])
        finally:
            os._exit(0)
    real = os._exit

    def _exit(code=0):
        time.sleep(30)
        real(code)

    os._exit = _exit
    return "ok"


def fill(folders, size, limit):
    """Write up to ``limit`` bytes in files of ``size`` (0: empty files, ``limit`` of them) across
    ``folders``; delete them all; say how much went in and how it stopped."""
    made, total, why = [], 0, "limit"
    block = b"\0" * size
    try:
        while (total if size else len(made)) < limit:
            path = os.path.join(folders[len(made) % len(folders)], f"fill-{len(made)}")
            fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
            made.append(path)
            try:
                if size:
                    os.write(fd, block)
                    total += size
            finally:
                os.close(fd)
    except OSError as exc:
        why = errno.errorcode[exc.errno]
    finally:
        for path in made:
            os.unlink(path)
    return [total, len(made), why]


def hoard(limit):
    """Write ``limit`` bytes into memfds (no address space needed); "held" if they all went in."""
    fds, total = [], 0
    block = b"\x5a" * (1 << 20)
    try:
        while total < limit:
            fd = os.memfd_create("hoard")  # 4 MiB each: under any file-size limit
            fds.append(fd)
            for _ in range(4):
                os.write(fd, block)
            total += 4 << 20
        return "held"
    except OSError as exc:
        return errno.errorcode[exc.errno]
    finally:
        for fd in fds:
            os.close(fd)


def stdout_is_the_log():
    try:
        out, log = os.fstat(1), os.stat("output.log")
    except OSError:
        return False
    return stat.S_ISREG(out.st_mode) and (out.st_dev, out.st_ino) == (log.st_dev, log.st_ino)


def say(text):
    print(text, flush=True)
    return "ok"


def plant(kind, target, hold):
    """Put ``kind`` (symlink, fifo) under every name the grader ever read output from, and
    replace fds 1 and 2 with a file of its own; a fifo gets a writer after ``hold`` s (a canary)."""
    import threading
    names = sorted({os.path.abspath(n) for n in ("output.log", "/tmp/output.log",
                                                  os.path.join(os.environ.get("HOME", "."), "output.log"))})
    for name in names:
        try:
            os.unlink(name)
        except OSError:
            pass
        try:
            os.symlink(target, name) if kind == "symlink" else os.mkfifo(name)
        except OSError:
            pass
    if kind == "fifo":
        def release(path):  # every reader gets a writer: the first after ``hold`` s, later ones at once
            time.sleep(hold)
            while True:
                try:
                    fd = os.open(path, os.O_WRONLY)
                except OSError:
                    return
                try:
                    os.write(fd, b"held\n")
                except OSError:
                    pass
                os.close(fd)
                time.sleep(0.01)
        for name in names:
            threading.Thread(target=release, args=(os.path.abspath(name),), daemon=True).start()
    fake = os.open("fake.log", os.O_CREAT | os.O_WRONLY, 0o600)
    os.write(fake, b"FORGED OUTPUT\n")
    os.dup2(fake, 1)
    os.dup2(fake, 2)
    os.close(fake)
    return "ok"


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


def spin(count, seconds):
    return start_spinners(count, seconds)
'''


@pytest.fixture
def probe(tmp_path):
    source = tmp_path / "probe.py"
    source.write_text(PROBE, encoding="utf-8")
    return source


@pytest.fixture
def marker():
    return f"mslab-walls-{secrets.token_hex(6)}"


def processes_named(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def started(marker: str, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not processes_named(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    return bool(processes_named(marker))


def gone(marker: str, seconds: float = 5.0) -> list[int]:
    """The processes named ``marker`` still there after ``seconds``; kills them (ours) either way."""
    deadline = time.monotonic() + seconds
    while (left := processes_named(marker)) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return left


# -- who the student is ---------------------------------------------------------------------


@as_root
def test_the_student_is_never_uid_0(probe):
    with Sandbox(probe, "probe", limits=LIMITS) as sb:
        assert 0 not in sb.call("ids")
        assert sb.walls["uid"] != 0


@as_root
def test_the_grader_measures_every_wall_as_root(probe):
    with Sandbox(probe, "probe", limits=LIMITS) as sb:
        sb.call("ids")
        walls = sb.walls
        assert walls["uid"] != 0 and walls["caps"] == 0
        for wall in (
            "user_ns",
            "pid_ns",
            "net_ns",
            "mount_ns",
            "ipc_ns",
            "uts_ns",
            "cgroup_ns",
            "seccomp",
            "no_new_privs",
        ):
            assert walls[wall] is True, wall
        assert walls["cgroup"] in ("v1", "v2")
        assert sb.isolation == "full"


# -- what the kernel refuses --------------------------------------------------------------


@pytest.mark.parametrize("name", ["kernel/core_pattern", "kernel/hostname", "fs/file-max"])
def test_sysctls_are_not_writable(probe, name):
    with Sandbox(probe, "probe", limits=LIMITS) as sb:
        assert sb.call("write_sysctl", name) != "ok"


@pytest.mark.parametrize(
    "call,args",
    [
        ("unshare", (0x10000000,)),  # CLONE_NEWUSER
        ("unshare", (0x10000000 | 0x20000 | 0x2000000,)),  # + NEWNS + NEWCGROUP
        ("unshare_then_mount", ()),
        ("mount", ()),
        ("keyctl", ()),
        ("ptrace", ()),
        ("bpf", ()),
        ("perf_event_open", ()),
        ("userfaultfd", ()),
        ("personality", (0x0040000,)),  # ADDR_NO_RANDOMIZE
    ],
    ids=[
        "unshare-user",
        "unshare-user-ns-cgroup",
        "unshare-then-mount",
        "mount",
        "keyctl",
        "ptrace-attach",
        "bpf",
        "perf_event_open",
        "userfaultfd",
        "personality",
    ],
)
def test_the_seccomp_filter_denies_with_eperm(probe, call, args):
    with Sandbox(probe, "probe", limits=LIMITS) as sb:
        assert sb.call(call, *args) == "EPERM"


def test_proc_shows_only_the_sandbox(probe):
    with Sandbox(probe, "probe", limits=LIMITS) as sb:
        commands = sb.call("commands")
    assert 1 <= len(commands) <= 4, commands
    assert not [c for c in commands if "pytest" in c], commands  # (it is a fork of the zygote: that name is its own)


def test_the_student_can_neither_see_nor_change_its_cgroup(probe):
    with Sandbox(probe, "probe", limits=LIMITS) as sb:
        own, _seen, written = sb.call("cgroups")
    assert written == []
    assert all(line.endswith(":/") for line in own), own


@pytest.mark.parametrize("module", ["mslab.numeric", "mslab.checks", "mslab.grade"])
def test_the_graders_package_is_not_in_the_sandbox(probe, module):
    with Sandbox(probe, "probe", limits=LIMITS) as sb:
        assert sb.call("imports", module) in ("ModuleNotFoundError", "ImportError")


# -- teardown the student cannot dodge ---------------------------------------------------


def test_nothing_outlives_a_closed_sandbox(probe, marker):
    with Sandbox(probe, "probe", limits=LIMITS) as sb:
        assert sb.call("linger", marker) == "ok"
        assert started(marker), "the probe's grandchild should be running"
    assert not gone(marker)


GRADER = """
import sys, time
from mslab.sandbox.host import Limits, Sandbox
sb = Sandbox(sys.argv[1], "probe", limits=Limits(load_seconds=30, call_seconds=20))
sb.start()
print(sb.call("linger", sys.argv[2]), flush=True)
time.sleep(120)
"""


def test_nothing_outlives_a_killed_grader(probe, marker):
    """The grader dies (kill -9) with the sandbox open: its student dies too, whatever it did."""
    grader = subprocess.Popen(
        [sys.executable, "-c", GRADER, str(probe), marker],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert grader.stdout.readline().strip() == "ok"
        assert started(marker), "the probe's grandchild should be running"
    finally:
        grader.kill()
        grader.wait()
    assert not gone(marker)


# -- resources ------------------------------------------------------------------------------


def test_scratch_is_capped(probe):
    """Its folder, /tmp and /dev/shm together hold about scratch_bytes (64 MiB by default)."""
    with Sandbox(probe, "probe", limits=LIMITS) as sb:
        total, _files, why = sb.call("fill", [".", "/tmp", "/dev/shm"], MIB, 100 * MIB)
    assert why == "ENOSPC" and total < 70 * MIB


def test_scratch_has_few_inodes(probe):
    with Sandbox(probe, "probe", limits=LIMITS) as sb:
        _total, files, why = sb.call("fill", [".", "/tmp", "/dev/shm"], 0, 10_000)
    assert why == "ENOSPC" and files < 10_000


def test_scratch_follows_the_limit(probe):
    with Sandbox(probe, "probe", limits=Limits(load_seconds=30, call_seconds=20, scratch_bytes=16 * MIB)) as sb:
        total, _files, why = sb.call("fill", ["."], MIB, 40 * MIB)
    assert why == "ENOSPC" and total <= 16 * MIB


def test_memfd_pages_count_against_the_memory_limit(probe):
    """2.5 GiB written into memfds (no address space used) must not fit a 2 GiB sandbox."""
    with Sandbox(probe, "probe", limits=LIMITS) as sb:
        try:
            held = sb.call("hoard", 5 << 29)
        except (StudentCrashed, StudentRaised) as exc:  # killed by the cgroup's OOM killer
            held = str(exc)
    assert held != "held"


def test_a_spinner_does_not_starve_a_concurrent_sandbox(probe):
    """Two sandboxes at once: one starts 200 spinners in sessions of their own (for 20 s), the
    other's calls (correct, quick) still finish within 4 s each."""
    solution = LABS["derivatives"].solution
    go, spinning = threading.Event(), threading.Event()
    spinners = []

    def spinner():
        with Sandbox(probe, "probe", limits=LIMITS) as sb:
            sb.call("ids")
            go.wait(120)
            spinners.append(sb.call("spin", 200, 20))
            spinning.set()
            time.sleep(22)

    thread = threading.Thread(target=spinner)
    thread.start()
    try:
        with Sandbox(solution, "derivatives", limits=Limits(load_seconds=30, call_seconds=4)) as sb:
            x = np.linspace(-2, 2, 5, dtype=np.float32)
            sb.call("f", x)  # loaded before the spinning starts
            go.set()
            assert spinning.wait(60)
            time.sleep(1)  # the spinners start 1 s after they were forked
            for _ in range(5):  # 10 calls, each with a fresh grad, while the spinners spin
                got = sb.call("f_prime", x)
                np.testing.assert_allclose(got.value, 3 * x**2 - 2, rtol=1e-5)
                got = sb.call("f_second", x)
                np.testing.assert_allclose(got.value, 6 * x, rtol=1e-5, atol=1e-5)
    finally:
        go.set()
        thread.join()
    assert spinners and spinners[0] > 50


# -- what the grader reads ------------------------------------------------------------------


def test_output_comes_from_the_student_process_not_a_file_it_controls(probe, tmp_path, marker):
    """A symlink named output.log (anywhere) and other files on fds 1 and 2 change nothing the grader reports."""
    secret = tmp_path / "secret.txt"
    secret.write_text(f"SECRET {marker}\n")
    with Sandbox(probe, "probe", limits=LIMITS) as sb:
        assert sb.call("say", f"REAL {marker}") == "ok"
        assert sb.call("plant", "symlink", str(secret), 0) == "ok"
        output = sb.output()
    assert f"SECRET {marker}" not in output and "FORGED OUTPUT" not in output
    assert f"REAL {marker}" in output


def test_a_fifo_named_output_log_does_not_hold_the_grader(probe):
    """The probe releases its FIFO after 20 s (a canary); the grader must not wait for it."""
    with Sandbox(probe, "probe", limits=LIMITS) as sb:
        assert sb.call("plant", "fifo", "", 20) == "ok"
        started = time.monotonic()
        reader = threading.Thread(target=sb.output)
        reader.start()
        reader.join(25)
        assert time.monotonic() - started < 5
        sb.call("say", "still answering")


def test_output_linked_to_dev_zero_is_not_read(probe):
    with Sandbox(probe, "probe", limits=LIMITS) as sb:
        if sb.call("stdout_is_the_log"):
            pytest.fail(
                "the grader reads output.log from the student's folder: /dev/zero not planted "
                "(it would exhaust the grader's memory)"
            )
        assert sb.call("plant", "symlink", "/dev/zero", 0) == "ok"
        started = time.monotonic()
        output = sb.output()
    assert time.monotonic() - started < 5 and len(output) < MIB


def test_printed_output_is_capped(probe):
    with Sandbox(probe, "probe", limits=LIMITS) as sb:
        sb.call("say", "x" * (4 * MIB))
        assert len(sb.output()) <= 64 * 1024


def test_the_isolation_on_record_is_measured_not_reported(tmp_path):
    """A student that sends its own "ready" message with a forged isolation text (and a terminal
    escape) does not get that text on record, whatever becomes of its calls."""
    source = Path(__file__).parent / "hostile" / "isolation_forger" / "derivatives.py"  # one source per attack
    with Sandbox(source, "derivatives", limits=LIMITS) as sb:
        try:
            sb.call("f", 1.0)
        except StudentError:  # a message of no declared shape: its file does not load, its own loss
            pass
        isolation = sb.isolation
    assert "pwned" not in isolation and "all submissions isolated" not in isolation
    assert isolation == "full" or isolation.startswith("weaker: ")
    assert isolation.isprintable()
