"""Grading a class: every student × lab, in parallel warm workers, resumable, into reports.

Intake (:mod:`mslab.submissions`) stages each student's files and hashes them. Each student × lab
is a job; ``jobs`` worker processes each keep a :class:`~mslab.sandbox.Zygote` (MindSpore
imported once) and fork a fresh, isolated child per submission. Every finished job writes its
files atomically at once — ``junit.xml``, ``results.json``, then ``record.json``, which marks
it done — so an interrupted run loses nothing: a rerun skips what is done (same file, same
checks, same seed) and grades the rest. The class reports (:mod:`mslab.classreport`) are rebuilt
from all records at the end, byte for byte the same as after an uninterrupted run.

A student × lab is recorded only when every one of the lab's checks ran to its end (the names in
the check run are compared with the lab's collected checks). SIGINT (Ctrl-C) and SIGTERM stop the
run at once: the workers are killed (their zygotes and sandboxes go with them), whatever a worker
finishes after the signal is dropped, the reports are written for what is done, and
:class:`Interrupted` says how much; a rerun grades the rest.

Students are named in every record and sheet as they handed in; on disk their results live under
the safe folder intake gives them (``OUT/<folder>/<lab>/``).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import hashlib
import json
import multiprocessing
import multiprocessing.util
import os
import secrets
import shutil
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing import resource_tracker
from pathlib import Path
from typing import TYPE_CHECKING

from mslab import classreport
from mslab.checker import collect, run_checks
from mslab.errors import MslabError
from mslab.labs import Lab, all_labs, get_lab
from mslab.present import junit_text, results_text, tidy_run
from mslab.records import RECORD_OUTPUT, WRITTEN, Record, Status, points, write_atomic
from mslab.sandbox import Limits, Sandbox, Shared, Zygote, jail, sweep
from mslab.submissions import find_submissions
from mslab.target import LOCAL_TARGET, Target

if TYPE_CHECKING:
    from mslab.cluster import Cluster

STATE = "grading.json"
STAGING = ".staging"
#: Names in OUT that are the grader's own: no student's folder may take one.
RESERVED = {*classreport.FILES, STATE, STAGING}


class Interrupted(Exception):
    """The run was stopped by SIGINT or SIGTERM; ``done`` of ``total`` student × lab rows are recorded."""

    def __init__(self, done: int, total: int):
        counted = f"{done} of {total} graded" if total else "nothing graded"
        super().__init__(f"interrupted: {counted}; rerun to continue")
        self.done, self.total = done, total


@dataclass(frozen=True)
class Job:
    student: str  # as handed in, shown in the sheets
    folder: str  # safe folder name under OUT
    lab: str
    file: str
    key: dict  # what the result depends on: the file's and the checks' digests, seed, target's name
    checks: tuple[str, ...] = ()  # the lab's check names: a record needs every one of them
    max_score: float = 0.0  # the lab's: records.points of its checks
    note: str = ""  # which file was graded, when not <lab>.py


def checks_digest(lab: Lab) -> str:
    digest = hashlib.sha256()
    for path in lab.check_sources:
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def record_path(out: Path, folder: str, lab: str) -> Path:
    return out / folder / lab / "record.json"


def _previous(out: Path, job: Job) -> Record | None:
    """The record of an earlier run of the same job, if it is complete and still valid."""
    record = Record.read(record_path(out, job.folder, job.lab))
    if record is None or record.key != job.key or record.student != job.student:
        return None
    if record.check_names() != sorted(job.checks):
        return None  # not every check ran (a record an older grader kept after an interrupt)
    return record


# -- the worker side -------------------------------------------------------------------------
#
# A worker grades and hands back plain text — the record, results.json and junit.xml as JSON
# strings (:func:`graded_text`) — never an object to unpickle and never a file in OUT: only the
# grader's own process (the driver, on a cluster) writes OUT (:func:`keep`). A local worker is a
# process of a spawn pool (:func:`grade_student`); on a Ray cluster, an actor (:mod:`mslab.cluster`).

_worker: dict = {}


def _start_worker(target: Target, limits: Limits, hide: tuple[str, ...]) -> None:
    jail.die_with_parent()  # a killed grader takes its workers, their zygotes and sandboxes along
    _worker.update(target=target, limits=limits, hide=tuple(Path(p) for p in hide), zygote=None, stop=False)
    warm_zygote(_worker)  # MindSpore starts importing now, while this worker imports the checker
    # A pool worker ends with os._exit: close the blank child it keeps (its cgroup) before that.
    multiprocessing.util.Finalize(None, close_blank, args=(_worker,), exitpriority=10)
    # Ctrl-C reaches the whole process group: a worker notes it (whatever it finishes from now on
    # may have been cut short, so it is not recorded) and waits for the grader to end it.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _note_stop)


def _note_stop(signum, frame) -> None:
    _worker["stop"] = True


def warm_zygote(state: dict) -> Zygote | None:
    """The warm zygote kept in ``state`` (a worker's), started again if it died; None for
    container targets."""
    if not state["target"].local:
        return None
    if state.get("zygote") is None or state["zygote"].popen.poll() is not None:
        state["zygote"] = Zygote(state["limits"].load_seconds)
    return state["zygote"]


def grade_student(jobs: list[Job]) -> list[str]:
    """Grade one student's labs in turn in a local pool worker (one child for all of them, when
    each hands over cleanly: :func:`shared_child`); :func:`graded_text`'s JSON for each."""
    try:
        return [grade_file(job, Path(job.file), _worker, stopped=lambda: bool(_worker.get("stop"))) for job in jobs]
    finally:
        close_shared(_worker)


