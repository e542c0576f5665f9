"""The kernel walls around one student process, raised in the processes the zygote forks.

The zygote (:mod:`mslab.sandbox.zygote`) forks the sandbox's *outer* process, which calls
:func:`outer`: it joins the cgroup the grader made for it (:mod:`mslab.sandbox.cgroups`) and
unshares mount, PID, network, IPC, UTS and cgroup namespaces — with a user namespace first when
the grader is not root, so that it may mount at all. Its child is the new PID namespace's
*init*, which calls :func:`build` and :func:`drop`, then forks the process that loads the
student file. When init exits the kernel kills everything else in its PID namespace, and a
student process cannot signal or trace it.

:func:`build` makes a new root that holds only what a student process needs: the system's
libraries and programs and the interpreter's own trees, read-only (never the checkout, and
never mslab's own package, which holds the checker's closed forms); a size-capped tmpfs for the
student (its working folder, also seen as ``/tmp`` and ``/dev/shm``); a few harmless devices;
a fresh ``/proc`` of its own PID namespace with ``/proc/sys`` and the kernel's other knobs
read-only; its own ``/etc/passwd``. Then ``pivot_root`` and the host's tree is detached.

:func:`drop` makes the process an unprivileged user for good: as root, an otherwise unused uid
from a configurable range (``MSLAB_SANDBOX_UIDS``, default ``900000-965535``), then a user
namespace of its own in which it is uid 1000. A normal user's first user namespace maps its
uid 0 to the grader and uids 1… to the grader's subordinate range (``/etc/subuid``,
``/etc/subgid``, written by the setuid helpers ``newuidmap``/``newgidmap`` as rootless
containers do: :func:`subordinate_ids`), so init drops to a subordinate uid exactly as root
drops to one of its range: the student never runs as the grader's uid, which owns the venv.
Every capability goes, ``no_new_privs`` is set and the seccomp filter
(:mod:`mslab.sandbox.seccomp`) is loaded.

Where the kernel refuses a wall (no unprivileged user namespaces, no subordinate ids, no
cgroup), the sandbox stops with :class:`WallDown` before the student file is even read —
unless the grader's request names that wall in ``allow_weaker`` (docs/walls.md); the grader
also measures from outside which walls stand (:func:`mslab.sandbox.host.measure`).
"""

from __future__ import annotations

import ctypes
import os
import signal
from pathlib import Path

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 1, 24, 36, 38
PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
PR_SET_DUMPABLE = 4
INSIDE_UID = 1000  # the student's uid inside its user namespace
SCRATCH = "/sandbox"  # the student's working folder (a size-capped tmpfs)
_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}.get(os.uname().machine)
#: Every wall of a sandbox, by the names the grader measures, prints and accepts in
#: ``--allow-weaker`` (mslab.sandbox.host.WALLS; docs/walls.md).
WALLS = (
    "uid",
    "user_ns",
    "mount_ns",
    "pid_ns",
    "net_ns",
    "ipc_ns",
    "uts_ns",
    "cgroup_ns",
    "seccomp",
    "no_new_privs",
    "capabilities",
    "jail",
    "scratch",
    "cgroup",
)
#: The walls that come with the namespaces (none of them stands without a user namespace for a
#: normal user, or without unshare for root).
NAMESPACE_WALLS = ("user_ns", "mount_ns", "pid_ns", "net_ns", "ipc_ns", "uts_ns", "cgroup_ns", "jail", "scratch")
#: Where the setuid helpers are looked for (never the grader's PATH).
HELPER_PATH = "/usr/bin:/bin:/usr/sbin:/sbin"


class WallDown(Exception):
    """A wall the kernel or the host refused, which the request does not allow to be missing."""

    def __init__(self, walls: list[str], why: str):
        self.walls = walls
        super().__init__(f"{', '.join(walls)} ({why})")


def require(allowed, walls, why: str) -> None:
    """Stop (:class:`WallDown`) unless every one of ``walls`` may be missing."""
    lacking = [w for w in walls if w not in allowed]
    if lacking:
        raise WallDown(lacking, why)


#: What a student process sees of the host, read-only: the system's programs and libraries and
#: the few files of /etc that loading them needs. Everything else — home folders, /root, /opt,
#: /srv, /work, /var, /mnt, block devices, every checkout — is absent.
SYSTEM = (
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/hosts",
    "/etc/nsswitch.conf",
    "/etc/alternatives",
    "/sys/devices/system/cpu",
)
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
#: Parts of the new /proc made read-only (kernel knobs) or empty (kernel memory and state).
PROC_READONLY = ("sys", "sysrq-trigger", "irq", "bus", "fs")
PROC_MASKED = ("kcore", "keys", "timer_list", "sched_debug", "kallsyms", "kpagecount", "kpageflags")

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]


