"""A roster as the platforms export it: each export's columns are read, and every submission is
matched to one enrolled student exactly (id, e-mail, login), by name only when unambiguous, and
never by a guess."""

from __future__ import annotations

import re

import pytest

from mslab import roster
from mslab.errors import MslabError

CANVAS = """Student,ID,SIS User ID,SIS Login ID,Section,Lab 1 (4411)
    Points Possible,,,,,20
"Smith, John",12345,S001,jsmith,Section A,
"Lee, Anna",23456,S002,alee,Section A,
"""
MOODLE = """First name,Last name,ID number,Institution,Department,Email address
Anna,Lee,2024-001,,,anna@example.edu
三,张,2024-002,,,zhang@example.edu
"""
GRADESCOPE = """Full Name,SID,Email,Role
Solo Student,100,solo@example.edu,Student
"""


def _read(tmp_path, text: str) -> list[roster.Enrolled]:
    path = tmp_path / "roster.csv"
    path.write_text(text, encoding="utf-8")
    return roster.read(path)


def test_canvas_gradebook_export(tmp_path):
    enrolled = _read(tmp_path, CANVAS)
    assert [(e.id, e.name, e.login, e.platform_id) for e in enrolled] == [
        ("S001", "Smith, John", "jsmith", "12345"),
        ("S002", "Lee, Anna", "alee", "23456"),
    ]  # the Points Possible row is not a student
    found = roster.match(enrolled, name="smithjohn", platform_id="12345", login="smithjohn")
    assert (found.enrolled.id, found.how) == ("S001", "id")


def test_moodle_export_and_matching_by_email_login_and_name(tmp_path):
    enrolled = _read(tmp_path, MOODLE)
    assert [(e.id, e.name, e.email) for e in enrolled] == [
        ("2024-001", "Anna Lee", "anna@example.edu"),
        ("2024-002", "三 张", "zhang@example.edu"),
    ]
    assert roster.match(enrolled, name="x", email="ANNA@example.edu").how == "email"
    assert roster.match(enrolled, name="2024-002").enrolled.name == "三 张"  # a folder named by id
    by_name = roster.match(enrolled, name="anna  lee")
    assert (by_name.enrolled.id, by_name.how) == ("2024-001", "name")
    assert roster.match(enrolled, name="Bob Stranger").enrolled is None


def test_an_ambiguous_name_is_never_guessed(tmp_path):
    enrolled = _read(tmp_path, "id,name,email\n1,Wang Wei,a@x\n2,Wang Wei,b@x\n")
    found = roster.match(enrolled, name="Wang Wei")
    assert found.enrolled is None and "shared by 2 students" in found.how
    assert roster.match(enrolled, name="Wang Wei", email="b@x").enrolled.id == "2"


def test_gradescope_roster(tmp_path):
    (solo,) = _read(tmp_path, GRADESCOPE)
    assert (solo.id, solo.name, solo.email) == ("100", "Solo Student", "solo@example.edu")


@pytest.mark.parametrize(
    "text,fragment",
    [
        ("name,section\nAnn,A\n", "no id or e-mail column"),
        ("id,email\n1,a@x\n", "no name column"),
        ("id,name\n1,Ann\n1,Bob\n", "the id '1' is on more than one row"),
        ("id,name\n", "no students in it"),
        ("id,name,email\n,Ann,\n", "row 2 (Ann) has neither an id nor an e-mail"),
    ],
)
def test_a_bad_roster_is_one_line(tmp_path, text, fragment):
    with pytest.raises(MslabError, match=re.escape(fragment)):
        _read(tmp_path, text)
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(MslabError, match="not UTF-8"):
        roster.read(tmp_path / "bin.csv")