def shared_child(state: dict, folder: str) -> Shared | None:
    """The :class:`~mslab.sandbox.Shared` child of the student in ``folder`` kept in the worker
    ``state``, a new one when the worker moves on to another student (the last one's child is
    closed); None for container targets or with ``MSLAB_SANDBOX_PER_LAB=1`` (a fresh child per
    lab, as before: docs/protocol.md)."""
    if not state["target"].local or os.environ.get("MSLAB_SANDBOX_PER_LAB") == "1":
        return None
    if state.get("shared_folder") != folder:
        close_shared(state)
        blank, zygote = state.get("blank"), warm_zygote(state)
        if blank is not None and blank._zygote is not zygote:
            blank.close()  # of a zygote that died since
            blank = None
        state["shared"], state["shared_folder"] = Shared(blank), folder
        # The next student's child starts now, behind its walls, while this one is graded.
        try:
            state["blank"] = Sandbox.empty(limits=state["limits"], zygote=zygote)
        except MslabError:
            state["blank"] = None
    return state["shared"]


def close_blank(state: dict) -> None:
    """Close both children a worker ``state`` keeps: the current student's and the blank."""
    close_shared(state)
    if state.get("blank") is not None:
        state["blank"].close()
        state["blank"] = None


def close_shared(state: dict) -> None:
    """Close the current student's child (the blank started for the next one stays)."""
    if state.get("shared") is not None:
        state["shared"].close()
    state["shared"] = state["shared_folder"] = None


def graded_text(record: Record, results: str = "", junit: str = "") -> str:
    """What a worker hands back: one JSON text (the record, and for a written record its
    results.json and junit.xml texts)."""
    return json.dumps({"record": record.to_dict(), "results": results, "junit": junit}, ensure_ascii=False)


