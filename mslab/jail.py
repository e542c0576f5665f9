"""Linux isolation for one sandboxed student process, entered right after the zygote forks it.

:func:`enter` runs in the forked, single-threaded child: its own mount, PID, network and IPC
namespaces (plus a user namespace when not root). In the new PID namespace's first process,
:func:`inside` builds a new root that holds only what a student process needs — the system's
libraries, the interpreter's and mslab's files, read-only; its own scratch folder, ``/tmp`` and
``/dev/shm``; a few harmless devices; a ``/proc`` showing only its own processes — pivots into it,
detaches the host's tree and drops every capability. Checkouts (labs with hidden checks and
solutions), submissions, results, other students' scratch folders, home folders and block
devices are simply not there. When that first process exits, the kernel kills everything else
in its PID namespace; as root, a pids cgroup also caps how many processes and threads it may
have (a fork bomb) and lists them for the kill.

Where namespaces are not allowed (no root and no unprivileged user namespaces), the child keeps
the basic isolation — own session, scratch directory and rlimits — and says so.
"""

from __future__ import annotations

import ctypes
import os
import signal
import time
from pathlib import Path

CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 1, 24, 36, 38
PIDS_CGROUP = Path("/sys/fs/cgroup/pids")

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]


def _call(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source, target, fstype, flags, data=None) -> None:
    enc = lambda v: None if v is None else str(v).encode()  # noqa: E731
    _call(_libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)), f"mount {target}")


def cgroup_for(name: str) -> Path | None:
    """A pids cgroup to put one student process in, where this process may make one (root, cgroup v1)."""
    if os.geteuid() != 0 or not os.access(PIDS_CGROUP, os.W_OK):
        return None
    return PIDS_CGROUP / "mslab" / name


def join_cgroup(cgroup: Path, max_pids: int) -> None:
    cgroup.mkdir(parents=True, exist_ok=True)
    (cgroup / "pids.max").write_text(str(max_pids))
    (cgroup / "cgroup.procs").write_text(str(os.getpid()))


