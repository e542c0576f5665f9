"""JupyterLab on the student's work folder: `inv lab.notebook LAB [--target T]`.

``local`` runs JupyterLab from this Python (the ``notebook`` extra); ``cpu``, ``cuda`` and
``ascend`` run it in the target's notebook image (docker/notebook/Dockerfile: the grading image
with JupyterLab on top) with the device and the work folder mounted (mslab.containers). Either
way the server listens on 127.0.0.1 only (the container's port is published there only) and asks
for a random token, which is in the URL printed for the student to open; Ctrl-C (or SIGTERM)
stops the server and its kernels (or removes the container) and the task exits with 130.

Checks run on this machine: in a local JupyterLab the notebook's check cell does it; a
container's image holds no checker (the checks and their reference values stay out of images),
so there `inv lab.check LAB --watch` checks the notebook on every save.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mslab import containers, images, notebook
from mslab.errors import MslabError
from mslab.labs import get_lab

#: Seconds a server may take to answer its first request (a container imports JupyterLab cold).
START_SECONDS = 120
#: Seconds a stopped server (or container) gets before it is killed.
STOP_SECONDS = 10


def free_port(preferred: int = 8888) -> int:
    """``preferred`` when nothing listens there on 127.0.0.1, else a free port the kernel picks."""
    for port in (preferred, 0):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise MslabError("no free TCP port on 127.0.0.1")


def _status(url: str, token: str) -> bool:
    """Whether the Jupyter server at ``url`` answers its REST API with this token."""
    request = urllib.request.Request(f"{url}/api/status", headers={"Authorization": f"token {token}"})
    try:
        with urllib.request.urlopen(request, timeout=2) as reply:
            return reply.status == 200
    except (OSError, urllib.error.URLError):
        return False


@dataclass
class Server:
    """A running JupyterLab: where it listens, its token, and how to stop it."""

    url: str  # http://127.0.0.1:PORT
    token: str
    folder: Path  # the work folder it serves
    target: str
    process: subprocess.Popen | None = None  # local
    container: Any = None  # a docker SDK Container
    log: Path | None = None  # the local server's output
    _tmp: Any = field(default=None, repr=False)

    def open_url(self, path: str = "") -> str:
        """The URL the student opens: JupyterLab at ``path`` (a notebook in the folder), token included."""
        where = f"/lab/tree/{path}" if path else "/lab"
        return f"{self.url}{where}?token={self.token}"

    def alive(self) -> bool:
        if self.process is not None:
            return self.process.poll() is None
        try:
            self.container.reload()
        except Exception:  # noqa: BLE001 - removed
            return False
        return self.container.status in ("created", "running")

    def last_words(self, lines: int = 5) -> str:
        """The last lines the server wrote (why it stopped)."""
        try:
            if self.process is not None and self.log is not None:
                text = self.log.read_text(errors="replace")
            else:
                text = self.container.logs(tail=lines).decode(errors="replace")
        except Exception:  # noqa: BLE001 - nothing to show
            return ""
        return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])

    def stop(self) -> None:
        """Stop the server and everything it started (kernels; the container), waiting for them."""
        if self.process is not None:
            below = _descendants(self.process.pid)  # its kernels, which have sessions of their own
            if self.process.poll() is None:
                try:
                    os.killpg(self.process.pid, signal.SIGTERM)  # the server shuts its kernels down
                    self.process.wait(STOP_SECONDS)
                except (subprocess.TimeoutExpired, ProcessLookupError):
                    pass
            try:
                os.killpg(self.process.pid, signal.SIGKILL)  # whatever is left of its group
            except (ProcessLookupError, PermissionError):
                pass
            for pid, started in below:  # kernels that did not stop in time (the same processes)
                if (_stat(pid)[19:20] or [""])[0] == started:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except (ProcessLookupError, PermissionError):
                        pass
            self.process.wait()
        if self.container is not None:
            try:
                self.container.remove(force=True)
            except Exception:  # noqa: BLE001 - already gone
                pass
            containers.untrack(self.container)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def _local_command() -> list[str]:
    if importlib.util.find_spec("jupyterlab") is None:
        raise MslabError("JupyterLab is not installed here: pip install -e '.[notebook]' (or --target cpu, its image)")
    return [sys.executable, "-m", "jupyterlab"]


def start(folder: Path, *, target: str = "local", port: int | None = None, token: str | None = None) -> Server:
    """Start JupyterLab on ``folder`` (created if missing) and wait until it answers."""
    folder = Path(folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    token = token or secrets.token_hex(24)
    port = free_port(port or 8888)
    url = f"http://127.0.0.1:{port}"
    if target == "local":
        command = _local_command()
        tmp = tempfile.TemporaryDirectory(prefix="mslab-jupyter-")
        log = Path(tmp.name) / "server.log"
        args = [
            *command,
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            f"--ServerApp.root_dir={folder}",
            *(["--ServerApp.allow_root=True"] if os.geteuid() == 0 else []),  # Jupyter refuses root otherwise
        ]
        env = {**os.environ, "JUPYTER_TOKEN": token, "GLOG_v": "3"}
        with open(log, "wb") as out:
            process = subprocess.Popen(
                args, cwd=folder, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True
            )
        server = Server(url, token, folder, target, process=process, log=log, _tmp=tmp)
    else:
        client = images.docker_client()
        kwargs = containers.notebook_kwargs(target, folder, port, token, client)
        command = [
            "jupyter",
            "lab",
            "--no-browser",
            "--ServerApp.ip=0.0.0.0",  # inside the container; published on the host's 127.0.0.1 only
            f"--ServerApp.port={containers.NOTEBOOK_PORT}",
            "--ServerApp.port_retries=0",
            f"--ServerApp.root_dir={containers.NOTEBOOK_WORK}",
            "--ServerApp.allow_root=True",  # the folder's owner, uid 0 when root's (without capabilities)
        ]
        try:
            client.images.get(kwargs["image"])  # never pulled: it is built here
        except Exception:  # noqa: BLE001 - docker.errors.ImageNotFound
            raise MslabError(
                f"image {kwargs['image']} is not built: run `inv image.build --target {target} --notebook`"
            ) from None
        try:
            container = client.containers.run(command=command, detach=True, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the engine's refusal, in one line
            reason = getattr(exc, "explanation", None) or str(exc).splitlines()[0]
            raise MslabError(f"cannot start JupyterLab in the {target} image: {reason}") from None
        containers.track(container)
        server = Server(url, token, folder, target, container=container)
    deadline = time.monotonic() + START_SECONDS
    try:
        while not _status(url, token):
            if not server.alive() or time.monotonic() > deadline:
                raise MslabError(f"JupyterLab did not start ({server.last_words() or 'no output'})")
            time.sleep(0.25)
    except BaseException:  # that, or Ctrl-C while it starts: nothing is left running
        server.stop()
        raise
    return server


def _stat(pid: int) -> list[str]:
    """Fields of /proc/PID/stat after the command name (ppid is [1], the start time [19]); [] if gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def _descendants(pid: int) -> list[tuple[int, str]]:
    """The processes below ``pid`` with their start times (against PID reuse), the kernels a
    local server started included: jupyter_client starts each in a session of its own, outside
    the server's process group."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))):
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], list(children.get(pid, []))
    while todo:
        p = todo.pop()
        fields = _stat(p)
        if fields:
            found.append((p, fields[19]))
        todo += children.get(p, [])
    return found


def prepare(lab: str, folder: Path) -> str:
    """The notebook to open: ``<lab>.ipynb`` in ``folder``, from the lab's starter when missing."""
    chosen = get_lab(lab)
    path = Path(folder) / f"{chosen.name}.ipynb"
    if not path.exists():
        notebook.start(chosen, Path(folder))
    return path.name
