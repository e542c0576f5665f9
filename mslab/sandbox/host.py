"""The grader's side of the sandbox: runs one student file behind the walls and calls its functions.

The checker never imports student code. A :class:`Sandbox` gets a child — forked by a warm
:class:`~mslab.sandbox.zygote.Zygote` behind the kernel walls of :mod:`mslab.sandbox.jail`
(:class:`ForkedChild`), or in a target's container (:mod:`mslab.sandbox.container`) — and
sends call requests over the child's channel, getting plain data back (:mod:`mslab.sandbox.wire`).

What the grader trusts, and what it does not:

- **Nothing the student's process says about itself.** Which walls stand is measured here,
  from outside, in the kernel's own view of the sandbox's init process (:func:`measure`:
  ``/proc/<pid>/status`` and ``/proc/<pid>/ns/*``).
- **No file the student can touch.** Printed output comes through a pipe this process made
  before the student ran; it is read with a size cap (the last :data:`OUTPUT_TAIL` bytes are
  kept) and only while waiting on the channel. The student's files live in a tmpfs inside its
  own mount namespace and vanish with it.
- **Time is wall time of the whole submission**, loads included (``Limits.submission_seconds``);
  a function that timed out once fails its other checks at once.
- **Teardown it cannot dodge:** SIGKILL to the sandbox's PID-namespace init (which takes every
  process in it), then the cgroup's own kill, checked empty by membership.
- **Every wall, or no student code at all** (docs/walls.md): before a child is forked, the walls
  this host cannot raise for this user (:data:`WALLS`) are checked against
  ``Limits.allow_weaker``, and a missing one raises :class:`WallsMissing` — a grader failure,
  never a student's; the child itself stops before reading the file if a wall fails to rise,
  and the walls measured once it is ready are checked again.
"""

from __future__ import annotations

import base64
import fcntl
import functools
import os
import secrets
import select
import signal
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Protocol

from mslab import settings
from mslab.errors import MslabError
from mslab.sandbox import cgroups, jail, wire
from mslab.sandbox.wire import MAX_TEXT
from mslab.sandbox.zygote import MAX_SOURCE_BYTES, WALLS_EXIT, Zygote, ZygoteError, read_line

OUTPUT_TAIL = 64 * 1024  # bytes of printed output kept (the last ones)
OUTPUT_FLOOD = 1024 * 1024  # past this, the output is called a flood and the note says so
HANDOVER_SECONDS = 5.0  # for a child handed to the next lab to answer ``flush`` (Sandbox.inherit)


@dataclass(frozen=True)
class Limits:
    """Per-student limits. Times are wall-clock seconds unless named otherwise."""

    load_seconds: float = 60.0  # importing MindSpore and the student file
    call_seconds: float = 20.0  # one function call
    submission_seconds: float = 300.0  # the whole submission, loads and restarts included
    cpu_seconds: int = 300  # CPU time of each sandbox process (RLIMIT_CPU)
    memory_bytes: int = 2 * 1024**3  # the cgroup's memory: anonymous, memfd, tmpfs, page cache
    address_space_bytes: int = 8 * 1024**3  # RLIMIT_AS; MindSpore maps ~2.3 GiB
    processes: int = 1024  # the cgroup's pids.max (threads count); also RLIMIT_NPROC
    scratch_bytes: int = 64 * 1024**2  # the student's tmpfs (working folder, /tmp, /dev/shm)
    scratch_inodes: int = 4096
    file_bytes: int = 16 * 1024**2  # largest file (containers: RLIMIT_FSIZE)
    open_files: int = 1024
    cpus: float | None = None  # CPUs a container may use (containers only); None: all of them
    allow_weaker: tuple[str, ...] = ()  # walls student code may run without (--allow-weaker; WALLS)

    def __post_init__(self) -> None:  # a list after a trip through asdict and JSON (workers)
        object.__setattr__(self, "allow_weaker", parse_walls(self.allow_weaker))

    @classmethod
    def variables(cls) -> dict[str, str]:
        """Each configurable field's environment variable, ``MSLAB_LIMIT_<FIELD>`` → field name
        (every field but ``allow_weaker``, which only the command line gives)."""
        return {f"MSLAB_LIMIT_{item.name.upper()}": item.name for item in fields(cls) if item.name != "allow_weaker"}

    @classmethod
    def configured(cls, env: Mapping[str, str] | None = None, **given) -> Limits:
        """The limits this grader is configured with: each field's ``MSLAB_LIMIT_<FIELD>`` from
        ``env`` (default: the environment; docs/settings.md), then ``given`` (the command
        line's). Read once, at the command line: the workers get the result."""
        env = os.environ if env is None else env
        found: dict = {}
        for var, name in cls.variables().items():
            if not env.get(var, "").strip():
                continue
            text = env[var].strip()
            try:
                number = float(text) if name.endswith("seconds") or name == "cpus" else int(text)
            except ValueError:
                number = -1
            if not number > 0:
                raise MslabError(f"{var} must be a number above 0, not {text!r}")
            found[name] = number
        return cls(**{**found, **given})


