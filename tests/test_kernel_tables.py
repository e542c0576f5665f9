"""Kernel state every sandbox shares: channels between classmates through it, and
host-wide tables that one sandbox could fill for everyone. Judged by effect from outside: what a
receiver learns, how far the host's table grew, whether a process outside can still open files.

Each pair test opens two real sandboxes, as two classmates graded at the same time (the sender
still open) or one after the other (the sender closed first). Everything a probe tries is
harmless where the wall is missing: locks on a file it only reads, pages of a file of this test's
own dropped and read, queues and instances closed at once. These tests look only at their own
processes and files.
"""

from __future__ import annotations

import os
import secrets
import sys
import threading
import time
from pathlib import Path

import pytest

from mslab.sandbox import hostlimits
from mslab.sandbox.host import Limits, Sandbox, StudentCrashed, StudentRaised

pytestmark = pytest.mark.slow  # sandboxes under attack: minutes (pytest -m 'not slow' skips them)

LIMITS = Limits(load_seconds=30, call_seconds=30)
MIB = 1 << 20
PAGE = os.sysconf("SC_PAGE_SIZE")
BITS = 16  # the value a sender passes: one bit a page

PROBE = r'''
import ctypes, errno, fcntl, os, select, signal, struct, time

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
X86 = os.uname().machine == "x86_64"
SYS = {"io_setup": 206 if X86 else 0, "io_destroy": 207 if X86 else 1, "mq_open": 240 if X86 else 180,
       "mq_unlink": 241 if X86 else 181, "inotify_init1": 294 if X86 else 26, "preadv2": 327 if X86 else 286,
       "fadvise64": 221 if X86 else 223, "cachestat": 451}
F_RDLCK, F_WRLCK, F_UNLCK = 0, 1, 2
F_GETLK, F_SETLK, F_OFD_GETLK, F_OFD_SETLK = 5, 6, 36, 37
F_SETLEASE, F_GETLEASE, F_NOTIFY = 1024, 1025, 1026
FLOCK = "hh4xqqi4x"  # struct flock on 64-bit Linux: type, whence, start, len, pid
PAGE = os.sysconf("SC_PAGE_SIZE")
SHARED = os.__file__  # a file every sandbox can read: the Python installation they all share
HELD = []


def ready():
    return "ok"


def _err(exc):
    return errno.errorcode.get(exc.errno, str(exc.errno))


def _ret(ret):
    if ret == -1:
        return errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno()))
    return "ok"


# -- locks: a classmate graded at the same time --------------------------------------------

def lock_send(kind, value):
    """Hold a lock on the shared file that says ``value`` (its offset), kept until the sandbox ends."""
    fd = os.open(SHARED, os.O_RDONLY)
    HELD.append(fd)
    try:
        if kind == "flock":
            fcntl.flock(fd, fcntl.LOCK_SH)
        else:
            command = F_SETLK if kind == "posix" else F_OFD_SETLK
            fcntl.fcntl(fd, command, struct.pack(FLOCK, F_RDLCK, 0, value, 1, 0))
        return "ok"
    except OSError as exc:
        return _err(exc)


def lock_receive(kind):
    """What the shared file's locks say: the offset of a lock another process holds, or an errno."""
    fd = os.open(SHARED, os.O_RDONLY)
    try:
        if kind == "flock":
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_UN)
            return "unlocked"
        command = F_GETLK if kind == "posix" else F_OFD_GETLK
        got = struct.unpack(FLOCK, fcntl.fcntl(fd, command, struct.pack(FLOCK, F_WRLCK, 0, 0, 0, 0)))
        return got[2] if got[0] != F_UNLCK else "unlocked"
    except OSError as exc:
        return _err(exc)
    finally:
        os.close(fd)


def fcntl_command(command, folder):
    """A lease or notify command on the shared file (or a folder): "ok" or the errno."""
    fd = os.open(os.path.dirname(SHARED) if folder else SHARED, os.O_RDONLY)
    try:
        fcntl.fcntl(fd, command, F_RDLCK if command == F_SETLEASE else (1 if command == F_NOTIFY else 0))
        return "ok"
    except OSError as exc:
        return _err(exc)
    finally:
        os.close(fd)


# -- the page cache: a classmate graded later ------------------------------------------------

def _fadvise(fd, advice):
    return _ret(libc.syscall(SYS["fadvise64"], fd, ctypes.c_long(0), ctypes.c_long(0), ctypes.c_int(advice)))


def cache_send(path, value, bits):
    """Drop the file's pages, then read page i for each bit i of ``value`` that is 1."""
    fd = os.open(path, os.O_RDONLY)
    try:
        dropped = _fadvise(fd, 4)  # POSIX_FADV_DONTNEED
        _fadvise(fd, 1)  # POSIX_FADV_RANDOM: no readahead past the page read
        for i in range(bits):
            if value >> i & 1:
                os.pread(fd, 1, i * PAGE)
        return dropped
    finally:
        os.close(fd)


def cache_receive(path, bits):
    """Which of the file's first ``bits`` pages are cached, by each probe (mincore, cachestat,
    preadv2): the bits read, or an errno."""
    fd = os.open(path, os.O_RDONLY)
    found = {}
    try:
        address = libc.mmap(None, bits * PAGE, 1, 1, fd, 0)  # PROT_READ, MAP_SHARED; nothing faulted in
        vector = ctypes.create_string_buffer(bits)
        ret = libc.mincore(ctypes.c_void_p(address), bits * PAGE, vector)
        found["mincore"] = sum((b & 1) << i for i, b in enumerate(vector.raw)) if ret == 0 else _ret(ret)
        libc.munmap(ctypes.c_void_p(address), bits * PAGE)
        value, out = 0, (ctypes.c_uint64 * 5)()
        for i in range(bits):
            span = (ctypes.c_uint64 * 2)(i * PAGE, PAGE)
            ret = libc.syscall(SYS["cachestat"], fd, span, out, 0)
            if ret != 0:
                value = _ret(ret)
                break
            value |= (out[0] > 0) << i
        found["cachestat"] = value
        value, buffer = 0, ctypes.create_string_buffer(1)
        iov = (ctypes.c_void_p * 2)(ctypes.cast(buffer, ctypes.c_void_p), 1)
        for i in range(bits):
            ret = libc.syscall(SYS["preadv2"], fd, iov, 1, ctypes.c_long(i * PAGE), 0, 8)  # RWF_NOWAIT
            if ret == -1 and ctypes.get_errno() != errno.EAGAIN:
                value = _ret(ret)
                break
            value |= (ret == 1) << i
        found["preadv2"] = value
        return [found["mincore"], found["cachestat"], found["preadv2"]]
    finally:
        os.close(fd)


def fault_receive(path, bits):
    """Which pages are cached, by touching each (no readahead) and counting major faults."""
    import mmap, resource
    fd = os.open(path, os.O_RDONLY)
    mapping = mmap.mmap(fd, bits * PAGE, prot=mmap.PROT_READ)
    mapping.madvise(mmap.MADV_RANDOM)
    value = 0
    for i in range(bits):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_majflt
        mapping[i * PAGE]
        value |= (resource.getrusage(resource.RUSAGE_SELF).ru_majflt == before) << i
    mapping.close()
    os.close(fd)
    return value


# -- host-wide tables ------------------------------------------------------------------------

def io_setup():
    context = ctypes.c_ulong(0)
    ret = libc.syscall(SYS["io_setup"], 1, ctypes.byref(context))
    if ret == 0:
        libc.syscall(SYS["io_destroy"], context)
    return _ret(ret)


def mq_open():
    name = b"/mslab-probe-%d" % os.getpid()
    ret = libc.syscall(SYS["mq_open"], name, os.O_CREAT | os.O_RDWR, 0o600, None)
    if ret >= 0:
        os.close(ret)
        libc.syscall(SYS["mq_unlink"], name)
        return "ok"
    return _ret(ret)


def inotify_init1():
    ret = libc.syscall(SYS["inotify_init1"], 0)
    if ret >= 0:
        os.close(ret)
        return "ok"
    return _ret(ret)


def queue_signals(count):
    """In a child that blocks them: send itself ``count`` real-time signals (each one queued and
    charged to its user) and make ``count`` POSIX timers; how many got through, how it stopped."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGRTMIN})
        sent, why = 0, "limit"
        try:
            for _ in range(count):
                os.kill(os.getpid(), signal.SIGRTMIN)
                sent += 1
        except OSError as exc:
            why = _err(exc)
        timers, timer = 0, ctypes.c_void_p()
        for _ in range(count):
            if libc.timer_create(1, None, ctypes.byref(timer)) != 0:  # CLOCK_MONOTONIC, SIGALRM
                break
            timers += 1
        os.write(write, f"{sent} {why} {timers} {_ret(-1) if timers < count else 'limit'}".encode())
        os._exit(0)
    os.close(write)
    got = os.read(read, 256).decode().split()
    os.waitpid(pid, 0)
    os.close(read)
    return [int(got[0]), got[1], int(got[2]), got[3]]


def fill_file_table(children, hold, each=None):
    """In each of ``children`` processes: open this file, map a page of it, close it, until the
    kernel refuses or ``each`` are made (the mapping keeps its ``struct file``, which no fd limit
    counts); hold them ``hold`` s. Returns the entries made and how each child stopped."""
    path = os.path.abspath(__file__)
    read, write = os.pipe()
    pids = []
    for _ in range(children):
        pid = os.fork()
        if pid == 0:
            os.close(read)
            made, why = 0, "limit"
            try:
                while each is None or made < each:
                    fd = os.open(path, os.O_RDONLY)
                    address = libc.mmap(None, PAGE, 1, 1, fd, 0)
                    failed = address in (None, ctypes.c_void_p(-1).value)
                    why = errno.errorcode.get(ctypes.get_errno(), "?") if failed else why
                    os.close(fd)
                    if failed:
                        break
                    made += 1
            except OSError as exc:
                why = _err(exc)
            os.write(write, f"{made} {why}\n".encode())
            time.sleep(hold)
            os._exit(0)
        pids.append(pid)
    os.close(write)
    reports, buffer, deadline = [], b"", time.monotonic() + 60
    while len(reports) < children and time.monotonic() < deadline:
        if select.select([read], [], [], 1)[0]:
            chunk = os.read(read, 4096)
            if not chunk:
                break  # every child reported or died
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            reports += [line.decode().split() for line in lines]
    os.close(read)
    return [sum(int(made) for made, _ in reports), sorted({why for _, why in reports}), len(reports)]
'''


