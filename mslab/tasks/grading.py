"""`inv grade`: grade a whole class."""

from __future__ import annotations

from pathlib import Path

from invoke import task
from rich.console import Console

from mslab import grade as grading
from mslab.tasks import TARGET_HELP, split_names, user_errors


@task(
    help={
        "submissions": "folder of student folders, each holding <lab>.py files",
        "out": "where gradebook.csv and <student>/<lab>/results.json go",
        "labs": "comma-separated labs to grade (default: all)",
        "seed": "seed of the hidden checks' random draws (default: a new one)",
        "target": TARGET_HELP,
    }
)
@user_errors
def grade(c, submissions, out="out", labs=None, seed=None, target="local"):
    """Grade every <student>/<lab>.py under SUBMISSIONS with all checks, hidden included."""
    console = Console()

    def show(row):
        colour = "green" if row.status == "graded" and row.score == row.max_score else "yellow"
        note = f" — {row.reason}" if row.reason else ""
        console.print(f"[{colour}]{row.student:>12} {row.lab:<20} {row.score:g}/{row.max_score:g} {row.status}[/]{note}")

    rows = grading.grade_class(
        Path(submissions), Path(out), labs=split_names(labs), target=target,
        seed=None if seed is None else int(seed), progress=show,
    )
    console.print(f"{len(rows)} results in {Path(out) / 'gradebook.csv'}")
