"""The seccomp-bpf filter a sandboxed student process runs under, built with libseccomp.

The filter is built with libseccomp's own Python binding where the system has it (Debian's
``python3-seccomp``) or PyPI's ``pyseccomp`` (ctypes over the same ``libseccomp.so.2``, with
the same API) — not a hand-written BPF program: libseccomp knows every architecture's syscall
numbers and the x32/ia32 aliases that a hand-written filter forgets.

It allows everything but the calls a student file has no business making, which fail with
``EPERM`` so that MindSpore, NumPy and Python keep working when they probe for them:

- new namespaces and moving between them (``unshare``, ``setns``, ``clone`` with a ``CLONE_NEW*``
  flag) — the way back to mounting cgroupfs or a user namespace of its own;
- mounts (``mount``, ``umount2``, ``pivot_root``, the new mount API, ``chroot``);
- the kernel keyring (``keyctl``, ``add_key``, ``request_key``), shared by every process of a uid;
- other processes' memory (``ptrace``, ``process_vm_readv``/``writev``, ``kcmp``);
- kernel attack surface no lab needs (``bpf``, ``perf_event_open``, ``userfaultfd``,
  ``io_uring_*``, modules, ``kexec``, ``acct``, ``swapon``/``swapoff``, ``reboot``, ``syslog``,
  ``open_by_handle_at``, ``personality`` other than a query, clock and quota calls...);
- ``prctl(PR_SET_DUMPABLE)`` and changing ``RLIMIT_CORE`` (kept at 1, which the kernel takes as
  "no core dump", pipes included): a sandbox never hands its memory to the host's core handler;
- ``socket(AF_VSOCK)``: the hypervisor's sockets, which no network namespace separates;
- channels between classmates through kernel state every sandbox shares: record locks,
  leases and directory notifications (``fcntl`` with ``F_GETLK``/``F_SETLK``/``F_SETLKW``, their
  ``F_OFD_*`` forms, ``F_GETLEASE``/``F_SETLEASE``, ``F_NOTIFY``; also ``fcntl64``) and ``flock``,
  which a sandbox can take on any file it can read (the Python installation all sandboxes share)
  and a classmate graded at the same time can see; page-cache probes that tell a student graded
  later which pages of a shared file an earlier one read or dropped (``mincore``, ``cachestat``,
  ``preadv2``/``pwritev2`` with ``RWF_NOWAIT``, ``fadvise64`` with ``POSIX_FADV_DONTNEED``);
- host-wide tables that a sandbox could fill for everyone, and that no memory limit bounds: the
  AIO calls (``io_setup``... : ``fs.aio-max-nr``), POSIX message queues (``mq_*``: the grader's
  ``RLIMIT_MSGQUEUE`` in the normal-user mode) and inotify (``inotify_*``: the per-user
  ``max_user_instances``/``max_user_watches``, shared with the grader in the normal-user mode);
- queued signals, which are charged to the user that owns the sandbox's user namespace (the
  grader, in the normal-user mode) up to its ``RLIMIT_SIGPENDING``: real-time signals (32 and
  above) sent with ``kill``, ``tkill``, ``tgkill`` or ``pidfd_send_signal``, ``pidfd_send_signal``
  with a ``siginfo``, ``rt_sigqueueinfo``/``rt_tgsigqueueinfo``, and ``timer_create`` (each POSIX
  timer holds a queued signal). Standard signals still work; the kernel queues at most one of
  each per thread.

Measured before denying them (strace -f on MindSpore 2.7.2 importing and taking ``grad``,
``grad(grad())``, ``value_and_grad`` of a ``Dense`` and a ``jit`` function, and on the three labs'
reference solutions graded in sandboxes): none of MindSpore, NumPy or the grader's sandbox code
makes any of these calls, sends a real-time signal or makes a POSIX timer; ``fcntl`` is called
only with ``F_GETFL``/``F_GETFD``/``F_SETFD``/``F_SETFL``/``F_DUPFD_CLOEXEC``, ``fadvise64`` only
with ``POSIX_FADV_SEQUENTIAL``.
What the filter cannot close is timing: a student can still tell a cached page from a cold one
by how long it takes (or by its major-fault count), which is why hidden inputs differ per student.

Rules on ``int`` arguments compare the low 32 bits, as the kernel reads them (a rule comparing all
64 would let ``prctl(0x100000004, 1)`` through); a signal number is compared as ``>= 32`` on all
64 bits, which every value whose low 32 bits are 32 or more also is.

Its cost (kernel 6.18, x86_64, medians of 5 runs of 300,000 calls): a ``getppid`` takes 441 ns under
it, 416 ns under the filter before these denials and 382 ns under none; building it takes 72 ms, once
per zygote, and loading it 0.4 ms per sandbox.

``clone3`` fails with ``ENOSYS`` instead: its flags live in memory a filter cannot read, and
``ENOSYS`` makes the C library fall back to ``clone``, whose flags the filter does check.
"""