@pytest.fixture
def probe(tmp_path):
    source = tmp_path / "probe.py"
    source.write_text(PROBE, encoding="utf-8")
    return source


# -- channels between classmates ----------------------------------------------------------


@pytest.mark.parametrize("kind", ["posix", "ofd", "flock"])
def test_classmates_graded_together_pass_nothing_through_locks(probe, kind):
    """The sender holds a lock on a file both can read (at an offset that is the answer); the
    receiver, graded at the same time, asks the kernel who holds what: it learns nothing, and
    neither call gets through (EPERM)."""
    value = 4096 + secrets.randbelow(1 << 20)
    with Sandbox(probe, "probe", limits=LIMITS) as sender, Sandbox(probe, "probe", limits=LIMITS) as receiver:
        sent = sender.call("lock_send", kind, value)
        got = receiver.call("lock_receive", kind)
    assert got not in (value, "EWOULDBLOCK", "EAGAIN"), f"the receiver read the sender's lock: {got}"
    assert (sent, got) == ("EPERM", "EPERM")


@pytest.mark.parametrize(
    "command,folder",
    [(1024, False), (1025, False), (1026, True)],
    ids=["F_SETLEASE", "F_GETLEASE", "F_NOTIFY"],
)
def test_leases_and_notifications_are_denied(probe, command, folder):
    with Sandbox(probe, "probe", limits=LIMITS) as sb:
        assert sb.call("fcntl_command", command, folder) == "EPERM"


