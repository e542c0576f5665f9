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
- ``socket(AF_VSOCK)``: the hypervisor's sockets, which no network namespace separates.

Rules on ``int`` arguments compare the low 32 bits, as the kernel reads them (a rule comparing all
64 would let ``prctl(0x100000004, 1)`` through).

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
)
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
        try:
            flt.add_rule(deny, name)
        except (RuntimeError, ValueError, OSError):
            pass  # not a syscall on this architecture (e.g. iopl on aarch64)
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


def load(flt) -> None:
    """Load ``flt`` into this thread and every thread and process it starts afterwards.

    The kernel needs ``no_new_privs`` (set first by the jail) to accept a filter from a process
    without ``CAP_SYS_ADMIN``; once loaded, a filter can never be removed or loosened."""
    flt.load()
