"""The class reports (mslab/classreport.py) from hand-built records: exact values, escaping, determinism."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import random
import xml.etree.ElementTree as ET

import pytest

from mslab.classreport import FILES, write_reports
from mslab.records import CheckResult, Record, Status

LABS = {"derivatives": 20.0, "value_and_grad": 20.0}
EVIL = "<script>alert(1)</script>"
IMG = '<img src=x onerror="alert(2)">'
F_HINT = "f′ = 3x − 2 is the tutorial's mistake; f′ = 3x² − 2"
LOAD = '=HYPERLINK("http://x","click"), then SyntaxError: bad "quote", line 1'

# (name, points, hidden) of each lab's checks, in the order the checker runs them
CHECKS = {
    "derivatives": [("test_f", 4.0, False), ("test_df", 8.0, False), ("test_nth", 8.0, True)],
    "value_and_grad": [("test_vag", 12.0, False), ("test_descent", 8.0, True)],
}


def checks(lab: str, outcome: dict[str, str | None]) -> list[CheckResult]:
    """Check results; ``outcome`` maps a check to None (passed) or the hint it failed with."""
    out = []
    for name, points, hidden in CHECKS[lab]:
        hint = outcome[name]
        out.append(
            CheckResult(
                name=name,
                title=f"{name} title",
                task="1",
                points=points,
                score=points if hint is None else 0.0,
                passed=hint is None,
                hidden=hidden,
                reason="" if hint is None else "wrong",
                hint=hint or "",
            )
        )
    return out


def record(student, lab, status, cs, *, reason="", max_score=None):
    return Record(
        student=student,
        lab=lab,
        score=sum(c.score for c in cs),
        max_score=sum(c.points for c in cs) if max_score is None else max_score,
        status=Status(status),
        reason=reason,
        checks=cs,
        seconds=random.random(),  # differs between runs, must not reach any file
    )


def class_records() -> list[Record]:
    ok = dict.fromkeys(["test_f", "test_df", "test_nth", "test_vag", "test_descent"])
    return [
        record("alice", "derivatives", "graded", checks("derivatives", ok)),
        record("alice", "value_and_grad", "graded", checks("value_and_grad", ok)),
        record("bob", "derivatives", "graded", checks("derivatives", {**ok, "test_df": F_HINT})),
        record("bob", "value_and_grad", "graded", checks("value_and_grad", {**ok, "test_descent": IMG})),
        record("carol", "derivatives", "graded", checks("derivatives", {**ok, "test_df": F_HINT, "test_nth": "nth"})),
        record("carol", "value_and_grad", "missing", [], reason="no value_and_grad.py", max_score=0.0),
        # the hostile student: unloadable derivatives, and no record at all for value_and_grad
        record(EVIL, "derivatives", "unloadable", checks("derivatives", dict.fromkeys(ok, EVIL)), reason=LOAD),
    ]


@pytest.fixture
def out(tmp_path):
    write_reports(class_records(), tmp_path / "out", labs=LABS)
    return tmp_path / "out"


def read_csv(path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))


def test_writes_every_file(out):
    # the class files, and a folder per student with a safe folder name holding its feedback
    # (the hostile name is no folder name: hand-built records only, intake never gives one)
    assert sorted(p.name for p in out.iterdir()) == sorted([*FILES, "alice", "bob", "carol"])
    for student in ("alice", "bob", "carol"):
        assert sorted(p.name for p in (out / student).iterdir()) == ["feedback.html", "feedback.md"]
    # the students' table links each to its feedback, but the hostile name (no folder) to none
    text = (out / "summary.md").read_text(encoding="utf-8")
    assert "| [bob](bob/feedback.md) | 24 | 60% | 12 | 12 |  |" in text
    assert "| &lt;script&gt;alert(1)&lt;/script&gt; | 0 | 0% | 0 (did not load) |" in text


def test_grades_csv_is_otter_like_with_points_row(out):
    assert (out / "grades.csv").read_text(encoding="utf-8") == (
        "student,derivatives,value_and_grad,total,max_total,percent\n"
        "POINTS POSSIBLE,20,20,40,40,100\n"
        "<script>alert(1)</script>,0,0,0,40,0\n"
        "alice,20,20,40,40,100\n"
        "bob,12,12,24,40,60\n"
        "carol,4,0,4,40,10\n"
    )


def test_gradebook_csv_has_a_row_per_student_lab_and_a_column_per_check(out):
    rows = read_csv(out / "gradebook.csv")
    assert rows[0] == [
        "student", "lab", "score", "max_score", "status", "reason",
        "derivatives/test_f", "derivatives/test_df", "derivatives/test_nth",
        "value_and_grad/test_vag", "value_and_grad/test_descent",
    ]  # fmt: skip
    assert rows[1:] == [
        # the reason keeps its comma and quotes, and cannot run as a spreadsheet formula
        [EVIL, "derivatives", "0", "20", "unloadable", "'" + LOAD, "0", "0", "0", "", ""],
        ["alice", "derivatives", "20", "20", "graded", "", "4", "8", "8", "", ""],
        ["alice", "value_and_grad", "20", "20", "graded", "", "", "", "", "12", "8"],
        ["bob", "derivatives", "12", "20", "graded", "", "4", "0", "8", "", ""],
        ["bob", "value_and_grad", "12", "20", "graded", "", "", "", "", "12", "0"],
        ["carol", "derivatives", "4", "20", "graded", "", "4", "0", "0", "", ""],
        # missing: the lab's max from `labs`, and empty cells for checks that never ran
        ["carol", "value_and_grad", "0", "20", "missing", "no value_and_grad.py", "", "", "", "", ""],
    ]


def test_grades_json(out):
    data = json.loads((out / "grades.json").read_text(encoding="utf-8"))
    assert data["labs"] == {"derivatives": 20, "value_and_grad": 20}
    assert list(data["students"]) == [EVIL, "alice", "bob", "carol"]
    assert data["students"]["carol"] == {
        "labs": {
            "derivatives": {"score": 4, "max_score": 20, "status": "graded", "reason": ""},
            "value_and_grad": {"score": 0, "max_score": 20, "status": "missing", "reason": "no value_and_grad.py"},
        },
        "total": 4,
        "max_total": 40,
        "percent": 10,
        "folder": "carol",  # where OUT keeps that student's results (records without one: the name)
        "gradable": True,
    }
    evil = data["students"][EVIL]
    assert evil["labs"] == {"derivatives": {"score": 0, "max_score": 20, "status": "unloadable", "reason": LOAD}}
    assert (evil["total"], evil["percent"]) == (0, 0)
    assert data["students"]["bob"]["percent"] == 60


def test_summary_md(out):
    text = (out / "summary.md").read_text(encoding="utf-8")
    assert "| students | 4 |" in text
    assert "| mean | 42.5% |" in text
    assert "| median | 35% |" in text
    assert "| min | 0% |" in text and "| max | 100% |" in text
    # per lab: mean over all four students (no record counts 0) and the status counts
    assert "| derivatives | 20 | 9 | graded 3, unloadable 1 |" in text
    assert "| value\\_and\\_grad | 20 | 8 | graded 2, missing 1, no record 1 |" in text
    # pass rates over the rows whose code loaded (the unloadable row counts in none), lowest first
    # (ties by lab, then check)
    rates = [line for line in text.splitlines() if "title" in line and line.endswith("% |")]
    assert [line.split(" | ")[1] for line in rates] == [
        "test\\_df", "test\\_descent", "test\\_nth", "test\\_f", "test\\_vag",
    ]  # fmt: skip
    assert "| 1 / 3 | 33.33% |" in rates[0]
    assert "| 1 / 2 | 50% |" in rates[1] and "(hidden)" in rates[1]
    assert "| 2 / 3 | 66.67% |" in rates[2] and "(hidden)" in rates[2]
    assert "| 3 / 3 | 100% |" in rates[3]
    assert "| 2 / 2 | 100% |" in rates[4]
    assert "Not counted above: 1 file(s) that did not load (derivatives 1)." in text
    # hints of failed checks on loaded code, most common first, escaped; none from the unloadable row
    hints = text.split("## Most common hints of failed checks")[1].split("## Not graded")[0]
    assert [line for line in hints.splitlines() if line.startswith("| ") and line[2].isdigit()] == [
        "| 2 | f′ = 3x − 2 is the tutorial's mistake; f′ = 3x² − 2 |",
        '| 1 | &lt;img src=x onerror="alert(2)"&gt; |',
        "| 1 | nth |",
    ]
    assert "![Students by total percent](histogram.svg)" in text
    assert "![Pass rate per check, lowest first](pass_rates.svg)" in text
    assert "![Students by score in each lab](lab_scores.svg)" in text
    # rows not graded, with their reasons
    assert "| &lt;script&gt;alert(1)&lt;/script&gt; | derivatives | unloadable | =HYPERLINK(" in text
    assert "| carol | value\\_and\\_grad | missing | no value\\_and\\_grad.py |" in text
    assert "<script" not in text and "<img" not in text


def test_report_html_is_self_contained_and_escaped(out):
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page.lower() and "<img" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # the name and the hint, shown as text
    # quotes as Jinja2's autoescape (markupsafe) writes them: &#34; and &#39;
    assert "&lt;img src=x onerror=&#34;alert(2)&#34;&gt;" in page
    assert "=HYPERLINK(&#34;http://x&#34;,&#34;click&#34;), then SyntaxError" in page
    assert (
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        in page
    )
    assert "<svg" in page and "<style>" in page
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "").replace("http://x", "")
    assert "src=" not in page.replace("img src=x", "") and "<link" not in page
    assert "33.33%" in page and "42.5%" in page
    assert "Not counted above: 1 file(s) that did not load (derivatives 1)." in page


def test_histogram_svg(out):
    root = ET.parse(out / "histogram.svg").getroot()
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == f"{ns}svg"
    bars = [r for r in root.iter(f"{ns}rect") if r.get("class") == "bar"]
    # percents 0, 100, 60, 10: 100 lands in 90–100, 10 in 10–20
    assert [b.get("data-bin") for b in bars] == [f"{i}-{i + 10}" for i in range(0, 100, 10)]
    assert [int(b.get("data-count")) for b in bars] == [1, 1, 0, 0, 0, 0, 1, 0, 0, 1]
    heights = [float(b.get("height")) for b in bars]
    assert heights[0] == heights[9] > 0 and heights[2] == 0
    texts = [t.text for t in root.iter(f"{ns}text")]
    assert "total percent" in texts and "students" in texts
    assert "0–10" in texts and "90–100" in texts


def test_same_records_give_byte_identical_files(tmp_path, out):
    def snapshot(folder):
        return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}

    first = snapshot(out)
    write_reports(class_records(), out, labs=LABS)  # again, over the first
    assert snapshot(out) == first
    # a resumed run: records in another order, one student × lab graded twice, other timings
    records = class_records()
    random.Random(7).shuffle(records)
    records.insert(0, dataclasses.replace(records[-1], score=0.0, seconds=99.0))  # superseded by the later one
    write_reports(records, tmp_path / "resumed", labs=LABS)
    assert snapshot(tmp_path / "resumed") == first


def test_empty_class_and_labs_without_records(tmp_path):
    write_reports([], tmp_path, labs={"derivatives": 20, "value_and_grad": 20.5})
    assert (tmp_path / "grades.csv").read_text() == (
        "student,derivatives,value_and_grad,total,max_total,percent\nPOINTS POSSIBLE,20,20.5,40.5,40.5,100\n"
    )
    assert json.loads((tmp_path / "grades.json").read_text()) == {
        "schema_version": 1,
        "labs": {"derivatives": 20, "value_and_grad": 20.5},
        "students": {},
        "not_gradable": [],
    }
    assert "| students | 0 |" in (tmp_path / "summary.md").read_text()
    ET.parse(tmp_path / "histogram.svg")


@pytest.mark.parametrize(
    "cell,written",
    [
        ("-5", "-5"),  # a student ID that is a number stays a number
        ("-12.5", "-12.5"),
        ("2024-001", "2024-001"),
        ("张三", "张三"),
        ("-5+cmd|' /C calc'!A0", "'-5+cmd|' /C calc'!A0"),
        ("-HYPERLINK(1)", "'-HYPERLINK(1)"),
        ("=1+1", "'=1+1"),
        ("+5", "'+5"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
    ],
)
def test_csv_cells_neutralise_formulas_but_keep_ids(tmp_path, cell, written):
    cs = checks("derivatives", dict.fromkeys(["test_f", "test_df", "test_nth"]))
    write_reports([record(cell, "derivatives", "graded", cs, reason=cell)], tmp_path, labs={"derivatives": 20.0})
    grades = read_csv(tmp_path / "grades.csv")
    assert grades[2][0] == written
    book = read_csv(tmp_path / "gradebook.csv")
    assert (book[1][0], book[1][5]) == (written, written)


def test_a_rejected_student_is_listed_once_and_a_real_name_shown_as_written(tmp_path):
    labs = {"derivatives": 20.0, "value_and_grad": 20.0}
    records = [
        dataclasses.replace(
            record("张三", lab, "rejected", [], reason="rejected zip: zip-slip entry '..\\evil.py'", max_score=20.0),
            folder="student-1a2b3c4d",
        )
        for lab in labs
    ]
    write_reports(records, tmp_path, labs=labs)
    text = (tmp_path / "summary.md").read_text(encoding="utf-8")
    rows = [line for line in text.split("## Not graded")[1].splitlines() if line.startswith("| 张三")]
    assert rows == ["| 张三 | all labs | rejected | rejected zip: zip-slip entry '..\\\\evil.py' |"]  # md escapes \\
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    not_graded = page.split("<h2>Not graded</h2>")[1]
    assert not_graded.count("<td>张三</td>") == 1 and "zip-slip entry &#39;..\\evil.py&#39;" in page
    assert read_csv(tmp_path / "grades.csv")[2][0] == "张三"
    data = json.loads((tmp_path / "grades.json").read_text(encoding="utf-8"))
    assert data["students"]["张三"]["folder"] == "student-1a2b3c4d"


def test_summary_and_report_show_the_same_sections_in_the_same_order(out):
    text = (out / "summary.md").read_text(encoding="utf-8")
    page = (out / "report.html").read_text(encoding="utf-8")
    titles = [
        "Students, lowest total first", "Labs", "Checks, lowest pass rate first", "Most common hints of failed checks",
        "Flagged for review", "Not graded",
    ]  # fmt: skip
    assert [line[3:] for line in text.splitlines() if line.startswith("## ")] == titles
    assert [line[4:-5] for line in page.splitlines() if line.startswith("<h2>")] == titles
    # the same rows: bob's failed hidden check is in both, with its pass rate, in one table row each
    assert "| value\\_and\\_grad | test\\_descent | test\\_descent title (hidden) | 1 / 2 | 50% |" in text
    assert (
        "<tr><td>value_and_grad</td><td>test_descent</td><td>test_descent title (hidden)</td>"
        '<td class="n">1 / 2</td><td class="n">50%</td></tr>'
    ) in page
    assert '<td class="n low">33.33%</td>' in page  # under 50%: marked
    assert "Nothing flagged." in text and "<p>Nothing flagged.</p>" in page


OK = dict.fromkeys(["test_f", "test_df", "test_nth", "test_vag", "test_descent"])


def failing(lab: str, reasons: dict[str, str]) -> list[CheckResult]:
    """The lab's checks, all passed but those in ``reasons`` (failed with that reason, no hint)."""
    out = checks(lab, OK)
    for i, c in enumerate(out):
        if c.name in reasons:
            out[i] = dataclasses.replace(c, passed=False, score=0.0, reason=reasons[c.name])
    return out


