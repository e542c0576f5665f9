"""Grading a class on a Ray cluster (`inv grade --cluster ADDRESS`).

Ray is an optional extra (``pip install -e '.[cluster]'``), imported only here and only when a
cluster is asked for. The driver — the instructor's ``inv grade`` — stays the only process that
writes OUT: it stages the class, decides what is done (records, resume) and writes every file,
exactly as a local run does (:func:`mslab.grade.keep`). Each worker is a Ray actor on some node
(:class:`GradeWorker`) holding the same warm state as a local worker — a zygote and the walls
of :mod:`mslab.sandbox`, the same :class:`~mslab.sandbox.host.Limits` — and grades one student at a
time, that student's labs one after another (in one child when each hands over cleanly:
:meth:`mslab.worker.Worker.shared_child`):

* the submission travels through Ray as the bytes of the staged file (no shared filesystem);
* what comes back is one JSON text (:func:`mslab.worker.graded_text`: the record, results.json,
  junit.xml), never a pickled object of the student's making; a worker's own failure comes back
  as JSON too, not as a pickled exception;
* a worker checks first that its node has the same mslab and labs as the driver (a digest of
  both): a record's key names the checks it ran, so a node with other checks would give marks
  that a rerun could not tell from the driver's.

Where a worker lands is Ray's scheduling: each target asks for its resources
(:meth:`mslab.target.Target.cluster_resources`) — ``local`` one CPU; ``cpu``, ``cuda`` and ``ascend`` (a container per
submission) also the node resource ``mslab-<target>`` that nodes holding the built image
advertise (``ray start --resources='{"mslab-cuda": 1}'``), and ``cuda`` a GPU, ``ascend`` an
NPU (Ray then sets ``CUDA_VISIBLE_DEVICES`` / ``ASCEND_RT_VISIBLE_DEVICES``, which the
containers honour: :func:`mslab.images.service`).

Faults: :class:`Cluster` is an :class:`mslab.executor.Executor`, driven by
:func:`mslab.executor.grade_students` exactly as the local pool is, with the same fault model
(a worker that dies costs only the student it held, retried up to ``MAX_DEATHS`` times). A
worker holds one call at a time (with more than one queued on a worker, the driver had to guess
which one was running; under load a reply that a dying worker had not sent yet made it charge a
classmate finished before). Whatever reached the driver is on disk, so
a killed driver loses nothing: a rerun resumes.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from mslab import images, settings
from mslab.errors import MslabError
from mslab.executor import MAX_DEATHS
from mslab.pool import Lost
from mslab.records import Record, Status
from mslab.sandbox import hostlimits
from mslab.sandbox.host import Limits, sweep
from mslab.target import Target
from mslab.version import fingerprint
from mslab.worker import Worker, graded_text

EXTRA = "pip install -e '.[cluster]'"


def import_ray():
    """Ray, or a one-line MslabError naming the extra."""
    # MindSpore's generated protobuf modules load only with protobuf's pure-Python backend, which
    # MindSpore selects (this variable) as it is imported — too late if Ray imported protobuf
    # first. The grader's side never imports MindSpore; this keeps a process that does working.
    os.environ.setdefault("PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION", "python")
    try:
        import ray
    except ImportError:
        raise MslabError(f"--cluster needs Ray, which is not installed: {EXTRA}") from None
    return ray


class GradeWorker:
    """One warm worker on a node (a Ray actor): its own zygote, sandboxes and scratch folder."""

    def __init__(self, target: Target, limits: Limits, driver_fingerprint: str):
        self.problem = ""
        self.node = socket.gethostname()
        if fingerprint() != driver_fingerprint:
            self.problem = (
                f"node {self.node} has another mslab or other labs than the grader: "
                "install the same checkout (or image) on every node"
            )
            return
        if not target.local:
            self.problem = _image_problem(target, self.node)
            if self.problem:
                return
        tables = hostlimits.problems(limits, os.cpu_count() or 1)  # at most one worker per CPU here
        if tables:
            self.problem = f"node {self.node}: {tables[0]}"
            return
        sweep()  # what graders killed on this node left behind
        sweep_scratch()
        self.tmp = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-"))
        self.worker = Worker(target, limits)
        self.count = 0
        self.worker.warm_zygote()  # MindSpore starts importing now, not at the first submission

    def ready(self) -> str:
        import ray

        node = ray.get_runtime_context().get_node_id()
        return json.dumps({"node": node, "host": self.node, "pid": os.getpid(), "problem": self.problem})

    def grade(self, jobs: list, sources: list[bytes]) -> str:
        """Grade one student's labs (``jobs``, on ``sources``: the staged files' bytes) in turn;
        a JSON list of :func:`mslab.worker.graded_text`'s texts, one per job."""
        try:
            return json.dumps([self.grade_one(job, source) for job, source in zip(jobs, sources, strict=True)])
        finally:
            self.worker.close_shared()

    def grade_one(self, job, source: bytes) -> str:
        """Grade ``job`` on ``source``; the JSON of :func:`mslab.worker.graded_text`."""
        try:
            self.count += 1
            folder = self.tmp / str(self.count)
            folder.mkdir()
            path = folder / Path(job.file).name
            path.write_bytes(source)
            try:
                return self.worker.grade_file(job, path)
            finally:
                path.unlink(missing_ok=True)
                folder.rmdir()
        except Exception as exc:  # noqa: BLE001 - the grader's failure travels as data, not a pickle
            reason = f"grader worker on {self.node} failed: {type(exc).__name__}: {exc}"
            return graded_text(Record.empty(job.student, job.lab, job.max_score, Status.ERROR, reason, job.folder))