def grade_file(job: Job, path: Path, state: dict, stopped=lambda: False) -> str:
    """Grade ``job``'s submission (at ``path`` on this machine) with the worker ``state``
    (target, limits, hide, zygote); :func:`graded_text`'s JSON. Writes nothing in OUT."""
    lab = get_lab(job.lab)

    def empty(status: Status, reason: str) -> str:
        return graded_text(Record.empty(job.student, job.lab, job.max_score, status, reason, job.folder))

    try:
        run = run_checks(
            lab,
            path,
            hidden=True,
            target=state["target"],
            seed=job.key["seed"],
            limits=state["limits"],
            zygote=warm_zygote(state),
            hide=state["hide"],
            shared=shared_child(state, job.folder),
        )
    except MslabError as exc:
        # The grader's own failures are not recorded: the next run retries them.
        return empty(Status.ERROR, str(exc))
    if stopped():  # a signal came while it ran: its checks may have been cut short
        return empty(Status.INTERRUPTED, "")
    ran = sorted(c.name for c in run.checks)
    if ran != sorted(job.checks):
        return empty(Status.ERROR, f"only {len(ran)} of the lab's {len(job.checks)} checks ran to the end")
    run = tidy_run(run)
    status, reason, score = Status.GRADED, job.note, run.score
    if run.load_error:
        status, reason, score = Status.UNLOADABLE, run.load_error, 0.0
    elif run.out_of_time:
        status, score = Status.TIMEOUT, 0.0
        reason = f"used up its {state['limits'].submission_seconds:g} s time limit"
    if job.note and status != Status.GRADED:
        reason = f"{job.note}; {reason}"
    record = Record(
        student=job.student,
        lab=job.lab,
        score=score,
        max_score=run.max_score,
        status=status,
        reason=reason,
        checks=run.checks,
        seconds=round(run.seconds, 3),
        isolation=run.isolation,
        flags=run.flags,
        folder=job.folder,
        start_seconds=round(run.start_seconds, 3),
        student_seconds=round(run.student_seconds, 3),
        key=job.key,
        output=run.output[-RECORD_OUTPUT:],
    )
    # junit.xml from the check results, not pytest's (whose tracebacks quote the hidden checks)
    return graded_text(record, results_text(run), junit_text(run))


def keep(out: Path, job: Job, text: str) -> Record:
    """The record a worker handed back for ``job`` (:func:`graded_text`), its files written to
    ``OUT/<folder>/<lab>/`` when it is one a rerun keeps — junit.xml, results.json, then
    record.json, which marks the job done. Runs only in the grader's own process."""
    try:
        graded = json.loads(text)
        record = Record.from_dict(graded["record"])
        results, junit = str(graded.get("results") or ""), str(graded.get("junit") or "")
    except (ValueError, TypeError, KeyError) as exc:
        reason = f"grader worker answered garbage: {exc}"
        return Record.empty(job.student, job.lab, job.max_score, Status.ERROR, reason, job.folder)
    if (record.student, record.lab, record.folder) != (job.student, job.lab, job.folder):
        reason = "grader worker answered for another job"
        return Record.empty(job.student, job.lab, job.max_score, Status.ERROR, reason, job.folder)
    if record.status in WRITTEN:
        folder = out / job.folder / job.lab
        try:
            write_atomic(folder / "junit.xml", junit)
            write_atomic(folder / "results.json", results)
            record.write(record_path(out, job.folder, job.lab))
        except OSError as exc:
            raise MslabError(f"cannot write {folder}: {exc.strerror or exc}") from None
    return record


# -- the instructor's side -------------------------------------------------------------------


def _state(out: Path, seed: int | None, target: Target) -> dict:
    """The run's seed, kept in ``out/grading.json`` so a rerun draws the same hidden inputs."""
    path = out / STATE
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        state = {}
    if seed is not None or "seed" not in state:
        state["seed"] = secrets.randbits(31) if seed is None else seed
    state["target"] = target.name
    write_atomic(path, json.dumps(state, indent=1) + "\n")
    return state


