"""The published form of record.json, results.json and grades.json (docs/results.md, JSON Schema
read from that page) holds for real outputs: the bundled class with an error row beside it, and
records the schema must refuse."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest

from conftest import ROOT
from mslab import classreport
from mslab.records import CheckResult, Record, Status

PAGE = (ROOT / "docs" / "results.md").read_text(encoding="utf-8")
SCHEMAS = {
    json.loads(block)["$id"].split("/")[-1]: json.loads(block) for block in re.findall(r"```json\n(.*?)```", PAGE, re.S)
}


def _validate(name: str, data) -> None:
    jsonschema.Draft202012Validator(SCHEMAS[name]).validate(data)


def test_the_page_publishes_three_schemas():
    assert sorted(SCHEMAS) == ["grades.json", "record.json", "results.json"]
    for schema in SCHEMAS.values():
        jsonschema.Draft202012Validator.check_schema(schema)


def _records() -> list[Record]:
    check = CheckResult("test_f", "f", "1", 2.0, 2.0, False, True)
    return [
        Record("ann", "derivatives", 2.0, 20.0, Status.GRADED, checks=[check], key={"seed": 5}, folder="ann"),
        Record("bob", "derivatives", 0.0, 20.0, Status.ERROR, "the grader's worker died", folder="bob"),
        Record("cai", "derivatives", 0.0, 20.0, Status.MISSING, "no derivatives.py", folder="cai"),
    ]


def test_records_and_grades_json_follow_the_schema(tmp_path):
    records = _records()
    for record in records:
        _validate("record.json", json.loads(record.to_json()))
    assert json.loads(records[1].to_json())["gradable"] is False
    classreport.write_reports(
        records, tmp_path, labs={"derivatives": 20.0}, people={"ann": {"id": "1", "email": "a@x"}}
    )
    grades = json.loads((tmp_path / "grades.json").read_text())
    _validate("grades.json", grades)
    assert grades["students"]["bob"]["total"] is None and grades["not_gradable"] == ["bob"]


@pytest.mark.parametrize(
    "change",
    [
        {"status": "passed"},  # not a status
        {"score": -1},
        {"schema_version": 2},
        {"surprise": 1},  # a field the page does not publish
    ],
)
def test_the_schema_refuses_what_it_does_not_publish(change):
    data = {**json.loads(_records()[0].to_json()), **change}
    with pytest.raises(jsonschema.ValidationError):
        _validate("record.json", data)


@pytest.mark.slow
@pytest.mark.sandbox  # grades a class: student code in real sandboxes
def test_a_graded_class_writes_files_that_follow_the_schema(tmp_path):
    from mslab.grade import grade_class

    # two labs: every lab's files have the same schema, and the unit tier stays quick
    grade_class(ROOT / "examples" / "submissions", tmp_path, jobs=2, seed=2, labs=["derivatives", "value_and_grad"])
    records = list(tmp_path.glob("*/*/record.json"))
    assert len(records) == 7  # 4 students x 2 labs; carol has no value_and_grad (missing: no record.json)
    for path in records:
        _validate("record.json", json.loads(path.read_text()))
        _validate("results.json", json.loads((path.parent / "results.json").read_text()))
    _validate("grades.json", json.loads((tmp_path / "grades.json").read_text()))