from __future__ import annotations

import errno

CLONE_NEW_FLAGS = {
    "CLONE_NEWTIME": 0x00000080,
    "CLONE_NEWNS": 0x00020000,
    "CLONE_NEWCGROUP": 0x02000000,
    "CLONE_NEWUTS": 0x04000000,
    "CLONE_NEWIPC": 0x08000000,
    "CLONE_NEWUSER": 0x10000000,
    "CLONE_NEWPID": 0x20000000,
    "CLONE_NEWNET": 0x40000000,
}

#: Calls that fail with EPERM, whatever their arguments.
DENIED = (
    "unshare",
    "setns",
    "mount",
    "umount",
    "umount2",
    "pivot_root",
    "chroot",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "move_mount",
    "open_tree",
    "mount_setattr",
    "keyctl",
    "add_key",
    "request_key",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    "pidfd_getfd",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "fanotify_init",
    "lookup_dcookie",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "init_module",
    "finit_module",
    "delete_module",
    "create_module",
    "query_module",
    "kexec_load",
    "kexec_file_load",
    "acct",
    "swapon",
    "swapoff",
    "reboot",
    "syslog",
    "vhangup",
    "open_by_handle_at",
    "name_to_handle_at",
    "quotactl",
    "quotactl_fd",
    "nfsservctl",
    "uselib",
    "ustat",
    "sysfs",
    "_sysctl",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "stime",
    "sethostname",
    "setdomainname",
    "iopl",
    "ioperm",
    "move_pages",
    "migrate_pages",
    "mbind",
    "set_mempolicy",
    "flock",
    "io_setup",
    "io_destroy",
    "io_submit",
    "io_cancel",
    "io_getevents",
    "io_pgetevents",
    "mq_open",
    "mq_unlink",
    "mq_timedsend",
    "mq_timedreceive",
    "mq_notify",
    "mq_getsetattr",
    "inotify_init",
    "inotify_init1",
    "inotify_add_watch",
    "inotify_rm_watch",
    "mincore",
    "cachestat",
    "rt_sigqueueinfo",
    "rt_tgsigqueueinfo",
    "timer_create",
)
#: Calls libseccomp may not know by name yet (2.5 does not): their number, the same on every
#: architecture (added after the syscall tables were unified).
NUMBERED = {"cachestat": 451}
#: fcntl commands that fail with EPERM: record locks (POSIX and open-file-description), leases,
#: directory notification; 12-14 are the ``*LK64`` forms of 32-bit architectures.
FCNTL_DENIED = {
    "F_GETLK": 5,
    "F_SETLK": 6,
    "F_SETLKW": 7,
    "F_GETLK64": 12,
    "F_SETLK64": 13,
    "F_SETLKW64": 14,
    "F_OFD_GETLK": 36,
    "F_OFD_SETLK": 37,
    "F_OFD_SETLKW": 38,
    "F_SETLEASE": 1024,
    "F_GETLEASE": 1025,
    "F_NOTIFY": 1026,
}
SIGRTMIN = 32  # the kernel's; the C library reserves the first two or three for itself
#: Where the signal number is, per call that sends one.
SIGNAL_ARG = {"kill": 1, "tkill": 1, "tgkill": 2, "pidfd_send_signal": 1}
RWF_NOWAIT = 0x00000008
POSIX_FADV_DONTNEED = 4  # 6 on s390, which mslab does not run on
#: Where the filtered argument sits on x86_64 and aarch64 (the architectures mslab runs on).
PREADV2_FLAGS_ARG = 5  # preadv2(fd, iov, iovcnt, pos_l, pos_h, flags)
FADVISE_ADVICE_ARG = 3  # fadvise64(fd, offset, len, advice)
PERSONALITY_QUERY = 0xFFFFFFFF
PR_SET_DUMPABLE = 4
RLIMIT_CORE = 4
AF_VSOCK = 40
LOW32 = 0xFFFFFFFF  # int arguments: the kernel reads the low 32 bits, so the filter compares those