def kill_cgroup(cgroup: Path) -> None:
    """Kill every process in ``cgroup``, repeatedly: a fork bomb keeps forking until the last dies."""
    for _ in range(100):
        try:
            pids = [int(p) for p in (cgroup / "cgroup.procs").read_text().split()]
        except OSError:
            return
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def remove_cgroup(cgroup: Path, seconds: float = 2.0) -> None:
    """Remove an emptied cgroup once its dead processes are reaped."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            cgroup.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            if time.monotonic() > deadline:
                return  # left for the next sweep (sweep_cgroups)
            time.sleep(0.01)


def sweep_cgroups() -> None:
    """Remove cgroups that dead graders left behind, killing what is still in them."""
    root = PIDS_CGROUP / "mslab"
    if os.geteuid() != 0 or not root.is_dir():
        return
    for cgroup in root.iterdir():
        owner = cgroup.name.split("-")[0]
        if cgroup.is_dir() and owner.isdigit() and not Path(f"/proc/{owner}").exists():
            kill_cgroup(cgroup)  # its grader died (kill -9) before it could clean up
            remove_cgroup(cgroup, 0.2)


def enter() -> str:
    """Unshare namespaces in the forked child. Returns "namespaces" or why only "basic" isolation."""
    uid, gid = os.getuid(), os.getgid()
    flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC
    if uid != 0:
        flags |= CLONE_NEWUSER
    try:
        _call(_libc.unshare(flags), "unshare")
        if uid != 0:
            Path("/proc/self/setgroups").write_text("deny")
            Path("/proc/self/uid_map").write_text(f"0 {uid} 1")
            Path("/proc/self/gid_map").write_text(f"0 {gid} 1")
        _mount(None, "/", None, MS_REC | MS_PRIVATE)
    except OSError as exc:
        return f"basic (no namespaces: {exc.strerror})"
    return "namespaces"


#: What a student process sees of the host, read-only: the system's programs and libraries and
#: the few files of /etc that loading them needs. Everything else — home folders, /root, /opt,
#: /srv, /work, /var, /mnt, block devices, every checkout — is absent.
SYSTEM = (
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
    "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/passwd",
    "/etc/group", "/etc/hosts", "/etc/nsswitch.conf", "/sys/devices/system/cpu",
)
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}.get(os.uname().machine)
MNT_DETACH = 2


def _place(root: Path, path: Path, flags: int, source=None) -> None:
    """Bind ``path`` (or ``source``) to the same place under ``root``, remounted with ``flags``."""
    target = root / path.relative_to("/")
    if source is None and path.is_symlink():
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() and not target.is_symlink():
            os.symlink(os.readlink(path), target)
        return
    if os.path.isdir(source or path):
        target.mkdir(parents=True, exist_ok=True)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.touch()
    _mount(source or path, target, None, MS_BIND | MS_REC)
    _mount(None, target, None, MS_BIND | MS_REMOUNT | flags)


def inside(scratch: Path, hide: list[Path], keep: list[Path]) -> None:
    """In the PID namespace's first process: a new root holding only what the student may see.

    The new root is an empty tmpfs over the folder of scratch folders (so other students'
    scratch folders are gone too). Into it, read-only: :data:`SYSTEM`, a few :data:`DEVICES`
    and the ``keep`` paths (the interpreter's and mslab's own files) — but no ``keep`` path that
    holds a ``hide`` path (the checkout with the labs, the submissions, the results). Writable:
    its ``scratch`` folder, a private ``/tmp`` and ``/dev/shm``. Then a fresh ``/proc`` of its own
    PID namespace, ``pivot_root`` into it, the host's tree detached, and every privilege dropped.
    """
    if _PIVOT_ROOT is None:
        raise OSError(0, f"no pivot_root number known for {os.uname().machine}")
    keep = [k for k in keep if k.is_absolute() and k.exists() and not any(k == h or k in h.parents for h in hide)]
    root = scratch.parent
    scratch_fd = os.open(scratch, os.O_PATH | os.O_DIRECTORY)
    _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,mode=0755")
    for folder in ("tmp", "dev/shm"):  # first: what is placed below must not be covered
        (root / folder).mkdir(parents=True, exist_ok=True)
        _mount("tmpfs", root / folder, "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,mode=1777")
    readonly = MS_RDONLY | MS_NOSUID | MS_NODEV
    for path in [*map(Path, SYSTEM), *keep]:
        if path.exists() or path.is_symlink():
            _place(root, path, readonly)
    for device in map(Path, DEVICES):
        if device.exists():
            _place(root, device, MS_NOSUID)
    _place(root, scratch, MS_NOSUID | MS_NODEV, source=f"/proc/self/fd/{scratch_fd}")
    os.close(scratch_fd)
    (root / "proc").mkdir()
    _mount("proc", root / "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    (root / ".old").mkdir()
    os.chdir(root)
    _call(_libc.syscall(_PIVOT_ROOT, b".", b".old"), "pivot_root")
    os.chdir("/")
    _call(_libc.umount2(b"/.old", MNT_DETACH), "umount the host's tree")
    os.rmdir("/.old")
    _mount(None, "/", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, "size=64m,mode=0755")
    drop_privileges()


def drop_privileges() -> None:
    for cap in range(64):
        _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)  # EINVAL past the last capability: fine

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]

    header, data = Header(0x20080522, 0), (Data * 2)()
    _call(_libc.capset(ctypes.byref(header), ctypes.byref(data)), "capset")
    _call(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")


def die_with_parent() -> None:
    """This process gets SIGKILL when its parent dies (a killed grader leaves nothing running)."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def become_subreaper() -> None:
    """Orphans of this process's descendants are reparented to it (so it can reap them)."""
    _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