#: Every wall of a sandbox, by the names :func:`summary`, doctor and ``--allow-weaker`` use
#: (docs/walls.md).
WALLS: tuple[str, ...] = jail.WALLS


def parse_walls(names: str | Iterable[str]) -> tuple[str, ...]:
    """``"cgroup,uid"`` (or a list of names; ``all`` for every wall) as a tuple of wall names;
    MslabError for a name that is not a wall."""
    items = names.split(",") if isinstance(names, str) else list(names)
    found: list[str] = []
    for item in items:
        name = str(item).strip()
        if name == "all":
            found.extend(WALLS)
        elif name and name not in WALLS:
            raise MslabError(f"unknown wall {name!r} (the walls are: all, {', '.join(WALLS)})")
        elif name:
            found.append(name)
    return tuple(dict.fromkeys(found))


def _user() -> str:
    import pwd

    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


def how(wall: str) -> str:
    """How to provide ``wall`` on this host, for the user running this (one clause)."""
    root = os.geteuid() == 0
    if wall == "cgroup":
        if root:
            return "mount cgroup v2 (memory, pids, cpu controllers) or v1's memory, pids and cpu hierarchies writable by root"
        return cgroups.how()
    if wall == "uid":
        if root:
            return "set MSLAB_SANDBOX_UIDS to a range of uids nobody uses"
        user = _user()
        return (
            f"as root: apt-get install uidmap && usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {user}"
        )
    if wall in jail.NAMESPACE_WALLS:
        if root:
            return "grade on the host, or in a container allowed to unshare (docker run --security-opt seccomp=unconfined --cap-add SYS_ADMIN)"
        return (
            "allow unprivileged user namespaces (as root: sysctl -w kernel.unprivileged_userns_clone=1"
            " user.max_user_namespaces=15000; Ubuntu 24.04: kernel.apparmor_restrict_unprivileged_userns=0;"
            " in Docker: --security-opt seccomp=unconfined), or grade as root"
        )
    if wall == "seccomp":
        return "install libseccomp2 and pyseccomp (pip install -e .)"
    return "a Linux kernel of 3.5 or later"


class WallsMissing(MslabError):
    """Walls the sandbox cannot raise here and that were not allowed to be missing: the grader
    refuses to run student code (a grader failure, never a student's). One line."""

    def __init__(self, walls: Iterable[str], detail: str = "", allowable: bool = True):
        self.walls = tuple(walls)
        groups: dict[str, list[str]] = {}
        for wall in self.walls:
            groups.setdefault(how(wall), []).append(wall)
        parts = [f"{', '.join(names)}: {text}" for text, names in groups.items()]
        said = f" ({detail})" if detail else ""
        if self.walls:
            message = f"the sandbox cannot raise these walls here{said}: {'; '.join(parts)}."
            if allowable:
                message += f" Provide them, or run without them: --allow-weaker {','.join(self.walls)} (docs/walls.md)"
            else:
                message += " Provide them, or grade with --isolation container (docs/walls.md)"
        else:
            message = f"the sandbox could not raise its walls{said} (docs/walls.md)"
        super().__init__(message)


class StudentError(Exception):
    """A student function could not produce a value; ``str()`` is the readable reason."""


class StudentRaised(StudentError):
    def __init__(self, fn: str, type_name: str, message: str, where: str = ""):
        self.fn, self.type_name, self.message, self.where = fn, type_name, message[:MAX_TEXT], where
        first = message.strip().splitlines()[0][:MAX_TEXT] if message.strip() else ""
        at = f" ({where})" if where else ""
        super().__init__(f"{fn}() raised {type_name}{at}: {first}".rstrip(": "))


class StudentLoadError(StudentError):
    """The student file could not be imported (syntax error, exception, exit at import...)."""


class StudentTimeout(StudentError):
    pass


class StudentCrashed(StudentError):
    pass


