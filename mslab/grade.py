"""Grading a class: every student × lab, in parallel warm workers, resumable, into reports.

Intake (:mod:`mslab.submissions`) stages each student's files and hashes them. Each student × lab
is a job; ``jobs`` worker processes each keep a :class:`~mslab.sandbox.Zygote` (MindSpore
imported once) and fork a fresh, isolated child per submission. Every finished job writes its
files atomically at once — ``junit.xml``, ``results.json``, then ``record.json``, which marks
it done — so an interrupted run loses nothing: a rerun skips what is done (same file, same
checks, same seed) and grades the rest. The class reports (:mod:`mslab.report`) are rebuilt
from all records at the end, byte for byte the same as after an uninterrupted run.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import json
import multiprocessing
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

from mslab import report
from mslab.checker import collect, run_checks
from mslab.containers import resolve_target
from mslab.errors import MslabError
from mslab.labs import Lab, all_labs, get_lab
from mslab.results import write_atomic, write_results
from mslab.sandbox import Limits, Zygote, jail, sweep
from mslab.submissions import find_submissions

STATE = "grading.json"
STAGING = ".staging"


@dataclass(frozen=True)
class Job:
    student: str
    lab: str
    file: str
    key: dict  # what the result depends on: the file's and the checks' digests, seed, target


def checks_digest(lab: Lab) -> str:
    digest = hashlib.sha256()
    for path in (lab.visible_checks, lab.hidden_checks):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def record_path(out: Path, student: str, lab: str) -> Path:
    return out / student / lab / "record.json"


def _empty_record(student: str, lab: str, max_score: float, status: str, reason: str) -> dict:
    return {"student": student, "lab": lab, "score": 0.0, "max_score": max_score, "status": status,
            "reason": reason, "checks": [], "seconds": 0.0}


def _previous(out: Path, job: Job) -> dict | None:
    """The record of an earlier run of the same job, if it is complete and still valid."""
    try:
        record = json.loads(record_path(out, job.student, job.lab).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("key") == job.key else None


# -- the worker side -------------------------------------------------------------------------

_worker: dict = {}


def _start_worker(target: str, limits: Limits, hide: tuple[str, ...]) -> None:
    jail.die_with_parent()  # a killed grader takes its workers, their zygotes and sandboxes along
    _worker.update(target=target, limits=limits, hide=tuple(Path(p) for p in hide), zygote=None)


def _zygote() -> Zygote | None:
    if _worker["target"] != "local":
        return None
    if _worker["zygote"] is None or _worker["zygote"].popen.poll() is not None:
        _worker["zygote"] = Zygote(_worker["limits"].load_seconds)
    return _worker["zygote"]


def grade_job(job: Job, out: Path) -> dict:
    """Grade one student × lab and write its files; returns its record. Runs in a worker."""
    lab = get_lab(job.lab)
    folder = out / job.student / job.lab
    folder.mkdir(parents=True, exist_ok=True)
    junit_tmp = folder / ".junit.xml.part"
    try:
        report_ = run_checks(
            lab, Path(job.file), hidden=True, target=_worker["target"], seed=job.key["seed"],
            limits=_worker["limits"], zygote=_zygote(), hide=_worker["hide"], junitxml=junit_tmp,
        )
    except MslabError as exc:
        record = _empty_record(job.student, job.lab, sum(c.points for c in collect(lab)), "error", str(exc))
    else:
        os.replace(junit_tmp, folder / "junit.xml")
        write_results(report_, folder / "results.json")
        status, reason, score = "graded", "", report_.score
        if report_.load_error:
            status, reason, score = "unloadable", report_.load_error, 0.0
        elif report_.out_of_time:
            status, score = "timeout", 0.0
            reason = f"used up its {_worker['limits'].submission_seconds:g} s time limit"
        record = {
            "student": job.student, "lab": job.lab, "score": score, "max_score": report_.max_score,
            "status": status, "reason": reason, "checks": [asdict(c) for c in report_.checks],
            "seconds": round(report_.seconds, 3), "isolation": report_.isolation,
            "start_seconds": round(report_.start_seconds, 3), "student_seconds": round(report_.student_seconds, 3),
        }
    record["key"] = job.key
    if record["status"] != "error":  # the grader's own failures are retried by the next run
        write_atomic(record_path(out, job.student, job.lab), json.dumps(record, indent=1, ensure_ascii=False))
    return record


# -- the instructor's side -------------------------------------------------------------------


def _state(out: Path, seed: int | None, target: str) -> dict:
    """The run's seed, kept in ``out/grading.json`` so a rerun draws the same hidden inputs."""
    path = out / STATE
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        state = {}
    if seed is not None or "seed" not in state:
        state["seed"] = secrets.randbits(31) if seed is None else seed
    state["target"] = target
    write_atomic(path, json.dumps(state, indent=1) + "\n")
    return state


