"""A grading worker: grades one student's labs at a time and hands back plain text.

One :class:`Worker` per worker process — a process of the local pool (:mod:`mslab.pool`, started
by :func:`start_local`) or a Ray actor on a cluster node (:mod:`mslab.cluster`) — holds what it
keeps warm between students: its :class:`~mslab.sandbox.zygote.Zygote` (MindSpore imported once), the
current student's child (:class:`~mslab.sandbox.host.Shared`, handed from each lab to the next) and a
blank child forked ahead for the next student, and each lab's checks collected once
(:class:`~mslab.checker.Suite`: no pytest start per student × lab). :meth:`Worker.grade_student`
grades a student's :class:`Job` objects in turn.

What a worker hands back is text — the record, results.json and junit.xml as one JSON string
(:func:`graded_text`) — never an object to unpickle and never a file in OUT: only the grader's
own process (the driver, on a cluster) writes OUT (:func:`mslab.grade.keep`).
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing.util
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mslab import containers, settings, stops
from mslab.checker import Suite, run_checks
from mslab.errors import MslabError
from mslab.labs import Lab, get_lab
from mslab.present import junit_text, results_text
from mslab.records import Record, Status
from mslab.sandbox import jail
from mslab.sandbox.host import Limits, Sandbox, Shared, StudentError
from mslab.sandbox.zygote import Zygote
from mslab.target import Target

#: What :meth:`Worker.check_sandbox` runs where no blank child is kept (containers, one child per lab).
PROBE = b"def ping():\n    return 1\n"


@dataclass(frozen=True)
class Job:
    """One student × lab to grade."""

    student: str  # as handed in, shown in the sheets
    folder: str  # safe folder name under OUT
    lab: str
    file: str
    key: dict  # what the result depends on: file and checks digests, seed, target, grader version, limits
    checks: tuple[str, ...] = ()  # the lab's check names: a record needs every one of them
    max_score: float = 0.0  # the lab's: records.points of its checks
    note: str = ""  # which file was graded, when not <lab>.py

    def error(self, status: Status, reason: str) -> Record:
        """A row with no checks run for this job: an error, or an interrupted one."""
        return Record.empty(self.student, self.lab, self.max_score, status, reason, self.folder)


def by_student(todo: list[Job]) -> list[list[Job]]:
    """``todo`` in groups of one student's labs (each group in the order given): a worker grades
    a student's labs in turn, in one child (:meth:`Worker.shared_child`)."""
    groups: dict[str, list[Job]] = {}
    for job in todo:
        groups.setdefault(job.folder, []).append(job)
    return list(groups.values())


def graded_text(record: Record, results: str = "", junit: str = "") -> str:
    """What a worker hands back: one JSON text (the record, and for a written record its
    results.json and junit.xml texts)."""
    return json.dumps({"record": record.to_dict(), "results": results, "junit": junit}, ensure_ascii=False)


