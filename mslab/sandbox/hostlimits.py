"""Host-wide kernel tables against what the sandboxes can buy of them.

Some kernel tables are shared by every process on the host, and a full one fails every process
that needs an entry, the grader and the instructor's shell included. For each, a sandbox either
cannot reach it at all or can buy only a bounded share:

- **denied by the seccomp filter** (:mod:`mslab.sandbox.seccomp`), nothing to check: AIO
  contexts (``fs.aio-max-nr``: ``io_setup``), POSIX message queues (``mq_open``; the per-user
  ``RLIMIT_MSGQUEUE``), inotify instances and watches (``fs.inotify.max_user_*``), fanotify
  groups, keys (``kernel.keys.*``: ``add_key``/``keyctl``), namespaces (``user.max_*``: ``unshare``,
  ``clone`` flags, ``setns``), io_uring;
- **per sandbox, not host-wide**: ``vm.max_map_count`` and ``fs.nr_open`` (per process, under
  ``RLIMIT_NOFILE``), System V IPC and ``fs.mqueue.*`` (per IPC namespace: each sandbox has its
  own), ptys (no ``/dev/ptmx`` in the jail);
- **bought with the sandbox's memory or processes**, checked here against the host's limit:
  - the file table, ``fs.file-max``: a ``struct file`` is kept alive by a mapping after its fd
    is closed, so ``RLIMIT_NOFILE`` does not bound it; the kernel charges it (and the mapping)
    to the sandbox's memory cgroup, so ``sandboxes`` sandboxes can hold at most
    ``sandboxes × memory_bytes / FILE_ENTRY_BYTES`` entries;
  - process ids, ``kernel.pid_max`` and ``kernel.threads-max``: ``pids.max`` of each sandbox's
    cgroup (``Limits.processes``);
  - epoll watches, ``fs.epoll.max_user_watches``, counted per user: only in the normal-user mode,
    where a sandbox's processes may count as the grader's user; charged to the memory cgroup at
    ``EPOLL_WATCH_BYTES`` each;
  - pending signals, the grader's ``RLIMIT_SIGPENDING`` (``ulimit -i``), only in the normal-user
    mode, where every signal queued in a sandbox is also charged to the user owning its user
    namespace. The filter refuses real-time signals and POSIX timers; what remains are standard
    signals, which the kernel queues past the limit but at most one of each (31) per thread and
    per process: ``SIGNALS_PER_PROCESS`` × ``Limits.processes`` per sandbox.

The bounds assume each sandbox stands behind its memory and pids cgroup: without one (a normal
user's grader with no delegated cgroup) nothing but ``RLIMIT_AS`` bounds its file-table entries;
the grader's walls check refuses that case, not this module.

Contract: :func:`problems` reads ``/proc`` (nothing else, writes nothing) and returns one line per
limit the host is short of — empty when ``sandboxes`` concurrent sandboxes of ``limits`` cannot
exhaust any table; each line names the sysctl and the exact command that raises it. A caller
(the grader's preflight) refuses to start, printing the lines, unless they are empty. Call it on
the host that runs the sandboxes, with the number that run there at once (a cluster: on each
node, with that node's workers). ``limits`` needs ``memory_bytes`` and ``processes``
(:class:`mslab.sandbox.host.Limits`).

On this project's machines (kernel 6.18, 24 GB, no systemd) ``fs.file-max`` is 2,466,093, which
one sandbox of the default 2 GiB could exceed (5.4 million entries): ``problems(Limits(), 1)``
names it, and ``sysctl -w fs.file-max=9223372036854775807`` (systemd's own default) clears it.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

#: Memory a sandbox's cgroup is charged for each file-table entry it holds with open + mmap one
#: page + close (struct file, the mapping, its page-table share), rounded down: measured on
#: kernel 6.18, cgroup v1 (tests/test_kernel_tables.py prints the figure).
FILE_ENTRY_BYTES = 400
#: An epoll watch's memory (a struct epitem and a struct eppoll_entry, charged to the memory
#: cgroup): the kernel's EP_ITEM_COST, from which it sizes the default max_user_watches, is about
#: 184 bytes on 64-bit 6.x kernels (this host: 4% of RAM / 5,491,333); counted low, to err on the
#: side of the host.
EPOLL_WATCH_BYTES = 160
#: Standard signals one thread can hold pending: one of each of 1-31 in its own set and in its
#: process's (a sandbox's pids.max counts threads).
SIGNALS_PER_PROCESS = 62
#: Room left on each table for the rest of the host (the grader, Ray, the instructor's shell).
HEADROOM = 65536
#: What to suggest for fs.file-max: systemd's default (LONG_MAX): memory then bounds the table.
FILE_MAX_SUGGESTED = 9223372036854775807


class _Limits(Protocol):
    @property
    def memory_bytes(self) -> int: ...
    @property
    def processes(self) -> int: ...


def _read_int(proc: Path, name: str) -> int | None:
    try:
        return int((proc / "sys" / name).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _in_use_files(proc: Path) -> int:
    try:
        return int((proc / "sys/fs/file-nr").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def _in_use_tasks(proc: Path) -> int:
    try:
        return int((proc / "loadavg").read_text().split()[3].split("/")[1])  # running/total threads
    except (OSError, ValueError, IndexError):
        return 0


def _mib(value: int) -> str:
    return f"{value / (1 << 20):.0f} MiB"


def problems(
    limits: _Limits,
    sandboxes: int,
    *,
    root: bool | None = None,
    proc: Path = Path("/proc"),
) -> list[str]:
    """One line per host-wide table that ``sandboxes`` concurrent sandboxes of ``limits`` could
    exhaust; [] when the host has room. ``root``: whether the grader runs as root (default: this
    process's euid); in the normal-user mode per-user tables are shared with the grader."""
    if root is None:
        root = os.geteuid() == 0
    sandboxes = max(1, sandboxes)
    found: list[str] = []
    each = f"{sandboxes} sandbox{'es' if sandboxes > 1 else ''} of {_mib(limits.memory_bytes)}"

    def check(sysctl: str, need: int, spare: int, what: str, suggest: Callable[[int], int]) -> None:
        have = _read_int(proc, sysctl.replace(".", "/"))
        if have is not None and have < need:
            found.append(
                f"{sysctl} is {have}, but {what} (with what is in use now and {spare} to spare it needs "
                f"{need}): raise it with `sysctl -w {sysctl}={suggest(need)}` (and in /etc/sysctl.d to keep it)"
            )

    files = sandboxes * (limits.memory_bytes // FILE_ENTRY_BYTES)
    check(
        "fs.file-max",
        files + _in_use_files(proc) + HEADROOM,
        HEADROOM,
        f"{each} can hold {files} file-table entries",
        lambda need: FILE_MAX_SUGGESTED,
    )
    tasks = sandboxes * limits.processes
    for sysctl in ("kernel.pid_max", "kernel.threads-max"):
        check(
            sysctl,
            tasks + _in_use_tasks(proc) + HEADROOM // 16,
            HEADROOM // 16,
            f"{sandboxes} sandbox{'es' if sandboxes > 1 else ''} of {limits.processes} processes can start {tasks}",
            lambda need: need,
        )
    if not root:
        watches = sandboxes * (limits.memory_bytes // EPOLL_WATCH_BYTES)
        check(
            "fs.epoll.max_user_watches",
            watches + HEADROOM,
            HEADROOM,
            f"{each}, counted as the grader's user, can add {watches} epoll watches",
            lambda need: need,
        )
        signals = sandboxes * limits.processes * SIGNALS_PER_PROCESS
        need = signals + HEADROOM // 16
        have = resource.getrlimit(resource.RLIMIT_SIGPENDING)[0]
        if have != resource.RLIM_INFINITY and have < need:
            found.append(
                f"RLIMIT_SIGPENDING is {have}, but {sandboxes} sandbox{'es' if sandboxes > 1 else ''} of "
                f"{limits.processes} processes can hold {signals} pending signals charged to the grader's user: "
                f"raise it with `ulimit -i {need}` (hard limit: `prlimit --pid $$ --sigpending={need}` as root, "
                f"or /etc/security/limits.conf)"
            )
    return found
