"""One cgroup per sandbox, made and removed by the grader: the kernel's own accounting of memory
(anonymous, ``memfd``, tmpfs and page cache alike), processes and CPU share.

The grader (never the student) creates the cgroup and writes its limits before the sandbox
starts; the sandbox's first process joins it, then enters a cgroup namespace rooted there, and
no cgroup filesystem is mounted in the jail: the student can neither see nor change its limits.
Teardown kills what is in the cgroup and checks that it is empty by its membership list, never
by process names.

- **cgroup v2** (one unified hierarchy): ``memory.max`` (+ ``memory.swap.max = 0``),
  ``pids.max``, ``cpu.weight``; killed with ``cgroup.kill``. As root the sandboxes live under
  ``/sys/fs/cgroup/mslab`` (the root cgroup may hold processes; a grader's own cgroup usually
  cannot get controllers for children while it has processes itself).
- **cgroup v1** (one hierarchy per controller, as on this project's CI machines): ``memory``
  (``memory.limit_in_bytes`` and, where swap is accounted, ``memory.memsw.limit_in_bytes``),
  ``pids`` (``pids.max``), ``cpu`` (``cpu.shares``), each under the grader's own cgroup.
- **A normal user** makes its sandboxes' cgroups inside a folder delegated to it once by the
  admin (:func:`how`): ``$MSLAB_CGROUP`` (default ``mslab-<user>``) under the cgroup root —
  one folder on v2, one per controller on v1 — owned by the grader. On v2 the grader's own
  cgroup may be the delegated one instead (``systemd-run --user --scope -p Delegate=yes``): the
  grader then moves itself into a leaf of it, since a v2 cgroup with processes cannot have
  children with controllers. Without one, the sandbox has no cgroup and the ``cgroup`` wall is
  missing (docs/walls.md): the grader refuses unless it is allowed weaker.

Names are ``mslab-<grader pid>-<its start time>-<random>``, so :func:`sweep` can tell the
cgroups of a dead grader (kill -9) from those of one that still runs on the same host.
"""

from __future__ import annotations

import os
import secrets
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from mslab import settings

ROOT = Path("/sys/fs/cgroup")
V1_CONTROLLERS = ("memory", "pids", "cpu")
PARENT = "mslab"


def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rpartition(")")[2].split()[19]  # field 22: start time in clock ticks


def _alive(name: str) -> bool:
    """Whether the grader that made cgroup ``name`` still runs."""
    parts = name.split("-")
    if len(parts) != 4 or parts[0] != "mslab" or not parts[1].isdigit():
        return True  # not ours to judge
    return _start_time(int(parts[1])) == parts[2]


def mounted() -> str:
    """ "v2", "v1", or "" by what is mounted at /sys/fs/cgroup (whoever this process is)."""
    if (ROOT / "cgroup.controllers").exists():
        return "v2"
    if all((ROOT / c / "cgroup.procs").exists() for c in V1_CONTROLLERS):
        return "v1"
    return ""


def version() -> str:
    """ "v2", "v1", or "" when this process cannot make cgroups (none mounted, or a normal user
    without a delegated folder: :func:`delegated`)."""
    kind = mounted()
    if os.geteuid() != 0 and kind and not _user_parents(kind):
        return ""
    return kind


def _user_name() -> str:
    import pwd

    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


def delegated_name() -> str:
    """The delegated folder's path under the cgroup root (and under each v1 controller):
    ``$MSLAB_CGROUP`` (relative, or absolute under /sys/fs/cgroup), default ``mslab-<user>``."""
    name = settings.value("MSLAB_CGROUP") or f"mslab-{_user_name()}"
    path = Path(name)
    if path.is_absolute():
        try:
            path = path.relative_to(ROOT)
        except ValueError:
            return ""
        if path.parts and path.parts[0] in V1_CONTROLLERS and mounted() == "v1":
            path = Path(*path.parts[1:])
    return str(path) if path.parts and ".." not in path.parts else ""


def _own_v2() -> Path:
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        if line.startswith("0::"):
            return ROOT / line[3:].strip().lstrip("/")
    return ROOT


def _ours(path: Path) -> bool:
    """Whether this user may make cgroups in ``path`` and move its processes there."""
    try:
        return (
            path.is_dir() and path.stat().st_uid == os.getuid() and (path / "cgroup.procs").stat().st_uid == os.getuid()
        )
    except OSError:
        return False