@pytest.fixture
def cold_file():
    """A file of this test's own in the Python installation every sandbox sees, its pages dropped."""
    path = Path(sys.prefix) / f"mslab-pagecache-{secrets.token_hex(6)}.bin"
    path.write_bytes(os.urandom(BITS * PAGE))
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    yield path
    path.unlink()


def test_classmates_graded_one_after_the_other_pass_nothing_through_the_page_cache(probe, cold_file):
    """The sender drops a shared file's pages and reads those whose bit of the answer is 1, and
    ends; the receiver, graded next, asks which pages are cached (mincore, cachestat, preadv2 with
    RWF_NOWAIT): every probe is refused, none gives it the value."""
    value = secrets.randbelow(1 << BITS) | 1
    with Sandbox(probe, "probe", limits=LIMITS) as sender:
        dropped = sender.call("cache_send", str(cold_file), value, BITS)
    with Sandbox(probe, "probe", limits=LIMITS) as receiver:
        found = receiver.call("cache_receive", str(cold_file), BITS)
    assert value not in found, f"the receiver read the sender's pages (mincore, cachestat, preadv2): {found}"
    assert (dropped, found) == ("EPERM", ["EPERM", "EPERM", "EPERM"])


def test_a_classmate_graded_later_reads_nothing_from_major_faults(probe, cold_file):
    """The sender reads the pages of a cold shared file whose bit is 1 (a read needs no probe
    call); the receiver, graded next, touches each page and counts its major faults."""
    value = secrets.randbelow(1 << BITS) | 1
    with Sandbox(probe, "probe", limits=LIMITS) as sender:
        sender.call("cache_send", str(cold_file), value, BITS)
    with Sandbox(probe, "probe", limits=LIMITS) as receiver:
        found = receiver.call("fault_receive", str(cold_file), BITS)
    assert found != value, f"the receiver read the sender's pages from its major faults: {found:#x}"


