"""Grading a class: every student folder × lab, into a gradebook and per-student results."""

from __future__ import annotations

import csv
import io
import secrets
from dataclasses import dataclass
from pathlib import Path

from mslab.checker import collect, run_checks
from mslab.errors import MslabError
from mslab.labs import Lab, all_labs, get_lab
from mslab.results import write_atomic, write_results

COLUMNS = ["student", "lab", "score", "max_score", "status", "reason"]


@dataclass
class Row:
    student: str
    lab: str
    score: float
    max_score: float
    status: str  # graded | missing | unloadable | error
    reason: str = ""


def find_students(submissions: Path) -> list[Path]:
    submissions = Path(submissions)
    if not submissions.is_dir():
        raise MslabError(f"no submissions folder at {submissions}")
    students = [p for p in sorted(submissions.iterdir()) if p.is_dir() and not p.name.startswith(".")]
    if not students:
        raise MslabError(f"{submissions} holds no student folders (expected <student>/<lab>.py)")
    return students


def grade_one(lab: Lab, student_dir: Path, out: Path, *, target: str, seed: int) -> Row:
    """Grade one student's lab, writing its results.json; never raises for student problems."""
    student = student_dir.name
    source = student_dir / f"{lab.name}.py"
    if not source.is_file():
        max_score = sum(c.points for c in collect(lab))
        return Row(student, lab.name, 0, max_score, "missing", f"no {lab.name}.py")
    try:
        report = run_checks(lab, source, hidden=True, target=target, seed=seed)
    except MslabError as exc:
        return Row(student, lab.name, 0, 0, "error", str(exc))
    write_results(report, out / student / lab.name / "results.json")
    if report.load_error:
        return Row(student, lab.name, 0, report.max_score, "unloadable", report.load_error)
    return Row(student, lab.name, report.score, report.max_score, "graded")


def write_gradebook(rows: list[Row], path: Path) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for r in rows:
        writer.writerow([r.student, r.lab, f"{r.score:g}", f"{r.max_score:g}", r.status, r.reason])
    write_atomic(path, buffer.getvalue())


def grade_class(
    submissions: Path,
    out: Path,
    *,
    labs: list[str] | None = None,
    target: str = "local",
    seed: int | None = None,
    progress=None,
) -> list[Row]:
    """Grade ``submissions/<student>/<lab>.py`` for every student and lab; write ``out/gradebook.csv``."""
    chosen = [get_lab(name) for name in labs] if labs else all_labs()
    students = find_students(submissions)
    seed = secrets.randbits(31) if seed is None else seed
    out = Path(out)
    rows = []
    for student_dir in students:
        for lab in chosen:
            row = grade_one(lab, student_dir, out, target=target, seed=seed)
            rows.append(row)
            write_gradebook(rows, out / "gradebook.csv")
            if progress is not None:
                progress(row)
    return rows
