"""The instructor's decisions after grading: a late hand-in loses its penalty (less with an
extension), an unknown submission time takes none and says so, and an override with its reason
changes the mark, survives a regrade, and is refused in one line when it names what is not there."""

from __future__ import annotations

import csv
import json

import pytest

from conftest import LABS, inv
from mslab import adjust
from mslab.errors import MslabError
from mslab.records import CheckResult, Record, Status

DUE = "2026-12-01T23:59:00+08:00"


def _record(student: str, score: float = 18.0) -> Record:
    checks = [
        CheckResult("test_a", "a", "1", 10.0, 10.0, False, True),
        CheckResult("test_b", "b", "2", 10.0, score - 10.0, True, score == 20.0),
    ]
    return Record(student, "derivatives", score, 20.0, Status.GRADED, checks=checks)


def test_late_days_take_the_penalty_and_an_extension_moves_the_due_date():
    when = {
        "early": ("2026-12-01T20:00:00+08:00", None),
        "one_day": ("2026-12-02T10:00:00+08:00", None),  # 10 h late: a started day counts
        "three_days": ("2026-12-04T23:00:00Z", None),  # 3 days and 15 h late, in UTC
        "extended": ("2026-12-02T10:00:00+08:00", None),
        "unknown": ("", None),
        "canvas_late": ("", True),
    }
    records = [_record(name) for name in when]
    due = adjust.parse_time(DUE, "--due")
    out = adjust.apply(
        records,
        when=when,
        due=due,
        penalty=adjust.parse_penalty("10%/day,max=30%"),
        extensions={"extended": adjust.parse_time("2026-12-03T12:00+08:00", "x")},
    )
    got = {r.student: (r.score, r.raw_score, r.adjustments) for r in out}
    assert got["early"] == (18.0, None, [])
    assert got["one_day"] == (16.2, 18.0, ["late 1 day(s): -1.8 (10%)"])
    assert got["three_days"][0] == pytest.approx(18.0 * 0.7)  # 4 started days, capped at 30%
    assert got["extended"][:2] == (18.0, None)
    assert got["unknown"] == (18.0, 18.0, ["submission time unknown: no late penalty can be taken"])
    assert "the platform's mark" in got["canvas_late"][2][0] and got["canvas_late"][0] == 18.0


def test_overrides_set_a_check_or_the_total_with_their_reason():
    overrides = (
        adjust.Override("ann", "derivatives", "test_b", 10.0, "regrade request: right idea, float64 output"),
        adjust.Override("bob", "derivatives", "total", 15.0, "academic integrity: partial credit"),
    )
    ann, bob = adjust.apply([_record("ann"), _record("bob")], when={}, overrides=overrides)
    assert (ann.score, ann.raw_score) == (20.0, 18.0)
    assert ann.adjustments == ["override of test_b: 10 (regrade request: right idea, float64 output)"]
    assert (
        next(c for c in ann.checks if c.name == "test_b").reason
        == "override: regrade request: right idea, float64 output"
    )
    assert (bob.score, bob.adjustments) == (15.0, ["override: 15 of 20 (academic integrity: partial credit)"])


@pytest.mark.parametrize(
    "text,fragment",
    [("10/day", "write it as 10%/day"), ("150%/day", "no more than 100%"), ("5%/week", "write it as")],
)
def test_a_bad_penalty_is_one_line(text, fragment):
    with pytest.raises(MslabError, match=fragment):
        adjust.parse_penalty(text)


def test_an_override_naming_what_is_not_there_is_refused(tmp_path):
    path = tmp_path / "o.csv"
    path.write_text("student,lab,check,points,reason\nzed,derivatives,total,1,why\n")
    overrides = adjust.read_overrides(path)
    known = {"derivatives": {"test_a"}}
    with pytest.raises(MslabError, match="no student 'zed'"):
        adjust.check_overrides(overrides, {"ann"}, known)
    with pytest.raises(MslabError, match="has no check 'test_x'"):
        adjust.check_overrides([adjust.Override("ann", "derivatives", "test_x", 1, "w")], {"ann"}, known)
    path.write_text("student,lab,check,points,reason\nann,derivatives,total,1,\n")
    with pytest.raises(MslabError, match="needs its reason"):
        adjust.read_overrides(path)


@pytest.mark.slow
@pytest.mark.sandbox  # grades a class: student code in real sandboxes
def test_a_late_gradescope_class_with_an_override_that_survives_a_regrade(tmp_path):
    solution = LABS["derivatives"].solution.read_text()
    root = tmp_path / "export"
    for folder in ("submission_1", "submission_2"):
        (root / folder).mkdir(parents=True)
        (root / folder / "derivatives.py").write_text(solution)
    (root / "submission_metadata.yml").write_text(
        "submission_1:\n  :submitters:\n  - :name: Ann\n    :sid: '1'\n  :created_at: 2026-12-03 10:00:00 +08:00\n"
        "submission_2:\n  :submitters:\n  - :name: Bob\n    :sid: '2'\n  :created_at: 2026-12-03 10:00:00 +08:00\n"
    )
    (tmp_path / "ext.csv").write_text("student,due\nBob,+2\n")
    (tmp_path / "over.csv").write_text("student,lab,check,points,reason\nAnn,derivatives,total,19,TA regrade\n")
    out = tmp_path / "out"
    late = ["--due", DUE, "--late-penalty", "10%/day", "--extensions", str(tmp_path / "ext.csv")]
    first = inv(
        "grade", str(root), "--out", str(out), "--labs", "derivatives", *late, "--overrides", str(tmp_path / "over.csv")
    )
    assert first.returncode == 0, first.stdout + first.stderr
    with open(out / "gradebook.csv", newline="") as fh:
        rows = {r["student"]: r for r in csv.DictReader(fh)}
    assert float(rows["Ann"]["score"]) == pytest.approx(19 * 0.8)  # overridden to 19, then 2 started days late
    assert float(rows["Bob"]["score"]) == 20  # his extension: due two days later
    assert rows["Ann"]["raw_score"] == "20"  # what the checks gave, beside the final score
    assert rows["Ann"]["adjustments"] == "override: 19 of 20 (TA regrade); late 2 day(s): -3.8 (20%)"
    assert rows["Ann"]["id"] == "1"  # Gradescope's SID
    feedback = (out / "Ann" / "feedback.md").read_text()
    assert "The checks gave 检查得分 20; then 然后: override: 19 of 20 (TA regrade); late 2 day(s)" in feedback
    again = inv("grade", str(root), "--out", str(out), "--labs", "derivatives", *late, "--force")
    assert again.returncode == 0, again.stdout + again.stderr
    grades = json.loads((out / "grades.json").read_text())
    assert grades["students"]["Ann"]["labs"]["derivatives"]["score"] == pytest.approx(15.2)  # kept across the regrade
    assert (out / "overrides.csv").is_file()