def grade_class(
    submissions: Path,
    out: Path,
    *,
    labs: list[str] | None = None,
    target: str = "local",
    isolation: str = "process",
    jobs: int | None = None,
    force: bool = False,
    regrade: list[str] | None = None,
    seed: int | None = None,
    limits: Limits | None = None,
    progress=None,
) -> list[dict]:
    """Grade every student × lab under ``submissions`` into ``out``; returns the records.

    Resumes: a student × lab whose file, checks, seed and target are those of an earlier run's
    record is not graded again, unless ``force`` (everyone) or the student is in ``regrade``.
    ``progress(total=n)`` is called once with the number of jobs to run, then
    ``progress(record=r)`` for each record (graded now, resumed, or missing/rejected).
    """
    chosen = [get_lab(name) for name in labs] if labs else all_labs()
    target = resolve_target(target)
    if isolation not in ("process", "container"):
        raise MslabError(f"unknown isolation {isolation!r}; choose process or container")
    if isolation == "container" and target == "local":
        target = "cpu"  # a fresh container per submission
    out = Path(out).resolve()
    submissions = Path(submissions).resolve()
    if out == submissions or submissions in out.parents or out in submissions.parents:
        raise MslabError("--out must be outside the submissions folder and not contain it")
    out.mkdir(parents=True, exist_ok=True)
    state = _state(out, seed, target)
    sweep()
    found = find_submissions(submissions, [lab.name for lab in chosen], out / STAGING)
    maxima = {lab.name: sum(c.points for c in collect(lab)) for lab in chosen}
    digests = {lab.name: checks_digest(lab) for lab in chosen}
    report_progress = progress or (lambda **_: None)

    records, todo = [], []
    for sub in found:
        for lab in chosen:
            if sub.problem:
                records.append(_empty_record(sub.student, lab.name, maxima[lab.name], "rejected", sub.problem))
            elif lab.name not in sub.files:
                records.append(_empty_record(sub.student, lab.name, maxima[lab.name], "missing", f"no {lab.name}.py"))
            else:
                key = {"file": sub.digest[lab.name], "checks": digests[lab.name], "seed": state["seed"], "target": target}
                job = Job(sub.student, lab.name, str(sub.files[lab.name]), key)
                fresh = force or sub.student in (regrade or ())
                previous = None if fresh else _previous(out, job)
                if previous is not None:
                    records.append(previous)
                else:
                    todo.append(job)
    report_progress(total=len(records) + len(todo))
    for record in records:
        report_progress(record=record)
    records += _run(todo, out, target, limits or Limits(), (submissions, out), jobs, report_progress)
    report.write_reports(records, out, labs=maxima)
    return records


def _run(todo: list[Job], out: Path, target: str, limits: Limits, hide, jobs, progress) -> list[dict]:
    if not todo:
        return []
    workers = max(1, min(jobs or os.cpu_count() or 1, len(todo)))
    if limits.cpus is None:  # containers share the machine's CPUs between the workers
        limits = dataclasses.replace(limits, cpus=max(1.0, (os.cpu_count() or 1) / workers))
    done = []
    context = multiprocessing.get_context("spawn")  # fresh workers: no threads or state inherited
    with concurrent.futures.ProcessPoolExecutor(
        workers, mp_context=context, initializer=_start_worker,
        initargs=(target, limits, tuple(str(p) for p in hide)),
    ) as pool:
        futures = {pool.submit(grade_job, job, out): job for job in todo}
        try:
            for future in concurrent.futures.as_completed(futures):
                job = futures[future]
                try:
                    record = future.result()
                except Exception as exc:  # noqa: BLE001 - a dead worker must not stop the batch
                    record = _empty_record(job.student, job.lab, 0.0, "error", f"grader worker failed: {exc}")
                done.append(record)
                progress(record=record)
        except KeyboardInterrupt:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return done
