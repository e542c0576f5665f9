"""Presenting one check run (:class:`mslab.checker.CheckRun`): the summary `lab.check`, `--watch`
and the notebook's ``check()`` show (a line per task, then each failing check once with its
hint), the full table (``--verbose``), and Gradescope's results.json.

Student text (exception messages, reasons, printed output, names) reaches the terminal only as
:class:`rich.text.Text` built by :func:`plain`: never read as rich markup, with escape sequences
and control characters removed.
"""

from __future__ import annotations

import dataclasses
import functools
import html
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from mslab import checker
from mslab.labs import Lab
from mslab.records import SCHEMA_VERSION, CheckRun, Record, Status, points, write_atomic

#: Lines of the student's printed output shown by `lab.check` (when a check fails, or --verbose).
OUTPUT_LINES = 20
OUTPUT_LINE_CHARS = 300

# ANSI/VT escape sequences (CSI, OSC, and two-character ESC forms), then any other control character.
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]|\x9b[0-?]*[ -/]*[@-~]")
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def plain(text: object, *, keep_newlines: bool = False) -> str:
    """Student text made safe for a terminal: no escape sequences, no control characters
    (newlines and tabs become spaces unless ``keep_newlines``)."""
    text = _ESCAPES.sub("", str(text))
    if not keep_newlines:
        text = text.replace("\r\n", " ").replace("\n", " ").replace("\t", " ")
    else:
        text = text.replace("\r\n", "\n").replace("\t", "    ")
    return _CONTROLS.sub("", text)


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


# -- the summary: what fits a screen ----------------------------------------------------------------

#: Lines of the student's printed output the summary shows (``--verbose``: OUTPUT_LINES).
SUMMARY_OUTPUT_LINES = 5
#: Characters of a failure's reason the notebook's summary shows (a terminal's: a line, two
#: without a hint; ``--verbose``: all of it).
SUMMARY_REASON_CHARS = 240
_NOT_DONE = "not done yet"


@dataclasses.dataclass
class TaskLine:
    task: str
    title: str  # lab.yaml's words for the task
    score: float
    points: float
    state: str  # "pass", "fail" or "todo" (every check it has says "not done yet")
    failing: int  # its checks that failed
    checks: int


@dataclasses.dataclass
class Failure:
    """One mistake: the failing checks (of a task) that say the same (hint, or reason)."""

    task: str
    titles: list[str]  # the visible checks' titles
    hidden: list[str]  # the hidden checks' titles
    lost: float
    reason: str
    hint: str

    @property
    def heading(self) -> str:
        """ "task 2: ∂L/∂b, and 1 hidden check (−3)": the hidden checks named only when alone."""
        names = ", ".join(self.titles) if self.titles else ", ".join(f"{t} (hidden)" for t in self.hidden)
        if self.titles and self.hidden:
            n = len(self.hidden)
            names += f", and {n} hidden check{'s' if n > 1 else ''}"
        return f"task {self.task}: {names} (−{self.lost:g})"


@dataclasses.dataclass
class Summary:
    lab: str
    submission: str
    tasks: list[TaskLine]
    failures: list[Failure]
    load_error: str
    score: float
    max_score: float
    scope: str  # which checks ran, and what is left to run
    full_marks: bool
    output: list[str]  # the last lines the student's code printed (when shown)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def summarize(run: CheckRun, lab: Lab, *, more: str, task: str | None = None, output_lines: int = 0) -> Summary:
    """The run as a line per task and each failing check once with its reason and hint (checks of
    a task that fail with the same hint, visible and hidden, are one failure; a task whose every
    check says "not done yet" is one line). ``more``: how to run the hidden checks
    (``inv lab.check LAB --all``, or the notebook's ``check(all=True)``); after full visible marks
    the scope says how many points they hold. ``task``: the run holds that task's checks only."""
    lines: list[TaskLine] = []
    order = [t for t in lab.tasks if any(c.task == t for c in run.checks)]
    order += sorted({c.task for c in run.checks} - set(order))
    for name in order:
        mine = [c for c in run.checks if c.task == name]
        failed = [c for c in mine if not c.passed]
        todo = bool(failed) and len(failed) == len(mine) and all(c.reason.startswith(_NOT_DONE) for c in failed)
        lines.append(
            TaskLine(
                task=name,
                title=plain(lab.tasks.get(name, "")),
                score=sum(c.score for c in mine),
                points=points(mine),
                state="todo" if todo else "fail" if failed else "pass",
                failing=len(failed),
                checks=len(mine),
            )
        )
    todo_tasks = {t.task for t in lines if t.state == "todo"}
    failures: list[Failure] = []
    seen: dict[tuple[str, str], Failure] = {}
    if not run.load_error:
        for c in run.checks:
            if c.passed or c.task in todo_tasks:
                continue
            reason, hint = plain(c.reason), plain(c.hint)
            key = (c.task, hint or reason)
            if key not in seen:
                seen[key] = Failure(c.task, [], [], 0.0, reason, hint)
                failures.append(seen[key])
            (seen[key].hidden if c.hidden else seen[key].titles).append(plain(c.title))
            seen[key].lost += c.points - c.score
    hidden_ran = any(c.hidden for c in run.checks)
    if task is not None:
        scope = f"task {task} only; without --task, every task"
    elif hidden_ran:
        scope = "visible and hidden checks"
    elif run.full_marks:
        hidden_points = _hidden_points(lab, tuple(f.stat().st_mtime_ns for f in lab.check_files(True)))
        scope = (
            f"every visible check passes; the hidden checks hold {hidden_points:g} more points,"
            f" on new inputs each run: {more}"
        )
    else:
        scope = f"visible checks only; {more} adds the hidden ones"
    tail = output_tail(run.output, output_lines) if output_lines and run.output and not run.full_marks else []
    return Summary(
        lab=run.lab,
        submission=plain(run.submission),
        tasks=lines,
        failures=failures,
        load_error=plain(run.load_error, keep_newlines=True).strip(),
        score=run.score,
        max_score=run.max_score,
        scope=scope,
        full_marks=run.full_marks,
        output=tail,
    )