def _call(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source, target, fstype, flags, data=None) -> None:
    def enc(v):
        return None if v is None else str(v).encode()

    _call(_libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)), f"mount {target}")


def unshare(flags: int) -> None:
    _call(_libc.unshare(flags), "unshare")


def die_with_parent() -> None:
    """This process gets SIGKILL when its parent dies. Set again after every change of
    credentials: the kernel clears it then."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def become_subreaper() -> None:
    """Orphans of this process's descendants are reparented to it (so it can reap them)."""
    _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _map_ids(inside: int, outside: int, outside_gid: int) -> None:
    Path("/proc/self/setgroups").write_text("deny")
    Path("/proc/self/uid_map").write_text(f"{inside} {outside} 1")
    Path("/proc/self/gid_map").write_text(f"{inside} {outside_gid} 1")


def userns_allowed() -> bool:
    """Whether an unprivileged process may make a user namespace here (asked once, by a fork)."""
    pid = os.fork()
    if pid == 0:
        try:
            if os.geteuid() == 0:
                os.setgroups([])
                os.setresgid(65534, 65534, 65534)
                os.setresuid(65534, 65534, 65534)
            unshare(CLONE_NEWUSER)
            os._exit(0)
        except BaseException:  # noqa: BLE001 - any failure means no
            os._exit(1)
    return os.waitpid(pid, 0)[1] == 0


def subordinate_ids() -> dict | None:
    """This user's subordinate uid and gid ranges and the helpers that map them, or None:
    ``{"uid": [first, count], "gid": [first, count], "newuidmap": path, "newgidmap": path}``.
    A range that holds uid 0 or the grader's own uid does not count."""
    import pwd
    import shutil

    uid, gid = os.getuid(), os.getgid()
    try:
        names = {pwd.getpwuid(uid).pw_name, str(uid)}
    except KeyError:
        names = {str(uid)}
    found: dict = {}
    for kind, path, own in (("uid", "/etc/subuid", uid), ("gid", "/etc/subgid", gid)):
        try:
            lines = Path(path).read_text().splitlines()
        except OSError:
            return None
        for line in lines:
            parts = line.strip().split(":")
            if len(parts) == 3 and parts[0] in names and parts[1].isdigit() and parts[2].isdigit():
                first, count = int(parts[1]), int(parts[2])
                if first > 0 and count >= 2 and not first <= own < first + count:
                    found[kind] = [first, count]
                    break
        else:
            return None
        helper = shutil.which(f"new{kind}map", path=HELPER_PATH)
        if helper is None:
            return None
        found[f"new{kind}map"] = helper
    return found


def _map_subordinate(pid: int, subids: dict, go: int, done: int) -> None:
    """In a helper forked before ``pid`` unshares its user namespace: once told to (``go``),
    map that namespace's uid/gid 0 to the grader and 1… to the subordinate ranges, through
    the setuid helpers; say on ``done`` whether both worked. Never returns."""
    ok = b"0"
    try:
        if os.read(go, 1) == b"g":
            children = []  # both helpers at once: each is a setuid program's start-up
            for kind, own in (("uid", os.getuid()), ("gid", os.getgid())):
                first, count = subids[kind]
                argv = [subids[f"new{kind}map"], str(pid), "0", str(own), "1", "1", str(first), str(count)]
                quiet = [
                    (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDWR, 0),
                    (os.POSIX_SPAWN_DUP2, 0, 1),
                    (os.POSIX_SPAWN_DUP2, 0, 2),
                ]
                # posix_spawn, not fork: this process holds MindSpore's memory, a fork copies its tables
                children.append(os.posix_spawn(argv[0], argv, {"PATH": HELPER_PATH}, file_actions=quiet))
            statuses = [os.waitpid(child, 0)[1] for child in children]
            ok = b"1" if statuses == [0, 0] else b"0"
    finally:
        os.write(done, ok)
        os._exit(0)


def namespaces_allowed() -> bool:
    """Whether this process (root) may unshare the sandbox's namespaces here (asked once, by a
    fork): a root grader in a container without CAP_SYS_ADMIN may not."""
    pid = os.fork()
    if pid == 0:
        try:
            unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP)
            os._exit(0)
        except BaseException:  # noqa: BLE001 - any failure means no
            os._exit(1)
    return os.waitpid(pid, 0)[1] == 0