def grade_class(
    submissions: Path,
    out: Path,
    *,
    labs: list[str] | None = None,
    target: Target = LOCAL_TARGET,
    jobs: int | None = None,
    force: bool = False,
    regrade: list[str] | None = None,
    seed: int | None = None,
    limits: Limits | None = None,
    progress=None,
    cluster: str | None = None,
) -> list[Record]:
    """Grade every student × lab under ``submissions`` into ``out``; returns the records.

    Resumes: a student × lab whose file, checks, seed and target are those of an earlier run's
    record is not graded again, unless ``force`` (everyone) or the student is in ``regrade``.
    ``progress(total=n)`` is called once with the number of jobs to run, then
    ``progress(record=r)`` for each record (graded now, resumed, or missing/rejected), and on a
    cluster ``progress(cluster={nodes, lost, retried})`` once, with what the run met.
    ``cluster``: the address of a Ray cluster to grade on (:mod:`mslab.cluster`) instead of this
    machine's workers; connected to before anything is staged.
    Raises :class:`Interrupted` after SIGINT or SIGTERM, once the reports of what is done are written.
    """
    if jobs is not None and jobs < 1:
        raise MslabError(f"--jobs must be 1 or more, not {jobs}")
    if labs is not None and not labs:
        raise MslabError("--labs is empty; name one or more of: " + ", ".join(lab.name for lab in all_labs()))
    chosen = [get_lab(name) for name in labs] if labs else all_labs()
    if cluster is None and not target.local:
        _need_image(target)  # refuse now, not with an `error` row per student (on a cluster: each node's)
    out = Path(out).resolve()
    submissions = Path(submissions).resolve()
    if out == submissions or submissions in out.parents or out in submissions.parents:
        raise MslabError("--out must be outside the submissions folder and not contain it")
    _usable_out(out)
    created = not out.exists()
    staging = out / STAGING
    session = None
    if cluster is not None:  # connect now: an address or a cluster that cannot grade is refused up front
        from mslab.cluster import Cluster

        limits = limits or Limits()
        if limits.cpus is None:  # each worker holds one of its node's CPUs
            limits = dataclasses.replace(limits, cpus=1.0)
        session = Cluster(cluster, target, limits, jobs)
    run = _Run(
        chosen=chosen,
        submissions=submissions,
        out=out,
        staging=staging,
        target=target,
        jobs=jobs,
        force=force,
        seed=seed,
        limits=limits,
        progress=progress or (lambda **_: None),
        cluster=session,
    )
    with _signals_interrupt():
        try:
            return _grade(run, regrade)
        finally:
            if session is not None:
                session.close()
            shutil.rmtree(staging, ignore_errors=True)  # copies of student code never stay behind
            if created:
                with contextlib.suppress(OSError):
                    out.rmdir()  # only if nothing was written: a refused run leaves no OUT


@dataclass(frozen=True)
class _Run:
    """What one :func:`grade_class` call was asked for, once checked (and its cluster, if any)."""

    chosen: list[Lab]
    submissions: Path
    out: Path
    staging: Path
    target: Target
    jobs: int | None
    force: bool
    seed: int | None
    limits: Limits | None
    progress: Callable
    cluster: Cluster | None


def _grade(run: _Run, regrade: list[str] | None) -> list[Record]:
    found_labs = {lab.name: collect(lab) for lab in run.chosen}
    if _signalled:  # pytest (collect) swallows the KeyboardInterrupt and returns what it had
        raise KeyboardInterrupt
    maxima = {name: points(found) for name, found in found_labs.items()}
    names = {name: tuple(c.name for c in found) for name, found in found_labs.items()}
    found = find_submissions(run.submissions, [lab.name for lab in run.chosen], run.staging, reserved=RESERVED)
    asked = set(regrade or ())
    unknown = sorted(asked - {s.student for s in found} - {s.folder for s in found})
    if unknown:
        known = sorted(s.student for s in found)
        listed = ", ".join(known[:20]) + (", ..." if len(known) > 20 else "")
        raise MslabError(f"--regrade: no student named {', '.join(map(repr, unknown))}; the students are: {listed}")
    regrade_set = {s.student for s in found if s.student in asked or s.folder in asked}
    records: list[Record] = []
    try:
        return _grade_found(run, found, regrade_set, maxima, names, records)
    except KeyboardInterrupt:  # before the workers started or while the reports were written
        classreport.write_reports(records, run.out, labs=maxima)
        raise Interrupted(len(records), len(found) * len(run.chosen)) from None