def _user_parents(kind: str) -> list[Path]:
    """A normal user's delegated folders (see the module's docstring), or [] with none."""
    name = delegated_name()
    if kind == "v1":
        paths = [ROOT / c / name for c in V1_CONTROLLERS] if name else []
        return paths if paths and all(_ours(p) for p in paths) else []
    if kind != "v2":
        return []
    own = _own_v2()
    for parent in ([ROOT / name] if name else []) + [own.parent if own.name == GRADER_LEAF else own]:
        if _ours(parent) and (parent == own or parent in own.parents):
            return [parent]
    return []


GRADER_LEAF = "mslab-grader"  # v2: the leaf a normal user's grader moves itself into


def how(user: str | None = None) -> str:
    """The admin's commands that give ``user`` (default: this one) a delegated cgroup."""
    user = user or _user_name()
    name = settings.value("MSLAB_CGROUP") or f"mslab-{user}"
    if mounted() == "v1":
        return (
            f"as root, once: for c in {' '.join(V1_CONTROLLERS)}; do mkdir -p /sys/fs/cgroup/$c/{name}"
            f" && chown -R {user}: /sys/fs/cgroup/$c/{name}; done"
        )
    return (
        f"run the grader in a delegated scope (systemd-run --user --scope -p Delegate=yes inv grade ...),"
        f" or as root, once: mkdir /sys/fs/cgroup/{name} && echo '+memory +pids +cpu' >"
        f" /sys/fs/cgroup/cgroup.subtree_control && chown -R {user}: /sys/fs/cgroup/{name}"
        f" and start the grader inside it (echo $$ > /sys/fs/cgroup/{name}/cgroup.procs)"
    )


def _own_v1(controller: str) -> str:
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return path.lstrip("/")
    return ""


def _parents() -> list[Path]:
    kind = version()
    if os.geteuid() != 0:
        return _user_parents(kind)
    if kind == "v2":
        return [ROOT / PARENT]
    if kind == "v1":
        return [ROOT / c / _own_v1(c) / PARENT for c in V1_CONTROLLERS]
    return []


@dataclass
class Cgroup:
    """A sandbox's cgroup: one folder (v2) or one per controller (v1)."""

    version: str
    paths: list[Path]

    @property
    def procs_files(self) -> list[str]:
        """The files the sandbox's first process writes its pid to, to join."""
        return [str(p / "cgroup.procs") for p in self.paths]

    def pids(self) -> list[int]:
        found: set[int] = set()
        for path in self.paths:
            try:
                found.update(int(p) for p in (path / "cgroup.procs").read_text().split())
            except OSError:
                pass
        return sorted(found)

    def memory_events(self) -> int:
        """How many times the memory limit killed a process of this cgroup (OOM kills)."""
        for path in self.paths:
            try:
                if self.version == "v2":
                    for line in (path / "memory.events").read_text().splitlines():
                        if line.startswith("oom_kill "):
                            return int(line.split()[1])
                elif (path / "memory.oom_control").exists():
                    for line in (path / "memory.oom_control").read_text().splitlines():
                        if line.startswith("oom_kill "):
                            return int(line.split()[1])
            except (OSError, ValueError):
                pass
        return 0

    def kill(self, seconds: float = 5.0) -> bool:
        """Kill everything in the cgroup; True once it is empty."""
        deadline = time.monotonic() + seconds
        if self.version == "v2" and (self.paths[0] / "cgroup.kill").exists():
            try:
                (self.paths[0] / "cgroup.kill").write_text("1")
            except OSError:
                pass
        while True:
            pids = self.pids()
            if not pids:
                return True
            for pid in pids:  # a fork bomb forks until its last process dies: repeat
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)

    def forget_pages(self) -> None:
        """Drop the page cache charged to the emptied cgroup: pages a sandbox read into the cache
        would otherwise outlive it, and a classmate graded next could count its own major faults
        on them (measured: 16 of 16 bits through a shared file's pages). v1: memory.force_empty;
        v2: memory.reclaim of what is still charged."""
        for path in self.paths:
            try:
                if (path / "memory.force_empty").exists():
                    (path / "memory.force_empty").write_text("0")
                elif (path / "memory.reclaim").exists():
                    charged = int((path / "memory.current").read_text())
                    if charged:
                        (path / "memory.reclaim").write_text(str(charged))
            except (OSError, ValueError):
                pass  # what cannot be reclaimed now goes with the cgroup, as the kernel sees fit

    def remove(self, seconds: float = 2.0) -> None:
        """Remove the emptied cgroup (left for :func:`sweep` if it will not go in time), its page
        cache dropped first (:meth:`forget_pages`)."""
        self.forget_pages()
        deadline = time.monotonic() + seconds
        for path in self.paths:
            while True:
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.01)