def outer(cgroup_procs: list[str], userns: bool, subids: dict | None = None) -> bool:
    """In the sandbox's outer process: join the cgroup, make the namespaces. Returns whether
    namespaces were made (a normal user without user namespaces gets none). A normal user
    with ``subids`` gets them mapped (:func:`subordinate_ids`); :class:`WallDown` if that fails."""
    for procs in cgroup_procs:
        Path(procs).write_text(str(os.getpid()))
    flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP
    if os.geteuid() != 0:
        if not userns:
            return False
        uid, gid = os.geteuid(), os.getegid()
        if subids:
            go_r, go_w = os.pipe()
            done_r, done_w = os.pipe()
            me = os.getpid()
            helper = os.fork()
            if helper == 0:
                os.close(go_w)
                os.close(done_r)
                _map_subordinate(me, subids, go_r, done_w)
            os.close(go_r)
            os.close(done_w)
            try:
                unshare(CLONE_NEWUSER | flags)
            finally:
                os.write(go_w, b"g")
                mapped = os.read(done_r, 1) == b"1"
                os.waitpid(helper, 0)
                os.close(go_w)
                os.close(done_r)
            if not mapped:
                raise WallDown(["uid"], "newuidmap/newgidmap refused the subordinate ranges")
        else:
            unshare(CLONE_NEWUSER | flags)
            _map_ids(0, uid, gid)
    else:
        try:
            unshare(flags)
        except OSError as exc:  # a root grader always needs them: they cannot be allowed weaker
            raise WallDown(list(NAMESPACE_WALLS), f"unshare: {exc.strerror}") from None
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    return True


#: statvfs's flags and the mount flags they stand for.
_KEPT_FLAGS = {1: MS_RDONLY, 2: MS_NOSUID, 4: MS_NODEV, 8: MS_NOEXEC, 1024: 1024, 2048: 2048, 4096: 1 << 21}


