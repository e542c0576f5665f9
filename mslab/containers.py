"""Student code in a container of a target (cpu, cuda, ascend), launched with the Docker SDK.

The container is run as compose.yaml's service for the target says (non-root, read-only root,
no network, all capabilities dropped, no-new-privileges, memory = memory+swap and process limits,
tmpfs scratch, the Ascend devices' group), plus per-run limits: CPUs, CPU time, file size, and a
PIDs limit that grows with the CPU count. Only the submission is mounted, read-only; the checks,
hidden checks and reference solutions stay on the host, where pytest runs.

Every container carries the labels of the run that owns it (a token, the owner's PID, its start
time, PID namespace, host name and boot id). A watcher process started with the run's first
container removes the run's containers as soon as the run ends, even by SIGKILL; the next run
and `inv doctor` remove those of runs that are gone (reap_orphans), never those of a live run.
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mslab import images
from mslab.errors import MslabError
from mslab.labs import Lab
from mslab.sandbox.container import ContainerChild
from mslab.sandbox.host import Limits, Spawn
from mslab.target import LOCAL_TARGET, Target

SUBMISSION_DIR = "/submission"
_LABEL = "org.mslab.role"
RUN_LABEL = "org.mslab.run"  # the run's token; the owner's details below
OWNER_LABELS = ("pid", "start", "pidns", "host", "boot")
# PIDs limit: compose.yaml's pids_limit is the floor; MindSpore starts about one thread per CPU
# it sees (all of the host's, whatever the CPU quota) in several pools, CANN more: PIDS_PER_CPU
# per host CPU on top of PIDS_BASE.
PIDS_BASE, PIDS_PER_CPU = 128, 4


def pids_limit(floor: int, cpus: int | None = None) -> int:
    """The container's PIDs limit on a host with `cpus` CPUs (default: this one's)."""
    return max(int(floor), PIDS_BASE + PIDS_PER_CPU * (cpus or os.cpu_count() or 1))


def _proc_start(pid: int) -> str:
    """Start time of a process in clock ticks since boot (field 22 of /proc/PID/stat); '' if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _pidns() -> str:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


class _Run:
    """This process's identity as the owner of containers, and its watcher."""

    token = ""
    labels: dict[str, str] = {}
    watcher: subprocess.Popen | None = None
    reaped = False
    live: set[str] = set()  # ids of this run's containers not removed yet
    _atexit = False

    @classmethod
    def clean_exit(cls) -> None:
        """At a normal exit with none of its containers left, tell the watcher it has nothing to do."""
        if cls.watcher is not None and not cls.live and cls.labels.get(f"{RUN_LABEL}.pid") == str(os.getpid()):
            assert cls.watcher.stdin is not None  # started with stdin=PIPE
            with contextlib.suppress(OSError, ValueError):
                cls.watcher.stdin.write(_CLEAN)
                cls.watcher.stdin.close()

    @classmethod
    def current(cls) -> dict[str, str]:
        if cls.labels.get(f"{RUN_LABEL}.pid") != str(os.getpid()):  # first use, or a forked child
            cls.token = secrets.token_hex(8)
            pid = os.getpid()
            cls.labels = {
                RUN_LABEL: cls.token,
                f"{RUN_LABEL}.pid": str(pid),
                f"{RUN_LABEL}.start": _proc_start(pid),
                f"{RUN_LABEL}.pidns": _pidns(),
                f"{RUN_LABEL}.host": socket.gethostname(),
                f"{RUN_LABEL}.boot": _boot_id(),
            }
            cls.watcher = None
            cls.live = set()
        return cls.labels


def owner_alive(labels: dict[str, str]) -> bool | None:
    """Is the run that labelled a container still running? None when this host cannot tell
    (another host, another PID namespace: then it is never removed from here)."""
    if labels.get(f"{RUN_LABEL}.host") != socket.gethostname():
        return None
    if labels.get(f"{RUN_LABEL}.boot") != _boot_id():
        return False  # the host rebooted since: its runs are gone
    if labels.get(f"{RUN_LABEL}.pidns") != _pidns():
        return None
    pid = labels.get(f"{RUN_LABEL}.pid", "")
    if not pid.isdigit():
        return None
    start = _proc_start(int(pid))
    return bool(start) and start == labels.get(f"{RUN_LABEL}.start")


def reap_orphans(client=None, token: str = "") -> list[str]:
    """Remove the mslab containers of runs that are gone (only run `token`'s, if given);
    returns their short ids."""
    client = client or images.docker_client()
    removed = []
    for c in client.containers.list(all=True, filters={"label": f"{RUN_LABEL}={token}" if token else RUN_LABEL}):
        if owner_alive(c.labels) is False:
            with contextlib.suppress(Exception):  # removed meanwhile by its watcher
                c.remove(force=True)
                removed.append(c.short_id)
    return removed