# -- host-wide tables ------------------------------------------------------------------------


@pytest.mark.parametrize("call", ["io_setup", "mq_open", "inotify_init1"])
def test_calls_that_buy_a_host_wide_table_are_denied(probe, call):
    """fs.aio-max-nr (one io_setup of 65536 events takes the host's whole default), POSIX message
    queues and inotify instances and watches (per user: the grader's, in the normal-user mode)."""
    with Sandbox(probe, "probe", limits=LIMITS) as sb:
        assert sb.call(call) == "EPERM"


def test_a_sandbox_queues_no_signals_charged_to_its_user(probe):
    """Queued signals count against the user owning the sandbox's user namespace (the grader, in
    the normal-user mode) up to its RLIMIT_SIGPENDING: real-time signals and POSIX timers are
    refused, so 5000 of each queue nothing."""
    with Sandbox(probe, "probe", limits=LIMITS) as sb:
        sent, why, timers, timer_why = sb.call("queue_signals", 5000)
    assert (sent, why, timers, timer_why) == (0, "EPERM", 0, "EPERM")


def _file_nr() -> tuple[int, int]:
    allocated, _free, maximum = (int(n) for n in Path("/proc/sys/fs/file-nr").read_text().split())
    return allocated, maximum


def _memory_usage(sb: Sandbox) -> int | None:
    cgroup = getattr(sb._proc, "cgroup", None)
    for path in cgroup.paths if cgroup else []:
        for name in ("memory.current", "memory.usage_in_bytes"):
            if (path / name).exists():
                return int((path / name).read_text())
    return None


@pytest.fixture
def with_cgroup():
    """The file-table tests need the memory cgroup that bounds them (a root grader's; CI runs as
    root): without it they would take the host's table. Missing: a failure under CI, else a skip."""
    if os.geteuid() != 0:
        reason = "needs a root grader's memory cgroup to stay bounded"
        pytest.fail(reason) if os.environ.get("CI") == "true" else pytest.skip(reason)


@pytest.mark.usefixtures("with_cgroup")
def test_a_sandbox_cannot_fill_the_hosts_file_table(probe, tmp_path):
    """open + mmap one page + close, in 16 processes, until the kernel refuses: each entry is
    charged to the sandbox's memory cgroup, so the host's table grows by at most what
    hostlimits says the sandbox's memory buys, and a process outside can still open files while
    the sandbox holds them."""
    limits = Limits(load_seconds=30, call_seconds=60, memory_bytes=256 * MIB)
    assert not hostlimits.problems(limits, 1), "this host's file table is smaller than one sandbox can buy"
    before, maximum = _file_nr()
    peak, outside = [before], []
    done = threading.Event()

    def watch():
        while not done.is_set():
            peak.append(_file_nr()[0])
            time.sleep(0.01)

    watcher = threading.Thread(target=watch)
    with Sandbox(probe, "probe", limits=limits) as sb:
        assert sb.call("ready") == "ok"
        watcher.start()
        started = time.monotonic()
        try:
            made, why, reported = sb.call("fill_file_table", 16, 4)
        except (StudentCrashed, StudentRaised) as exc:  # the cgroup's OOM killer took the parent
            made, why, reported = None, str(exc), 0
        seconds = time.monotonic() - started
        held = _file_nr()[0]
        for n in range(100):  # a process outside opens files while the sandbox holds its entries
            with open(tmp_path / f"outside-{n}", "w") as fh:
                outside.append(fh.fileno() >= 0)
    done.set()
    watcher.join()
    grown = max(peak + [held]) - before
    bound = limits.memory_bytes // hostlimits.FILE_ENTRY_BYTES
    print(f"file table: +{grown} entries (made {made}, {why}, {reported} reports) in {seconds:.1f} s; bound {bound}")
    assert grown > 100_000, (made, why)  # the attack ran
    assert grown <= bound and max(peak) < maximum - maximum // 10
    assert len(outside) == 100 and all(outside)
    assert seconds < 60


