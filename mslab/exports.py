"""Marks in the learning platforms' own import formats, written from the records without regrading.

``inv grade.export --format canvas|moodle|gradescope|csv OUT`` writes one file a platform's grade
import takes as it is:

- **canvas**: the gradebook CSV Canvas exports and imports — ``Student``, ``ID``, ``SIS User ID``,
  ``SIS Login ID``, ``Section``, then the assignment's column named ``<name> (<assignment id>)``,
  under a ``Points Possible`` row; Canvas matches rows by ``ID`` (its user id) or the SIS ids, so
  those come from a Canvas roster (``--roster``) or a Canvas download;
- **moodle**: Moodle's "Import grades from CSV": ``ID number``, ``Email address``, the grade
  item's column and ``Feedback`` — mapped on import by ID number or e-mail;
- **gradescope**: Gradescope's offline-assignment score upload: ``Name``, ``SID``, ``Email``,
  ``Total Score``;
- **csv**: ``student``, ``id``, ``email``, ``score``, ``max_score``, ``status``.

A student's score is the sum of their labs'. A student with a row the grader could not grade
(status ``error``) gets an empty score — never a 0 to upload — and :func:`export` says who.
Students of the roster who handed in nothing are included (0, their labs ``missing``).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from mslab.errors import MslabError
from mslab.records import Record, Status
from mslab.roster import read_people

FORMATS = ("canvas", "moodle", "gradescope", "csv")


@dataclass(frozen=True)
class Person:
    """Who a row is, as the platform knows them (from the roster, or the platform's download)."""

    name: str
    id: str = ""  # the id the platform's import keys on (SIS id, ID number, SID)
    email: str = ""
    login: str = ""
    platform_id: str = ""  # Canvas's user id
    section: str = ""


@dataclass(frozen=True)
class Total:
    person: Person
    score: float | None  # None: not gradable (a grader's failure in one of its rows)
    max_score: float
    status: str  # "graded", or the worst status among its rows


def totals(records: Iterable[Record], people: dict[str, Person], maxima: dict[str, float]) -> list[Total]:
    """One total per student: ``people`` maps a record's student to who they are (students
    with no record get their labs' maximum and a ``missing`` status)."""
    by_student: dict[str, list[Record]] = {}
    for record in records:
        by_student.setdefault(record.student, []).append(record)
    out = []
    max_score = sum(maxima.values())
    for student in sorted(set(by_student) | set(people)):
        rows = by_student.get(student, [])
        person = people.get(student) or Person(student)
        if any(r.status == Status.ERROR for r in rows):
            out.append(Total(person, None, max_score, "error"))
            continue
        statuses = sorted({r.status.value for r in rows} - {"graded"}) or (["graded"] if rows else ["missing"])
        out.append(Total(person, sum(r.score for r in rows), max_score, ",".join(statuses)))
    return out


def from_out(out: Path, fmt: str, *, assignment: str = "") -> str:
    """The ``fmt`` export of what ``inv grade`` wrote in ``out``: its ``grades.json`` (every row,
    graded or not) and ``people.json`` (who each student is)."""
    try:
        data = json.loads((out / "grades.json").read_text(encoding="utf-8"))
        maxima = {str(k): float(v) for k, v in data["labs"].items()}
        students = data["students"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise MslabError(f"{out} holds no grades.json that inv grade wrote: grade into it first") from None
    people = {
        name: Person(
            name=str(p.get("name") or name),
            id=str(p.get("id") or ""),
            email=str(p.get("email") or ""),
            login=str(p.get("login") or ""),
            platform_id=str(p.get("platform_id") or ""),
            section=str(p.get("section") or ""),
        )
        for name, p in read_people(out).items()
        if isinstance(p, dict)
    }
    records = []
    for student, row in students.items():
        for lab, cell in (row.get("labs") or {}).items():
            status = Status(cell.get("status", "error"))
            score = float(cell.get("score") or 0.0)
            records.append(Record(student, lab, score, float(cell.get("max_score") or 0.0), status))
    return export(fmt, totals(records, people, maxima), assignment=assignment)


def _num(x: float | None) -> str:
    return "" if x is None else f"{float(x) + 0.0:g}"


def export(fmt: str, rows: list[Total], *, assignment: str = "") -> str:
    """The text of the ``fmt`` file for ``rows``. ``assignment``: the platform's name of the
    graded item (Canvas: ``Lab 1 (4411)``, with Canvas's assignment id)."""
    if fmt not in FORMATS:
        raise MslabError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if fmt == "canvas":
        if not assignment or not assignment.rstrip().endswith(")") or "(" not in assignment:
            raise MslabError(
                "--assignment: Canvas matches the column by its assignment id: give 'Name (id)', e.g. 'Lab 1 (4411)'"
            )
        missing = [t.person.name for t in rows if not (t.person.platform_id or t.person.id)]
        if missing:
            raise MslabError(
                f"no Canvas id for {len(missing)} student(s) ({', '.join(missing[:3])}): "
                "grade with --roster (Canvas's gradebook export) or a Canvas download"
            )
        writer.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", assignment])
        writer.writerow(["    Points Possible", "", "", "", "", _num(rows[0].max_score if rows else 0)])
        for t in rows:
            p = t.person
            writer.writerow([p.name, p.platform_id, p.id, p.login, p.section, _num(t.score)])
    elif fmt == "moodle":
        item = assignment or "mslab labs"
        writer.writerow(["ID number", "Email address", item, "Feedback"])
        for t in rows:
            feedback = "" if t.status == "graded" else t.status
            writer.writerow([t.person.id, t.person.email, _num(t.score), feedback])
    elif fmt == "gradescope":
        writer.writerow(["Name", "SID", "Email", "Total Score"])
        for t in rows:
            writer.writerow([t.person.name, t.person.id, t.person.email, _num(t.score)])
    else:
        writer.writerow(["student", "id", "email", "score", "max_score", "status"])
        for t in rows:
            writer.writerow([t.person.name, t.person.id, t.person.email, _num(t.score), _num(t.max_score), t.status])
    return buffer.getvalue()