def _grade_found(
    run: _Run, found, regrade_set: set[str], maxima: dict, names: dict, records: list[Record]
) -> list[Record]:
    """Grade what ``found`` (intake) holds that is not done yet into ``records`` (which also
    gets the rows of missing, rejected and resumed work), then write the reports."""
    out, target = run.out, run.target
    try:
        state = _state(out, run.seed, target)
    except OSError as exc:
        raise MslabError(f"cannot write {out / STATE}: {exc.strerror or exc}") from None
    sweep()
    digests = {lab.name: checks_digest(lab) for lab in run.chosen}

    todo = []
    for sub in found:
        for lab in run.chosen:
            if sub.problem:
                records.append(
                    Record.empty(sub.student, lab.name, maxima[lab.name], Status.REJECTED, sub.problem, sub.folder)
                )
            elif lab.name not in sub.files:
                reason = sub.missing.get(lab.name) or f"no {lab.name}.py"
                records.append(
                    Record.empty(sub.student, lab.name, maxima[lab.name], Status.MISSING, reason, sub.folder)
                )
            else:
                key = {
                    "file": sub.digest[lab.name],
                    "checks": digests[lab.name],
                    "seed": state["seed"],
                    "target": target.name,
                }
                job = Job(
                    sub.student,
                    sub.folder,
                    lab.name,
                    str(sub.files[lab.name]),
                    key,
                    names[lab.name],
                    maxima[lab.name],
                    sub.notes.get(lab.name, ""),
                )
                fresh = run.force or sub.student in regrade_set
                previous = None if fresh else _previous(out, job)
                if previous is not None:
                    records.append(previous)
                else:
                    todo.append(job)
    total = len(records) + len(todo)
    run.progress(total=total)
    for record in records:
        run.progress(record=record)
    try:
        if run.cluster is not None:
            records += _run_cluster(todo, out, run.cluster, run.progress)
        else:
            records += _run(todo, out, target, run.limits or Limits(), (run.submissions, out), run.jobs, run.progress)
    except _Stopped as stopped:
        records += stopped.done
        classreport.write_reports(records, out, labs=maxima)
        raise Interrupted(len(records), total) from None
    classreport.write_reports(records, out, labs=maxima)
    return records


def _need_image(target: Target) -> None:
    """The Docker engine answers and the target's image is built, or a one-line MslabError."""
    from mslab import images

    client = images.docker_client()
    try:
        client.images.get(target.image)
    except Exception:  # noqa: BLE001 - ImageNotFound, or the engine refusing: either way, not usable
        raise MslabError(f"image {target.image} is not built: run `inv image.build --target {target.name}`") from None