def not_gradable_records() -> list[Record]:
    return [
        record("alice", "derivatives", "graded", checks("derivatives", OK)),
        record("alice", "value_and_grad", "error", [], reason="grader worker failed: boom", max_score=20.0),
        record("bob", "derivatives", "graded", checks("derivatives", OK)),
        record("bob", "value_and_grad", "graded", checks("value_and_grad", OK)),
        record("carol", "derivatives", "interrupted", [], max_score=20.0),
        # the student's own timeout is the student's mark: 0, graded
        record("carol", "value_and_grad", "timeout", failing("value_and_grad", {"test_vag": "x", "test_descent": "y"})),
    ]


def test_rows_the_grader_could_not_grade_are_blank_not_zero(tmp_path):
    """A row with status error or interrupted (the grader's failure, a worker lost) is
    no zero: its score and its student's total and percent are blank, a `note` column says why,
    and the statistics leave the student out."""
    write_reports(not_gradable_records(), tmp_path, labs=LABS)
    assert (tmp_path / "grades.csv").read_text(encoding="utf-8") == (
        "student,derivatives,value_and_grad,total,max_total,percent,note\n"
        "POINTS POSSIBLE,20,20,40,40,100,\n"
        "alice,20,,,40,,not gradable: the grader failed on value_and_grad; rerun inv grade\n"
        "bob,20,20,40,40,100,\n"
        "carol,,0,,40,,not gradable: the grader failed on derivatives; rerun inv grade\n"
    )
    book = {(r[0], r[1]): r for r in read_csv(tmp_path / "gradebook.csv")[1:]}
    assert book[("alice", "value_and_grad")][2:5] == ["", "20", "error"]
    assert book[("carol", "derivatives")][2:5] == ["", "20", "interrupted"]
    assert book[("carol", "value_and_grad")][2:5] == ["0", "20", "timeout"]
    data = json.loads((tmp_path / "grades.json").read_text(encoding="utf-8"))
    assert data["not_gradable"] == ["alice", "carol"]
    alice = data["students"]["alice"]
    assert (alice["total"], alice["percent"], alice["gradable"]) == (None, None, False)
    assert alice["labs"]["value_and_grad"] == {
        "score": None, "max_score": 20, "status": "error", "reason": "grader worker failed: boom",
    }  # fmt: skip
    assert (data["students"]["bob"]["total"], data["students"]["bob"]["gradable"]) == (40, True)
    text = (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert "| students | 3 |\n| not gradable | 2 |\n| mean | 100% |\n| median | 100% |\n| min | 100% |" in text
    assert "Not gradable (2): alice, carol. The grader failed on a row of theirs" in text
    # lab means over the rows with a mark: derivatives alice 20, bob 20; value_and_grad bob 20, carol 0
    assert "| derivatives | 20 | 20 | graded 2, interrupted 1 |" in text
    assert "| value\\_and\\_grad | 20 | 10 | graded 1, timeout 1, error 1 |" in text
    table = text.split("## Students, lowest total first")[1].split("## ")[0]
    assert [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| student")] == [
        "| [alice](alice/feedback.md) | – | – | 20 | – (not gradable) | not gradable |",
        "| [carol](carol/feedback.md) | – | – | – (not gradable) | 0 (timed out) | not gradable, timed out |",
        "| [bob](bob/feedback.md) | 40 | 100% | 20 | 20 |  |",
    ]
    root = ET.parse(tmp_path / "histogram.svg").getroot()
    counts = [int(r.get("data-count")) for r in root.iter("{http://www.w3.org/2000/svg}rect") if r.get("data-count")]
    assert counts == [0] * 9 + [1]  # bob alone
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    # each name links to the student's feedback (a folder intake gave: here, the name itself)
    assert '<td><a href="alice/feedback.html">alice</a></td><td class="n">–</td><td class="n">–</td>' in page


def test_the_student_table_marks_who_needs_help_lowest_first(tmp_path):
    """Each student's total and lab scores, lowest first, with a student whose call
    hung or whose process crashed marked even though the row is `graded`, and timed-out, missing,
    flagged and late rows marked."""
    hung = "f_second() timed out after 20 s"
    crashed = "the student process was killed by signal 9 during f()"
    records = [
        record("dan", "derivatives", "graded", failing("derivatives", {"test_df": hung})),  # 12
        dataclasses.replace(
            record("dan", "value_and_grad", "graded", checks("value_and_grad", OK)),  # 20
            flags=["no autodiff API (grad, value_and_grad, ...) reached by: train", "late: 2 days after the due date"],
        ),
        record("eve", "derivatives", "graded", failing("derivatives", {"test_f": crashed})),  # 16
        record("eve", "value_and_grad", "timeout", failing("value_and_grad", {"test_vag": "x", "test_descent": "y"})),
        record("fay", "derivatives", "missing", [], reason="no derivatives.py", max_score=20.0),
        record("fay", "value_and_grad", "missing", [], reason="no value_and_grad.py", max_score=20.0),
        record("gus", "derivatives", "graded", checks("derivatives", OK)),
        record("gus", "value_and_grad", "graded", checks("value_and_grad", OK)),
    ]
    write_reports(records, tmp_path, labs=LABS)
    text = (tmp_path / "summary.md").read_text(encoding="utf-8")
    table = text.split("## Students, lowest total first")[1].split("## ")[0]
    assert [line for line in table.splitlines() if line.startswith("| ")] == [
        "| student | total | percent | derivatives | value\\_and\\_grad | needs a look |",
        "| [fay](fay/feedback.md) | 0 | 0% | 0 (missing) | 0 (missing) | missing |",
        "| [eve](eve/feedback.md) | 16 | 40% | 16 (crashed) | 0 (timed out) | crashed, timed out |",
        "| [dan](dan/feedback.md) | 32 | 80% | 12 (hung) | 20 (flagged, late) | hung, flagged, late |",
        "| [gus](gus/feedback.md) | 40 | 100% | 20 | 20 |  |",
    ]
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    students = page.split("<h2>Students, lowest total first</h2>")[1].split("<h2>")[0]
    names = [row.split("</td>")[0] for row in students.split("<tr><td>")[1:]]
    assert names == [f'<a href="{s}/feedback.html">{s}</a>' for s in ("fay", "eve", "dan", "gus")]
    assert '<td class="mark">12 (hung)</td>' in students and '<td class="mark">hung, flagged, late</td>' in students


def test_hints_count_students_not_failed_checks(tmp_path):
    """A student who fails three checks with one hint counts once."""
    cs = checks("derivatives", {"test_f": "same", "test_df": "same", "test_nth": "same"})
    records = [
        record("ann", "derivatives", "graded", cs),
        record("ben", "derivatives", "graded", checks("derivatives", {"test_f": None, "test_df": "same", "test_nth": "other"})),
    ]  # fmt: skip
    write_reports(records, tmp_path, labs={"derivatives": 20.0})
    text = (tmp_path / "summary.md").read_text(encoding="utf-8")
    hints = text.split("## Most common hints of failed checks")[1].split("## ")[0]
    assert "| students | hint |" in hints
    assert [line for line in hints.splitlines() if line.startswith("| ") and line[2].isdigit()] == [
        "| 2 | same |",
        "| 1 | other |",
    ]


def test_pass_rate_and_lab_score_charts(out):
    """The pass rate of each check (lowest first) and each lab's score distribution,
    as SVG files linked from summary.md and inlined in report.html (no script)."""
    ns = "{http://www.w3.org/2000/svg}"
    bars = [r for r in ET.parse(out / "pass_rates.svg").getroot().iter(f"{ns}rect") if r.get("data-check")]
    assert [(b.get("data-check"), b.get("data-rate")) for b in bars] == [
        ("derivatives/test_df", "33.33"),
        ("value_and_grad/test_descent", "50"),
        ("derivatives/test_nth", "66.67"),
        ("derivatives/test_f", "100"),
        ("value_and_grad/test_vag", "100"),
    ]
    assert [float(b.get("width")) for b in bars] == pytest.approx([99.99, 150, 200.01, 300, 300])
    assert [b.get("class") for b in bars] == ["low", "bar", "bar", "bar", "bar"]
    rects = [r for r in ET.parse(out / "lab_scores.svg").getroot().iter(f"{ns}rect") if r.get("data-lab")]
    per_lab = {lab: [int(r.get("data-count")) for r in rects if r.get("data-lab") == lab] for lab in LABS}
    # derivatives: 0 (hostile, unloadable), 20, 12, 4 of 20 -> 0-10: 1, 20-30: 1, 60-70: 1, 90-100: 1
    assert per_lab["derivatives"] == [1, 0, 1, 0, 0, 0, 1, 0, 0, 1]
    # value_and_grad: 20, 12, 0 (missing), 0 (no record)
    assert per_lab["value_and_grad"] == [2, 0, 0, 0, 0, 0, 1, 0, 0, 1]
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.count("<svg") == 3 and "<script" not in page.lower()
    for caption in ("Students by total percent", "Students by score in each lab", "Pass rate per check, lowest first"):
        assert f"<figcaption>{caption}</figcaption>" in page


def test_a_class_of_near_copies_shows_the_most_similar_pairs_side_by_side_and_lists_the_rest(tmp_path):
    """A lab whose answers all look alike (every pair above the threshold) must not put every pair
    side by side: the report of a 100-student class took 23 s to render 14,850 of them."""
    from mslab import classreport, similarity

    files = {f"s{i:02d}": "x = 1\ny = 2\n" for i in range(12)}  # 66 pairs, all the same
    pairs = [
        similarity.Pair("derivatives", a, b, 1.0 - n / 1000, 1.0, ((1, 2),), ((1, 2),), ((1, 2),), ((1, 2),)).to_dict()
        for n, (a, b) in enumerate((a, b) for a in sorted(files) for b in sorted(files) if a < b)
    ]
    similar = {"threshold": 0.7, "labs": {"derivatives": {"pairs": pairs, "files": files}}}
    write_reports([], tmp_path, labs={"derivatives": 20.0}, similar=similar)
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert page.count('<table class="similarity"') == classreport.SIDE_BY_SIDE == 25
    assert (
        "derivatives: 66 pairs reach the threshold; the 25 most similar are side by side, the other 41 listed" in page
    )
    last = pairs[-1]
    assert f"<td>{last['student']}</td><td>{last['other']}</td>" in page.replace(' class=""', "")
