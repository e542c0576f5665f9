"""The zygote: a warm process that has imported MindSpore (and computed nothing) and forks one
walled sandbox per student file. Both halves live here, as CPython's ``forkserver`` keeps them.

Host half — :class:`Zygote`, in the grader: starts ``python -I -m mslab.sandbox.zygote``
with a control socket as its stdin/stdout, sends it spawn requests (plain JSON, with three file
descriptors: the channel socket, the write end of the output pipe, a memfd holding the
student's source), and asks how children ended.

Child half — :func:`main`, in the zygote: imports MindSpore once (importing takes about a
second, forking milliseconds; a parent that has *computed* makes forked children hang, and a
warm-up between MindSpore's fork hooks was measured and not kept: docs/protocol.md), then
forks per request. The zygote imports only this subpackage's child side — never the checks,
the labs or :mod:`mslab.numeric` — so nothing a student could use as an oracle is in the
memory its children inherit, and it never reads the student's source: the sandbox does.

A sandbox is three processes (see :mod:`mslab.sandbox.jail`):

``outer``  — forked by the zygote; joins the cgroup, unshares the namespaces, waits for init
             and ends the way it ended;
``init``   — PID 1 of the new PID namespace; builds the jail, drops to the student's uid,
             loads the seccomp filter, forks the server and reaps; when the server ends, init
             ends and the kernel kills whatever else the student started;
``server`` — loads the student file and serves calls (:mod:`mslab.sandbox.serve`).

Each dies with its parent (SIGKILL), so a grader killed with ``kill -9`` leaves nothing behind.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The child side, imported once here in the zygote (stdlib, ctypes and NumPy only: see wire).
from mslab.sandbox import jail, seccomp, serve, wire

MAX_SOURCE_BYTES = 1024 * 1024
#: How a sandbox ends that stopped before the student's file was read (a wall it could not
#: raise): only outer and init, never the student, end with it (init turns a student's 86 into 1).
WALLS_EXIT = 86


# -- host half ---------------------------------------------------------------------------------


def read_line(fileno: int, read, buffer: bytes, seconds: float, on_idle=None) -> tuple[bytes, bytes]:
    """One line, from what ``buffer`` holds and what ``read()`` gives (None at end of stream),
    within ``seconds``: returns the line and what is left after it. Raises TimeoutError,
    EOFError, or WireError for a line longer than the channel allows. ``on_idle(fds)`` may add
    descriptors to wait on and is called with those that are readable (the output pipe)."""
    deadline = time.monotonic() + seconds
    while b"\n" not in buffer:
        if len(buffer) > wire.MAX_LINE:
            raise wire.WireError("message too large")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        extra = on_idle(None) if on_idle else []
        ready = select.select([fileno, *extra], [], [], remaining)[0]
        if on_idle and set(ready) & set(extra):
            on_idle([fd for fd in ready if fd != fileno])
        if fileno not in ready:
            continue
        chunk = read()
        if chunk is None:
            raise EOFError
        buffer += chunk
    line, _, rest = buffer.partition(b"\n")
    return line, rest


class ZygoteError(RuntimeError):
    """The zygote failed (a grader-side problem, not the student's)."""


class Zygote:
    """The grader's handle on a zygote process."""

    def __init__(self, ready_seconds: float = 120.0):
        ours, theirs = socket.socketpair()
        self.popen = subprocess.Popen(
            [sys.executable, "-I", "-m", "mslab.sandbox.zygote"],
            stdin=theirs.fileno(),
            stdout=theirs.fileno(),
            stderr=subprocess.DEVNULL,
            env={"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "GLOG_v": "3"},
            start_new_session=True,
            preexec_fn=jail.die_with_parent,
        )
        theirs.close()
        self.sock = ours
        self.ready_seconds = ready_seconds
        self._buffer = b""
        self.info: dict | None = None  # the zygote's ready message: what walls it can raise

    def _receive(self, seconds: float, op: str) -> dict:
        try:
            line, self._buffer = read_line(
                self.sock.fileno(), lambda: self.sock.recv(65536) or None, self._buffer, seconds
            )
        except TimeoutError:
            raise ZygoteError(f"the sandbox's zygote did not answer within {seconds:g} s") from None
        except EOFError:
            raise ZygoteError(f"the sandbox's zygote stopped (exit code {self.popen.poll()})") from None
        return wire.receive(line, "zygote", op)

    def ready(self) -> dict:
        if self.info is None:
            self.info = self._receive(self.ready_seconds, "ready")
        return self.info

    def spawn(self, request: dict, fds: list[int]) -> int:
        """Fork a sandbox for ``request`` (the ``spawn`` message's fields) with ``fds`` (channel,
        output pipe, source); its pid."""
        self.ready()
        socket.send_fds(self.sock, [wire.message("grader", "spawn", **request)], fds)
        return self._receive(30, "spawned")["pid"]

    def status(self, pid: int, wait: float) -> str | None:
        """How sandbox ``pid`` ended ("exited with code 3"), reaping it; None if it has not."""
        self.sock.sendall(wire.message("grader", "status", pid=pid, wait=wait))
        return self._receive(wait + 30, "status")["status"]

    def alive(self) -> bool:
        return self.popen.poll() is None

    def close(self) -> None:
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.popen.wait()
        self.sock.close()


# -- child half --------------------------------------------------------------------------------


def _mirror(status: int) -> None:
    """End this process the way its child ended."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 70)


def _threads_of(uid: int) -> int:
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    count += len(os.listdir(f"/proc/{entry.name}/task"))
            except OSError:
                pass
    return count


def _set_limits(limits: dict, extra_processes: int) -> None:
    import resource

    for name, value in (
        (resource.RLIMIT_CORE, 1),  # 1, not 0: the kernel skips even a pipe core_pattern
        (resource.RLIMIT_CPU, limits["cpu_seconds"]),
        (resource.RLIMIT_AS, limits["address_space_bytes"]),
        (resource.RLIMIT_NPROC, limits["processes"] + extra_processes),
        (resource.RLIMIT_FSIZE, limits["scratch_bytes"]),
        (resource.RLIMIT_NOFILE, limits["open_files"]),
    ):
        resource.setrlimit(name, (value, value))


def _read_source(fd: int) -> bytes:
    data = os.pread(fd, MAX_SOURCE_BYTES + 1, 0)
    if len(data) > MAX_SOURCE_BYTES:
        raise ValueError("the submission is too large")
    return data


def _sandbox(request: dict, channel: int, output: int, source: int, setup: dict) -> None:
    """In the process the zygote forked (``outer``): raise the walls, serve. Never returns.

    Every wall is raised, and checked, before the student's file is read: a wall that cannot be
    raised, and that the request does not allow to be missing (``limits["allow_weaker"]``),
    ends the sandbox with :data:`WALLS_EXIT` and one line on the output pipe, and the student's
    code never runs (docs/walls.md)."""
    zygote = os.getppid()
    started = False  # whether the student's server was forked (then its end is the student's)
    try:
        jail.die_with_parent()
        if os.getppid() != zygote:
            os._exit(70)
        os.setsid()
        limits = request["limits"]
        allowed = set(limits.get("allow_weaker") or ())
        if not request["cgroup_procs"]:
            jail.require(allowed, ["cgroup"], "no cgroup for the sandbox")
        subids = setup["subids"] if not setup["root"] and request.get("subordinate") and setup["userns"] else None
        if not setup["root"] and not subids:
            jail.require(
                allowed,
                ["uid"],
                "no subordinate uid mapping (it needs a subordinate range and a user namespace): the student would run as the grader's uid",
            )
        if not setup["root"] and not setup["userns"]:
            jail.require(allowed, list(jail.NAMESPACE_WALLS), "this host refuses unprivileged user namespaces")
        # A normal user's RLIMIT_NPROC counts all its threads: leave room for those it has.
        extra = _threads_of(os.getuid()) if os.geteuid() != 0 and not subids else 0
        namespaces = jail.outer(request["cgroup_procs"], setup["userns"], subids)
        init = os.fork()
        if init:
            for fd in (channel, output, source):
                os.close(fd)
            _mirror(os.waitpid(init, 0)[1])
        # init: PID 1 of the new PID namespace (or, without namespaces, a plain process)
        jail.die_with_parent()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        module = request["module"]
        if namespaces:
            # root's (or, with subordinate ids, the first user namespace's) student uid; a normal
            # user's without: uid 0 of its user namespace, the grader's own uid
            uid = request["uid"] if setup["root"] or subids else 0
            jail.build(
                setup["mountpoint"],
                setup["keep"],
                setup["mask"],
                {},
                limits["scratch_bytes"],
                limits["scratch_inodes"],
                owner=uid,
            )
            home = jail.SCRATCH
        else:  # no namespaces at all (allowed weaker: a normal user without user namespaces): no jail
            import tempfile

            home = tempfile.mkdtemp(dir=setup["fallback_scratch"])
        notes = jail.drop(request["uid"], request["uid"], subordinate=bool(subids and namespaces))
        if any(note.startswith("no user namespace") for note in notes):
            jail.require(allowed, ["user_ns"], notes[0])
        jail.die_with_parent()  # cleared by the change of credentials
        _set_limits(limits, extra)
        seccomp.load(setup["filter"])
        # Every wall stands (or is allowed missing): only now the student's file is read.
        path = os.path.join(home, f"{module}.py")
        with open(path, "wb") as fh:
            fh.write(_read_source(source))
        os.chmod(path, 0o444)
        os.close(source)
        server = os.fork()
        if server == 0:
            os.dup2(channel, 0)
            os.dup2(channel, 1)
            os.dup2(output, 2)
            os.closerange(3, 1 << 16)
            os.chdir(home)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.environ.clear()
            os.environ.update(request["env"], HOME=home, TMPDIR=home)
            serve.serve(module, path, request["device"])
            os._exit(0)
        started = True
        os.closerange(0, 1 << 16)
        while True:  # reap whatever the student's processes leave to PID 1
            pid, status = os.waitpid(-1, 0)
            if pid == server:
                if not namespaces:
                    jail.remove_tree(home)
                if os.WIFEXITED(status) and os.WEXITSTATUS(status) == WALLS_EXIT:
                    os._exit(1)  # the code is the trusted side's alone: a student cannot claim it
                _mirror(status)
    except BaseException as exc:  # noqa: BLE001 - say why the sandbox could not start
        if started:
            os._exit(70)
        try:
            what = (
                "walls missing"
                if isinstance(exc, jail.WallDown)
                else f"could not raise the walls: {type(exc).__name__}"
            )
            os.write(output, f"mslab sandbox: {what}: {exc}\n".encode()[:2000])
        finally:
            os._exit(WALLS_EXIT)


def _setup() -> dict:
    """What every sandbox of this zygote needs, found once: the trees to bind, the mountpoint
    of the new root, whether user namespaces work, the seccomp filter."""
    package = Path(__file__).resolve().parent.parent  # mslab/
    prefixes = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    keep = sorted(prefixes)
    for entry in sys.path:  # site folders outside the prefixes (a .pth of CANN's, say), not mslab's
        path = Path(entry).resolve() if entry else None
        if path and path.is_dir() and not any(p == path or p in path.parents for p in keep):
            if not (package == path or path in package.parents):
                keep.append(path)
    # A prefix or site folder reached through a symbolic link (a venv at /opt/venv -> /opt/venv-2024,
    # a worktree's .venv): the link goes into the new root too, so that the interpreter's own
    # paths (sys.path holds them unresolved) still lead to the bound tree for imports made later.
    for entry in (sys.prefix, sys.base_prefix, sys.exec_prefix, *sys.path):
        for link in (q for q in (Path(entry), *Path(entry).parents) if entry and q.is_symlink()):
            if link not in keep:
                keep.append(link)
    mask = [package] if any(p in package.parents for p in keep) else []
    base = Path(tempfile.gettempdir())
    mountpoint = base / f"mslab-jail-{os.getuid()}"
    mountpoint.mkdir(mode=0o755, exist_ok=True)
    fallback = base / f"mslab-scratch-{os.getuid()}"
    fallback.mkdir(mode=0o700, exist_ok=True)
    return {
        "keep": keep,
        "mask": mask,
        "mountpoint": mountpoint,
        "fallback_scratch": str(fallback),
        "userns": jail.userns_allowed(),
        "root": os.geteuid() == 0,
        "subids": jail.subordinate_ids() if os.geteuid() != 0 else None,
        "namespaces": jail.namespaces_allowed() if os.geteuid() == 0 else None,
        "filter": seccomp.build(),
    }


def main() -> None:
    """Serve spawn requests on the control socket (fd 0): fork a sandbox per request."""
    control = socket.socket(fileno=os.dup(0))
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):
        os.dup2(devnull, fd)
    os.close(devnull)

    import mindspore  # noqa: F401 - imported, never used to compute: forked children hang otherwise
    import numpy  # noqa: F401
    from mindspore import ops  # noqa: F401

    setup = _setup()
    jail.become_subreaper()
    statuses: dict[int, str] = {}

    def reap(pid: int = -1) -> None:
        while True:
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                return
            if done == 0:
                return
            if os.WIFSIGNALED(status):
                statuses[done] = f"was killed by {signal.Signals(os.WTERMSIG(status)).name}"
            else:
                statuses[done] = f"exited with code {os.WEXITSTATUS(status)}"
            if pid != -1:
                return

    control.sendall(
        wire.message(
            "zygote",
            "ready",
            userns=setup["userns"],
            uid=os.geteuid(),
            subids=setup["subids"],
            namespaces=setup["namespaces"],
        )
    )
    buffer = b""
    while True:
        fds: list[int] = []
        while b"\n" not in buffer:
            data, new_fds, _flags, _addr = socket.recv_fds(control, 65536, 3)
            if not data:
                return
            buffer += data
            fds += new_fds
        line, _, buffer = buffer.partition(b"\n")
        request = wire.receive(line, "grader", "spawn", "status")
        reap()
        if request["op"] == "spawn":
            pid = os.fork()
            if pid == 0:
                control.close()
                _sandbox(request, fds[0], fds[1], fds[2], setup)
            for fd in fds:
                os.close(fd)
            del request, line
            control.sendall(wire.message("zygote", "spawned", pid=pid))
        elif request["op"] == "status":
            pid, deadline = request["pid"], time.monotonic() + request["wait"]
            while pid not in statuses and time.monotonic() < deadline:
                reap(pid)
                time.sleep(0.005)
            control.sendall(wire.message("zygote", "status", status=statuses.pop(pid, None)))


if __name__ == "__main__":
    main()