@dataclass
class Worker:
    """One grading worker's state: its zygote and the children it keeps warm. Its sandboxes see
    only what the jail shows them (docs/walls.md): no folder of this machine's needs naming."""

    target: Target
    limits: Limits
    zygote: Zygote | None = None
    blank: Sandbox | None = None  # a child forked ahead, behind its walls, for the next student
    shared: Shared | None = None  # the current student's child
    shared_folder: str | None = None  # whose it is
    stop: bool = False  # a signal came: what it finishes from now on is not recorded
    stopped: Callable[[], bool] = field(default=lambda: False, repr=False)
    suites: dict[str, Suite] = field(default_factory=dict, repr=False)  # each lab's checks, collected once

    def suite(self, lab: Lab) -> Suite | None:
        """``lab``'s hidden and visible checks collected once for every student this worker
        grades; None with ``MSLAB_PYTEST_PER_RUN=1`` (one ``pytest.main`` per student × lab, the
        path a suite's results are compared with: tests/test_suite.py)."""
        if settings.value("MSLAB_PYTEST_PER_RUN"):
            return None
        if lab.name not in self.suites:
            self.suites[lab.name] = Suite(lab, hidden=True)
        return self.suites[lab.name]

    def warm_zygote(self) -> Zygote | None:
        """The warm zygote, started (again, if it died); None for container targets."""
        if not self.target.local:
            return None
        if self.zygote is None or self.zygote.popen.poll() is not None:
            self.zygote = Zygote(self.limits.load_seconds)
        return self.zygote

    def shared_child(self, folder: str) -> Shared | None:
        """The :class:`~mslab.sandbox.host.Shared` child of the student in ``folder``, a new one when
        the worker moves on to another student (the last one's child is closed); None for
        container targets or with ``MSLAB_SANDBOX_PER_LAB=1`` (a fresh child per lab:
        docs/protocol.md)."""
        if not self.target.local or settings.value("MSLAB_SANDBOX_PER_LAB"):
            return None
        if self.shared_folder != folder:
            self.close_shared()
            blank, zygote = self.blank, self.warm_zygote()
            if blank is not None and blank._zygote is not zygote:
                blank.close()  # of a zygote that died since
                blank = None
            self.shared, self.shared_folder = Shared(blank), folder
            # The next student's child starts now, behind its walls, while this one is graded.
            try:
                self.blank = Sandbox.empty(limits=self.limits, zygote=zygote) if zygote else None
            except MslabError:
                self.blank = None
        return self.shared

    def close_shared(self) -> None:
        """Close the current student's child (the blank started for the next one stays)."""
        if self.shared is not None:
            self.shared.close()
        self.shared = self.shared_folder = None

    def close(self) -> None:
        """Close both children it keeps: the current student's and the blank."""
        self.close_shared()
        if self.blank is not None:
            self.blank.close()
            self.blank = None

    def check_sandbox(self) -> str:
        """Before any student: start one sandbox the way this worker will grade (same user,
        target, limits, walls) and see it ready; "" when it is, else the cause in one line. For
        a forked child it is the blank child the first student then takes over, so the check
        costs nothing but the wait for it."""
        try:
            if self.target.local and not settings.value("MSLAB_SANDBOX_PER_LAB"):
                if self.blank is None:
                    zygote = self.warm_zygote()
                    assert zygote is not None  # a local target has one
                    self.blank = Sandbox.empty(limits=self.limits, zygote=zygote)
                self.blank.ensure_ready()
            else:
                with Sandbox(
                    PROBE, "mslab_probe", spawn=containers.spawner(self.target), limits=self.limits
                ) as sandbox:
                    sandbox.call("ping")
        except (MslabError, StudentError) as exc:
            return " ".join(str(exc).split())[:500] or type(exc).__name__
        return ""

    def grade_student(self, jobs: list[Job], paths: list[Path] | None = None) -> list[str]:
        """Grade one student's labs in turn (one child for all of them, when each hands over
        cleanly); :func:`graded_text`'s JSON for each. ``paths``: where each job's file is on
        this machine (default: ``job.file``)."""
        try:
            return [
                self.grade_file(job, path)
                for job, path in zip(jobs, paths or [Path(j.file) for j in jobs], strict=True)
            ]
        finally:
            self.close_shared()

    def grade_file(self, job: Job, path: Path) -> str:
        """Grade ``job``'s submission at ``path``; :func:`graded_text`'s JSON. Writes nothing in OUT."""
        lab = get_lab(job.lab)
        try:
            run = run_checks(
                lab,
                path,
                hidden=True,
                target=self.target,
                seed=job.key["seed"],
                limits=self.limits,
                zygote=self.warm_zygote(),
                shared=self.shared_child(job.folder),
                suite=self.suite(lab),
            )
        except MslabError as exc:
            # The grader's own failures are not recorded: the next run retries them.
            return graded_text(job.error(Status.ERROR, str(exc)))
        if self.stop or self.stopped():  # a signal came while it ran: its checks may have been cut short
            return graded_text(job.error(Status.INTERRUPTED, ""))
        ran = sorted(c.name for c in run.checks)
        if ran != sorted(job.checks):
            return graded_text(
                job.error(Status.ERROR, f"only {len(ran)} of the lab's {len(job.checks)} checks ran to the end")
            )
        record = Record.from_run(
            run,
            student=job.student,
            folder=job.folder,
            key=job.key,
            note=job.note,
            submission_seconds=self.limits.submission_seconds,
        )
        # junit.xml from the check results, not pytest's (whose tracebacks quote the hidden checks)
        return graded_text(record, results_text(run), junit_text(run))


# -- a local pool's worker process (mslab.pool) --------------------------------------------------

_local: list[Worker] = []  # this process's Worker, once started


def start_local(target: Target, limits: Limits, labs: tuple[str, ...] = ()) -> None:
    """A local pool worker's start: its :class:`Worker`, with MindSpore importing at once and
    the checks of ``labs`` collected meanwhile."""
    jail.die_with_parent()  # a killed grader takes its workers, their zygotes and sandboxes along
    worker = Worker(target, limits)
    _local[:] = [worker]
    worker.warm_zygote()  # MindSpore starts importing now, while this worker collects the checks
    for name in labs:
        with contextlib.suppress(MslabError):  # broken checks: said by the first job of that lab
            worker.suite(get_lab(name))
    # A pool worker may end with os._exit: close the children it keeps (their cgroups) before that.
    multiprocessing.util.Finalize(None, worker.close, exitpriority=10)

    # Ctrl-C reaches the whole process group: a worker notes it (whatever it finishes from now on
    # may have been cut short, so it is not recorded) and waits for the grader to end it.
    stops.note_in_worker(lambda: setattr(worker, "stop", True))


def handle(text: str) -> str:
    """A local pool worker's answer to one call: ``check`` — the cause that keeps its sandbox
    from starting, or "" — or ``grade`` — :meth:`Worker.grade_student`'s texts, as a JSON list."""
    (worker,) = _local
    call = json.loads(text)
    if call["op"] == "check":
        return worker.check_sandbox()
    jobs = [Job(**{**job, "checks": tuple(job["checks"])}) for job in call["jobs"]]
    return json.dumps(worker.grade_student(jobs), ensure_ascii=False)
