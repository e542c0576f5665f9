"""Where a class's students are graded, behind one interface with one fault model.

An :class:`Executor` is a set of warm grading workers (:class:`mslab.worker.Worker`), each
holding one student at a time: the local pool (:class:`Local`, over :mod:`mslab.pool`'s
processes) or the workers of a Ray cluster (:class:`mslab.cluster.Ray`). :func:`grade_students`
drives either one the same way, and is the one place the fault model is written:

* a worker that dies (the kernel's OOM killer, a ``kill -9``, its node gone) was grading exactly
  the student it held: that student is charged with the death and sent again, before the others,
  and a fresh worker replaces the dead one (at most :data:`MAX_DEATHS` replacements per student,
  so a run whose workers all keep dying ends);
* a student charged with :data:`MAX_DEATHS` deaths is not sent again: each of its labs gets an
  ``error`` row naming why — not written, so that a rerun tries it once more;
* where no worker is left at all, every student not graded yet gets an ``error`` row saying so
  (not charged: the students did nothing), and the run ends with its reports;
* an answer that is not one text per lab becomes an ``error`` row per lab (:func:`mslab.grade.keep`).

Only the grader's own process writes OUT: ``kept(job, text)`` is called here, in it, for each
answer. What crosses from a worker is text (:func:`mslab.worker.graded_text`), never a pickle.
"""

from __future__ import annotations

import collections
import dataclasses
import json
from collections.abc import Callable, Iterator
from typing import Protocol

from mslab.errors import MslabError
from mslab.pool import Lost, Pool
from mslab.records import Record, Status
from mslab.worker import Job, graded_text

#: How often a student may be lost with its worker before it is given up (here and on Ray): the
#: same submission killing its worker twice is the submission, not bad luck.
MAX_DEATHS = 2

#: What a worker is told to do before any student: start one sandbox as it will grade.
CHECK = json.dumps({"op": "check"})


class Executor(Protocol):
    """Warm workers that grade one student (their labs, in turn) per call."""

    def start(self, students: int) -> None:
        """Wait until the workers can grade (each started the sandbox it will grade in) and let
        the ones beyond ``students`` go; a one-line MslabError when the grader cannot grade."""

    def submit(self, key: int, jobs: list[Job], first: bool = False) -> None:
        """Queue one student's ``jobs`` (``first``: before the others, a lost student sent again)."""

    def results(self) -> Iterator[tuple[int, str | Lost]]:
        """Each call's answer as it comes — a JSON list of one text per job — or :class:`Lost`
        (``charged``: its worker died holding it), until every queued call is answered."""

    def met(self) -> dict:
        """What the run met: ``lost`` workers, and where it matters ``nodes``."""

    def close(self, kill: bool = False) -> None:
        """End the workers (``kill``: at once, for Ctrl-C and failures)."""


def grade_students(
    executor: Executor,
    students: list[list[Job]],
    kept: Callable[[Job, str], Record],
    started: Callable[[], object] = lambda: None,
) -> dict:
    """Grade ``students`` (each a list of one student's :class:`Job`) on ``executor``, handing
    each job's answer text to ``kept`` as it comes; ``started()`` once the workers can grade.
    Returns what the run met (``lost`` workers, ``retried`` submissions sent again, and the
    executor's own figures)."""
    executor.start(len(students))
    started()
    for number, student in enumerate(students):
        executor.submit(number, student)
    deaths: collections.Counter = collections.Counter()
    retried = 0
    for number, answer in executor.results():
        student = students[number]
        if isinstance(answer, Lost) and answer.charged:
            deaths[number] += 1
            if deaths[number] < MAX_DEATHS:
                executor.submit(number, student, first=True)
                retried += len(student)
                continue
            reason = f"the grader's worker died {deaths[number]} times while grading it ({answer})"
            texts = [graded_text(job.error(Status.ERROR, reason)) for job in student]
        elif isinstance(answer, Lost):
            texts = [graded_text(job.error(Status.ERROR, f"not graded: {answer}")) for job in student]
        else:
            texts = _texts(answer, len(student))
        for job, text in zip(student, texts, strict=True):
            kept(job, text)
    return {**executor.met(), "retried": retried}


def _texts(answer: str, count: int) -> list[str]:
    """A worker's answer as ``count`` texts; blanks (each an ``error`` row: "grader worker
    answered garbage") when it is anything else."""
    try:
        texts = json.loads(answer)
    except ValueError:
        texts = None
    if not (isinstance(texts, list) and len(texts) == count and all(isinstance(t, str) for t in texts)):
        return [""] * count
    return texts


class Local:
    """The local pool's workers (:mod:`mslab.pool`, :func:`mslab.worker.start_local`), started
    at once — before intake, which does not need them — each asked to start its sandbox."""

    def __init__(self, workers: int, initializer: Callable, initargs: tuple, handler: Callable[[str], str]):
        self.pool = Pool(workers, initializer, initargs, handler)
        self.pool.ask_each(CHECK)

    def start(self, students: int) -> None:
        # Before the first student, every worker starts one sandbox as it will grade: a grader
        # that cannot start its sandbox is refused in one line, not turned into error rows.
        problems = sorted({str(answer) for answer in self.pool.answers() if answer})
        self.pool.shrink(students)
        if problems:
            raise MslabError(f"cannot grade: a sandbox does not start here: {problems[0]} (inv doctor shows why)")
        self.pool.replacements = MAX_DEATHS * students  # every death is charged to a student

    def submit(self, key: int, jobs: list[Job], first: bool = False) -> None:
        call = json.dumps({"op": "grade", "jobs": [dataclasses.asdict(job) for job in jobs]}, ensure_ascii=False)
        (self.pool.resubmit if first else self.pool.submit)(key, call)

    def results(self) -> Iterator[tuple[int, str | Lost]]:
        return self.pool.results()

    def met(self) -> dict:
        return {"lost": self.pool.lost}

    def close(self, kill: bool = False) -> None:
        self.pool.close(kill=kill)