def _write(path: Path, value: str) -> None:
    path.write_text(value)


def create(memory_bytes: int, max_pids: int) -> Cgroup | None:
    """A new cgroup with these limits, or None where this process cannot make one."""
    kind = version()
    parents = _parents()
    if not parents:
        return None
    start = _start_time(os.getpid())
    name = f"mslab-{os.getpid()}-{start}-{secrets.token_hex(6)}"
    paths = [p / name for p in parents]
    try:
        if kind == "v2" and os.geteuid() != 0:
            _enable_v2_delegated(parents[0])
        elif kind == "v2":
            _enable_v2(parents[0])
        for path in paths:
            path.mkdir(parents=True)
        if kind == "v2":
            path = paths[0]
            _write(path / "memory.max", str(memory_bytes))
            if (path / "memory.swap.max").exists():
                _write(path / "memory.swap.max", "0")
            if (path / "memory.oom.group").exists():
                _write(path / "memory.oom.group", "1")  # an over-limit sandbox dies whole
            _write(path / "pids.max", str(max_pids))
            _write(path / "cpu.weight", "100")
        else:
            memory, pids, cpu = paths
            _write(memory / "memory.limit_in_bytes", str(memory_bytes))
            if (memory / "memory.memsw.limit_in_bytes").exists():
                _write(memory / "memory.memsw.limit_in_bytes", str(memory_bytes))
            _write(pids / "pids.max", str(max_pids))
            _write(cpu / "cpu.shares", "1024")
    except OSError:
        Cgroup(kind, paths).remove(0)
        return None
    return Cgroup(kind, paths)


def _enable_v2(parent: Path) -> None:
    wanted = {"memory", "pids", "cpu"}
    root_has = set((ROOT / "cgroup.controllers").read_text().split())
    if not wanted <= root_has:
        raise OSError(f"cgroup v2 lacks controllers: {' '.join(sorted(wanted - root_has))}")
    enable = " ".join(f"+{c}" for c in sorted(wanted))
    if not wanted <= set((ROOT / "cgroup.subtree_control").read_text().split()):
        _write(ROOT / "cgroup.subtree_control", enable)
    parent.mkdir(exist_ok=True)
    if not wanted <= set((parent / "cgroup.subtree_control").read_text().split()):
        _write(parent / "cgroup.subtree_control", enable)


def _enable_v2_delegated(parent: Path) -> None:
    """A normal user's delegated v2 folder: controllers on for its children. A cgroup that holds
    processes cannot have children with controllers, so a grader sitting in it moves into a
    leaf of its own first (the zygote it starts later is born there)."""
    wanted = {"memory", "pids", "cpu"}
    lacking = wanted - set((parent / "cgroup.controllers").read_text().split())
    if lacking:
        raise OSError(f"the delegated cgroup lacks controllers: {' '.join(sorted(lacking))}")
    if wanted <= set((parent / "cgroup.subtree_control").read_text().split()):
        return
    if _own_v2() == parent:
        leaf = parent / GRADER_LEAF
        leaf.mkdir(exist_ok=True)
        _write(leaf / "cgroup.procs", "0")
    _write(parent / "cgroup.subtree_control", " ".join(f"+{c}" for c in sorted(wanted)))


def sweep() -> None:
    """Kill and remove the cgroups that dead graders left behind (kill -9 before cleanup)."""
    for parent in _parents():
        if not parent.is_dir():
            continue
        for path in parent.iterdir():
            if path.is_dir() and path.name.startswith("mslab-") and not _alive(path.name):
                group = Cgroup(version(), [path])
                group.kill(1.0)
                group.remove(0.2)


def available() -> str:
    """What :func:`create` would give here: "cgroup v2", "cgroup v1", or why none."""
    if os.geteuid() != 0 and not version():
        return f"none (a normal user without a delegated cgroup: {how()})"
    group = create(64 * 1024**2, 16)
    if group is None:
        return "none (cannot create a cgroup with memory, pids and cpu controllers here)"
    group.remove(0.5)
    return f"cgroup {group.version}"
