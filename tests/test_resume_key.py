"""Resume never mixes graders: a record is kept by a rerun only if the same grader (mslab's version
and code digest) with the same limits graded it; after an upgrade — a tolerance, a reference, a
reason rule changed — or with other limits, the rerun grades again."""

from __future__ import annotations

import pytest

from conftest import LABS
from mslab import version
from mslab.grade import grade_class
from mslab.records import Record
from mslab.sandbox.host import Limits

pytestmark = pytest.mark.slow  # grades a student four times


def test_a_rerun_with_another_grader_or_other_limits_grades_again(tmp_path, monkeypatch):
    (tmp_path / "class" / "ann").mkdir(parents=True)
    (tmp_path / "class" / "ann" / "derivatives.py").write_text(LABS["derivatives"].solution.read_text())
    out = tmp_path / "out"
    path = out / "ann" / "derivatives" / "record.json"

    def graded(**options) -> Record:
        (record,) = grade_class(tmp_path / "class", out, labs=["derivatives"], jobs=1, seed=2, **options)
        return record

    first = graded()
    assert first.key["grader"] == version.grader() and version.grader().startswith("0.1.0+")
    written = path.stat().st_mtime_ns
    assert graded().key == first.key and path.stat().st_mtime_ns == written  # resumed, not graded again

    monkeypatch.setattr(version, "grader", lambda: "0.1.0+changedtolerance")
    upgraded = graded()
    assert upgraded.key["grader"] == "0.1.0+changedtolerance" and path.stat().st_mtime_ns != written
    assert Record.read(path).key["grader"] == "0.1.0+changedtolerance"

    written = path.stat().st_mtime_ns
    other = graded(limits=Limits(call_seconds=19))
    assert other.key["limits"] != upgraded.key["limits"] and path.stat().st_mtime_ns != written
