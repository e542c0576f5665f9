"""The one result model: a :class:`Record` per student × lab, with its :class:`Status`, the
results of its checks (:class:`CheckResult`), and the checker's :class:`CheckRun` of one file.

The checker fills :class:`CheckResult` objects into a :class:`CheckRun` (whose reason rules apply
as it is made), the grader builds one :class:`Record` from it (:meth:`Record.from_run`: status,
reason and caps)
and writes it as ``record.json`` (:meth:`Record.to_json`), a rerun reads it back
(:meth:`Record.from_json`) to decide whether the job is done, and the class reports
(:mod:`mslab.classreport`) render the records. Nothing else reads or writes a record's fields by
name. ``record.json`` keeps the fields in the order they are declared here: resuming compares
records, so changing that order (or a value's form) regrades every student.

A lab's maximum is :func:`points` of its checks, the one way it is computed.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path


class Status(str, enum.Enum):
    """What became of a student × lab, in the order the reports list them."""

    GRADED = "graded"  # every check ran on code that loaded
    MISSING = "missing"  # no file for the lab (never written to disk)
    UNLOADABLE = "unloadable"  # the file did not import: 0 points
    REJECTED = "rejected"  # intake refused the student's hand-in (never written to disk)
    TIMEOUT = "timeout"  # the submission used up its time budget: 0 points
    ERROR = "error"  # the grader's own failure: not written, the next run retries it
    INTERRUPTED = "interrupted"  # a signal came while the checks ran: not written, never reported

    def __str__(self) -> str:
        return self.value

    @property
    def gradable(self) -> bool:
        """Whether the row holds the student's mark. False for the grader's own failures (an
        error, a worker lost, an interrupt): such a row is no zero, its student's total is left
        blank in the sheets until a rerun grades it. A student's own crash, timeout or
        unloadable file is gradable: that is the student's mark."""
        return self not in (Status.ERROR, Status.INTERRUPTED)


#: The statuses a rerun keeps (written as record.json); the others are decided again each run.
WRITTEN = frozenset({Status.GRADED, Status.UNLOADABLE, Status.TIMEOUT})
#: The most characters of printed output a record keeps (its tail: the feedback shows less).
RECORD_OUTPUT = 16384
#: A record's flag that starts with this marks late work (the reports mark such rows "late").
LATE_FLAG = "late"
#: The version of the published form of record.json, grades.json and results.json
#: (docs/results.md): raised when a field changes meaning or goes.
SCHEMA_VERSION = 1
#: Why a check got no value to compare (a timeout, the time budget spent, a wrong type): no hint applies.
_NO_VALUE = re.compile(r"timed out after|\(\) not run: |; expected a mindspore\.Tensor$|; expected a tuple of \d+$")


@dataclass
class CheckResult:
    name: str  # the test function's name, stable across runs
    title: str  # its docstring's first line
    task: str
    points: float
    score: float
    hidden: bool
    passed: bool
    reason: str = ""  # what was wrong, when it failed (the check's own message: expected vs got)
    hint: str = ""  # the likely mistake, when it failed
    # In a check run: the tutorial errata the answer matched (set only when the check's
    # mslab.checks.mistake named one), so () for a passed check; from checker.collect: the errata
    # the check looks for.
    errata: tuple[int, ...] = ()


def points(checks: Iterable[CheckResult]) -> float:
    """The most a set of checks can score: a lab's (or a run's) max_score."""
    return sum(c.points for c in checks)


@dataclass
class CheckRun:
    """One run of a lab's checks on one submission: what the checker hands the grader and `lab.check`."""

    lab: str
    submission: str
    target: str
    seed: int  # the hidden checks' seed, to reproduce them
    checks: list[CheckResult] = field(default_factory=list)
    seconds: float = 0.0
    output: str = ""  # the tail of what the student code printed
    load_error: str = ""  # set when the submission could not even be imported
    isolation: str = ""  # how the student process was isolated measured by the grader (mslab.sandbox.host.measure)
    out_of_time: bool = False  # the submission used up its time budget (Limits.submission_seconds)
    flags: list[str] = field(default_factory=list)  # for the instructor: e.g. no autodiff API reached
    start_seconds: float = 0.0  # of `seconds`: starting the student process until it was ready
    student_seconds: float = 0.0  # of `seconds`: inside student calls (the rest is checking)

    def __post_init__(self) -> None:
        """The reason rules, in force for every run (grade, lab.check, the notebook): a load
        failure is said once (in ``load_error``), not under every check; a check that got no value
        to compare (a timeout, the submission's time spent, a value of the wrong type) has no hint.
        (A tutorial erratum's hint is there only when the answer matched the erratum:
        mslab.checks.mistake; any other failure has the check's plain hint.)"""
        tidy = []
        for c in self.checks:
            if self.load_error and not c.passed:
                c = dataclasses.replace(c, reason="", hint="", errata=())
            elif not c.passed and c.hint and (self.out_of_time or _NO_VALUE.search(c.reason)):
                c = dataclasses.replace(c, hint="", errata=())
            tidy.append(c)
        self.checks = tidy

    @property
    def score(self) -> float:
        return sum(c.score for c in self.checks)

    @property
    def max_score(self) -> float:
        return points(self.checks)

    @property
    def full_marks(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)


