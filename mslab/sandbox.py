"""Runs one student file in a separate, isolated, limited process and calls its functions.

The checker never imports student code. Locally, a :class:`Zygote` (MindSpore imported once,
nothing computed) forks a child per student file, which isolates itself (:mod:`mslab.jail`),
applies its limits and imports the file in its own scratch folder; with a container target the
child runs in that target's container instead (:mod:`mslab.containers`). A :class:`Sandbox` sends
call requests over the child's channel (a socket it takes off stdin/stdout before loading the
student file, see :mod:`mslab._child`) and gets plain data back (:mod:`mslab.wire`). Every call
has a deadline, and a submission a total budget; a child that hangs, crashes or exits is killed
with everything it started, the call fails with a readable reason, and the next call starts a
fresh child.
"""

from __future__ import annotations

import functools
import os
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from mslab import jail, wire
from mslab._child import LOG_NAME
from mslab.errors import MslabError

MAX_SOURCE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Per-student limits. Times are wall-clock seconds unless named otherwise."""

    load_seconds: float = 60.0  # importing MindSpore and the student file
    call_seconds: float = 20.0  # one function call
    submission_seconds: float = 300.0  # all calls of one submission together
    cpu_seconds: int = 300  # CPU time of the whole child (RLIMIT_CPU)
    memory_bytes: int = 8 * 1024**3  # address space (RLIMIT_AS); MindSpore maps ~2.3 GiB
    processes: int = 1024  # pids cgroup as root; else RLIMIT_NPROC on top of the user's own threads
    file_bytes: int = 16 * 1024**2  # largest file the child may write, output log included
    open_files: int = 1024
    cpus: float | None = None  # CPUs a container may use (containers only); None: all of them


class StudentError(Exception):
    """A student function could not produce a value; ``str()`` is the readable reason."""


class StudentRaised(StudentError):
    def __init__(self, fn: str, type_name: str, message: str, where: str = ""):
        self.fn, self.type_name, self.message, self.where = fn, type_name, message, where
        first = message.strip().splitlines()[0] if message.strip() else ""
        at = f" ({where})" if where else ""
        super().__init__(f"{fn}() raised {type_name}{at}: {first}".rstrip(": "))


class StudentLoadError(StudentError):
    """The student file could not be imported (syntax error, exception, exit at import...)."""


class StudentTimeout(StudentError):
    pass


class StudentCrashed(StudentError):
    pass


def scratch_root() -> Path:
    """The folder of this user's sandbox scratch folders (the jail hides all but a child's own)."""
    root = Path(tempfile.gettempdir()) / f"mslab-sandboxes-{os.getuid()}"
    root.mkdir(mode=0o700, exist_ok=True)
    return root


def sweep_scratch() -> None:
    """Remove scratch folders whose grader died (kill -9) before it could remove them."""
    for folder in scratch_root().glob("mslab-*-*"):
        owner = folder.name.split("-")[1]
        if owner.isdigit() and not Path(f"/proc/{owner}").exists():
            shutil.rmtree(folder, ignore_errors=True)


def _child_env(scratch: Path) -> dict:
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(scratch),
        "TMPDIR": str(scratch),
        "LANG": "C.UTF-8",
        "GLOG_v": "3",  # MindSpore: errors only
    }


class Zygote:
    """A warm process that has imported MindSpore — and computed nothing — and forks sandboxes.

    Importing MindSpore takes about a second; forking a process that already has it takes
    milliseconds. Children of a process that has run any MindSpore operation hang, so the
    zygote never computes: each child sets up its device and runs student code itself.
    """

    def __init__(self, ready_seconds: float = 120.0):
        ours, theirs = socket.socketpair()
        self.popen = subprocess.Popen(
            [sys.executable, "-I", "-m", "mslab._child", "--zygote"],
            stdin=theirs,
            stdout=theirs,
            stderr=subprocess.DEVNULL,
            env={"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "GLOG_v": "3"},
            start_new_session=True,
            preexec_fn=jail.die_with_parent,
        )
        theirs.close()
        self.sock = ours
        self.ready_seconds = ready_seconds
        self._buffer = b""
        self._ready = False

    def _receive(self, seconds: float) -> dict:
        try:
            line, self._buffer = _read_line(self.sock.fileno(), lambda: self.sock.recv(65536) or None,
                                            self._buffer, seconds)
        except TimeoutError:
            raise MslabError(f"the sandbox's zygote did not answer within {seconds:g} s") from None
        except EOFError:
            raise MslabError(f"the sandbox's zygote stopped (exit code {self.popen.poll()})") from None
        return wire.loads(line)

    def spawn(self, request: dict, channel: socket.socket) -> int:
        """Fork a child that serves ``channel``; returns its pid."""
        if not self._ready:
            self._receive(self.ready_seconds)
            self._ready = True
        socket.send_fds(self.sock, [wire.dumps(request)], [channel.fileno()])
        return int(self._receive(30)["pid"])

    def status(self, pid: int, wait: float) -> str | None:
        """How child ``pid`` ended ("exited with code 3"), reaping it; None if it has not."""
        self.sock.sendall(wire.dumps({"op": "status", "pid": pid, "wait": wait}))
        return self._receive(wait + 30).get("status")

    def close(self) -> None:
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.popen.wait()
        self.sock.close()


class _ForkedProcess:
    """The child forked by a :class:`Zygote`, isolated (see :mod:`mslab.jail`) and limited."""

    def __init__(self, zygote: Zygote, module_name: str, student_file: Path, scratch: Path,
                 limits: Limits, hide: list[Path]):
        ours, theirs = socket.socketpair()
        self.cgroup = jail.cgroup_for(f"{os.getpid()}-{secrets.token_hex(6)}")
        request = {
            "op": "spawn",
            "module": module_name,
            "file": str(student_file),
            "device": "CPU",
            "scratch": str(scratch),
            "env": _child_env(scratch),
            "limits": asdict(limits),
            "hide": [str(p) for p in hide],
            "cgroup": str(self.cgroup) if self.cgroup else None,
        }
        self.zygote, self.scratch = zygote, scratch
        try:
            self.pid = zygote.spawn(request, theirs)
        finally:
            theirs.close()
        self.sock = ours
        self.reader = ours.fileno()

    def write(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read(self) -> bytes | None:
        """What arrived on the channel; None at end of stream."""
        return self.sock.recv(1 << 20) or None

    def tail(self, limit: int) -> str:
        try:
            with open(self.scratch / LOG_NAME, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                fh.seek(max(0, fh.tell() - limit))
                return fh.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def exit_reason(self) -> str:
        status = self.zygote.status(self.pid, wait=2)
        if status is None:
            return "stopped answering"
        if status == "was killed by SIGXCPU":
            return status + " (CPU time limit)"
        return status

    def kill(self) -> None:
        """Kill the child and everything it started; reap it."""
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if self.cgroup is not None:
            jail.kill_cgroup(self.cgroup)
        self.zygote.status(self.pid, wait=2)
        if self.cgroup is not None:
            jail.remove_cgroup(self.cgroup)
        self.sock.close()


class Sandbox:
    """One student file, served by a child process that is restarted after any failure."""

    def __init__(
        self,
        source: Path,
        module_name: str,
        *,
        target: str = "local",
        limits: Limits | None = None,
        zygote: Zygote | None = None,
        hide: tuple[Path, ...] = (),
    ):
        source = Path(source)
        try:
            self.source_bytes = source.read_bytes()
        except OSError as exc:
            raise MslabError(f"cannot read submission {source}: {exc.strerror}") from None
        if len(self.source_bytes) > MAX_SOURCE_BYTES:
            raise MslabError(f"submission {source} is larger than {MAX_SOURCE_BYTES} bytes")
        self.module_name = module_name
        self.target = target
        self.limits = limits or Limits()
        self.hide = [Path(p) for p in hide]
        self.scratch: Path | None = None
        self._zygote = zygote
        self._own_zygote = False
        self._proc = None  # _ForkedProcess or containers.ContainerProcess
        self._last_output = ""
        self._buffer = b""
        self._ready = False
        self._load_error: StudentLoadError | None = None
        self.import_seconds: float | None = None
        self.isolation = ""  # what the child reported: "namespaces", "basic (...)", "process"
        self.starts = 0
        self.call_seconds = 0.0  # time spent in student calls, against limits.submission_seconds
        self.start_seconds = 0.0  # time spent starting children until they were ready
        self.out_of_time = False

    @property
    def load_error(self) -> str:
        """Why the submission could not be loaded, or "" if it could (or was not tried)."""
        return str(self._load_error) if self._load_error is not None else ""

    # -- life cycle -----------------------------------------------------------------
    def start(self) -> None:
        """Get ready without waiting: a local zygote, or the container, starts importing MindSpore now."""
        if self.target == "local" and self._zygote is None:
            self._zygote, self._own_zygote = Zygote(self.limits.load_seconds), True
        elif self.target != "local" and self._proc is None and self._load_error is None and not self.starts:
            self._spawn()

    def _spawn(self) -> None:
        if self.target == "local" and self._zygote is None:
            self.start()
        self._discard_scratch()
        self.scratch = Path(tempfile.mkdtemp(prefix=f"mslab-{os.getpid()}-", dir=scratch_root()))
        student_file = self.scratch / f"{self.module_name}.py"
        student_file.write_bytes(self.source_bytes)
        if self.target == "local":
            self._proc = _ForkedProcess(
                self._zygote, self.module_name, student_file, self.scratch, self.limits, self.hide
            )
        else:
            from mslab.containers import ContainerProcess

            self._proc = ContainerProcess(self.target, self.module_name, student_file, self.limits)
        self._buffer, self._ready = b"", False
        self.starts += 1

    def close(self) -> None:
        self._stop()
        self._discard_scratch()
        if self._own_zygote:
            self._zygote.close()
            self._zygote, self._own_zygote = None, False

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _stop(self) -> None:
        if self._proc is not None:
            self._last_output = self._proc.tail(8192)
            self._proc.kill()
            self._proc = None

    def _discard_scratch(self) -> None:
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = None

    # -- calls ----------------------------------------------------------------------
    def call(self, fn: str, *args, timeout: float | None = None):
        """Call ``fn(*args)`` in the student module and return its value as plain data."""
        budget = self.limits.submission_seconds - self.call_seconds
        if budget <= 0:
            self.out_of_time = True
            raise StudentTimeout(f"{fn}() not run: the submission used up its {self.limits.submission_seconds:g} s")
        self._ensure_ready()
        token = secrets.token_hex(8)
        request = {"op": "call", "id": token, "fn": fn, "args": [wire.encode(a) for a in args]}
        started = time.monotonic()
        try:
            reply = self._exchange(request, min(timeout or self.limits.call_seconds, budget), f"{fn}()")
        finally:
            self.call_seconds += time.monotonic() - started
        if reply.get("op") != "result" or reply.get("id") != token or "ok" not in reply:
            self._stop()
            raise StudentCrashed(f"{fn}(): the student process sent an unexpected message")
        if not reply["ok"]:
            err = reply.get("error") if isinstance(reply.get("error"), dict) else {}
            raise StudentRaised(
                fn,
                str(err.get("type", "Exception"))[:80],
                str(err.get("message", "")),
                str(err.get("where", ""))[:40],
            )
        try:
            return wire.decode(reply.get("value"))
        except wire.WireError as exc:
            raise StudentCrashed(f"{fn}(): unreadable return value ({exc})") from None

    def output(self, limit: int = 8192) -> str:
        """The tail of what the student code printed (stdout and stderr)."""
        if self._proc is not None:
            return self._proc.tail(limit)
        return self._last_output[-limit:]

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
            msg = self._exchange(None, self.limits.load_seconds, "loading the submission")
        finally:
            self.start_seconds += time.monotonic() - started
        if msg.get("op") == "ready":
            self._ready = True
            value = msg.get("import_seconds")
            self.import_seconds = value if type(value) is float else None
            self.isolation = str(msg.get("isolation", ""))[:100]
            return
        self._stop()
        if msg.get("op") == "load_error" and isinstance(msg.get("error"), dict):
            err = msg["error"]
            where = f" ({err['where']})" if err.get("where") else ""
            first = (str(err.get("message", "")).strip().splitlines() or [""])[0]
            self._load_error = StudentLoadError(
                f"the submission could not be loaded: {err.get('type', 'Exception')}{where}: {first}"
            )
        else:
            self._load_error = StudentLoadError(
                "the submission could not be loaded: unexpected message"
            )
        raise self._load_error

    def _exchange(self, request: dict | None, seconds: float, what: str) -> dict:
        proc = self._proc
        try:
            if request is not None:
                proc.write(wire.dumps(request))
            line, self._buffer = _read_line(self._proc.reader, self._proc.read, self._buffer, seconds)
            return wire.loads(line)
        except wire.WireError as exc:
            self._stop()
            raise StudentCrashed(f"{what}: the student process sent garbage ({exc})") from None
        except TimeoutError:
            self._stop()
            if not self._ready:
                self._load_error = StudentLoadError(
                    f"the submission could not be loaded: timed out after {seconds:g} s"
                )
                raise self._load_error from None
            raise StudentTimeout(f"{what} timed out after {seconds:g} s") from None
        except (BrokenPipeError, EOFError):
            reason = proc.exit_reason()
            tail = _last_line(self.output(2048))
            self._stop()
            detail = f"; last output: {tail}" if tail else ""
            if not self._ready:
                self._load_error = StudentLoadError(
                    f"the student process {reason} while loading the submission{detail}"
                )
                raise self._load_error from None
            raise StudentCrashed(f"the student process {reason} during {what}{detail}") from None



def _read_line(fileno: int, read, buffer: bytes, seconds: float) -> tuple[bytes, bytes]:
    """One line, from what ``buffer`` holds and what ``read()`` gives (None at end of stream),
    within ``seconds``: returns the line and what is left after it. Raises TimeoutError,
    EOFError, or WireError for a line longer than the channel allows."""
    deadline = time.monotonic() + seconds
    while b"\n" not in buffer:
        if len(buffer) > wire.MAX_LINE:
            raise wire.WireError("message too large")
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fileno], [], [], remaining)[0]:
            raise TimeoutError
        chunk = read()
        if chunk is None:
            raise EOFError
        buffer += chunk
    line, _, rest = buffer.partition(b"\n")
    return line, rest


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


__all__ = [
    "Limits",
    "Sandbox",
    "Student",
    "StudentError",
    "StudentCrashed",
    "StudentLoadError",
    "StudentRaised",
    "StudentTimeout",
]
