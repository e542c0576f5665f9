"""Class-level reports from graded records: CSV gradebooks, grades.json, a summary and a histogram.

The grader hands :func:`write_reports` one :class:`~mslab.records.Record` per student × lab; every file is a pure
function of those records and the labs' maxima, so writing the same records twice (or the records
of an interrupted run resumed later, in any order) gives byte-identical files: nothing here reads a
clock, and ``seconds`` (which differs between runs) is deliberately left out of every file.

summary.md and report.html show the same :func:`sections` (each a title and its tables and
paragraphs), each through its own small renderer: :func:`summary_md` and :func:`report_html` (a
Jinja2 template with autoescape on).

Student-controlled text (student names, reasons, hints) is escaped for HTML and Markdown, and CSV
cells that a spreadsheet would run as a formula get a leading ``'`` — except a number such as a
student ID ``-5``, which must still match the learning platform's.

Statistics count only what ran on code that loaded: a check's pass rate and the common hints come
from ``graded`` rows (the hints count students, not failed checks); files that did not load are
counted on a line of their own.

A row the grader could not grade (``error``, ``interrupted``: :attr:`Status.gradable` is False) is
no zero: its score and its student's total are left blank in every sheet, the student is listed
as not gradable, and the class statistics leave the student out until a rerun grades the row.

Each student also gets ``<folder>/feedback.html`` and ``feedback.md`` (:mod:`mslab.feedback`),
rebuilt from the records with the class files.
"""

from __future__ import annotations

import csv
import dataclasses
import html
import io
import json
import math
import re
import statistics
from collections import Counter
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path

import jinja2
import markupsafe

from mslab import feedback, similarity
from mslab.records import LATE_FLAG, SCHEMA_VERSION, CheckResult, Record, Status, write_atomic
from mslab.text import csv_text, jnum, md_text, num, percent

GRADEBOOK_COLUMNS = ["student", "lab", "score", "max_score", "status", "reason"]
#: The first data row of grades.csv, as in Otter's final_grades.csv.
POINTS_ROW = "POINTS POSSIBLE"
BINS = 10
TOP_HINTS = 10

FILES = (
    "gradebook.csv",
    "grades.csv",
    "grades.json",
    "summary.md",
    "report.html",
    "histogram.svg",
    "pass_rates.svg",
    "lab_scores.svg",
)
#: Names in OUT no student's feedback folder may take (intake never gives one of them).
RESERVED = (*FILES, "grading.json")
#: A folder name intake can give (plain ASCII, not hidden): anything else gets no feedback file.
_SAFE_FOLDER = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}")
#: grades.csv's last column, there only when some student is not gradable.
NOTE_COLUMN = "note"
#: What a reason says when a call (not the whole submission) ran out of time, or the child died.
_HUNG = re.compile(r"timed out after")
_CRASHED = re.compile(r"the student process (?!sent)")


# --- formatting --------------------------------------------------------------------------------


def feedback_folders(records: list[Record]) -> dict[str, str]:
    """The folder under OUT of each student who gets feedback files: a name intake gives (one
    plain path component, not hidden, not one of the grader's files) that holds no other
    student's records. (Hand-built records may have any folder: those get none.)"""
    students: dict[str, set[str]] = {}
    for r in records:
        students.setdefault(r.folder, set()).add(r.student)
    return {
        next(iter(names)): folder
        for folder, names in students.items()
        if len(names) == 1 and _SAFE_FOLDER.fullmatch(folder) and folder not in RESERVED
    }


def row_marks(r: Record) -> list[str]:
    """What a row says to whoever looks for students who need help: ``not gradable`` (the
    grader's failure), ``missing``, ``rejected``, ``did not load``, ``timed out`` (the whole
    submission), ``hung`` (a call timed out), ``crashed`` (the student's process died), ``flagged``
    and ``late``. A graded row whose code hung or crashed is not only "graded"."""
    marks = []
    if not r.status.gradable:
        marks.append("not gradable")
    elif r.status == Status.MISSING:
        marks.append("missing")
    elif r.status == Status.REJECTED:
        marks.append("rejected")
    elif r.status == Status.UNLOADABLE:
        marks.append("did not load")
    elif r.status == Status.TIMEOUT:
        marks.append("timed out")
    reasons = [c.reason for c in r.checks if not c.passed]
    if r.status != Status.TIMEOUT and any(_HUNG.search(x) for x in reasons):
        marks.append("hung")
    if any(_CRASHED.search(x) for x in reasons):
        marks.append("crashed")
    if any(not f.startswith(LATE_FLAG) for f in r.flags):
        marks.append("flagged")
    if r.late:
        marks.append("late")
    return marks