@dataclass
class Record:
    """One student × lab, as graded (or not). Field order is record.json's."""

    student: str  # as handed in, shown in the sheets
    lab: str
    score: float
    max_score: float
    status: Status
    reason: str = ""
    checks: list[CheckResult] = field(default_factory=list)
    seconds: float = 0.0  # never reaches a class file: it differs between runs
    isolation: str = ""  # how the student process was isolated, as measured
    flags: list[str] = field(default_factory=list)  # for the instructor: e.g. no autodiff API reached
    folder: str = ""  # the safe folder under OUT (the student's name when empty)
    start_seconds: float = 0.0
    student_seconds: float = 0.0
    key: dict = field(default_factory=dict)  # what the result depends on: file, checks, seed, target
    output: str = ""  # the tail of what the student's code printed (for the student's feedback)
    raw_score: float | None = None  # what the checks gave, when an adjustment changed it (mslab.adjust)
    adjustments: list[str] = field(default_factory=list)  # each late penalty or override, with its reason

    def __post_init__(self) -> None:
        self.status = Status(self.status)
        self.folder = self.folder or self.student

    @classmethod
    def from_run(
        cls,
        run: CheckRun,
        *,
        student: str,
        folder: str = "",
        key: dict | None = None,
        note: str = "",
        submission_seconds: float | None = None,
    ) -> Record:
        """The record of a check run: its status (unloadable, out of time, graded), score and
        reason by the one set of rules; ``note`` (intake's, e.g. a notebook's cells taken) leads
        the reason; the printed output capped at :data:`RECORD_OUTPUT` characters. (Each check's
        reason and hint were capped by the checker, the student's text by the sandbox:
        wire.MAX_TEXT.)"""
        status, reason, score = Status.GRADED, note, run.score
        if run.load_error:
            status, reason, score = Status.UNLOADABLE, run.load_error, 0.0
        elif run.out_of_time:
            status, score = Status.TIMEOUT, 0.0
            spent = f" {submission_seconds:g} s" if submission_seconds is not None else ""
            reason = f"used up its{spent} time limit"
        if note and status != Status.GRADED:
            reason = f"{note}; {reason}"
        return cls(
            student=student,
            lab=run.lab,
            score=score,
            max_score=run.max_score,
            status=status,
            reason=reason,
            checks=run.checks,
            seconds=round(run.seconds, 3),
            isolation=run.isolation,
            flags=run.flags,
            folder=folder,
            start_seconds=round(run.start_seconds, 3),
            student_seconds=round(run.student_seconds, 3),
            key=dict(key or {}),
            output=run.output[-RECORD_OUTPUT:],
        )

    @classmethod
    def empty(cls, student: str, lab: str, max_score: float, status: Status, reason: str, folder: str = "") -> Record:
        """A row with no checks run: missing, rejected, an error or an interrupted job."""
        return cls(student, lab, 0.0, max_score, status, reason, folder=folder)

    @property
    def late(self) -> bool:
        """Whether a flag says the work came in late (a flag that starts with :data:`LATE_FLAG`)."""
        return any(f.startswith(LATE_FLAG) for f in self.flags)

    def check_names(self) -> list[str]:
        return sorted(c.name for c in self.checks)

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["status"] = self.status.value
        data["gradable"] = self.status.gradable  # False: the grader's own failure, not a mark
        data["schema_version"] = SCHEMA_VERSION  # docs/results.md
        return data

    def to_json(self) -> str:
        """record.json's text: one field a line-ish (indent 1), non-ASCII kept as it is."""
        return json.dumps(self.to_dict(), indent=1, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict) -> Record:
        """A record from :meth:`to_dict`'s form; ValueError when it is not one."""
        if not isinstance(data, dict):
            raise ValueError("a record is a JSON object")
        try:
            fields = {k: v for k, v in data.items() if k not in ("gradable", "schema_version")}
            fields["checks"] = [
                CheckResult(**{**c, "errata": tuple(c.get("errata") or ())}) for c in fields.get("checks") or []
            ]
            return cls(**fields)
        except (TypeError, AttributeError) as exc:
            raise ValueError(f"not a record: {exc}") from None

    @classmethod
    def from_json(cls, text: str) -> Record:
        return cls.from_dict(json.loads(text))

    @classmethod
    def read(cls, path: Path) -> Record | None:
        """The record at ``path``, or None when there is none or it cannot be read."""
        try:
            return cls.from_json(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def write(self, path: Path) -> None:
        write_atomic(path, self.to_json())


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
