"""Student code in a container of a target (cpu, cuda, ascend), launched with the Docker SDK.

The container is run as compose.yaml's service for the target says (non-root, read-only root,
no network, all capabilities dropped, no-new-privileges, memory and process limits, tmpfs
scratch), plus per-run limits: CPUs, CPU time, file size. Only the submission is mounted, read-only;
the checks, hidden checks and reference solutions stay on the host, where pytest runs.
"""

from __future__ import annotations

import contextlib
import os
import select
import struct
import sys
from pathlib import Path

from mslab import images
from mslab.errors import MslabError

SUBMISSION_DIR = "/submission"
_LABEL = "org.mslab.role"


def resolve_target(target: str) -> str:
    """``local``, a compose service (cpu, cuda, ascend), or ``auto``: what `inv doctor` recommends."""
    if target == "auto":
        from mslab import doctor

        return doctor.recommended_target()
    choices = ["local", *images.targets()]
    if target not in choices:
        raise MslabError(f"unknown target {target!r}; choose one of: {', '.join(choices)}, auto")
    return target


def _ulimits(limits):
    from docker.types import Ulimit

    return [
        Ulimit(name="core", soft=0, hard=0),
        Ulimit(name="cpu", soft=limits.cpu_seconds, hard=limits.cpu_seconds),
        Ulimit(name="fsize", soft=limits.file_bytes, hard=limits.file_bytes),
        Ulimit(name="nofile", soft=limits.open_files, hard=limits.open_files),
    ]


def _run_kwargs(target: str, limits, mounts: list[str], role: str) -> dict:
    kwargs = images.service(target)
    kwargs["volumes"] = [*kwargs.get("volumes", []), *mounts]
    kwargs["environment"] = {**kwargs.get("environment", {}), "GLOG_v": "3", "HOME": "/tmp"}
    kwargs["labels"] = {**kwargs.get("labels", {}), _LABEL: role}
    kwargs["nano_cpus"] = int((limits.cpus or os.cpu_count() or 1) * 1e9)
    kwargs["ulimits"] = _ulimits(limits)
    return kwargs


@contextlib.contextmanager
def _docker_errors(target: str, image: str):
    """The engine's refusals to start a container, as one-line user errors."""
    import docker

    try:
        yield
    except docker.errors.ImageNotFound:
        raise MslabError(f"image {image} is not built: run `inv image.build --target {target}`") from None
    except docker.errors.APIError as exc:
        raise MslabError(f"cannot start a {target} container: {exc.explanation or exc}") from None


class ContainerProcess:
    """The sandbox child inside a fresh container, talking over the attached stdin/stdout."""

    def __init__(self, target: str, module_name: str, student_file: Path, limits):
        self.client = images.docker_client()
        student_file.chmod(0o644)  # readable by the image's user; its folder stays private
        inside = f"{SUBMISSION_DIR}/{module_name}.py"
        kwargs = _run_kwargs(target, limits, [f"{student_file}:{inside}:ro"], "sandbox")
        command = ["python", "-I", "-m", "mslab.sandbox.serve", module_name, inside, images.device(target)]
        with _docker_errors(target, kwargs["image"]):
            self.container = self.client.containers.create(
                command=command, stdin_open=True, tty=False, detach=True, **kwargs
            )
        self.socket = self.container.attach_socket(
            params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}
        )
        self.raw = self.socket._sock  # the plain socket under the SDK's wrapper
        self.container.start()
        self._frames = b""
        self.reader = self.raw.fileno()

    def write(self, data: bytes) -> None:
        try:
            self.raw.sendall(data)
        except OSError as exc:
            raise BrokenPipeError(str(exc)) from None

    def read(self) -> bytes | None:
        """Whatever stdout bytes have arrived (b"" if only stderr did); None at end of stream."""
        if not select.select([self.raw], [], [], 0)[0]:
            return b""
        chunk = self.raw.recv(1 << 20)
        if not chunk:
            return None
        self._frames += chunk
        out = b""
        # Docker multiplexes the streams: 8-byte header (stream, 0, 0, 0, big-endian size).
        while len(self._frames) >= 8:
            stream, size = self._frames[0], struct.unpack(">I", self._frames[4:8])[0]
            if len(self._frames) < 8 + size:
                break
            payload, self._frames = self._frames[8 : 8 + size], self._frames[8 + size :]
            if stream == 1:
                out += payload
        return out

    def tail(self, limit: int) -> str:
        try:
            code, out = self.container.exec_run(["tail", "-c", str(limit), "output.log"])
        except Exception:  # noqa: BLE001 - the container may be gone: then there is no output
            return ""
        return out.decode("utf-8", "replace") if code == 0 else ""

    def exit_reason(self) -> str:
        try:
            result = self.container.wait(timeout=5)
            self.container.reload()
        except Exception:  # noqa: BLE001
            return "stopped answering"
        if self.container.attrs.get("State", {}).get("OOMKilled"):
            return "was killed for using too much memory"
        return f"exited with code {result.get('StatusCode')}"

    def kill(self) -> None:
        try:
            self.socket.close()
        finally:
            try:
                self.container.remove(force=True)
            except Exception:  # noqa: BLE001 - already gone
                pass


def run_script(target: str, script: Path, limits) -> int:
    """Run a trusted script (a lab's walk-through) in a container, streaming its output."""
    client = images.docker_client()
    inside = f"/lab/{script.name}"
    kwargs = _run_kwargs(target, limits, [f"{script.resolve()}:{inside}:ro"], "walkthrough")
    with _docker_errors(target, kwargs["image"]):
        container = client.containers.run(command=["python", inside], detach=True, **kwargs)
    try:
        for chunk in container.logs(stream=True, follow=True):
            sys.stdout.write(chunk.decode("utf-8", "replace"))
            sys.stdout.flush()
        return int(container.wait().get("StatusCode", 1))
    finally:
        container.remove(force=True)
