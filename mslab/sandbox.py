"""Runs one student file in a separate, limited process and calls its functions.

The checker never imports student code. A :class:`Sandbox` starts ``mslab._child`` in a fresh
scratch directory (its own session, resource limits, a scrubbed environment), sends it call
requests over the child's stdin/stdout (which the child takes over before loading the student
file, see :mod:`mslab._child`) and gets plain data back (:mod:`mslab.wire`). Every call has a
wall-clock deadline; a child that hangs, crashes or exits is killed with its whole process
group, the call fails with a readable reason, and the next call starts a fresh child.
"""

from __future__ import annotations

import functools
import os
import resource
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from mslab import wire
from mslab.errors import MslabError

MAX_SOURCE_BYTES = 1024 * 1024
CHILD_LOG = "output.log"  # must match mslab._child.LOG_NAME


@dataclass(frozen=True)
class Limits:
    """Per-student limits. Times are wall-clock seconds unless named otherwise."""

    load_seconds: float = 60.0  # importing MindSpore and the student file
    call_seconds: float = 20.0  # one function call
    cpu_seconds: int = 300  # CPU time of the whole child (RLIMIT_CPU)
    memory_bytes: int = 8 * 1024**3  # address space (RLIMIT_AS); MindSpore maps ~2.3 GiB
    processes: int = 1024  # RLIMIT_NPROC (counts the user's threads; no effect for root)
    file_bytes: int = 16 * 1024**2  # largest file the child may write, output log included
    open_files: int = 1024
    cpus: float = 1.0  # CPUs a container may use (containers only)


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


def _set_limits(limits: Limits) -> None:  # runs in the child between fork and exec
    for name, value in (
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_CPU, limits.cpu_seconds),
        (resource.RLIMIT_AS, limits.memory_bytes),
        (resource.RLIMIT_NPROC, limits.processes),
        (resource.RLIMIT_FSIZE, limits.file_bytes),
        (resource.RLIMIT_NOFILE, limits.open_files),
    ):
        resource.setrlimit(name, (value, value))


class _LocalProcess:
    """The child as a local process: its own session, so one signal kills all it started."""

    def __init__(self, argv: list[str], scratch: Path, limits: Limits):
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": str(scratch),
            "TMPDIR": str(scratch),
            "LANG": "C.UTF-8",
            "GLOG_v": "3",  # MindSpore: errors only
        }
        with open(scratch / CHILD_LOG, "ab") as log:
            self.popen = subprocess.Popen(
                [sys.executable, "-I", "-m", "mslab._child", *argv],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                cwd=scratch,
                env=env,
                start_new_session=True,
                preexec_fn=functools.partial(_set_limits, limits),
            )
        self.reader = self.popen.stdout.fileno()
        self.scratch = scratch

    def read(self) -> bytes | None:
        """What arrived on the channel; None at end of stream."""
        return os.read(self.reader, 1 << 20) or None

    def tail(self, limit: int) -> str:
        try:
            with open(self.scratch / CHILD_LOG, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                fh.seek(max(0, fh.tell() - limit))
                return fh.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def write(self, data: bytes) -> None:
        self.popen.stdin.write(data)
        self.popen.stdin.flush()

    def kill(self) -> None:
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.popen.wait()
        for stream in (self.popen.stdin, self.popen.stdout):
            try:
                stream.close()
            except OSError:
                pass

    def exit_reason(self) -> str:
        try:
            code = self.popen.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return "stopped answering"
        if code < 0:
            sig = signal.Signals(-code)
            why = {
                signal.SIGXCPU: " (CPU time limit)",
                signal.SIGKILL: " (killed, possibly out of memory)",
            }.get(sig, "")
            return f"was killed by {sig.name}{why}"
        return f"exited with code {code}"


class Sandbox:
    """One student file, served by a child process that is restarted after any failure."""

    def __init__(
        self,
        source: Path,
        module_name: str,
        *,
        target: str = "local",
        limits: Limits | None = None,
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
        self.scratch: Path | None = None
        self._proc = None  # _LocalProcess or containers.ContainerProcess
        self._last_output = ""
        self._buffer = b""
        self._ready = False
        self._load_error: StudentLoadError | None = None
        self.import_seconds: float | None = None
        self.starts = 0

    @property
    def load_error(self) -> str:
        """Why the submission could not be loaded, or "" if it could (or was not tried)."""
        return str(self._load_error) if self._load_error is not None else ""

    # -- life cycle -----------------------------------------------------------------
    def start(self) -> None:
        """Start the child without waiting for it (it imports MindSpore meanwhile)."""
        if self._proc is not None or self._load_error is not None:
            return
        self._discard_scratch()
        self.scratch = Path(tempfile.mkdtemp(prefix="mslab-"))
        student_file = self.scratch / f"{self.module_name}.py"
        student_file.write_bytes(self.source_bytes)
        if self.target == "local":
            argv = [self.module_name, str(student_file), "CPU"]
            self._proc = _LocalProcess(argv, self.scratch, self.limits)
        else:
            from mslab.containers import ContainerProcess

            self._proc = ContainerProcess(self.target, self.module_name, student_file, self.limits)
        self._buffer, self._ready = b"", False
        self.starts += 1

    def close(self) -> None:
        self._stop()
        self._discard_scratch()

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
        self._ensure_ready()
        token = secrets.token_hex(8)
        request = {"op": "call", "id": token, "fn": fn, "args": [wire.encode(a) for a in args]}
        reply = self._exchange(request, timeout or self.limits.call_seconds, f"{fn}()")
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
            self.start()
        if self._ready:
            return
        msg = self._exchange(None, self.limits.load_seconds, "loading the submission")
        if msg.get("op") == "ready":
            self._ready = True
            value = msg.get("import_seconds")
            self.import_seconds = value if type(value) is float else None
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
            return wire.loads(self._read_line(seconds))
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

    def _read_line(self, seconds: float) -> bytes:
        deadline = time.monotonic() + seconds
        with selectors.DefaultSelector() as sel:
            sel.register(self._proc.reader, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                if len(self._buffer) > wire.MAX_LINE:
                    raise wire.WireError("message too large")
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not sel.select(remaining):
                    raise TimeoutError
                chunk = self._proc.read()
                if chunk is None:
                    raise EOFError
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line


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