def binding():
    """libseccomp's Python binding: the system's ``seccomp`` module, else PyPI's ``pyseccomp``."""
    try:
        import seccomp
    except ImportError:
        import pyseccomp as seccomp
    return seccomp


def build():
    """The filter, not yet loaded (building it once in the zygote makes each child's load cheap)."""
    sc = binding()
    deny = sc.ERRNO(errno.EPERM)
    flt = sc.SyscallFilter(sc.ALLOW)
    for name in DENIED:
        _add(flt, deny, name)
    for call in ("fcntl", "fcntl64"):
        for command in FCNTL_DENIED.values():
            _add(flt, deny, call, sc.Arg(1, sc.MASKED_EQ, LOW32, command))
    for call in ("preadv2", "pwritev2"):
        _add(flt, deny, call, sc.Arg(PREADV2_FLAGS_ARG, sc.MASKED_EQ, RWF_NOWAIT, RWF_NOWAIT))
    for call, arg in SIGNAL_ARG.items():  # compared as 64 bits: no value below 32 has low bits >= 32
        _add(flt, deny, call, sc.Arg(arg, sc.GE, SIGRTMIN))
    _add(flt, deny, "pidfd_send_signal", sc.Arg(2, sc.NE, 0))  # a siginfo: queued like sigqueue
    _add(flt, deny, "fadvise64", sc.Arg(FADVISE_ADVICE_ARG, sc.MASKED_EQ, LOW32, POSIX_FADV_DONTNEED))
    for flag in CLONE_NEW_FLAGS.values():
        flt.add_rule(deny, "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
    flt.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
    flt.add_rule(deny, "personality", sc.Arg(0, sc.NE, PERSONALITY_QUERY))
    flt.add_rule(deny, "prctl", sc.Arg(0, sc.MASKED_EQ, LOW32, PR_SET_DUMPABLE))
    # RLIMIT_CORE stays (1, 1): the kernel then writes no core, not even to a pipe core_pattern,
    # also for a program the student execs (execve makes a process dumpable again).
    flt.add_rule(deny, "setrlimit", sc.Arg(0, sc.MASKED_EQ, LOW32, RLIMIT_CORE))
    flt.add_rule(deny, "prlimit64", sc.Arg(1, sc.MASKED_EQ, LOW32, RLIMIT_CORE), sc.Arg(2, sc.NE, 0))
    flt.add_rule(deny, "socket", sc.Arg(0, sc.MASKED_EQ, LOW32, AF_VSOCK))  # the hypervisor's sockets
    return flt


def _add(flt, action, name: str, *args) -> None:
    """One rule; a call this architecture does not have (``iopl`` on aarch64, ``fcntl64`` on
    64-bit ones) is skipped, one libseccomp does not know by name goes by its number."""
    try:
        flt.add_rule(action, name, *args)
    except (RuntimeError, ValueError, OSError):
        if name in NUMBERED:
            flt.add_rule(action, NUMBERED[name], *args)


def load(flt) -> None:
    """Load ``flt`` into this thread and every thread and process it starts afterwards.

    The kernel needs ``no_new_privs`` (set first by the jail) to accept a filter from a process
    without ``CAP_SYS_ADMIN``; once loaded, a filter can never be removed or loosened."""
    flt.load()