def _bind(source: str | Path, target: Path, flags: int) -> None:
    """Bind ``source`` onto ``target`` (made as a folder or an empty file), remounted with ``flags``
    added to those it has (in a user namespace the kernel refuses to clear a flag it locked)."""
    if not target.exists():
        if os.path.isdir(source):
            target.mkdir(parents=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.touch()
    _mount(source, target, None, MS_BIND | MS_REC)
    present = os.statvfs(target).f_flag
    flags |= sum(ms for st, ms in _KEPT_FLAGS.items() if present & st)
    _mount(None, target, None, MS_BIND | MS_REMOUNT | flags)


def _place(root: Path, path: Path, flags: int) -> None:
    """``path`` of the host at the same place under ``root`` (symbolic links as links)."""
    target = root / path.relative_to("/")
    if path.is_symlink():
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() and not target.is_symlink():
            os.symlink(os.readlink(path), target)
        return
    _bind(path, target, flags)


def build(
    mountpoint: Path,
    keep: list[Path],
    mask: list[Path],
    files: dict[str, bytes],
    scratch_bytes: int,
    scratch_inodes: int,
    owner: int,
) -> list[str]:
    """In the PID namespace's init: the new root, then ``pivot_root`` into it. Returns notes on
    walls that could not be raised (no new /proc in this user namespace, say).

    ``keep``: the interpreter's trees, bound read-only; ``mask``: folders among them hidden
    under an empty read-only tmpfs (mslab's package in a non-editable install); ``files``: file
    names and contents written, read-only, into the student's tmpfs (the submission);
    ``owner``: the uid (as this process sees uids) that owns the student's tmpfs.
    """
    if _PIVOT_ROOT is None:
        raise OSError(0, f"no pivot_root number known for {os.uname().machine}")
    notes: list[str] = []
    root = mountpoint
    readonly = MS_RDONLY | MS_NOSUID | MS_NODEV
    _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,nr_inodes=4096,mode=0755")
    # One tmpfs, one cap, for all the student may write: its folder, /tmp and /dev/shm.
    staging = root / ".scratch"
    staging.mkdir()
    options = f"size={scratch_bytes},nr_inodes={scratch_inodes},mode=0700,uid={owner},gid={owner}"
    _mount("tmpfs", staging, "tmpfs", MS_NOSUID | MS_NODEV, options)
    for part, where in (("home", SCRATCH), ("tmp", "/tmp"), ("shm", "/dev/shm")):
        (staging / part).mkdir(mode=0o700)
        os.chown(staging / part, owner, owner)
        _bind(staging / part, root / where.lstrip("/"), MS_NOSUID | MS_NODEV)
    _call(_libc.umount2(str(staging).encode(), MNT_DETACH), "umount the staging tmpfs")
    staging.rmdir()
    for name, data in files.items():
        path = root / SCRATCH.lstrip("/") / name
        path.write_bytes(data)
        path.chmod(0o444)
    for path in [*map(Path, SYSTEM), *keep]:
        if path.exists() or path.is_symlink():
            _place(root, path, readonly)
    for path in mask:
        target = root / path.relative_to("/")
        if target.is_dir():
            _mount("tmpfs", target, "tmpfs", readonly, "size=4k,nr_inodes=8,mode=0555")
    for device in DEVICES:
        if os.path.exists(device):
            _bind(device, root / device.lstrip("/"), MS_NOSUID)
    os.symlink("/proc/self/fd", root / "dev" / "fd")
    etc = root / "etc"
    etc.mkdir(exist_ok=True)
    (etc / "passwd").write_text(
        f"root:x:0:0:root:/root:/usr/sbin/nologin\nstudent:x:{INSIDE_UID}:{INSIDE_UID}:student:{SCRATCH}:/usr/sbin/nologin\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
    )
    (etc / "group").write_text(f"root:x:0:\nstudent:x:{INSIDE_UID}:\nnogroup:x:65534:\n")
    proc = root / "proc"
    proc.mkdir()
    try:
        _mount("proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    except OSError as exc:  # e.g. a user namespace inside a container whose /proc is masked
        notes.append(f"no /proc ({exc.strerror})")
    else:
        for name in PROC_READONLY:
            if (proc / name).exists():
                _bind(proc / name, proc / name, readonly)
        for name in PROC_MASKED:
            if (proc / name).is_file():
                _mount("/dev/null", proc / name, None, MS_BIND)
        # This process is PID 1 there, and (under a normal user's grader) dumpable, with the
        # student's uid: its memory is closed to the student, who could otherwise write it.
        for name in ("1/mem", "1/task/1/mem"):
            if (proc / name).exists():
                _mount("/dev/null", proc / name, None, MS_BIND)
    (root / ".old").mkdir()
    os.chdir(root)
    _call(_libc.syscall(_PIVOT_ROOT, b".", b".old"), "pivot_root")
    os.chdir("/")
    _call(_libc.umount2(b"/.old", MNT_DETACH), "umount the host's tree")
    os.rmdir("/.old")
    _mount(None, "/", None, MS_REMOUNT | MS_BIND | readonly)
    try:
        _libc.sethostname(b"sandbox", 7)
    except OSError:
        pass
    return notes


def drop(uid: int, gid: int, subordinate: bool = False) -> list[str]:
    """Become the unprivileged student for good (see the module's docstring). Returns notes on
    walls the kernel refused (no user namespace). ``subordinate``: a normal user's first user
    namespace maps ``uid`` to a subordinate uid (:func:`outer`): drop to it as root does."""
    notes: list[str] = []
    if os.geteuid() == 0 and uid != 0 and (subordinate or not _in_user_namespace()):
        _drop_bounding_set()
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
        # Changing uids made this process non-dumpable, which hides /proc/self from it: the
        # maps below need it back for a moment.
        _libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)
        try:
            unshare(CLONE_NEWUSER)
            _map_ids(INSIDE_UID, uid, gid)
        except OSError as exc:
            notes.append(f"no user namespace ({exc.strerror}); uid {uid}")
        # Non-dumpable for good: no core dump, whatever the host's core_pattern (the filter
        # denies PR_SET_DUMPABLE). Under a normal user's grader it stays dumpable (RLIMIT_CORE
        # still stops core dumps): a non-dumpable process's /proc/<pid>/ns is closed to every
        # process without CAP_SYS_PTRACE on the host, so the grader could not measure its walls.
        if not subordinate:
            _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    else:  # a normal user's sandbox: uid 0 of its first user namespace is the grader's own uid
        uid, gid = os.geteuid(), os.getegid()  # as the first user namespace sees them
        try:
            unshare(CLONE_NEWUSER)
            _map_ids(INSIDE_UID, uid, gid)
        except OSError as exc:
            notes.append(f"no user namespace ({exc.strerror})")
    _drop_bounding_set()  # a new user namespace starts with every capability again
    _clear_capabilities()
    _call(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    return notes


def _in_user_namespace() -> bool:
    try:
        return Path("/proc/self/uid_map").read_text().split() != ["0", "0", "4294967295"]
    except OSError:
        return False


def _drop_bounding_set() -> None:
    for cap in range(64):
        _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)  # EINVAL past the last one, EPERM without CAP_SETPCAP
    _libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)


def _clear_capabilities() -> None:
    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]

    header, data = Header(0x20080522, 0), (Data * 2)()
    _call(_libc.capset(ctypes.byref(header), ctypes.byref(data)), "capset")


def remove_tree(path: str | Path) -> None:
    """Remove a folder tree of any depth (no recursion: a 3000-deep chain cannot make it fail),
    never following symbolic links; what cannot be removed is left."""
    stack, given_up = [Path(path)], set()
    while stack:
        folder = stack[-1]
        try:
            entries = list(os.scandir(folder))
        except OSError:
            entries = []
        subfolders = [Path(e.path) for e in entries if e.is_dir(follow_symlinks=False)]
        for entry in entries:
            if not entry.is_dir(follow_symlinks=False):
                try:
                    os.unlink(entry.path)
                except OSError:
                    pass
        subfolders = [f for f in subfolders if f not in given_up]
        if subfolders:
            stack.extend(subfolders)
            continue
        stack.pop()
        try:
            os.rmdir(folder)
        except OSError:
            given_up.add(folder)