@functools.lru_cache(maxsize=16)
def _hidden_points(lab: Lab, stamps: tuple[int, ...]) -> float:
    """The points of the lab's hidden checks, collected once per version of its check files
    (--watch and the notebook's check() ask again after every save)."""
    return sum(c.points for c in checker.collect(lab, hidden=True) if c.hidden)


_MARKS = {"pass": ("✓", "green"), "fail": ("✗", "red"), "todo": ("·", "yellow")}


def print_summary(summary: Summary, console: Console | None = None) -> None:
    """The summary in a terminal: a line per task (cut to the width, never wrapped), then each
    failure with its reason and hint, what the code printed, and the score."""
    console = console or Console()
    console.print(Text(f"{summary.lab} — {summary.submission}", style="bold"), overflow="ellipsis", no_wrap=True)
    for t in summary.tasks:
        mark, colour = _MARKS[t.state]
        line = Text(f"{mark} ", style=colour)
        line.append(f"task {t.task:<2} {t.score:>3g}/{t.points:<3g} ")
        if t.state == "todo":
            line.append("not done yet  ", style="yellow")
        elif t.state == "fail":
            line.append(f"{t.failing} of {t.checks} checks fail  ", style="red")
        line.append(t.title, style="dim")
        console.print(line, overflow="ellipsis", no_wrap=True)
    if summary.load_error:
        console.print(Text(summary.load_error, style="red"))
    for f in summary.failures:
        head = Text("✗ ", style="red")
        head.append(f.heading, style="bold")
        console.print(head)
        if f.reason:  # a line (two without a hint) of it: --verbose has all of it
            console.print(Text("  " + _cut(f.reason, (console.width - 2) * (1 if f.hint else 2) - 1)))
        if f.hint:
            console.print(Text("  Hint: " + f.hint, style="cyan"))
    if summary.output:
        console.print(Text(f"What your code printed (last {len(summary.output)} lines):", style="dim"))
        for printed in summary.output:
            console.print(Text("  " + printed), soft_wrap=True)
    colour = "green" if summary.full_marks else "yellow"
    total = Text(f"Score: {summary.score:g}/{summary.max_score:g}", style=f"bold {colour}")
    total.append(f" ({summary.scope})")
    console.print(total)


def summary_html(summary: Summary) -> str:
    """The same summary as HTML for the notebook (everything escaped)."""
    esc = html.escape
    rows = []
    for t in summary.tasks:
        mark = {"pass": "✅", "fail": "❌", "todo": "⏳"}[t.state]
        state = {"pass": "", "fail": f"{t.failing} of {t.checks} checks fail", "todo": "not done yet"}[t.state]
        rows.append(
            f"<tr><td>{mark}</td><td>task {esc(t.task)}</td><td>{t.score:g}/{t.points:g}</td>"
            f"<td>{esc(state)}</td><td>{esc(t.title)}</td></tr>"
        )
    parts = [f"<table><tbody>{''.join(rows)}</tbody></table>"]
    if summary.load_error:
        parts.append(f"<pre style='color:#b00'>{esc(summary.load_error)}</pre>")
    for f in summary.failures:
        hint = f"<br><em>Hint: {esc(f.hint)}</em>" if f.hint else ""
        parts.append(
            f"<p>❌ <strong>{esc(f.heading)}</strong><br>{esc(_cut(f.reason, SUMMARY_REASON_CHARS))}{hint}</p>"
        )
    if summary.output:
        parts.append(f"<p>What your code printed (last {len(summary.output)} lines):</p>")
        parts.append(f"<pre>{esc(chr(10).join(summary.output))}</pre>")
    parts.append(f"<p><strong>Score: {summary.score:g}/{summary.max_score:g}</strong> ({esc(summary.scope)})</p>")
    return "".join(parts)