def _usable_out(out: Path) -> None:
    """``out`` is (or can become) a folder this user can write, or a one-line MslabError."""
    if out.parts[1:2] in (("proc",), ("sys",), ("dev",)):
        raise MslabError(f"--out {out}: not a place for results")
    existing = out
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise MslabError(f"--out {out}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise MslabError(f"--out {out}: {existing} is not writable")


class _Stopped(Exception):
    """SIGINT or SIGTERM during the run; ``done`` holds the records that completed before it."""

    def __init__(self, done: list[Record]):
        self.done = done


_signalled: list[int] = []  # the signals seen while grading
_STOPS = {signal.SIGINT, signal.SIGTERM}
_held: list = []  # the signal mask to go back to once the workers run (see _signals_interrupt)


@contextlib.contextmanager
def _signals_interrupt():
    """While grading, SIGTERM raises KeyboardInterrupt as SIGINT does (main thread only); one
    before the run began becomes :class:`Interrupted` with nothing recorded.

    Until the workers are started (:func:`_release`), SIGINT and SIGTERM are held back (blocked,
    not lost): threads started meanwhile (the progress bar's, the pool's) and the worker
    processes inherit the block, so Ctrl-C reaches only this thread, once everything it must
    clean up exists — never a worker in its interpreter's start-up (which printed a fatal error),
    never a half-started pool (whose shutdown raised 'cannot join thread before it is started').
    The grader kills its workers itself."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        _signalled.append(signum)
        raise KeyboardInterrupt

    _signalled.clear()
    before = {sig: signal.signal(sig, stop) for sig in _STOPS}
    # multiprocessing's resource tracker, when it starts, unblocks SIGINT and SIGTERM behind our
    # back (resource_tracker.ensure_running): start it first, while they still come through.
    resource_tracker.ensure_running()
    _held[:] = [signal.pthread_sigmask(signal.SIG_BLOCK, _STOPS)]
    try:
        yield
    except KeyboardInterrupt:
        raise Interrupted(0, 0) from None
    finally:
        late: list[int] = []
        for sig in _STOPS:  # a signal still held back comes after the run ended: nothing to stop
            signal.signal(sig, lambda signum, frame: late.append(signum))
        _release()
        for sig, handler in before.items():
            signal.signal(sig, handler)


def _release() -> None:
    """Let SIGINT and SIGTERM through again (a held-back one is delivered now)."""
    if _held:
        signal.pthread_sigmask(signal.SIG_SETMASK, _held.pop())


def _run(todo: list[Job], out: Path, target: Target, limits: Limits, hide, jobs, progress) -> list[Record]:
    if not todo:
        return []
    students = by_student(todo)
    workers = max(1, min(jobs or os.cpu_count() or 1, len(students)))
    if limits.cpus is None:  # containers share the machine's CPUs between the workers
        limits = dataclasses.replace(limits, cpus=max(1.0, (os.cpu_count() or 1) / workers))
    done = []
    context = multiprocessing.get_context("spawn")  # fresh workers: no threads or state inherited
    pool = concurrent.futures.ProcessPoolExecutor(
        workers,
        mp_context=context,
        initializer=_start_worker,
        initargs=(target, limits, tuple(str(p) for p in hide)),
    )
    try:
        futures = {pool.submit(grade_student, student): student for student in students}
        _release()  # the workers and the pool's thread exist: Ctrl-C may come through now
        for future in concurrent.futures.as_completed(futures):
            student = futures[future]
            try:
                texts = future.result()
            except Exception as exc:  # noqa: BLE001 - a dead worker must not stop the batch
                reason = f"grader worker failed: {exc}"
                texts = [
                    graded_text(Record.empty(j.student, j.lab, j.max_score, Status.ERROR, reason, j.folder))
                    for j in student
                ]
            for job, text in zip(student, texts, strict=True):
                record = keep(out, job, text)  # an MslabError (OUT cannot be written) ends the run
                if record.status == Status.INTERRUPTED:
                    raise KeyboardInterrupt  # the worker saw a signal meant for the whole run
                done.append(record)
                progress(record=record)
    except BaseException as exc:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the cleanup short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for process in list((getattr(pool, "_processes", None) or {}).values()):
            with contextlib.suppress(Exception):
                process.kill()  # their zygotes and sandboxes die with them (die_with_parent)
        with contextlib.suppress(RuntimeError):  # a pool whose thread never started has nothing to join
            pool.shutdown(wait=True, cancel_futures=True)
        if isinstance(exc, KeyboardInterrupt):
            raise _Stopped(done) from None
        raise
    pool.shutdown(wait=True)
    return done


def by_student(todo: list[Job]) -> list[list[Job]]:
    """``todo`` in groups of one student's labs (each group in the order given): a worker grades
    a student's labs in turn, in one child (:func:`shared_child`)."""
    groups: dict[str, list[Job]] = {}
    for job in todo:
        groups.setdefault(job.folder, []).append(job)
    return list(groups.values())


def _run_cluster(todo: list[Job], out: Path, session, progress) -> list[Record]:
    """Grade ``todo`` on a Ray cluster (a :class:`mslab.cluster.Cluster`); only this process writes ``out``."""
    if not todo:
        return []

    def kept(job: Job, text: str) -> Record:
        record = keep(out, job, text)
        progress(record=record)
        return record

    try:
        done, met = session.run(todo, kept, started=_release)
    except KeyboardInterrupt as stop:
        raise _Stopped(list(getattr(stop, "done", []))) from None
    progress(cluster=met)
    return done
