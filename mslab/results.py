"""Presenting a check run: the terminal table and Gradescope's results.json."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

from mslab.checker import Report

#: Gradescope visibility of hidden checks: not shown while students submit, shown once published.
HIDDEN_VISIBILITY = "after_published"


def check_output(reason: str, hint: str) -> str:
    return "\n".join(part for part in (reason, f"Hint: {hint}" if hint else "") if part)


def gradescope(report: Report) -> dict:
    """The report in Gradescope's results.json format (one test per check)."""
    tests = []
    for number, c in enumerate(report.checks, 1):
        tags = [f"task {c.task}"] + [f"erratum {e}" for e in c.errata]
        tests.append(
            {
                "name": c.title,
                "number": str(number),
                "score": c.score,
                "max_score": c.points,
                "status": "passed" if c.passed else "failed",
                "output": check_output(c.reason, c.hint),
                "tags": tags,
                "visibility": HIDDEN_VISIBILITY if c.hidden else "visible",
                "extra_data": {"check": c.name},
            }
        )
    summary = f"{report.lab}: {report.score:g}/{report.max_score:g}"
    if report.load_error:
        summary += f"\n{report.load_error}"
    return {
        "score": report.score,
        "execution_time": round(report.seconds, 3),
        "output": summary,
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "extra_data": {
            "lab": report.lab,
            "max_score": report.max_score,
            "target": report.target,
            "isolation": report.isolation,
            "seed": report.seed,
            "student_output": report.output,
        },
        "tests": tests,
        "leaderboard": [],
    }


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


def write_results(report: Report, path: Path) -> None:
    write_atomic(path, json.dumps(gradescope(report), indent=2, ensure_ascii=False) + "\n")


def print_report(report: Report, console: Console | None = None) -> None:
    """The table of checks, points and hints, and the total."""
    console = console or Console()
    table = Table(title=f"{report.lab} — {report.submission}", title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("check")
    table.add_column("task", justify="center")
    table.add_column("points", justify="right")
    table.add_column("result")
    table.add_column("why / hint", overflow="fold")
    for number, c in enumerate(report.checks, 1):
        result = "[green]pass[/]" if c.passed else "[red]fail[/]"
        title = c.title + (" [dim](hidden)[/]" if c.hidden else "")
        table.add_row(
            str(number),
            title,
            c.task,
            f"{c.score:g}/{c.points:g}",
            result,
            "" if c.passed else check_output(c.reason, c.hint),
        )
    console.print(table)
    if report.load_error:
        console.print(f"[red]{report.load_error}[/]")
    hidden = any(c.hidden for c in report.checks)
    scope = "visible and hidden checks" if hidden else "visible checks only; --all adds the hidden ones"
    colour = "green" if report.full_marks else "yellow"
    console.print(f"[bold {colour}]Score: {report.score:g}/{report.max_score:g}[/] ({scope})")