class OutputTail:
    """What the student printed: the last :data:`OUTPUT_TAIL` bytes, and how much in all."""

    def __init__(self) -> None:
        self.data = b""
        self.total = 0

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        self.data = (self.data + chunk)[-OUTPUT_TAIL:]

    def extend(self, later: OutputTail) -> None:
        """Add what ``later`` (the next child of the same sandbox) printed after this."""
        self.data = (self.data + later.data)[-OUTPUT_TAIL:]
        self.total += later.total

    def text(self, limit: int = OUTPUT_TAIL) -> str:
        text = self.data[-limit:].decode("utf-8", "replace")
        if self.total > OUTPUT_FLOOD:
            text += f"\n[printed more than {OUTPUT_FLOOD // 1024**2} MB; output cut]"
        return text


def send_within(sock: socket.socket, data: bytes, seconds: float) -> None:
    """Send all of ``data`` within ``seconds`` (TimeoutError otherwise): a student process that
    stops reading its channel cannot block the grader."""
    deadline = time.monotonic() + seconds
    view = memoryview(data)
    while view:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([], [sock], [], remaining)[1]:
            raise TimeoutError
        try:
            view = view[sock.send(view, socket.MSG_DONTWAIT) :]
        except BlockingIOError:
            continue


# -- measuring the walls ------------------------------------------------------------------------

NAMESPACES = ("user", "mnt", "pid", "net", "ipc", "uts", "cgroup")


def measure(pid: int, cgroup: str) -> dict:
    """The walls around process ``pid`` as the kernel shows them to this process."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.split()
    walls: dict = {
        "uid": int(fields["Uid"][1]),
        "caps": int(fields["CapEff"][0], 16),
        "no_new_privs": fields.get("NoNewPrivs", ["0"])[0] == "1",
        "seccomp": fields.get("Seccomp", ["0"])[0] == "2",
        "cgroup": cgroup,
    }
    for name in NAMESPACES:
        try:
            walls[f"{name.replace('mnt', 'mount')}_ns"] = os.readlink(f"/proc/{pid}/ns/{name}") != os.readlink(
                f"/proc/self/ns/{name}"
            )
        except OSError:
            walls[f"{name.replace('mnt', 'mount')}_ns"] = False
    try:
        theirs, ours = os.stat(f"/proc/{pid}/root/"), os.stat("/")
        walls["jail"] = (theirs.st_dev, theirs.st_ino) != (ours.st_dev, ours.st_ino)
        mounts = Path(f"/proc/{pid}/mountinfo").read_text().splitlines()
        walls["scratch"] = any(m.split()[4] == "/sandbox" and " - tmpfs " in m for m in mounts)
    except OSError:
        walls["jail"] = walls["scratch"] = False
    return walls


def missing_walls(walls: dict) -> list[str]:
    """The names (:data:`WALLS`) of the walls that do not stand in measured ``walls``: uid is
    missing when the student runs as root or as the grader's own uid (which owns its files)."""
    missing = []
    for name in WALLS:
        if name == "uid":
            up = walls.get("uid", 0) not in (0, os.getuid())
        elif name == "capabilities":
            up = walls.get("caps") == 0
        else:
            up = bool(walls.get(name))
        if not up:
            missing.append(name)
    return missing


def summary(walls: dict) -> str:
    """ "full" when every wall stands, else "weaker: " and the missing ones; "container" for a
    container's child (its walls are the engine's: see mslab.containers)."""
    if walls.get("container"):
        return "container"
    if not walls:
        return "not measured (the sandbox ended before the grader could look)"
    missing = missing_walls(walls)
    if walls.get("uid", 0) == 0 and "uid" in missing:
        missing[missing.index("uid")] = "runs as uid 0"
    return "full" if not missing else "weaker: " + ", ".join(missing)


# -- the children ---------------------------------------------------------------------------


class Child(Protocol):
    """What a :class:`Sandbox` needs of the process serving a student file: implemented by
    :class:`ForkedChild` (here) and :class:`mslab.sandbox.container.ContainerChild` (a container's)."""

    reader: int  # the channel's descriptor, to wait on
    output: OutputTail  # what the student printed

    def write(self, data: bytes, seconds: float) -> None: ...  # TimeoutError if not sent in time
    def read(self) -> bytes | None: ...  # channel bytes; None at end of stream
    def on_idle(self, ready: list[int] | None) -> list[int]: ...  # other fds to wait on (output)
    def drain(self) -> None: ...  # take what printed output is waiting, without blocking
    def measure(self) -> dict: ...  # the walls, measured from outside, once ready
    def exit_reason(self) -> str: ...
    def kill(self) -> None: ...  # kill it and all it started; reap