@pytest.mark.usefixtures("with_cgroup")
def test_each_file_table_entry_costs_the_sandbox_at_least_what_hostlimits_counts(probe):
    """200,000 entries held (4 processes of 50,000, under the map-count limit): the sandbox's
    memory cgroup is charged at least FILE_ENTRY_BYTES for each, so its memory limit bounds them."""
    limits = Limits(load_seconds=30, call_seconds=60, memory_bytes=512 * MIB)
    with Sandbox(probe, "probe", limits=limits) as sb:
        assert sb.call("ready") == "ok"
        before, usage_before = _file_nr()[0], _memory_usage(sb)
        assert usage_before is not None, "no memory cgroup to measure the charge in"
        made, why, reported = sb.call("fill_file_table", 4, 6, 50_000)
        usage, grown = _memory_usage(sb), _file_nr()[0] - before
    assert (made, why, reported) == (200_000, ["limit"], 4)
    per_entry = (usage - usage_before) / made
    print(f"memory charged per entry: {per_entry:.0f} bytes; file table +{grown}")
    assert per_entry >= hostlimits.FILE_ENTRY_BYTES and grown >= made * 0.95


def test_hostlimits_names_the_sysctl_when_sandboxes_can_buy_more_than_the_table():
    """What `sandboxes` sandboxes can buy, against this host's limits: each problem one line that
    names the sysctl to raise; none for a limit the host has room for."""
    _, maximum = _file_nr()
    entries = maximum // 4  # a memory limit that buys a quarter of this host's table
    small = Limits(memory_bytes=entries * hostlimits.FILE_ENTRY_BYTES)
    assert not [p for p in hostlimits.problems(small, 1) if "fs.file-max" in p]
    found = [p for p in hostlimits.problems(small, 8) if "fs.file-max" in p]
    assert len(found) == 1 and "sysctl -w fs.file-max=" in found[0] and "\n" not in found[0], found
    pids = Path("/proc/sys/kernel/pid_max").read_text().strip()
    crowded = hostlimits.problems(Limits(memory_bytes=MIB, processes=int(pids)), 1)
    assert [p for p in crowded if p.startswith(f"kernel.pid_max is {pids}, ") and "sysctl -w kernel.pid_max=" in p]
    assert not [p for p in hostlimits.problems(Limits(memory_bytes=MIB, processes=64), 1) if "pid" in p]


def test_hostlimits_in_the_normal_user_mode_counts_the_graders_per_user_tables(tmp_path):
    """Per-user tables are the grader's own only in the normal-user mode: epoll watches and
    pending signals are checked there, not as root."""
    small = Limits(memory_bytes=64 * MIB, processes=16)
    huge = Limits(memory_bytes=64 * 1024**3, processes=1 << 20)
    assert not [p for p in hostlimits.problems(small, 1, root=False) if "epoll" in p or "SIGPENDING" in p]
    found = hostlimits.problems(huge, 4, root=False)
    assert [p for p in found if p.startswith("fs.epoll.max_user_watches ") and "sysctl -w" in p], found
    assert [p for p in found if p.startswith("RLIMIT_SIGPENDING ") and "ulimit -i" in p], found
    assert not [p for p in hostlimits.problems(huge, 4, root=True) if "epoll" in p or "SIGPENDING" in p]
    assert all("\n" not in p for p in found)
