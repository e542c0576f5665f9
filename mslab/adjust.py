"""What an instructor decides after grading: late penalties (with extensions) and manual overrides.

Both are applied to the records of a run after grading, every run, and never written into a
``record.json`` (which keeps what the checks gave, so a rerun resumes on it): the sheets and the
students' feedback show the raw score, each adjustment with its reason, and the final score.

**Late work.** ``--due`` (ISO 8601, e.g. ``2026-12-01T23:59+08:00``) and ``--late-penalty``
(``10%/day``, optionally capped: ``10%/day,max=50%``; a started day counts as a day) take from a
row the given percentage of its score per day late. A student's own due date comes from
``--extensions FILE`` (``student,due``: a name, id or e-mail as in the sheets, and an ISO date or
``+N`` days). When a hand-in was made is what the learning platform says (Gradescope's and
Blackboard's times); where it says nothing, the time is *unknown*: no penalty is taken and the
row is flagged — never a file's modification time. Canvas says only *late*: flagged, with no
penalty (its download has no time), for the instructor to decide with an override.

**Overrides.** ``--overrides overrides.csv`` (``student,lab,check,points,reason``; ``check`` is a
check's name or ``total``) sets that check's points, or the lab's score, with the reason shown in
the gradebook and the student's feedback. The file is copied into ``OUT/overrides.csv``, so a later
rerun (a regrade too) applies it again without naming it; a line naming an unknown student, lab or
check is refused in one line before anything runs.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from mslab.errors import MslabError
from mslab.records import Record, Status

OVERRIDES = "overrides.csv"  # in OUT: the overrides every later run applies again
LIMIT = 4 * 1024 * 1024


@dataclass(frozen=True)
class Penalty:
    percent_per_day: float
    cap_percent: float = 100.0

    def fraction(self, days: int) -> float:
        return min(self.cap_percent, self.percent_per_day * days) / 100.0


def parse_penalty(text: str) -> Penalty:
    """``10%/day`` or ``10%/day,max=50%``, or a one-line MslabError."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*%\s*/\s*day\s*(?:,\s*max\s*=\s*(\d+(?:\.\d+)?)\s*%)?\s*", text or "")
    if not m:
        raise MslabError(f"--late-penalty {text!r}: write it as 10%/day, or 10%/day,max=50% for a cap")
    per_day, cap = float(m[1]), float(m[2]) if m[2] else 100.0
    if per_day > 100 or cap > 100:
        raise MslabError(f"--late-penalty {text!r}: no more than 100%")
    return Penalty(per_day, cap)


def parse_time(text: str, what: str) -> datetime:
    """An ISO 8601 date and time; without a zone it is taken as UTC (and said so in the docs)."""
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise MslabError(f"{what} {text!r}: give an ISO 8601 date and time, e.g. 2026-12-01T23:59+08:00") from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def read_extensions(path: Path, due: datetime) -> dict[str, datetime]:
    """``student,due`` rows: each student's own due date (an ISO date, or ``+N`` days after ``due``)."""
    extensions = {}
    for number, row in enumerate(_rows(path, "--extensions", ("student", "due")), 2):
        value = row["due"].strip()
        if re.fullmatch(r"\+\d+(\.\d+)?", value):
            extensions[row["student"].strip()] = due + timedelta(days=float(value[1:]))
        else:
            extensions[row["student"].strip()] = parse_time(value, f"--extensions {path} row {number}")
    return extensions


@dataclass(frozen=True)
class Override:
    student: str
    lab: str
    check: str  # a check's name, or "total"
    points: float
    reason: str


def read_overrides(path: Path) -> list[Override]:
    overrides = []
    for number, row in enumerate(_rows(path, "--overrides", ("student", "lab", "check", "points", "reason")), 2):
        try:
            points = float(row["points"])
        except ValueError:
            raise MslabError(f"--overrides {path} row {number}: points {row['points']!r} is not a number") from None
        if not math.isfinite(points) or points < 0:
            raise MslabError(f"--overrides {path} row {number}: points must be 0 or more")
        if not row["reason"].strip():
            raise MslabError(f"--overrides {path} row {number}: every override needs its reason")
        overrides.append(
            Override(row["student"].strip(), row["lab"].strip(), row["check"].strip(), points, row["reason"].strip())
        )
    return overrides