#: How a non-local :class:`Sandbox` starts its child: ``spawn(module_name, source, limits)``.
#: :func:`mslab.containers.spawner` gives one for a target's image; None means forked from a zygote.
Spawn = Callable[[str, bytes, "Limits"], Child]


class ForkedChild:
    """A sandbox forked by a :class:`Zygote` behind the kernel walls. The grader holds the
    channel socket, the read end of the output pipe, and pidfds of the sandbox's outer and
    init processes (so a kill never hits a recycled pid)."""

    def __init__(self, zygote: Zygote, module_name: str, source: bytes, limits: Limits):
        info = zygote.ready()
        self.zygote, self.limits = zygote, limits
        self.output = OutputTail()
        self.cgroup = cgroups.create(limits.memory_bytes, limits.processes)
        root, subids = info.get("uid") == 0, info.get("subids")
        expected = [] if self.cgroup else ["cgroup"]  # the walls this host will not raise
        if root and info.get("namespaces") is False:  # root in a container without CAP_SYS_ADMIN
            if self.cgroup:
                self.cgroup.remove(0.5)
            raise WallsMissing(jail.NAMESPACE_WALLS, "a root grader cannot run without them", allowable=False)
        if root and not info.get("userns"):
            expected.append("user_ns")  # the student's own user namespace (jail.drop)
        if not root:
            expected += [] if subids and info.get("userns") else ["uid"]  # the mapping needs a user namespace
            expected += [] if info.get("userns") else list(jail.NAMESPACE_WALLS)
        lacking = [w for w in WALLS if w in expected and w not in limits.allow_weaker]
        if lacking:
            if self.cgroup:
                self.cgroup.remove(0.5)
            raise WallsMissing(lacking)
        ours, theirs = socket.socketpair()
        out_r, out_w = os.pipe()
        memfd = os.memfd_create("submission", os.MFD_CLOEXEC)
        os.write(memfd, source)
        uid = os.getuid()
        if root:
            first, last = _uid_range()
            uid = first + secrets.randbelow(last - first + 1)
        subordinate = False
        if subids and not root and info.get("userns"):  # uid 1… of the first user namespace: a subordinate uid
            uid, subordinate = 1 + secrets.randbelow(min(subids["uid"][1], subids["gid"][1]) - 1), True
        request = {
            "module": module_name,
            "device": "CPU",
            "env": {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "GLOG_v": "3"},
            "limits": asdict(limits),
            "uid": uid,
            "subordinate": subordinate,
            "cgroup_procs": self.cgroup.procs_files if self.cgroup else [],
        }
        try:
            self.pid = zygote.spawn(request, [theirs.fileno(), out_w, memfd])
            self.pidfd = os.pidfd_open(self.pid)
        except BaseException:
            ours.close()
            os.close(out_r)
            if self.cgroup:
                self.cgroup.kill(1)
                self.cgroup.remove(0.5)
            raise
        finally:
            theirs.close()
            os.close(out_w)
            os.close(memfd)
        fcntl.fcntl(out_r, fcntl.F_SETFL, fcntl.fcntl(out_r, fcntl.F_GETFL) | os.O_NONBLOCK)
        self.out_fd: int | None = out_r
        self.sock = ours
        self.reader = ours.fileno()
        self.init_pidfd: int | None = None
        self.walls: dict = {}

    def write(self, data: bytes, seconds: float) -> None:
        send_within(self.sock, data, seconds)

    def read(self) -> bytes | None:
        """What arrived on the channel; None at end of stream."""
        try:
            return self.sock.recv(1 << 20, socket.MSG_DONTWAIT) or None
        except BlockingIOError:
            return b""
        except ConnectionResetError:
            return None

    def on_idle(self, ready: list[int] | None) -> list[int]:
        """For :func:`read_line`: the output pipe to wait on, drained when readable."""
        if ready:
            self.drain()
        return [self.out_fd] if self.out_fd is not None else []

    def drain(self) -> None:
        """Read what the output pipe holds now (never blocks; a bounded amount per call)."""
        for _ in range(64):
            if self.out_fd is None:
                return
            try:
                chunk = os.read(self.out_fd, 65536)
            except BlockingIOError:
                return
            if not chunk:
                os.close(self.out_fd)
                self.out_fd = None
                return
            self.output.feed(chunk)

    def measure(self) -> dict:
        """The walls, measured from outside once the child said it is ready (once per child: a
        child handed to another lab keeps them; walls only ever get higher)."""
        if self.walls:
            return self.walls
        try:
            children = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()
            init = int(children[0])
            self.init_pidfd = os.pidfd_open(init)
            self.walls = measure(init, self.cgroup.version if self.cgroup else "")
        except (OSError, IndexError, ValueError, KeyError):
            self.walls = {}
        return self.walls

    def fresh_output(self) -> bool:
        """Start an empty output tail (for the next lab) once the pipe holds nothing more; False
        if it would not empty (something keeps printing)."""
        for _ in range(2):  # a drain takes up to 4 MiB: still more on a second one is a printer
            before = self.output.total
            self.drain()
            if self.output.total == before:
                self.output = OutputTail()
                return True
        return False

    def exit_reason(self) -> str:
        status = self.zygote.status(self.pid, wait=2)
        if status is None:
            return "stopped answering"
        if self.cgroup is not None and self.cgroup.memory_events():
            return f"was killed for using more than {self.limits.memory_bytes // 1024**2} MiB of memory"
        if status == "was killed by SIGXCPU":
            return status + " (CPU time limit)"
        return status

    def kill(self) -> None:
        """Kill the sandbox and everything it started; reap it; remove its cgroup."""
        for fd in (self.init_pidfd, self.pidfd):
            if fd is not None and fd >= 0:
                try:
                    signal.pidfd_send_signal(fd, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if self.cgroup is not None:
            self.cgroup.kill()
        try:
            self.zygote.status(self.pid, wait=2)
        except ZygoteError:
            pass
        if self.cgroup is not None:
            self.cgroup.remove()
        self.drain()
        for fd in (self.init_pidfd, self.pidfd, self.out_fd):
            if fd is not None and fd >= 0:
                os.close(fd)
        self.init_pidfd = self.out_fd = None
        self.pidfd = -1
        self.sock.close()


def _uid_range() -> tuple[int, int]:
    return settings.value("MSLAB_SANDBOX_UIDS")


# -- the sandbox --------------------------------------------------------------------------------


class Sandbox:
    """One student file, served by a child process that is restarted after any failure."""

    def __init__(
        self,
        source: Path | bytes,
        module_name: str,
        *,
        spawn: Spawn | None = None,
        limits: Limits | None = None,
        zygote: Zygote | None = None,
    ):
        """``spawn``: how to start the child elsewhere (a target's container); None: fork it
        from ``zygote`` (a new one if None) on this machine, behind the kernel walls."""
        if isinstance(source, bytes):  # a blank (Sandbox.empty): nothing of any student's
            self.source_bytes = source
        else:
            path = Path(source)
            try:
                self.source_bytes = path.read_bytes()
            except OSError as exc:
                raise MslabError(f"cannot read submission {path}: {exc.strerror}") from None
            if len(self.source_bytes) > MAX_SOURCE_BYTES:
                raise MslabError(f"submission {path} is larger than {MAX_SOURCE_BYTES} bytes")
        self.module_name = module_name
        self._spawn_elsewhere = spawn
        self.local = spawn is None
        self.limits = limits or Limits()
        self._zygote = zygote
        self._own_zygote = False
        self._proc: Child | None = None
        self._ended: list[OutputTail] = []  # what children that served this sandbox printed, in turn
        self._buffer = b""
        self._ready = False
        self._load_error: StudentLoadError | None = None
        self._timed_out: dict[str, str] = {}  # function -> the reason it failed first
        self.answered: set[str] = set()  # functions that returned a value at least once
        self._deadline: float | None = None
        self._loaded_once = False
        self.import_seconds: float | None = None
        self.isolation = ""  # measured by the grader: "full", "weaker: ...", "container"
        self.walls: dict = {}
        self.starts = 0
        self.call_seconds = 0.0  # time spent in student calls
        self.start_seconds = 0.0  # time spent starting children until they were ready
        self.out_of_time = False
        self.inherited = False  # served by a child an earlier lab of the same student used (inherit)
        self.blank = False  # a child started ahead with an empty file, for the next student (empty)
        self.troubled = False  # a call ended in a timeout, a crash, garbage, or the file did not load

    @property
    def load_error(self) -> str:
        """Why the submission could not be loaded, or "" if it could (or was not tried)."""
        return str(self._load_error) if self._load_error is not None else ""

    # -- life cycle -----------------------------------------------------------------
    def start(self) -> None:
        """Get ready without waiting: a local zygote, or the container, starts importing MindSpore now."""
        if self.local and os.geteuid() == 0:
            _uid_range()  # a bad MSLAB_SANDBOX_UIDS is the user's error, said before anything runs
        if self.local and self._zygote is None:
            self._zygote, self._own_zygote = Zygote(self.limits.load_seconds), True
        elif not self.local and self._proc is None and self._load_error is None and not self.starts:
            self._spawn()

    def _spawn(self) -> None:
        if self._deadline is None:
            self._deadline = time.monotonic() + self.limits.submission_seconds
        if self._spawn_elsewhere is None:
            if self._zygote is None:
                self.start()
            assert self._zygote is not None
            try:
                self._proc = ForkedChild(self._zygote, self.module_name, self.source_bytes, self.limits)
            except ZygoteError as exc:
                raise MslabError(str(exc)) from None
        else:
            self._proc = self._spawn_elsewhere(self.module_name, self.source_bytes, self.limits)
        self._buffer, self._ready = b"", False
        self.starts += 1

    def close(self) -> None:
        self._stop()
        if self._own_zygote and self._zygote is not None:
            self._zygote.close()
            self._zygote, self._own_zygote = None, False

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _stop(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._ended.append(self._proc.output)  # a restarted child's output follows it
            self._proc = None

    # -- calls ----------------------------------------------------------------------
    def _remaining(self) -> float:
        if self._deadline is None:
            return self.limits.submission_seconds
        return self._deadline - time.monotonic()

    @classmethod
    def empty(cls, *, limits: Limits, zygote: Zygote) -> Sandbox:
        """A child forked now, behind the walls, with an empty file: the next student's, started
        while this one is graded. Taken over by that student's first lab (:meth:`inherit`) as a
        fresh child: no student code ever ran in it."""
        sandbox = cls(b"", "mslab_blank", limits=limits, zygote=zygote)
        sandbox.blank = True
        sandbox._spawn()
        return sandbox

    def inherit(self, previous: Sandbox) -> bool:
        """Serve this file — another lab of the same student — with the child ``previous`` is
        done with, instead of forking a fresh one; returns whether it did.

        Only a child in a fit state is taken: a forked child of the same zygote that loaded its
        file, in which nothing went wrong (:attr:`troubled`: no timeout, crash or garbage; an
        exception the student's code raised is an ordinary outcome), and that answers ``flush``
        at once, saying that no library name was re-bound nor MindSpore's context changed. Its
        printed output up to then stays ``previous``'s. The child forgets the earlier module and
        loads this one (``next``, mslab.sandbox.serve); the time budget, output and answers from
        then on are this sandbox's own, the walls those measured when the child started. Labs of
        one student need no wall between them: nothing of another student's is in the process.
        A lab that meets trouble in an inherited child is graded again in a fresh one
        (:func:`mslab.checker.run_checks`), so that nothing an earlier lab left in the process
        decides a mark."""
        if previous.blank and previous._proc is not None and not previous._ready:
            try:
                previous._ensure_ready()  # the blank's own start, if it is not done yet
            except StudentError:
                return False
        proc = previous._proc
        if (
            not isinstance(proc, ForkedChild)
            or not previous._ready
            or previous.troubled
            or previous.out_of_time
            or previous._buffer
            or not (self.local and previous.local)
            or proc.zygote is not self._zygote
        ):
            return False
        previous._proc = None  # ours now: previous.close() leaves it
        previous._ended.append(proc.output)  # what it prints until the hand-over is still previous's
        started = time.monotonic()
        try:
            proc.write(wire.message("grader", "flush"), HANDOVER_SECONDS)
            line, rest = read_line(proc.reader, proc.read, b"", HANDOVER_SECONDS, proc.on_idle)
            if rest or wire.receive(line, "server", "flushed")["clean"] is not True or not proc.fresh_output():
                raise EOFError
            source = base64.b64encode(self.source_bytes).decode()
            proc.write(wire.message("grader", "next", module=self.module_name, source=source), HANDOVER_SECONDS)
        except (OSError, EOFError, TimeoutError, wire.WireError):
            proc.kill()
            return False
        self._proc, self._buffer, self._ready = proc, b"", False
        self._deadline = started + self.limits.submission_seconds
        self.starts, self.inherited = 1, not previous.blank
        self.start_seconds += time.monotonic() - started
        return True

    def call(self, fn: str, *args, timeout: float | None = None):
        """Call ``fn(*args)`` in the student module and return its value as plain data."""
        try:
            return self._call(fn, *args, timeout=timeout)
        except StudentRaised:
            raise  # an exception of the student's code, with its reason: an ordinary outcome
        except StudentError:
            self.troubled = True
            raise

    def _call(self, fn: str, *args, timeout: float | None = None):
        if fn in self._timed_out:
            raise StudentTimeout(self._timed_out[fn])
        if self.out_of_time or self._remaining() <= 0:
            self.out_of_time = True
            self._stop()
            raise StudentTimeout(f"{fn}() not run: the submission used up its {self.limits.submission_seconds:g} s")
        self._ensure_ready()
        token = secrets.token_hex(8)
        request = wire.message("grader", "call", id=token, fn=fn, args=[wire.encode(a) for a in args])
        started = time.monotonic()
        wait = min(timeout or self.limits.call_seconds, self._remaining())
        try:
            reply = self._exchange(request, wait, f"{fn}()")
        except StudentTimeout as exc:
            if self._remaining() <= 0:
                self.out_of_time = True
            self._timed_out[fn] = str(exc)
            raise
        finally:
            self.call_seconds += time.monotonic() - started
        try:
            reply = wire.expect(reply, "server", "result")
        except wire.WireError:
            reply = {}
        if reply.get("id") != token:
            self._stop()
            raise StudentCrashed(f"{fn}(): the student process sent an unexpected message")
        if not reply["ok"]:
            err = reply.get("error", {})
            raise StudentRaised(
                fn,
                str(err.get("type", "Exception"))[:80],
                str(err.get("message", ""))[:MAX_TEXT],
                str(err.get("where", ""))[:40],
            )
        self.answered.add(fn)
        try:
            return wire.decode(reply.get("value"))
        except Exception as exc:  # noqa: BLE001 - whatever the student's data makes decoding raise
            self._stop()
            raise StudentCrashed(f"{fn}(): unreadable return value ({type(exc).__name__}: {str(exc)[:200]})") from None

    def output(self, limit: int = 8192) -> str:
        """The tail of what the student code printed (stdout and stderr), as text."""
        printed = OutputTail()
        for tail in self._ended:  # children stopped before (a call that timed out, say)
            printed.extend(tail)
        if self._proc is not None:
            self._proc.drain()
            printed.extend(self._proc.output)
        return printed.text(limit)

    def continue_budget(self, earlier: Sandbox) -> None:
        """Grade on within ``earlier``'s time budget: the same student × lab graded again (in a
        fresh child, after trouble in an inherited one) has one budget across both runs, never a
        fresh one; the time ``earlier`` spent starting and in student calls counts here too."""
        self._deadline = earlier._deadline if earlier._deadline is not None else self._deadline
        self.out_of_time = earlier.out_of_time
        self.start_seconds += earlier.start_seconds
        self.call_seconds += earlier.call_seconds

    def ensure_ready(self) -> None:
        """Start the child if it is not running and wait until it has loaded the file (the
        walls measured); StudentLoadError (a StudentError) when it cannot."""
        self._ensure_ready()

    def _ensure_ready(self) -> None:
        if self._load_error is not None:
            raise self._load_error
        if self._proc is None:
            started = time.monotonic()
            self._spawn()
            self.start_seconds += time.monotonic() - started
        if self._ready:
            return
        started = time.monotonic()
        try:
            msg = self._exchange(None, min(self.limits.load_seconds, self._remaining()), "loading the submission")
        finally:
            self.start_seconds += time.monotonic() - started
        assert self._proc is not None
        self.walls = self._proc.measure()  # from outside, whatever the child said (a forged message too)
        self.isolation = summary(self.walls)
        try:
            msg = wire.expect(msg, "server", "ready", "load_error")
        except wire.WireError:
            msg = {}
        if msg.get("op") == "ready":
            self._ready = self._loaded_once = True
            value = msg.get("import_seconds")
            self.import_seconds = value if type(value) is float else None
            if self.walls and not self.walls.get("container"):  # unmeasured: the student's end, not ours
                lacking = [w for w in missing_walls(self.walls) if w not in self.limits.allow_weaker]
                if lacking:
                    self._stop()
                    raise WallsMissing(lacking, "measured once the sandbox was ready")
            return
        self._stop()
        if msg.get("op") == "load_error":
            err = msg["error"]
            where = f" ({str(err['where'])[:40]})" if err.get("where") else ""
            first = (str(err.get("message", "")).strip().splitlines() or [""])[0][:MAX_TEXT]
            self._load_error = StudentLoadError(
                f"the submission could not be loaded: {str(err.get('type', 'Exception'))[:80]}{where}: {first}"
            )
        else:
            self._load_error = StudentLoadError("the submission could not be loaded: unexpected message")
        raise self._load_error

    def _exchange(self, request: bytes | None, seconds: float, what: str) -> dict:
        """Send ``request`` (a :func:`wire.message`), read one line back: the parsed message,
        whose shape the caller checks (:func:`wire.expect`)."""
        proc = self._proc
        assert proc is not None, "a child is started before any exchange"
        deadline = time.monotonic() + max(seconds, 0.0)
        try:
            if request is not None:
                proc.write(request, max(seconds, 0.0))
            line, self._buffer = read_line(
                proc.reader, proc.read, self._buffer, max(deadline - time.monotonic(), 0.0), proc.on_idle
            )
            return wire.loads(line)
        except wire.WireError as exc:
            self._stop()
            raise StudentCrashed(f"{what}: the student process sent garbage ({exc})") from None
        except TimeoutError:
            self._stop()
            out_of_time = self._remaining() <= 0
            why = (
                f"the submission used up its {self.limits.submission_seconds:g} s"
                if out_of_time
                else f"timed out after {seconds:g} s"
            )
            if not self._ready:
                self.out_of_time = out_of_time
                if out_of_time and self._loaded_once:  # it loads, but its restarts ate the budget
                    raise StudentTimeout(f"{what}: {why}") from None
                self._load_error = StudentLoadError(f"the submission could not be loaded: {why}")
                raise self._load_error from None
            raise StudentTimeout(f"{what} {why}") from None
        except (BrokenPipeError, ConnectionResetError, EOFError):
            reason = proc.exit_reason()
            proc.drain()
            tail = _last_line(proc.output.text(2048))
            self._stop()
            if not self._ready and isinstance(proc, ForkedChild) and reason == f"exited with code {WALLS_EXIT}":
                raise _walls_missing(tail) from None  # the sandbox's own side stopped: no student code ran
            detail = f"; last output: {tail}" if tail else ""
            if not self._ready:
                self._load_error = StudentLoadError(
                    f"the student process {reason} while loading the submission{detail}"
                )
                raise self._load_error from None
            raise StudentCrashed(f"the student process {reason} during {what}{detail}") from None


class Shared:
    """One student's child, handed from each of that student's labs to the next
    (:meth:`Sandbox.inherit`). Holds the last lab's sandbox until the next one takes it over."""

    def __init__(self, blank: Sandbox | None = None) -> None:
        self.last: Sandbox | None = blank  # a blank child to start with (Sandbox.empty)

    def sandbox(self, source: Path, module_name: str, **options) -> Sandbox:
        sandbox = Sandbox(source, module_name, **options)
        if self.last is not None:
            sandbox.inherit(self.last)
            self.last.close()
        self.last = sandbox
        return sandbox

    def close(self) -> None:
        if self.last is not None:
            self.last.close()
            self.last = None


def _walls_missing(line: str) -> WallsMissing:
    """The grader's error for a sandbox that stopped before reading the file (zygote._sandbox's
    last line: ``mslab sandbox: walls missing: uid, cgroup (why)``)."""
    text = line.removeprefix("mslab sandbox: ")
    if text.startswith("walls missing: "):
        names, _, why = text.removeprefix("walls missing: ").partition(" (")
        walls = [n for n in names.split(", ") if n in WALLS]
        if walls:
            return WallsMissing(walls, why.rstrip(")"))
    return WallsMissing([], text[:300] or "the sandbox stopped before loading the file")


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1][:300] if lines else ""


class Student:
    """What a check sees: ``student.f_prime(x)`` calls ``f_prime`` in the sandbox."""

    def __init__(self, sandbox: Sandbox):
        self._sandbox = sandbox

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return functools.partial(self._sandbox.call, name)


def sweep() -> None:
    """Remove what graders killed with kill -9 left behind: their cgroups (and what is in them)."""
    cgroups.sweep()


def preflight(limits: Limits | None = None) -> tuple[dict, str]:
    """Start one sandbox exactly as a run with ``limits`` would, call it once and return its
    measured walls and their summary; :class:`WallsMissing` if a wall ``limits`` does not allow
    to be missing cannot be raised here, MslabError with the cause if it cannot start at all."""
    with Sandbox(b"def ping():\n    return 1\n", "mslab_preflight", limits=limits) as sandbox:
        try:
            sandbox.call("ping")
        except StudentError as exc:
            raise MslabError(f"a sandbox cannot start here: {exc}") from None
        return sandbox.walls, sandbox.isolation


def probe(limits: Limits | None = None) -> tuple[dict, str]:
    """Start one sandbox on this host, every wall allowed to be missing, and measure its walls
    (for `inv doctor`: what stands, not whether a run would go)."""
    return preflight(replace(limits or Limits(), allow_weaker=WALLS))