def _csv(rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


# --- the class, from the records ---------------------------------------------------------------


class _Class:
    """The records, deduplicated and sorted, with everything the files are made of."""

    def __init__(self, records: list[Record], labs: dict[str, float], people: dict[str, dict] | None = None):
        self.people = people or {}  # who each student is on the learning platform (id, email)
        latest: dict[tuple[str, str], Record] = {}
        for r in records:  # a student × lab graded twice (a resumed run): the last record wins
            latest[(str(r.student), str(r.lab))] = r
        self.records = [latest[key] for key in sorted(latest)]
        self.students = sorted({r.student for r in self.records})
        self.labs = sorted(set(labs) | {r.lab for r in self.records})
        self.lab_max = {
            lab: float(labs[lab]) if lab in labs else max(float(r.max_score) for r in self.records if r.lab == lab)
            for lab in self.labs
        }
        self.max_total = sum(self.lab_max[lab] for lab in self.labs)
        self.by_key = {(r.student, r.lab): r for r in self.records}
        self.folders = feedback_folders(self.records)

        # check columns: labs sorted, each lab's checks in the order first seen (in sorted records)
        seen: dict[str, dict[str, CheckResult]] = {lab: {} for lab in self.labs}
        for r in self.records:
            for c in r.checks:
                seen[r.lab].setdefault(c.name, c)
        self.checks = [(lab, name, c) for lab in self.labs for name, c in seen[lab].items()]

        #: students with a row the grader could not grade: no total until a rerun grades it
        self.not_gradable = sorted({r.student for r in self.records if not r.status.gradable})
        self.totals: dict[str, tuple[float | None, float | None]] = {}
        for s in self.students:
            if s in self.not_gradable:
                self.totals[s] = (None, None)
                continue
            total = sum(float(self.by_key[(s, lab)].score) for lab in self.labs if (s, lab) in self.by_key)
            self.totals[s] = (total, percent(total, self.max_total))

    def row_max(self, r: Record) -> float:
        """A row's max score: its own when graded, else the lab's (a missing file has no checks)."""
        if r.status == Status.GRADED or r.lab not in self.lab_max:
            return float(r.max_score)
        return self.lab_max[r.lab] or float(r.max_score)

    def score(self, student: str, lab: str) -> float | None:
        """The student's score in the lab: 0 without a record, None for a row not gradable."""
        r = self.by_key.get((student, lab))
        if r is not None and not r.status.gradable:
            return None
        return float(r.score) if r else 0.0

    # statistics

    def percents(self) -> list[float]:
        """The total percents of the students with a total (not those the grader failed on)."""
        return [p for s in self.students if (p := self.totals[s][1]) is not None]

    def overall(self) -> dict[str, float | None]:
        p = self.percents()
        if not p:
            return dict(mean=None, median=None, min=None, max=None)
        return dict(
            mean=round(statistics.fmean(p), 2),
            median=round(statistics.median(p), 2),
            min=min(p),
            max=max(p),
        )

    def lab_stats(self) -> list[dict]:
        out = []
        for lab in self.labs:
            rows = [r for r in self.records if r.lab == lab]
            counts = Counter(r.status for r in rows)
            absent = len(self.students) - len(rows)
            scores = [x for s in self.students if (x := self.score(s, lab)) is not None]
            mean = statistics.fmean(scores) if scores else 0.0
            statuses = [(st.value, counts[st]) for st in Status if counts[st]]
            if absent:
                statuses.append(("no record", absent))
            out.append(dict(lab=lab, mean=round(mean, 2), max=self.lab_max[lab], statuses=statuses))
        return out

    def ran_rows(self) -> list[Record]:
        """The rows whose checks ran on code that loaded (not unloadable, timed out, rejected...)."""
        return [r for r in self.records if r.status == Status.GRADED]

    def load_failures(self) -> list[tuple[str, int]]:
        """(lab, rows whose file did not load), for the labs that have any."""
        counts = Counter(r.lab for r in self.records if r.status == Status.UNLOADABLE)
        return sorted(counts.items())

    def pass_rates(self) -> list[dict]:
        """Per check, passed / ran over the rows where it ran on loaded code; the lowest rate first."""
        ran: Counter = Counter()
        passed: Counter = Counter()
        for r in self.ran_rows():
            for c in r.checks:
                ran[(r.lab, c.name)] += 1
                passed[(r.lab, c.name)] += bool(c.passed)
        rates = []
        for lab, name, c in self.checks:
            n, p = ran[(lab, name)], passed[(lab, name)]
            rates.append(
                dict(
                    lab=lab,
                    name=name,
                    title=c.title or name,
                    hidden=bool(c.hidden),
                    passed=p,
                    ran=n,
                    rate=round(100.0 * p / n, 2) if n else 0.0,
                )
            )
        return sorted(rates, key=lambda x: (x["rate"], x["lab"], x["name"]))

    def top_hints(self) -> list[tuple[str, int]]:
        """The hints of failed checks on loaded code, with how many students got each (a student
        who failed three checks with one hint counts once); the most students first."""
        pairs = {(r.student, c.hint) for r in self.ran_rows() for c in r.checks if not c.passed and c.hint}
        hints = Counter(hint for _, hint in pairs)
        return sorted(hints.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_HINTS]

    def student_rows(self) -> list[dict]:
        """Per student: total, percent, each lab's score and marks, and the student's marks;
        lowest first — the students the grader failed on (no total) before everyone, then by
        percent, then by name."""
        rows = []
        for s in self.students:
            total, pct = self.totals[s]
            labs, marks = {}, []
            for lab in self.labs:
                r = self.by_key.get((s, lab))
                lab_marks = row_marks(r) if r is not None else ["no record"]
                labs[lab] = (self.score(s, lab), lab_marks)
                marks += [m for m in lab_marks if m not in marks]
            rows.append(dict(student=s, total=total, percent=pct, labs=labs, marks=marks))
        return sorted(rows, key=lambda x: (x["percent"] is not None, x["percent"] or 0.0, x["student"]))

    def lab_histograms(self) -> list[tuple[str, list[int]]]:
        """Per lab, students per 10-point band of their lab score (gradable rows; no record is 0)."""
        out = []
        for lab in self.labs:
            counts = [0] * BINS
            for s in self.students:
                x = self.score(s, lab)
                if x is not None:
                    p = percent(x, self.lab_max[lab])
                    counts[min(max(int(p // (100 / BINS)), 0), BINS - 1)] += 1
            out.append((lab, counts))
        return out

    def not_graded(self) -> list[Record]:
        """Rows that need a look; a rejected student once (the reason is the same for every lab)."""
        rows, rejected = [], set()
        for r in self.records:
            if r.status == Status.GRADED:
                continue
            if r.status == Status.REJECTED:
                if r.student in rejected:
                    continue
                rejected.add(r.student)
                r = dataclasses.replace(r, lab="all labs")
            rows.append(r)
        return rows

    def flagged(self) -> list[Record]:
        """Graded rows with something for the instructor to look at (answers without autodiff)."""
        return [r for r in self.records if r.status == Status.GRADED and r.flags]

    def histogram(self) -> list[int]:
        counts = [0] * BINS
        for p in self.percents():
            counts[min(max(int(p // (100 / BINS)), 0), BINS - 1)] += 1  # 100% goes in 90–100
        return counts


# --- the files ---------------------------------------------------------------------------------


def _ids(c: _Class) -> bool:
    """Whether the sheets carry the platform's id and e-mail columns (a roster or a platform's download)."""
    return any(p.get("id") or p.get("email") for p in c.people.values())


def _who(c: _Class, student: str) -> list[str]:
    p = c.people.get(student) or {}
    return [csv_text(str(p.get("id") or "")), csv_text(str(p.get("email") or ""))]


def gradebook_csv(c: _Class) -> str:
    """A row per student × lab. With the platform's ids (roster or download), ``id`` and
    ``email`` follow the student; with late penalties or overrides, ``raw_score`` (what the checks
    gave) and ``adjustments`` (each with its reason) follow the final ``score``."""
    ids, adjusted = _ids(c), any(r.adjustments for r in c.records)
    head = GRADEBOOK_COLUMNS[:1] + (["id", "email"] if ids else []) + GRADEBOOK_COLUMNS[1:]
    head += ["raw_score", "adjustments"] if adjusted else []
    rows = [head + [f"{lab}/{name}" for lab, name, _ in c.checks]]
    for r in c.records:
        ran = {ch.name: ch for ch in r.checks}
        cells = [
            csv_text(r.student),
            csv_text(r.lab),
            num(r.score) if r.status.gradable else "",  # the grader failed: no score, not 0
            num(c.row_max(r)),
            r.status.value,
            csv_text(r.reason or ""),
        ]
        if ids:
            cells[1:1] = _who(c, r.student)
        if adjusted:
            raw = r.raw_score if r.raw_score is not None else r.score
            cells += [num(raw) if r.status.gradable else "", csv_text("; ".join(r.adjustments))]
        for lab, name, _ in c.checks:
            cells.append(num(ran[name].score) if lab == r.lab and name in ran else "")
        rows.append(cells)
    return _csv(rows)


def _blank_or_num(x: float | None) -> str:
    return "" if x is None else num(x)


def not_gradable_note(c: _Class, student: str) -> str:
    """Why a student has no total: the labs the grader failed on."""
    labs = [r.lab for r in c.records if r.student == student and not r.status.gradable]
    return f"not gradable: the grader failed on {', '.join(labs)}; rerun inv grade"


def grades_csv(c: _Class) -> str:
    """The sheet to upload. A student the grader failed on has blank cells (the lab it failed on,
    total, percent), never 0, and then — only then — a last column ``note`` says why."""
    note = [NOTE_COLUMN] if c.not_gradable else []
    ids = ["id", "email"] if _ids(c) else []
    rows = [["student", *ids, *c.labs, "total", "max_total", "percent", *note]]
    points_row = [POINTS_ROW, *([""] * len(ids)), *(num(c.lab_max[lab]) for lab in c.labs)]
    points_row += [num(c.max_total), num(c.max_total), "100"]
    rows.append(points_row + [""] * len(note))
    for s in c.students:
        total, pct = c.totals[s]
        cells = [csv_text(s), *(_who(c, s) if ids else []), *(_blank_or_num(c.score(s, lab)) for lab in c.labs)]
        cells += [_blank_or_num(total), num(c.max_total), _blank_or_num(pct)]
        if note:
            cells.append(not_gradable_note(c, s) if s in c.not_gradable else "")
        rows.append(cells)
    return _csv(rows)


def grades_json(c: _Class) -> str:
    students = {}
    for s in c.students:
        labs: dict[str, dict] = {}
        for lab in c.labs:
            r = c.by_key.get((s, lab))
            if r is not None:
                labs[lab] = {
                    "score": jnum(r.score) if r.status.gradable else None,
                    "max_score": jnum(c.row_max(r)),
                    "status": r.status.value,
                    "reason": r.reason or "",
                }
                if r.adjustments:
                    labs[lab]["raw_score"] = jnum(r.raw_score if r.raw_score is not None else r.score)
                    labs[lab]["adjustments"] = list(r.adjustments)
        total, pct = c.totals[s]
        folder = next((str(r.folder or s) for (who, _), r in c.by_key.items() if who == s), s)
        students[s] = {
            "labs": labs,
            "total": None if total is None else jnum(total),
            "max_total": jnum(c.max_total),
            "percent": None if pct is None else jnum(pct),
            "folder": folder,
            "gradable": s not in c.not_gradable,
        }
        if c.people.get(s):
            students[s]["id"] = str(c.people[s].get("id") or "")
            students[s]["email"] = str(c.people[s].get("email") or "")
    data = {
        "schema_version": SCHEMA_VERSION,  # docs/results.md
        "labs": {lab: jnum(c.lab_max[lab]) for lab in c.labs},
        "students": students,
        "not_gradable": c.not_gradable,
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def histogram_svg(c: _Class) -> str:
    """Students per 10-point band of total percent, as a standalone SVG (no dependencies)."""
    counts = c.histogram()
    width, height = 640, 320
    left, right, top, bottom = 56, 16, 36, 56
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max(counts) or 1
    bar_w = plot_w / BINS
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="histogram of total percent">',
        f"<title>Students by total percent (n={len(c.percents())})</title>",
        "<style>text{font-family:sans-serif;font-size:12px;fill:#222}"
        ".bar{fill:#4878a8}.axis{stroke:#222;stroke-width:1}</style>",
        f'<text x="{width / 2:g}" y="20" text-anchor="middle" font-weight="bold">'
        f"Students by total percent (n={len(c.percents())})</text>",
    ]
    for i, n in enumerate(counts):
        lo, hi = i * 100 // BINS, (i + 1) * 100 // BINS
        bar_h = plot_h * n / peak
        x = left + i * bar_w
        y = top + plot_h - bar_h
        parts.append(
            f'<rect class="bar" data-bin="{lo}-{hi}" data-count="{n}" x="{x + 2:g}" y="{y:g}" '
            f'width="{bar_w - 4:g}" height="{bar_h:g}"><title>{lo}–{hi}%: {n}</title></rect>'
        )
        parts.append(f'<text x="{x + bar_w / 2:g}" y="{y - 4:g}" text-anchor="middle">{n}</text>')
        parts.append(f'<text x="{x + bar_w / 2:g}" y="{top + plot_h + 16:g}" text-anchor="middle">{lo}–{hi}</text>')
    base = top + plot_h
    parts += [
        f'<line class="axis" x1="{left}" y1="{base}" x2="{width - right}" y2="{base}"/>',
        f'<line class="axis" x1="{left}" y1="{top}" x2="{left}" y2="{base}"/>',
        f'<text x="{left + plot_w / 2:g}" y="{height - 12}" text-anchor="middle">total percent</text>',
        f'<text x="16" y="{top + plot_h / 2:g}" text-anchor="middle" '
        f'transform="rotate(-90 16 {top + plot_h / 2:g})">students</text>',
        "</svg>",
    ]
    return "\n".join(parts) + "\n"


def _x(text: str) -> str:
    """Text for an SVG element or attribute (names of labs and checks are escaped too)."""
    return html.escape(str(text), quote=True)


def pass_rates_svg(c: _Class) -> str:
    """Each check's pass rate (rows whose code loaded), lowest first, as horizontal bars."""
    rates = c.pass_rates()
    width, label_w, bar_w, row_h, top = 760, 330, 300, 20, 40
    height = top + row_h * max(len(rates), 1) + 24
    title = f"Pass rate per check, lowest first ({len(rates)} checks)"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="pass rate per check">',
        f"<title>{_x(title)}</title>",
        "<style>text{font-family:sans-serif;font-size:12px;fill:#222}"
        ".bar{fill:#4878a8}.low{fill:#c0504d}.track{fill:#eee}</style>",
        f'<text x="{width / 2:g}" y="20" text-anchor="middle" font-weight="bold">{_x(title)}</text>',
    ]
    if not rates:
        parts.append(f'<text x="{width / 2:g}" y="{top + 14}" text-anchor="middle">No checks ran.</text>')
    for i, r in enumerate(rates):
        y = top + i * row_h
        label = f"{r['lab']} · {r['title']}" + (" (hidden)" if r["hidden"] else "")
        label = label if len(label) <= 48 else label[:47] + "…"
        w = bar_w * r["rate"] / 100
        css = "low" if r["rate"] < 50 else "bar"
        parts += [
            f'<text x="{label_w - 8}" y="{y + 14}" text-anchor="end">{_x(label)}</text>',
            f'<rect class="track" x="{label_w}" y="{y + 3}" width="{bar_w}" height="{row_h - 6}"/>',
            f'<rect class="{css}" data-check="{_x(r["lab"])}/{_x(r["name"])}" data-rate="{num(r["rate"])}" '
            f'x="{label_w}" y="{y + 3}" width="{w:g}" height="{row_h - 6}">'
            f"<title>{_x(label)}: {r['passed']} of {r['ran']}</title></rect>",
            f'<text x="{label_w + bar_w + 8}" y="{y + 14}">{num(r["rate"])}% ({r["passed"]}/{r["ran"]})</text>',
        ]
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def lab_scores_svg(c: _Class) -> str:
    """Per lab, students per 10-point band of the lab's score (one small histogram per lab)."""
    panels = c.lab_histograms()
    width, panel_h, left, right, top = 640, 160, 56, 16, 36
    plot_w, plot_h = width - left - right, panel_h - 70
    height = top + panel_h * max(len(panels), 1)
    title = "Students by score in each lab"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="score distribution per lab">',
        f"<title>{_x(title)}</title>",
        "<style>text{font-family:sans-serif;font-size:12px;fill:#222}"
        ".bar{fill:#4878a8}.axis{stroke:#222;stroke-width:1}</style>",
        f'<text x="{width / 2:g}" y="20" text-anchor="middle" font-weight="bold">{_x(title)}</text>',
    ]
    bar_w = plot_w / BINS
    for k, (lab, counts) in enumerate(panels):
        y0 = top + k * panel_h
        base = y0 + 34 + plot_h  # under the panel's title and the tallest bar's count
        peak = max(counts) or 1
        parts.append(f'<text x="{left}" y="{y0 + 12}" font-weight="bold">{_x(lab)} (max {num(c.lab_max[lab])})</text>')
        for i, n in enumerate(counts):
            lo, hi = i * 100 // BINS, (i + 1) * 100 // BINS
            bar_h = plot_h * n / peak
            x = left + i * bar_w
            parts.append(
                f'<rect class="bar" data-lab="{_x(lab)}" data-bin="{lo}-{hi}" data-count="{n}" x="{x + 2:g}" '
                f'y="{base - bar_h:g}" width="{bar_w - 4:g}" height="{bar_h:g}">'
                f"<title>{_x(lab)} {lo}–{hi}%: {n}</title></rect>"
            )
            if n:
                parts.append(f'<text x="{x + bar_w / 2:g}" y="{base - bar_h - 3:g}" text-anchor="middle">{n}</text>')
            parts.append(f'<text x="{x + bar_w / 2:g}" y="{base + 14:g}" text-anchor="middle">{lo}–{hi}%</text>')
        parts.append(f'<line class="axis" x1="{left}" y1="{base:g}" x2="{width - right}" y2="{base:g}"/>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


# --- the summary's sections, rendered as Markdown (summary.md) and HTML (report.html) -------------


@dataclass(frozen=True)
class Cell:
    text: str  # plain text: each renderer escapes it
    css: str = ""  # an HTML class: "why" (free text, wrapped), "low" (a low pass rate)
    folder: str = ""  # a student's feedback folder: the cell links to its feedback file


@dataclass(frozen=True)
class Table:
    head: list[str]
    rows: list[list[Cell]]
    numeric: frozenset[int] = frozenset()  # columns aligned right (and tabular figures)
    kind = "table"

    def css(self, column: int, cell: Cell) -> str:
        return " ".join(x for x in ("n" if column in self.numeric else "", cell.css) if x)


@dataclass(frozen=True)
class Paragraph:
    text: str
    kind = "paragraph"


@dataclass(frozen=True)
class Chart:
    """One of the SVG files (histogram.svg, lab_scores.svg, pass_rates.svg): linked from
    summary.md, inlined in report.html."""

    file: str
    caption: str
    kind = "chart"


@dataclass(frozen=True)
class Fragment:
    """HTML made by a module that escapes every piece of student text itself (the similar files
    side by side, mslab.similarity.side_by_side_html): inlined in report.html; summary.md says
    where to see it."""

    html: str
    text: str  # what summary.md says instead
    kind = "fragment"


Blocks = list[Table | Paragraph | Chart | Fragment]


@dataclass(frozen=True)
class Section:
    title: str  # "" for the overview at the top
    blocks: Blocks


def _statuses(statuses: list[tuple[str, int]]) -> str:
    return ", ".join(f"{st} {n}" for st, n in statuses) or "–"


def _load_failures(c: _Class) -> str:
    """The line on files that did not load, which no pass rate counts; "" when there are none."""
    failures = c.load_failures()
    if not failures:
        return ""
    total = sum(n for _, n in failures)
    per_lab = ", ".join(f"{lab} {n}" for lab, n in failures)
    return f"Not counted above: {total} file(s) that did not load ({per_lab})."


def _table(head: list[str], rows: Sequence[Sequence[str | Cell]], numeric: AbstractSet[int] = frozenset()) -> Table:
    cells = [[x if isinstance(x, Cell) else Cell(x) for x in row] for row in rows]
    return Table(head, cells, frozenset(numeric))


def _students_table(c: _Class) -> Table:
    """Who needs help: each student's total, percent and lab scores, lowest first, each row's
    marks (timed out, hung, crashed, did not load, missing, flagged, late, not gradable)."""
    rows = []
    for row in c.student_rows():
        cells: list[Cell] = [
            Cell(row["student"], folder=c.folders.get(row["student"], "")),
            Cell("–" if row["total"] is None else num(row["total"])),
            Cell("–" if row["percent"] is None else f"{num(row['percent'])}%"),
        ]
        for lab in c.labs:
            score, marks = row["labs"][lab]
            text = "–" if score is None else num(score)
            cells.append(Cell(text + (f" ({', '.join(marks)})" if marks else ""), "mark" if marks else ""))
        cells.append(Cell(", ".join(row["marks"]), "mark" if row["marks"] else ""))
        rows.append(cells)
    return _table(["student", "total", "percent", *c.labs, "needs a look"], rows, {1, 2})


def sections(c: _Class) -> list[Section]:
    """The summary of the class, section by section: what summary.md and report.html both show."""
    o = c.overall()
    fmt = lambda v: "–" if v is None else f"{num(v)}%"  # noqa: E731
    overall = [["students", str(len(c.students))]]
    if c.not_gradable:
        overall.append(["not gradable", str(len(c.not_gradable))])
    overall += [[k, fmt(o[k])] for k in ("mean", "median", "min", "max")]
    top: Blocks = [
        _table(["", ""], overall, {1}),
        Paragraph(f"Total points: {num(c.max_total)}."),
    ]
    if c.not_gradable:
        top.append(
            Paragraph(
                f"Not gradable ({len(c.not_gradable)}): {', '.join(c.not_gradable)}. The grader failed on a row "
                "of theirs (not the student's doing): their totals are left blank, not 0, and left out of the "
                "statistics; rerun inv grade to grade them."
            )
        )
    top.append(Chart("histogram.svg", "Students by total percent"))
    out = [Section("", top), Section("Students, lowest total first", [_students_table(c)])]
    out.append(
        Section(
            "Labs",
            [
                _table(
                    ["lab", "max", "mean score", "statuses"],
                    [[s["lab"], num(s["max"]), num(s["mean"]), _statuses(s["statuses"])] for s in c.lab_stats()],
                    {1, 2},
                ),
                Chart("lab_scores.svg", "Students by score in each lab"),
            ],
        )
    )

    rates = c.pass_rates()
    checks: Blocks = [Paragraph("No checks ran.")]
    if rates:
        checks = [
            _table(
                ["lab", "check", "title", "passed / ran", "pass rate"],
                [
                    [
                        r["lab"],
                        r["name"],
                        r["title"] + (" (hidden)" if r["hidden"] else ""),
                        f"{r['passed']} / {r['ran']}",
                        Cell(f"{num(r['rate'])}%", "low" if r["rate"] < 50 else ""),
                    ]
                    for r in rates
                ],
                {3, 4},
            ),
            Chart("pass_rates.svg", "Pass rate per check, lowest first"),
        ]
    if _load_failures(c):
        checks.append(Paragraph(_load_failures(c)))
    out.append(Section("Checks, lowest pass rate first", checks))

    hints = c.top_hints()
    out.append(
        Section(
            "Most common hints of failed checks",
            [
                _table(["students", "hint"], [[str(n), Cell(hint, "why")] for hint, n in hints], {0})
                if hints
                else Paragraph("None.")
            ],
        )
    )

    flagged = c.flagged()
    out.append(
        Section(
            "Flagged for review",
            [
                _table(
                    ["student", "lab", "score", "flag"],
                    [[r.student, r.lab, num(r.score), Cell("; ".join(r.flags), "why")] for r in flagged],
                    {2},
                )
                if flagged
                else Paragraph("Nothing flagged.")
            ],
        )
    )

    rows = c.not_graded()
    out.append(
        Section(
            "Not graded",
            [
                _table(
                    ["student", "lab", "status", "reason"],
                    [[r.student, r.lab, r.status.value, Cell(r.reason or "", "why")] for r in rows],
                )
                if rows
                else Paragraph("Every student × lab was graded.")
            ],
        )
    )
    return out


def _md_cell(cell: Cell) -> str:
    if cell.folder:  # a safe folder name: nothing in it needs escaping in a link target
        return f"[{md_text(cell.text)}]({cell.folder}/feedback.md)"
    return md_text(cell.text)


def summary_md(parts: list[Section]) -> str:
    """summary.md: every text through :func:`md_text`."""
    blocks = ["# Class summary"]
    for section in parts:
        if section.title:
            blocks.append(f"## {section.title}")
        for block in section.blocks:
            if isinstance(block, Table):
                lines = ["|" + "|".join(f" {md_text(x)} " if x else " " for x in block.head) + "|"]
                align = ("---:" if i in block.numeric else "---" for i in range(len(block.head)))
                lines.append("|" + "|".join(align) + "|")
                lines += ["| " + " | ".join(_md_cell(cell) for cell in row) + " |" for row in block.rows]
                blocks.append("\n".join(lines))
            elif isinstance(block, (Paragraph, Fragment)):
                blocks.append(md_text(block.text))
            else:
                blocks.append(f"![{block.caption}]({block.file})")
    return "\n\n".join(blocks) + "\n"


# Jinja2 escapes every {{ value }} (autoescape): student text cannot become markup. The values
# marked safe are the SVG charts, written from numbers and escaped lab and check names alone.
_HTML = """\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
{# no script, no external anything, even if an escape were ever missed #}
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Class report</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:60em;color:#222;padding:0 1em}
table{border-collapse:collapse;margin:.5em 0 1.5em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f0f0f0}
td.n{text-align:right;font-variant-numeric:tabular-nums}
td.why{white-space:pre-wrap;max-width:36em;overflow-wrap:anywhere}
.low{background:#fde8e8}
td.mark{background:#fff3cd}
table.similarity td{max-width:30em;overflow:auto}
table.similarity pre{margin:0;font-size:.85em}
mark{background:#ffe08a}
</style>
</head>
<body>
<h1>Class report</h1>
{% for section in sections %}
{% if section.title %}
<h2>{{ section.title }}</h2>
{% endif %}
{% for block in section.blocks %}
{% if block.kind == "table" %}
<table>
<tr>{% for head in block.head %}<th>{{ head }}</th>{% endfor %}</tr>
{% for row in block.rows %}
<tr>
{%- for cell in row %}
  {%- set css = block.css(loop.index0, cell) -%}
  <td{% if css %} class="{{ css }}"{% endif %}>
  {%- if cell.folder %}<a href="{{ cell.folder }}/feedback.html">{{ cell.text }}</a>{% else %}{{ cell.text }}{% endif -%}
  </td>
{%- endfor -%}
</tr>
{% endfor %}
</table>
{% elif block.kind == "paragraph" %}
<p>{{ block.text }}</p>
{% elif block.kind == "fragment" %}
{{ block.html | safe }}
{% else %}
<figure>
{{ svgs[block.file] }}
<figcaption>{{ block.caption }}</figcaption></figure>
{% endif %}
{% endfor %}
{% endfor %}
</body>
</html>
"""

_TEMPLATE = jinja2.Environment(
    autoescape=True, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, undefined=jinja2.StrictUndefined
).from_string(_HTML)


def report_html(parts: list[Section], svgs: dict[str, str]) -> str:
    """report.html: the sections through the Jinja2 template above, the SVG charts inlined."""
    return _TEMPLATE.render(sections=parts, svgs={k: markupsafe.Markup(v.strip()) for k, v in svgs.items()})


#: Pairs of one lab shown side by side in report.html, the most similar first; the rest are
#: listed (a class of near-copies put 14,850 side by side: 23 s to render, nothing to read).
SIDE_BY_SIDE = 25


def _similar_section(similar: dict | None) -> Section | None:
    """The pairs of similar files (OUT/similarity.json), each side by side: a flag for a person
    to read, never a mark."""
    if not similar:
        return None
    blocks: Blocks = [
        Paragraph(
            "Pairs of students whose files share more than the lab's starter and tutorial code "
            f"(copydetect's fingerprints; {similar.get('threshold', similarity.THRESHOLD):.0%} of a file or more). "
            "A flag for a person to read: no mark is changed."
        )
    ]
    if similar.get("note"):
        blocks.append(Paragraph(str(similar["note"])))
    found = 0
    for lab, entry in sorted((similar.get("labs") or {}).items()):
        texts = entry.get("files") or {}
        found_here = [similarity.Pair.from_dict(data) for data in entry.get("pairs") or []]  # most similar first
        found += len(found_here)
        if len(found_here) > SIDE_BY_SIDE:
            blocks.append(
                Paragraph(
                    f"{lab}: {len(found_here)} pairs reach the threshold; the {SIDE_BY_SIDE} most similar are "
                    f"side by side, the other {len(found_here) - SIDE_BY_SIDE} listed after them (all of them "
                    "in similarity.json). So many pairs alike usually means the lab leaves little room to differ."
                )
            )
        for pair in found_here[:SIDE_BY_SIDE]:
            blocks.append(Paragraph(f"{lab}: {pair.student} and {pair.other}"))
            fragment = similarity.side_by_side_html(pair, texts.get(pair.student, ""), texts.get(pair.other, ""))
            blocks.append(Fragment(fragment, f"{pair.similarity:.0%} / {pair.other_similarity:.0%}: see report.html"))
        if len(found_here) > SIDE_BY_SIDE:
            rows = [
                [Cell(lab), Cell(p.student), Cell(p.other), Cell(f"{p.similarity:.0%} / {p.other_similarity:.0%}")]
                for p in found_here[SIDE_BY_SIDE:]
            ]
            blocks.append(Table(["lab", "student", "other", "similarity"], rows, frozenset({3})))
    if not found and not similar.get("note"):
        blocks.append(Paragraph("No pair of files reaches the threshold."))
    return Section("Similar files", blocks)


def write_reports(
    records: list[Record],
    out: Path,
    *,
    labs: dict[str, float],
    people: dict[str, dict] | None = None,
    similar: dict | None = None,
) -> None:
    """Write every class-level file into `out` from the graded records, atomically (records.write_atomic).

    ``labs`` maps each lab to its max score; a lab with no records still gets its column and counts
    toward ``max_total``. A student × lab that appears twice counts once (the later record).
    Files: :data:`FILES`, and each student's feedback.html and feedback.md (:mod:`mslab.feedback`).
    """
    for r in records:
        for key in ("score", "max_score"):
            if not math.isfinite(float(getattr(r, key))):
                raise ValueError(f"{r.student}/{r.lab}: {key} is {getattr(r, key)!r}")
    c = _Class(records, labs, people)
    out = Path(out)
    svgs = {"histogram.svg": histogram_svg(c), "lab_scores.svg": lab_scores_svg(c), "pass_rates.svg": pass_rates_svg(c)}
    parts = sections(c)
    extra = _similar_section(similar)
    if extra is not None:
        parts.append(extra)
    write_atomic(out / "gradebook.csv", gradebook_csv(c))
    write_atomic(out / "grades.csv", grades_csv(c))
    write_atomic(out / "grades.json", grades_json(c))
    for name, svg in svgs.items():
        write_atomic(out / name, svg)
    write_atomic(out / "summary.md", summary_md(parts))
    write_atomic(out / "report.html", report_html(parts, svgs))
    feedback.write_feedback(c.records, out, lab_max=c.lab_max, folders=feedback_folders(c.records))