def remove_run(token: str, client=None) -> list[str]:
    """Remove every container of the run `token` (what the watcher does when its run ends)."""
    client = client or images.docker_client()
    removed = []
    for c in client.containers.list(all=True, filters={"label": f"{RUN_LABEL}={token}"}):
        with contextlib.suppress(Exception):
            c.remove(force=True)
            removed.append(c.short_id)
    return removed


# The watcher waits on its pipe with nothing imported (a bare interpreter, ~20 ms of CPU at the
# run's start). A run that exits normally with all its containers removed writes _CLEAN first and
# the watcher just ends; otherwise (a crash, SIGKILL) it imports mslab and removes the run's.
_CLEAN = b"clean exit"
_WATCHER = (
    "import sys\n"
    "data = sys.stdin.buffer.read()\n"
    f"if data.endswith({_CLEAN!r}): sys.exit(0)\n"
    "from mslab.containers import _watch\n"
    "sys.exit(_watch(sys.argv[1], wait=False))\n"
)


def track(container) -> None:
    """Count a container of this run as live until untrack (see _Run.clean_exit)."""
    _Run.live.add(container.id)


def untrack(container) -> None:
    _Run.live.discard(container.id)


def _own_run(client) -> dict[str, str]:
    """The run's labels; on its first container, remove dead runs' containers and start the watcher."""
    labels = _Run.current()
    if not _Run.reaped:
        _Run.reaped = True
        reap_orphans(client)
    if _Run.watcher is None or _Run.watcher.poll() is not None:
        # The watcher's stdin is a pipe only this process writes to: EOF = this run ended (however).
        _Run.watcher = subprocess.Popen(
            [sys.executable, "-c", _WATCHER, _Run.token],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
        )
        if not _Run._atexit:
            import atexit

            atexit.register(_Run.clean_exit)
            _Run._atexit = True
    return labels


def _ulimits(limits):
    from docker.types import Ulimit

    return [
        Ulimit(name="core", soft=0, hard=0),
        Ulimit(name="cpu", soft=limits.cpu_seconds, hard=limits.cpu_seconds),
        Ulimit(name="fsize", soft=limits.file_bytes, hard=limits.file_bytes),
        Ulimit(name="nofile", soft=limits.open_files, hard=limits.open_files),
    ]


def _run_kwargs(target: str, limits, mounts: list[str], role: str, client=None) -> dict:
    kwargs = images.service(target)
    kwargs["volumes"] = [*kwargs.get("volumes", []), *mounts]
    kwargs["environment"] = {**kwargs.get("environment", {}), "GLOG_v": "3", "HOME": "/tmp"}
    run = _own_run(client) if client is not None else {}
    kwargs["labels"] = {**kwargs.get("labels", {}), _LABEL: role, **run}
    kwargs["nano_cpus"] = int((limits.cpus or os.cpu_count() or 1) * 1e9)
    kwargs["pids_limit"] = pids_limit(kwargs.get("pids_limit", PIDS_BASE))
    if "mem_limit" in kwargs:  # no swap on top of the memory limit (Docker's default: as much again)
        kwargs["memswap_limit"] = kwargs["mem_limit"]
    kwargs["ulimits"] = _ulimits(limits)
    return kwargs


#: Where a notebook container mounts the student's work folder, and the port JupyterLab listens on.
NOTEBOOK_WORK, NOTEBOOK_PORT = "/work", 8888


def notebook_kwargs(target: str, folder: Path, port: int, token: str, client) -> dict:
    """`containers.run` arguments for JupyterLab in the target's notebook image: compose.yaml's
    service (the device, non-root, read-only root, no capabilities, no-new-privileges, memory
    and process limits, the run's labels so that a dead run's container is removed), with the
    work folder mounted read-write at /work as the host user (the saved notebook stays the
    student's own file), the port published on 127.0.0.1 only (a bridge network instead of none:
    the browser must reach it) and the token in the environment (JUPYTER_TOKEN, not argv)."""
    limits = Limits()
    kwargs = _run_kwargs(target, limits, [f"{Path(folder).resolve()}:{NOTEBOOK_WORK}:rw"], "notebook", client)
    kwargs["image"] = images.notebook_image(target)
    kwargs.pop("network_mode", None)
    kwargs["tmpfs"] = {k: v for k, v in kwargs.get("tmpfs", {}).items() if k != NOTEBOOK_WORK}
    kwargs["working_dir"] = NOTEBOOK_WORK
    kwargs["ports"] = {f"{NOTEBOOK_PORT}/tcp": ("127.0.0.1", port)}
    kwargs["environment"] = {**kwargs["environment"], "JUPYTER_TOKEN": token}
    # As the folder's owner: the notebook it saves stays the student's file (root's folder: uid 0
    # in the container, still without a capability, read-only root, no new privileges).
    owner = Path(folder).stat()
    kwargs["user"] = f"{owner.st_uid}:{owner.st_gid}"
    # An interactive server: no CPU-time limit (a grading run's budget), the rest as graded.
    kwargs["ulimits"] = [u for u in kwargs["ulimits"] if u.name != "cpu"]
    return kwargs