def _rows(path: Path, option: str, columns: tuple[str, ...]) -> list[dict[str, str]]:
    try:
        if Path(path).stat().st_size > LIMIT:
            raise MslabError(f"{option} {path}: over {LIMIT // 1024**2} MiB")
        text = Path(path).read_bytes().decode("utf-8-sig")
        rows = list(csv.DictReader(io.StringIO(text)))
    except OSError as exc:
        raise MslabError(f"{option} {path}: cannot read it ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, csv.Error):
        raise MslabError(f"{option} {path}: not a UTF-8 CSV file") from None
    header = [h.strip().casefold() for h in (rows[0].keys() if rows else [])]
    missing = [c for c in columns if c not in header]
    if rows and missing:
        raise MslabError(f"{option} {path}: no {', '.join(missing)} column (expected {','.join(columns)})")
    return [{k.strip().casefold(): (v or "") for k, v in row.items() if k} for row in rows]


def check_overrides(overrides: list[Override], students: set[str], known: dict[str, set[str]]) -> None:
    """Refuse, in one line, an override naming a student, lab or check that is not there.
    ``known``: each lab's check names."""
    for o in overrides:
        if o.student not in students:
            raise MslabError(f"--overrides: no student {o.student!r} in this class")
        if o.lab not in known:
            raise MslabError(f"--overrides: no lab {o.lab!r} (labs: {', '.join(sorted(known))})")
        if o.check != "total" and o.check not in known[o.lab]:
            raise MslabError(f"--overrides: lab {o.lab} has no check {o.check!r} (give a check's name or total)")


def apply(
    records: list[Record],
    *,
    when: dict[str, tuple[str, bool | None]],
    due: datetime | None = None,
    penalty: Penalty | None = None,
    extensions: dict[str, datetime] | None = None,
    overrides: tuple[Override, ...] = (),
) -> list[Record]:
    """``records`` with overrides, then late penalties, applied (new records; the score is the
    final one, ``raw_score`` what the checks gave, ``adjustments`` why they differ). ``when``:
    each student's (submission time as ISO 8601 or "", the platform's late mark or None)."""
    out = []
    for record in records:
        raw, notes, score, flags = record.score, [], record.score, list(record.flags)
        checks = record.checks
        for o in overrides:
            if (o.student, o.lab) != (record.student, record.lab):
                continue
            if o.check == "total":
                score = min(o.points, record.max_score)
                notes.append(f"override: {score:g} of {record.max_score:g} ({o.reason})")
            else:
                checks = [
                    dataclasses.replace(c, score=min(o.points, c.points), reason=f"override: {o.reason}")
                    if c.name == o.check
                    else c
                    for c in checks
                ]
                score = sum(c.score for c in checks)
                given = next((c.score for c in checks if c.name == o.check), 0.0)
                notes.append(f"override of {o.check}: {given:g} ({o.reason})")
        if (
            due is not None
            and penalty is not None
            and record.status not in (Status.MISSING, Status.REJECTED, Status.ERROR)
        ):
            submitted, late_mark = when.get(record.student, ("", None))
            deadline = (extensions or {}).get(record.student, due)
            if submitted:
                late = parse_time(submitted, "submission time") - deadline
                if late > timedelta(0):
                    days = math.ceil(late / timedelta(days=1))
                    taken = round(score * penalty.fraction(days), 4)
                    score -= taken
                    notes.append(f"late {days} day(s): -{taken:g} ({penalty.fraction(days) * 100:g}%)")
                    flags.append(f"late {days} day(s)")
            elif late_mark:
                notes.append("late (the platform's mark), submission time unknown: no penalty taken")
                flags.append("late (the platform's mark)")
            else:
                notes.append("submission time unknown: no late penalty can be taken")
        if notes:
            record = dataclasses.replace(
                record, score=score, checks=checks, raw_score=raw, adjustments=notes, flags=flags
            )
        out.append(record)
    return out