SCRATCH_PREFIX = "mslab-worker-"


def sweep_scratch() -> list[Path]:
    """Remove the scratch folders (``mslab-worker-<pid>-*``, holding copies of student files)
    of this user's workers that are gone — killed with their node's raylet or by ``ray.kill``,
    they had no chance to — and return them."""
    removed = []
    for folder in Path(tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*-*"):
        try:
            pid = int(folder.name[len(SCRATCH_PREFIX) :].split("-", 1)[0])
            if folder.is_symlink() or not folder.is_dir() or folder.stat().st_uid != os.getuid():
                continue
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
        except (ValueError, OSError):
            continue
    return removed


def _image_problem(target: Target, node: str) -> str:
    try:
        images.docker_client().images.get(target.image)
    except Exception:  # noqa: BLE001 - no engine, or no image: either way not usable here
        return f"node {node} offers mslab-{target.name} but has no {target.image} image (or no Docker engine)"
    return ""


def check_address(address: str) -> None:
    """``address`` is ``auto`` or a well-formed address that answers, or a one-line MslabError."""
    if address == "auto":
        return
    parts = urlsplit(address if "://" in address else f"gcs://{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host, port = None, None
    if parts.scheme not in ("ray", "gcs") or not host or not port:
        raise MslabError(f"--cluster {address!r}: give ray://HOST:PORT, HOST:PORT or auto")
    try:
        socket.create_connection((host, port), timeout=10).close()
    except OSError as exc:
        raise MslabError(f"--cluster {address}: cannot reach it ({exc.strerror or exc})") from None


def connect(ray, address: str) -> None:
    """Join the cluster at ``address`` (``ray://host:10001``, ``host:6379`` or ``auto``), or a
    one-line MslabError."""
    check_address(address)
    for attempt in (1, 2):
        try:
            ray.init(
                address=address,
                namespace="mslab",
                log_to_driver=False,
                logging_level="ERROR",
                configure_logging=False,
            )
            return
        except (ConnectionError, RuntimeError, ValueError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            # Ray Client's head starts a server process per driver; on a busy head that start can
            # fail once with an empty message (seen in this project's tests): try once more.
            if attempt == 1 and first.startswith("Initialization failure from server"):
                with contextlib.suppress(Exception):
                    ray.shutdown()
                time.sleep(2)
                continue
            raise MslabError(f"--cluster {address}: {first}") from None


class _Pool:
    """The driver's view of its workers: which are ready, what each holds, in order."""

    def __init__(self, ray, remote, args: tuple, size: int, replacements: int = 0):
        self.ray, self.remote, self.args = ray, remote, args
        self.starting: dict = {}  # ready() ref -> actor
        self.held: dict = {}  # ready actor -> refs it holds, oldest (the one running) first
        self.nodes: set[str] = set()
        self.lost_workers = 0
        self.replacements = replacements
        for _ in range(size):
            self.start()

    def start(self) -> None:
        actor = self.remote.remote(*self.args)
        self.starting[actor.ready.remote()] = actor

    def replace(self) -> None:
        if self.replacements > 0:
            self.replacements -= 1
            self.start()

    def trim(self, size: int) -> None:
        """Stop workers beyond ``size`` (those still starting first)."""
        while len(self.starting) + len(self.held) > max(1, size):
            if self.starting:
                ref = next(iter(self.starting))
                actor = self.starting.pop(ref)
            else:
                actor = next(iter(self.held))
                self.held.pop(actor)
            with contextlib.suppress(Exception):
                self.ray.kill(actor, no_restart=True)

    def lost(self, actor) -> list:
        """Forget a dead worker; the refs it held."""
        self.lost_workers += 1
        with contextlib.suppress(Exception):
            self.ray.kill(actor, no_restart=True)
        return self.held.pop(actor, [])

    def close(self) -> None:
        for actor in [*self.held, *self.starting.values()]:
            with contextlib.suppress(Exception):
                self.ray.kill(actor, no_restart=True)
        self.held.clear()
        self.starting.clear()


class Cluster:
    """A connection to the Ray cluster at ``address`` that can run ``target``'s workers, or a
    one-line MslabError (no Ray, an address that does not answer, no node with the resources).

    The workers are started at once (``jobs`` of them, or one per CPU, GPU or NPU the cluster
    offers), so that their interpreters and zygotes start while the driver takes in the class.
    It is an :class:`mslab.executor.Executor` (:meth:`start`, :meth:`submit`, :meth:`results`,
    :meth:`met`, :meth:`close`)."""

    def __init__(self, address: str, target: Target, limits: Limits, jobs: int | None = None):
        self.ray = import_ray()
        connect(self.ray, address)
        self.target = target
        self.pool: _Pool | None = None
        self.queue: collections.deque = collections.deque()  # (key, one student's jobs) not sent yet
        try:
            self.options = target.cluster_resources()
            self.offered = self.ray.cluster_resources()
            self.unit = target.unit
            for name in [self.unit, *self.options.get("resources", {})]:
                if self.offered.get(name, 0) <= 0:
                    how = f"start nodes with --resources='{{\"{name}\": 1}}'" if name.startswith("mslab-") else ""
                    raise MslabError(
                        f"no node of the cluster offers {name}, which target {target.name} needs"
                        + (f": {how}" if how else "")
                    )
            size = max(1, jobs or int(self.offered[self.unit]))
            remote = self.ray.remote(max_restarts=0, max_task_retries=0, **self.options)(WORKER)
            self.pool = _Pool(self.ray, remote, (target, limits, fingerprint()), size)
        except BaseException:
            self.close()
            raise

    # -- mslab.executor.Executor: the same driving and fault model as the local pool's ---------

    def start(self, students: int) -> None:
        """No more workers than students; every death may be charged to a student (each at most
        MAX_DEATHS times: a bounded number of replacements). The workers' own start (and the
        check of their node) is read as they become ready, in :meth:`results`."""
        assert self.pool is not None
        self.pool.trim(students)
        self.pool.replacements = MAX_DEATHS * students

    def submit(self, key: int, jobs: list, first: bool = False) -> None:
        (self.queue.appendleft if first else self.queue.append)((key, jobs))

    def results(self) -> Iterator[tuple[int, str | Lost]]:
        """Each student's answer as it comes, or :class:`~mslab.pool.Lost` when the worker
        holding it died (its node killed, its process gone) or no worker is left."""
        from ray.exceptions import RayError

        ray, pool = self.ray, self.pool
        assert pool is not None
        inflight: dict = {}  # ref -> (key, actor)
        waiting_since = time.monotonic()
        while self.queue or inflight:
            for actor, refs in pool.held.items():
                if self.queue and not refs:  # one call at a time: a worker that dies was grading that one
                    key, jobs = self.queue.popleft()
                    ref = actor.grade.remote(jobs, [Path(job.file).read_bytes() for job in jobs])
                    inflight[ref] = (key, actor)
                    refs.append(ref)
            if not inflight and not pool.starting:
                while self.queue:
                    yield (
                        self.queue.popleft()[0],
                        Lost("no grading worker is left on the cluster; rerun to grade the rest", charged=False),
                    )
                return
            if pool.held:
                waiting_since = time.monotonic()
            elif time.monotonic() - waiting_since > (start_seconds := settings.value("MSLAB_CLUSTER_START_SECONDS")):
                raise MslabError(
                    f"no grading worker started on the cluster within {start_seconds:g} s: are its nodes busy or too small?"
                )
            ready, _ = ray.wait([*inflight, *pool.starting], num_returns=1, timeout=5)
            for ref in ready:
                if ref in pool.starting:
                    actor = pool.starting.pop(ref)
                    try:
                        info = json.loads(ray.get(ref))
                    except RayError:
                        pool.replace()  # it died while starting (its node went away)
                        continue
                    if info["problem"]:
                        raise MslabError(info["problem"])
                    pool.held[actor] = []
                    pool.nodes.add(info["node"])
                    continue
                key, actor = inflight.pop(ref)
                try:
                    text = ray.get(ref)
                except RayError as exc:  # the worker died grading this student
                    pool.lost(actor)
                    pool.replace()
                    yield key, Lost((str(exc).strip().splitlines() or [type(exc).__name__])[0][:300])
                    continue
                refs = pool.held.get(actor)
                if refs and ref in refs:
                    refs.remove(ref)
                yield key, text if isinstance(text, str) else ""

    def met(self) -> dict:
        assert self.pool is not None
        return {"nodes": len(self.pool.nodes), "lost": self.pool.lost_workers}

    def close(self, kill: bool = False) -> None:
        """Stop the workers (their zygotes and sandboxes end with them) and leave the cluster."""
        if self.pool is not None:
            self.pool.close()
        with contextlib.suppress(Exception):
            self.ray.shutdown()


#: The worker class the driver starts (a test puts one that dies in its place).
WORKER = GradeWorker
