"""The one result model (mslab/records.py): record.json's exact text, and what a rerun refuses to read."""

from __future__ import annotations

import json

import pytest

from mslab.records import CheckResult, Record, Status, points

# record.json as the grader wrote it before records.py existed (field order and number forms kept:
# resuming compares records, so a change here would regrade every student).
RECORD_JSON = """{
 "student": "张三",
 "lab": "derivatives",
 "score": 2.0,
 "max_score": 3.0,
 "status": "graded",
 "reason": "",
 "checks": [
  {
   "name": "test_f",
   "title": "f(x) at six points",
   "task": "1",
   "points": 2.0,
   "score": 2.0,
   "hidden": false,
   "passed": true,
   "reason": "",
   "hint": "",
   "errata": []
  },
  {
   "name": "test_df",
   "title": "f′(1) = 1",
   "task": "2",
   "points": 1.0,
   "score": 0.0,
   "hidden": true,
   "passed": false,
   "reason": "wrong",
   "hint": "see erratum 3",
   "errata": [
    3
   ]
  }
 ],
 "seconds": 1.25,
 "isolation": "full",
 "flags": [],
 "folder": "student-1a2b",
 "start_seconds": 0.5,
 "student_seconds": 0.125,
 "key": {
  "file": "ab",
  "checks": "cd",
  "seed": 1,
  "target": "local"
 },
 "output": "x = 1\\n",
 "raw_score": null,
 "adjustments": [],
 "gradable": true,
 "schema_version": 1
}"""


def test_record_json_round_trips_byte_for_byte():
    record = Record.from_json(RECORD_JSON)
    assert record.status is Status.GRADED
    assert record.checks[1] == CheckResult(
        "test_df", "f′(1) = 1", "2", 1.0, 0.0, True, False, "wrong", "see erratum 3", (3,)
    )
    assert (record.student, record.folder, record.key["seed"], record.output) == ("张三", "student-1a2b", 1, "x = 1\n")
    assert record.to_json() == RECORD_JSON


def test_a_record_written_by_the_grader_has_record_json_s_field_order(tmp_path):
    record = Record("bob", "derivatives", 0.0, 3.0, Status.UNLOADABLE, "SyntaxError", key={"seed": 2})
    record.write(tmp_path / "record.json")
    data = json.loads((tmp_path / "record.json").read_text(encoding="utf-8"))
    assert list(data) == [
        "student",
        "lab",
        "score",
        "max_score",
        "status",
        "reason",
        "checks",
        "seconds",
        "isolation",
        "flags",
        "folder",
        "start_seconds",
        "student_seconds",
        "key",
        "output",  # added later (the student's feedback): the fields before keep their order
        "raw_score",  # then the instructor's adjustments (mslab.adjust), set only in memory
        "adjustments",
        "gradable",  # derived from status; docs/results.md
        "schema_version",
    ]
    assert (data["status"], data["folder"], data["key"]) == ("unloadable", "bob", {"seed": 2})
    assert Record.read(tmp_path / "record.json") == record


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[1, 2]",
        RECORD_JSON.replace('"graded"', '"passed"'),  # no such status
        RECORD_JSON.replace('"student": "张三",', '"student": "张三", "grade": "A",'),  # a field no record has
        RECORD_JSON.replace('"name": "test_f",', ""),  # a check without its name
    ],
)
def test_a_record_that_is_not_one_is_not_read(tmp_path, text):
    (tmp_path / "record.json").write_text(text, encoding="utf-8")
    assert Record.read(tmp_path / "record.json") is None
    assert Record.read(tmp_path / "absent.json") is None


def test_statuses_in_the_order_reports_list_them_and_the_max_is_the_points():
    assert [s.value for s in Status] == [
        "graded",
        "missing",
        "unloadable",
        "rejected",
        "timeout",
        "error",
        "interrupted",
    ]
    assert (
        points([CheckResult("a", "a", "1", 2.0, 0.0, False, False), CheckResult("b", "b", "1", 0.5, 0.5, True, True)])
        == 2.5
    )
    empty = Record.empty("carol", "derivatives", 20.0, Status.MISSING, "no derivatives.py")
    assert (empty.score, empty.max_score, empty.checks, empty.folder) == (0.0, 20.0, [], "carol")


def test_a_record_written_before_output_existed_is_still_read():
    old = RECORD_JSON.replace(',\n "output": "x = 1\\n"', "")
    assert '"output"' not in old
    record = Record.from_json(old)
    assert record is not None and record.output == ""


def test_only_the_grader_s_own_failures_are_not_gradable():
    """Error and interrupted rows hold no mark; a student's own failure is a mark."""
    assert [s.value for s in Status if not s.gradable] == ["error", "interrupted"]
    late = Record("a", "derivatives", 1.0, 2.0, Status.GRADED, flags=["late: 1 day"])
    assert late.late and not Record("a", "derivatives", 1.0, 2.0, Status.GRADED, flags=["no autodiff"]).late


# -- one record from one check run: the status, reason and text rules in one place ---------------


def _run(**kw):
    from mslab.records import CheckRun

    checks = [
        CheckResult("test_a", "a", "1", 2.0, 2.0, False, True),
        CheckResult("test_b", "b", "1", 3.0, 0.0, False, False, "f() timed out after 20 s", "use grad", (1,)),
        CheckResult("test_c", "c", "2", 5.0, 0.0, True, False, "got 1, expected 2", "f′ is 3x² − 2", (1,)),
    ]
    return CheckRun(lab="derivatives", submission="x.py", target="local", seed=7, checks=checks, **kw)


def test_a_graded_run_keeps_its_score_and_says_the_note():
    record = Record.from_run(_run(output="p" * 20000), student="ann", note="2 code cells taken", key={"seed": 7})
    assert (record.status, record.score, record.max_score, record.reason) == (
        Status.GRADED,
        2.0,
        10.0,
        "2 code cells taken",
    )
    assert len(record.output) == 16384 and record.key == {"seed": 7} and record.folder == "ann"
    by_name = {c.name: c for c in record.checks}
    assert by_name["test_b"].hint == "" and by_name["test_b"].errata == ()  # no value to compare: no hint
    assert by_name["test_c"].hint == "f′ is 3x² − 2" and by_name["test_c"].errata == (1,)  # a wrong value keeps it


def test_an_unloadable_run_scores_0_and_says_why_once():
    record = Record.from_run(_run(load_error="SyntaxError (line 3): invalid syntax"), student="bo", note="cells")
    assert (record.status, record.score) == (Status.UNLOADABLE, 0.0)
    assert record.reason == "cells; SyntaxError (line 3): invalid syntax"
    assert all(c.reason == c.hint == "" for c in record.checks if not c.passed)


def test_a_run_out_of_time_scores_0_and_names_the_budget():
    record = Record.from_run(_run(out_of_time=True), student="cy", submission_seconds=300.0)
    assert (record.status, record.score, record.reason) == (Status.TIMEOUT, 0.0, "used up its 300 s time limit")
    assert all(c.hint == "" for c in record.checks if not c.passed)  # no hint when time ran out
