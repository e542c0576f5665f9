"""From the learning platform's download to its grade import: a Canvas download graded with the
Canvas roster carries every student's Canvas ids into the export, a student of the roster who
handed in nothing gets missing rows and 0, a hand-in that matches nobody is flagged, and each
export's header is the platform's own."""

from __future__ import annotations

import csv
import io
import json

import pytest

from conftest import LABS, ROOT, inv
from mslab import exports
from mslab.records import Record, Status

SOLUTION = LABS["derivatives"].solution.read_bytes()
ROSTER = """Student,ID,SIS User ID,SIS Login ID,Section,Lab 1 (4411)
    Points Possible,,,,,20
"Smith, John",12345,S001,jsmith,Section A,
"Lee, Anna",23456,S002,alee,Section A,
"Absent, Ava",34567,S003,aabsent,Section B,
"""


@pytest.mark.slow
@pytest.mark.sandbox  # grades a class: student code in real sandboxes
def test_canvas_download_and_roster_to_canvas_import(tmp_path):
    download = tmp_path / "download"
    download.mkdir()
    (download / "smithjohn_12345_901_derivatives.py").write_bytes(SOLUTION)
    (download / "leeanna_late_23456_902_derivatives.py").write_bytes(
        SOLUTION.replace(b"return x**3", b"return 2 * x**3")
    )
    (download / "strangerdan_99999_903_derivatives.py").write_bytes(SOLUTION)
    (tmp_path / "roster.csv").write_text(ROSTER)
    out = tmp_path / "out"
    graded = inv(
        "grade", str(download), "--out", str(out), "--labs", "derivatives", "--roster", str(tmp_path / "roster.csv")
    )
    assert graded.returncode == 0, graded.stdout + graded.stderr
    people = json.loads((out / "people.json").read_text())
    assert people["smithjohn"] == {
        "name": "Smith, John",
        "id": "S001",
        "email": "",
        "login": "jsmith",
        "platform_id": "12345",
        "section": "Section A",
        "matched": "id",
    }
    assert people["Absent, Ava"]["matched"] == "roster" and people["strangerdan"]["matched"] == ""
    report = (out / "summary.md").read_text()
    assert "strangerdan" in report and "not matched to the roster" in report
    with open(out / "gradebook.csv", newline="") as fh:
        rows = {r["student"]: r for r in csv.DictReader(fh)}
    assert rows["Absent, Ava"]["status"] == "missing"
    assert (rows["smithjohn"]["id"], rows["Absent, Ava"]["id"]) == ("S001", "S003")  # every row carries the roster's id
    with open(out / "grades.csv", newline="") as fh:
        sheet = {r["student"]: r for r in csv.DictReader(fh)}
    assert sheet["leeanna"]["id"] == "S002" and list(sheet["leeanna"])[:3] == ["student", "id", "email"]

    exported = inv("grade.export", "--out", str(out), "--format", "canvas", "--assignment", "Lab 1 (4411)")
    assert exported.returncode == 0, exported.stdout + exported.stderr
    lines = (out / "export-canvas.csv").read_text().splitlines()
    assert lines[0] == ROSTER.splitlines()[0]  # Canvas's own header, its assignment column with its id
    assert lines[1] == "    Points Possible,,,,,20"
    body = {r[1]: r for r in csv.reader(io.StringIO("\n".join(lines[2:])))}
    assert body["12345"] == ["Smith, John", "12345", "S001", "jsmith", "Section A", "20"]
    assert body["34567"][-1] == "0"  # on the roster, handed in nothing
    assert float(body["23456"][-1]) < 20  # anna's f is wrong
    assert body["99999"][0] == "strangerdan"  # graded under the name it came with, with Canvas's id


def _totals() -> list[exports.Total]:
    people = {"ann": exports.Person("Ann Lee", "2024-001", "ann@example.edu", "alee", "12345")}
    records = [
        Record("ann", "derivatives", 18.0, 20.0, Status.GRADED),
        Record("bob", "derivatives", 0.0, 20.0, Status.ERROR, "the grader's worker died"),
    ]
    return exports.totals(records, people, {"derivatives": 20.0})


@pytest.mark.parametrize(
    "fmt,header,ann",
    [
        ("moodle", "ID number,Email address,Lab 1,Feedback", "2024-001,ann@example.edu,18,"),
        ("gradescope", "Name,SID,Email,Total Score", "Ann Lee,2024-001,ann@example.edu,18"),
        ("csv", "student,id,email,score,max_score,status", "Ann Lee,2024-001,ann@example.edu,18,20,graded"),
        (
            "canvas",
            "Student,ID,SIS User ID,SIS Login ID,Section,Lab 1 (4411)",
            "Ann Lee,12345,2024-001,alee,,18",
        ),
    ],
)
def test_each_export_has_the_platforms_header_and_a_row(fmt, header, ann):
    totals = [t for t in _totals() if t.person.name == "Ann Lee"]
    lines = exports.export(fmt, totals, assignment="Lab 1 (4411)" if fmt == "canvas" else "Lab 1").splitlines()
    assert lines[0] == header
    assert lines[-1] == ann


def test_a_row_the_grader_failed_on_exports_no_zero():
    bob = next(t for t in _totals() if t.person.name == "bob")
    assert bob.score is None
    assert exports.export("gradescope", [bob]).splitlines()[1] == "bob,,,"


def test_canvas_needs_the_assignment_id():
    from mslab.errors import MslabError

    with pytest.raises(MslabError, match="assignment id"):
        exports.export("canvas", _totals(), assignment="Lab 1")


@pytest.mark.slow
@pytest.mark.sandbox  # grades a class: student code in real sandboxes
def test_a_planted_copy_is_shown_side_by_side_in_the_report_and_changes_no_mark(tmp_path):
    fixtures = ROOT / "tests" / "fixtures" / "similarity" / "value_and_grad"
    files = {"ann": "honest02", "ben": "planted_rename", "cai": "honest06"}  # ben copied ann, renaming
    for student, name in files.items():
        (tmp_path / "class" / student).mkdir(parents=True)
        (tmp_path / "class" / student / "value_and_grad.py").write_text((fixtures / f"{name}.py.txt").read_text())
    out = tmp_path / "out"
    graded = inv("grade", str(tmp_path / "class"), "--out", str(out), "--labs", "value_and_grad")
    assert graded.returncode == 0, graded.stdout + graded.stderr
    similar = json.loads((out / "similarity.json").read_text())
    pairs = [(p["student"], p["other"]) for p in similar["labs"]["value_and_grad"]["pairs"]]
    assert pairs == [("ann", "ben")]
    page = (out / "report.html").read_text()
    assert page.count('<table class="similarity"') == 1 and "<mark>" in page
    assert "Similar files" in (out / "summary.md").read_text()
    with open(out / "gradebook.csv", newline="") as fh:
        scores = {r["student"]: r["score"] for r in csv.DictReader(fh)}
    assert scores["ben"] == scores["ann"] == "20"  # flagged for a person to read, never a mark
