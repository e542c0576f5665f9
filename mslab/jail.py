"""Linux isolation for one sandboxed student process, entered right after the zygote forks it.

:func:`enter` runs in the forked, single-threaded child. It gives the student process its own
mount, PID, network and IPC namespaces (plus a user namespace when not root), then in the new
PID namespace's first process (:func:`inside`): a fresh ``/proc`` that shows only the student's
processes, every mount read-only except the scratch directory, a private ``/dev/shm``, empty
read-only tmpfs over the paths it must not see (labs with their hidden checks and solutions,
other students' submissions, the results), and no capabilities or new privileges afterwards.
When that first process exits, the kernel kills everything else in its PID namespace; as root,
a pids cgroup also caps how many processes it may start (a fork bomb) and lists them for the kill.

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
MS_REMOUNT, MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_REC = 32, 1024, 2048, 4096, 16384
MS_PRIVATE, MS_RELATIME, MS_STRICTATIME = 1 << 18, 1 << 21, 1 << 24
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 1, 24, 36, 38
_OPTION_FLAGS = {
    "nosuid": MS_NOSUID,
    "nodev": MS_NODEV,
    "noexec": MS_NOEXEC,
    "noatime": MS_NOATIME,
    "nodiratime": MS_NODIRATIME,
    "relatime": MS_RELATIME,
    "strictatime": MS_STRICTATIME,
}
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


def _mounts() -> list[tuple[str, int]]:
    """Mount points and the flags to keep when remounting them."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        point = fields[4].encode().decode("unicode_escape")
        flags = 0
        for option in fields[5].split(","):
            flags |= _OPTION_FLAGS.get(option, 0)
        found.append((point, flags))
    return found


def _bind_back(paths: list[Path], into: Path, data: str, flags: int) -> None:
    """Cover ``into`` with an empty tmpfs, then bind ``paths`` (inside it) back where they were."""
    keep = [(p, os.open(p, os.O_PATH)) for p in paths if p.exists()]
    _mount("tmpfs", into, "tmpfs", MS_NOSUID | MS_NODEV, data)
    for path, fd in keep:
        if path.is_dir() or os.path.isdir(f"/proc/self/fd/{fd}"):
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND)
        os.close(fd)
    if flags & MS_RDONLY:
        _mount(None, into, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, data)


def inside(scratch: Path, hide: list[Path], keep: list[Path]) -> None:
    """In the PID namespace's first process: the filesystem view, then drop every privilege.

    Everything is read-only. Each ``hide`` folder becomes an empty read-only tmpfs, except the
    ``keep`` paths inside it (the interpreter's and mslab's own files), bound back read-only.
    The temporary folder holding ``scratch`` becomes an empty tmpfs too (other students'
    scratch folders vanish) with ``scratch`` bound back as the one writable folder of the host's.
    """
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for point, flags in _mounts():
        if point == "/proc" or point.startswith("/proc/"):
            continue
        try:
            _mount(None, point, None, MS_BIND | MS_REMOUNT | MS_RDONLY | flags)
        except OSError:
            if point == "/":
                raise
    if Path("/dev/shm").is_dir():
        _mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=64m,mode=1777")
    for folder in hide:
        if folder.is_dir() and folder != Path("/") and folder not in scratch.parents:
            inner = [k for k in keep if folder in k.parents or k == folder]
            _bind_back(inner, folder, "size=4k,mode=0755", MS_RDONLY)
        elif folder.is_file():
            _mount("/dev/null", folder, None, MS_BIND)
    _bind_back([scratch], scratch.parent, "size=64m,mode=1777", 0)
    _mount(None, scratch, None, MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV)  # the bind copied "ro"
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
