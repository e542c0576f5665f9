"""Presenting one check run (:class:`mslab.checker.CheckRun`): the terminal table of `lab.check`
and Gradescope's results.json.

Student text (exception messages, reasons, printed output, names) reaches the terminal only as
:class:`rich.text.Text` built by :func:`plain`: never read as rich markup, with escape sequences
and control characters removed.
"""

from __future__ import annotations

import dataclasses
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from mslab.checker import CheckRun
from mslab.records import SCHEMA_VERSION, Record, Status, write_atomic

#: Lines of the student's printed output shown by `lab.check` (when a check fails, or --verbose).
OUTPUT_LINES = 20
OUTPUT_LINE_CHARS = 300

# ANSI/VT escape sequences (CSI, OSC, and two-character ESC forms), then any other control character.
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]|\x9b[0-?]*[ -/]*[@-~]")
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
# Why a check got no value to compare (a timeout, the time budget spent, a wrong type): no hint applies.
_NO_VALUE = re.compile(r"timed out after|\(\) not run: |; expected a mindspore\.Tensor$|; expected a tuple of \d+$")


def plain(text: object, *, keep_newlines: bool = False) -> str:
    """Student text made safe for a terminal: no escape sequences, no control characters
    (newlines and tabs become spaces unless ``keep_newlines``)."""
    text = _ESCAPES.sub("", str(text))
    if not keep_newlines:
        text = text.replace("\r\n", " ").replace("\n", " ").replace("\t", " ")
    else:
        text = text.replace("\r\n", "\n").replace("\t", "    ")
    return _CONTROLS.sub("", text)


def tidy_run(run: CheckRun) -> CheckRun:
    """The run as students and instructors see it: a load failure is said once (in
    ``load_error``), not under every check; a check that got no value to compare (a timeout,
    the submission's time spent, a value of the wrong type) has no hint. (A tutorial erratum's hint is there only when the
    answer matched the erratum: mslab.checks.mistake; any other failure has the check's plain
    hint.)"""
    checks = []
    for c in run.checks:
        if run.load_error and not c.passed:
            c = dataclasses.replace(c, reason="", hint="", errata=())
        elif not c.passed and c.hint and (run.out_of_time or _NO_VALUE.search(c.reason)):
            c = dataclasses.replace(c, hint="", errata=())
        checks.append(c)
    return dataclasses.replace(run, checks=checks)


#: Gradescope visibility of hidden checks: not shown while students submit, shown once published.
HIDDEN_VISIBILITY = "after_published"


def check_output(reason: str, hint: str) -> str:
    return "\n".join(part for part in (reason, f"Hint: {hint}" if hint else "") if part)


def gradescope(run: CheckRun) -> dict:
    """The run in Gradescope's results.json format (one test per check)."""
    tests = []
    for number, c in enumerate(run.checks, 1):
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
    summary = f"{run.lab}: {run.score:g}/{run.max_score:g}"
    if run.load_error:
        summary += f"\n{run.load_error}"
    return {
        "score": run.score,
        "execution_time": round(run.seconds, 3),
        "output": summary,
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "extra_data": {
            "lab": run.lab,
            "max_score": run.max_score,
            "target": run.target,
            "isolation": run.isolation,
            "seed": run.seed,
            "student_output": run.output,
            "schema_version": SCHEMA_VERSION,  # docs/results.md
        },
        "tests": tests,
        "leaderboard": [],
    }


def results_text(run: CheckRun) -> str:
    """results.json's text (Gradescope's form)."""
    return json.dumps(gradescope(run), indent=2, ensure_ascii=False) + "\n"


def write_results(run: CheckRun, path: Path) -> None:
    write_atomic(path, results_text(run))


def junit_text(run: CheckRun | Record) -> str:
    """JUnit XML of a run's (or a record's) checks, in the schema pytest writes (testsuites /
    testsuite / testcase / failure), built from the check results alone: a failure's message is
    its reason and hint, and there is no traceback, so nothing of the checks' source (hidden
    checks, reference values) reaches the student's file. No times: the same results give the
    same text."""
    if isinstance(run, Record):
        load_error = run.reason if run.status == Status.UNLOADABLE else ""
    else:
        load_error = run.load_error
    failures = sum(not c.passed for c in run.checks)
    suites = ET.Element("testsuites", name="mslab")
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=plain(run.lab),
        errors="0",
        failures=str(failures),
        skipped="0",
        tests=str(len(run.checks)),
        time="0",
    )
    for c in run.checks:
        case = ET.SubElement(
            suite, "testcase", classname=f"{plain(run.lab)}.{'hidden' if c.hidden else 'visible'}", name=plain(c.name)
        )
        case.set("time", "0")
        if not c.passed:
            text = plain(check_output(c.reason, c.hint) or load_error or "failed", keep_newlines=True)
            ET.SubElement(case, "failure", message=text).text = text
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def output_tail(output: str, lines: int = OUTPUT_LINES) -> list[str]:
    """The last ``lines`` lines of what the student printed, made plain and cut to a sane width."""
    shown = plain(output, keep_newlines=True).rstrip("\n").splitlines()[-lines:]
    return [line if len(line) <= OUTPUT_LINE_CHARS else line[: OUTPUT_LINE_CHARS - 1] + "…" for line in shown]


def print_run(run: CheckRun, console: Console | None = None, *, verbose: bool = False) -> None:
    """The table of checks, points and hints, the total, and — when a check failed or with
    ``verbose`` — the last lines the student's code printed."""
    console = console or Console()
    table = Table(title=Text(f"{run.lab} — {plain(run.submission)}"), title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("check")
    table.add_column("task", justify="center")
    table.add_column("points", justify="right")
    table.add_column("result")
    table.add_column("why / hint", overflow="fold")
    for number, c in enumerate(run.checks, 1):
        if c.passed:
            result = Text("pass", style="green")
        elif run.load_error:
            result = Text("not run", style="red")
        else:
            result = Text("fail", style="red")
        title = Text(plain(c.title))
        if c.hidden:
            title.append(" (hidden)", style="dim")
        why = "" if c.passed else "\n".join(plain(part) for part in check_output(c.reason, c.hint).split("\n"))
        table.add_row(str(number), title, Text(plain(c.task)), f"{c.score:g}/{c.points:g}", result, Text(why))
    console.print(table)
    if run.load_error:
        console.print(Text(plain(run.load_error), style="red"))
    if run.output and (verbose or not run.full_marks):
        tail = output_tail(run.output)
        console.print(Text(f"What your code printed (last {len(tail)} lines):", style="dim"))
        for line in tail:
            console.print(Text("  " + line), soft_wrap=True)
    hidden = any(c.hidden for c in run.checks)
    scope = "visible and hidden checks" if hidden else "visible checks only; --all adds the hidden ones"
    colour = "green" if run.full_marks else "yellow"
    total = Text(f"Score: {run.score:g}/{run.max_score:g}", style=f"bold {colour}")
    total.append(f" ({scope})")
    console.print(total)