@contextlib.contextmanager
def _docker_errors(target: str, image: str):
    """The engine's refusals to start a container, as one-line user errors."""
    import docker.errors

    try:
        yield
    except docker.errors.ImageNotFound:
        raise MslabError(f"image {image} is not built: run `inv image.build --target {target}`") from None
    except docker.errors.APIError as exc:
        raise MslabError(f"cannot start a {target} container: {exc.explanation or exc}") from None


def start_child(target: Target, module_name: str, source: bytes, limits: Limits) -> ContainerChild:
    """A fresh container of ``target`` serving ``source`` as ``module_name``: the sandbox's child
    (:class:`mslab.sandbox.container.ContainerChild`, which reads what it sends).

    compose.yaml's service is looked up here, in the worker, each time: the devices it may use
    are this process's (Ray sets CUDA_VISIBLE_DEVICES per worker)."""
    client = images.docker_client()
    folder = Path(tempfile.mkdtemp(prefix="mslab-container-"))
    student_file = folder / f"{module_name}.py"
    student_file.write_bytes(source)
    folder.chmod(0o755)
    student_file.chmod(0o644)  # readable by the image's user
    inside = f"{SUBMISSION_DIR}/{module_name}.py"
    container = None

    def cleanup() -> None:
        if container is not None:
            untrack(container)
        shutil.rmtree(folder, ignore_errors=True)

    try:
        kwargs = _run_kwargs(target.name, limits, [f"{student_file}:{inside}:ro"], "sandbox", client)
        command = ["python", "-I", "-m", "mslab.sandbox.serve", module_name, inside, images.device(target.name)]
        with _docker_errors(target.name, kwargs["image"]):
            container = client.containers.create(command=command, stdin_open=True, tty=False, detach=True, **kwargs)
        track(container)
        attached = container.attach_socket(params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
        return ContainerChild(container, attached, cleanup)
    except BaseException:
        if container is not None:
            with contextlib.suppress(Exception):
                container.remove(force=True)
        cleanup()
        raise


def spawner(target: Target) -> Spawn | None:
    """How a :class:`mslab.sandbox.host.Sandbox` of ``target`` starts its child: None (forked from
    a local zygote) for the local target, else a fresh container of the target's image."""
    return None if target.local else functools.partial(start_child, target)


def run_script(target: str, script: Path, limits) -> int:
    """Run a trusted script (a lab's walk-through) in a container, streaming its output."""
    client = images.docker_client()
    inside = f"/lab/{script.name}"
    kwargs = _run_kwargs(target, limits, [f"{script.resolve()}:{inside}:ro"], "walkthrough", client)
    with _docker_errors(target, kwargs["image"]):
        container = client.containers.run(command=["python", inside], detach=True, **kwargs)
    track(container)
    try:
        for chunk in container.logs(stream=True, follow=True):
            sys.stdout.write(chunk.decode("utf-8", "replace"))
            sys.stdout.flush()
        return int(container.wait().get("StatusCode", 1))
    finally:
        container.remove(force=True)
        untrack(container)


def _watch(token: str, wait: bool = True) -> int:
    """The watcher: wait for EOF on stdin (the run ended, however), then remove its containers."""
    with contextlib.suppress(OSError):
        while wait and sys.stdin.buffer.read(4096):
            pass
    for _ in range(3):  # a container being created just now shows up a moment later
        with contextlib.suppress(Exception):
            remove_run(token)
        time.sleep(1)
    return 0


def run_walkthrough(lab: Lab, *, target: Target = LOCAL_TARGET) -> int:
    """Run the lab's walk-through script, printing what it prints; returns its exit code."""
    if not target.local:
        return run_script(target.name, lab.walkthrough, Limits())
    env = {**os.environ, "GLOG_v": "3"}
    with tempfile.TemporaryDirectory(prefix="mslab-run-") as scratch:  # MindSpore may write rank_0/ here
        return subprocess.call([sys.executable, str(lab.walkthrough)], cwd=scratch, env=env)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--watch":
        sys.exit(_watch(sys.argv[2]))
    sys.exit("usage: python -m mslab.containers --watch TOKEN")
