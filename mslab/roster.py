"""The class roster: who is enrolled, under which ids, as the learning platform exports it.

``inv grade --roster roster.csv`` reads a roster in the columns a platform's own export has —
Canvas's gradebook export (``Student``, ``ID``, ``SIS User ID``, ``SIS Login ID``), Moodle's
(``First name``, ``Last name`` or ``Surname``, ``ID number``, ``Email address``), Gradescope's
(``Name`` or ``First Name``/``Last Name``, ``SID``, ``Email``) — or a plain ``id,name,email``, and
matches every submission to one enrolled student:

- **exactly** by an id the platform gave the submission (Canvas user id, Moodle's participant
  id where the roster has it, Gradescope's SID, Blackboard's user name), by e-mail, or by login;
- **by name** only when exactly one enrolled student has that name (case and spacing ignored),
  and the row says it was matched by name;
- never by a guess: a submission that matches nobody, or more than one, is listed and graded
  under the name it came with.

Every row then carries the roster's id and e-mail (what the platform's import keys on); enrolled
students who handed in nothing get ``missing`` rows. Nothing here reads a student's file.
"""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from mslab.errors import MslabError
from mslab.records import write_atomic

ROSTER_LIMIT = 8 * 1024 * 1024  # bytes of a roster file
PEOPLE = "people.json"  # in OUT: who each student is on the learning platform (roster or download)

#: Each field of an enrolled student, and the column names platforms' exports give it.
COLUMNS = {
    "id": ("sis user id", "id number", "sid", "student id", "id", "student number", "username"),
    "name": ("student", "name", "full name", "student name"),
    "first": ("first name", "firstname", "given name"),
    "last": ("last name", "surname", "lastname", "family name"),
    "email": ("email address", "email", "e-mail", "e-mail address"),
    "login": ("sis login id", "login id", "login", "username"),
    "platform_id": ("id",),  # Canvas's own user id ("ID"), beside its "SIS User ID"
    "section": ("section", "group", "groups"),
}


@dataclass(frozen=True)
class Enrolled:
    """One student of the roster."""

    id: str  # the id the platform's import keys on (SIS id, ID number, SID), or the row's first id
    name: str
    email: str = ""
    login: str = ""
    platform_id: str = ""  # Canvas's user id, where the roster has one
    section: str = ""
    row: dict = field(default_factory=dict, compare=False, hash=False)  # the roster's own columns


@dataclass
class Match:
    """Which enrolled student a submission is, and how that was decided."""

    enrolled: Enrolled | None
    how: str  # "id", "email", "login", "name", or why there is none


def _key(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def read(path: Path) -> list[Enrolled]:
    """The roster at ``path``, or a one-line MslabError saying what is wrong with it."""
    path = Path(path)
    try:
        if path.stat().st_size > ROSTER_LIMIT:
            raise MslabError(f"--roster {path}: over {ROSTER_LIMIT // 1024**2} MiB")
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise MslabError(f"--roster {path}: cannot read it ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise MslabError(f"--roster {path}: not UTF-8 text (save the CSV as UTF-8)") from None
    try:
        rows = list(csv.DictReader(io.StringIO(text)))
    except csv.Error as exc:
        raise MslabError(f"--roster {path}: not a CSV file ({exc})") from None
    if not rows:
        raise MslabError(f"--roster {path}: no students in it")
    header = {_key(h): h for h in rows[0] if h}
    columns = {name: next((header[c] for c in names if c in header), None) for name, names in COLUMNS.items()}
    if columns["id"] is None and columns["email"] is None:
        raise MslabError(
            f"--roster {path}: no id or e-mail column (expected e.g. SIS User ID, ID number, SID, id, or Email)"
        )
    if columns["id"] == columns["platform_id"]:
        columns["platform_id"] = None  # one "ID" column: the id itself
    if columns["name"] is None and columns["first"] is None and columns["last"] is None:
        raise MslabError(f"--roster {path}: no name column (expected e.g. Student, Name, or First name and Last name)")
    enrolled = []
    for number, row in enumerate(rows, 2):

        def cell(column: str, row: dict = row) -> str:
            name = columns[column]
            return (row.get(name) or "").strip() if name else ""

        if cell("name").casefold() in ("points possible", "    points possible") or not any(row.values()):
            continue  # Canvas's second row; blank lines
        name = cell("name") or " ".join(p for p in (cell("first"), cell("last")) if p)
        student_id, email = cell("id"), cell("email")
        if not (student_id or email):
            raise MslabError(f"--roster {path}: row {number} ({name or 'no name'}) has neither an id nor an e-mail")
        enrolled.append(
            Enrolled(student_id or email, name, email, cell("login"), cell("platform_id"), cell("section"), dict(row))
        )
    ids = [e.id for e in enrolled]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise MslabError(f"--roster {path}: the id {twice[0]!r} is on more than one row")
    return enrolled


def match(roster: list[Enrolled], *, name: str, platform_id: str = "", email: str = "", login: str = "") -> Match:
    """The enrolled student a submission handed in under ``name`` (with the platform's id,
    e-mail and login, where it gave them) is."""
    for how, value, keys in (
        ("id", platform_id, lambda e: {e.id, e.platform_id, e.login} - {""}),
        ("email", email, lambda e: {e.email.casefold()} - {""}),
        ("login", login, lambda e: {e.login.casefold(), e.id.casefold()} - {""}),
        ("id", name, lambda e: {e.id} - {""}),  # a plain folder named by student id
        ("email", name, lambda e: {e.email.casefold()} - {""}),
    ):
        if not value:
            continue
        wanted = value if how == "id" else value.casefold()
        found = [e for e in roster if wanted in keys(e)]
        if len(found) == 1:
            return Match(found[0], how)
        if len(found) > 1:
            return Match(None, f"{how} {value!r} matches {len(found)} students of the roster")
    by_name = [e for e in roster if _key(e.name) == _key(name) and name.strip()]
    if len(by_name) == 1:
        return Match(by_name[0], "name")
    if len(by_name) > 1:
        return Match(None, f"the name {name!r} is shared by {len(by_name)} students of the roster")
    return Match(None, "on no roster row (by id, e-mail, login or name)")


def write_people(out: Path, people: dict) -> None:
    try:
        write_atomic(Path(out) / PEOPLE, json.dumps(people, indent=1, ensure_ascii=False, sort_keys=True) + "\n")
    except OSError as exc:
        raise MslabError(f"cannot write {out / PEOPLE}: {exc.strerror or exc}") from None


def read_people(out: Path) -> dict[str, dict]:
    """``OUT/people.json``: who each student is on the learning platform ({} before any run)."""
    try:
        data = json.loads((Path(out) / PEOPLE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
