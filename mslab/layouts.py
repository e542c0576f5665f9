"""The learning platforms' bulk-download layouts, recognised from the names they write.

An instructor's week starts with a download of every submission from the learning platform. Each
platform names files its own way; this module finds, in a downloaded folder, which student handed
in which files, and what the platform says about them (its id for the student, an e-mail,
when it was handed in, whether it was late). :func:`detect` returns one :class:`Handin` per
student, or None for today's plain layout (a folder or ``<student>.zip`` per student, read by
:mod:`mslab.submissions` as before).

- **Gradescope** (the assignment's "Export Submissions"): ``submission_metadata.yml`` beside one
  folder per submission; each folder's entry lists its ``:submitters:`` (``:name:``, ``:sid:``,
  ``:email:``) and ``:created_at:``. Each submitter of a group submission gets its files.
- **Canvas** ("Download Submissions"): flat files ``<name>_<userid>_<submissionid>_<file>``, with
  ``late`` after the name for late work (``<name>_late_<userid>_...``); Canvas keeps a student's
  latest submission only, and adds ``-1``, ``-2`` to a file name uploaded twice in it.
- **Moodle** ("Download all submissions"): a folder per student
  ``<Full Name>_<participant id>_assignsubmission_file_`` (or, without folders, flat files
  ``<Full Name>_<id>_assignsubmission_file_<file>``); no submission time.
- **Blackboard Learn** ("Assignment File Download"): flat files
  ``<assignment>_<user>_attempt_<YYYY-MM-DD-HH-MM-SS>_<file>`` and one receipt
  ``<assignment>_<user>_attempt_<date>.txt`` per attempt (``Name: First Last (user)``); a student
  with several attempts is graded on the latest, and the row says so.

A folder is taken to be a platform's download only when every entry at its top follows that
platform's naming (the metadata file aside): a class of plain student folders is never mistaken
for one. Nothing here opens a student's file: it only reads names, the Gradescope metadata and
Blackboard's receipts (capped in size).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import yaml

from mslab.errors import MslabError

METADATA_LIMIT = 4 * 1024 * 1024  # bytes of submission_metadata.yml
RECEIPT_LIMIT = 64 * 1024  # bytes of a Blackboard receipt read


@dataclass
class Handin:
    """One student's hand-in in a platform's download."""

    student: str  # the name the platform shows
    files: dict[str, Path]  # name inside the hand-in -> the file on disk ("" for a folder: see folder)
    platform: str  # gradescope, canvas, moodle, blackboard
    platform_id: str = ""  # the platform's own id for the student (Canvas user id, Moodle participant id, Gradescope sid, Blackboard user name)
    email: str = ""
    login: str = ""
    submitted_at: str = ""  # ISO 8601 with offset, or "" where the platform does not say
    late: bool | None = None  # the platform's own late mark, where it has one
    folder: Path | None = None  # a folder holding the files (Gradescope, Moodle), read as a student folder
    notes: list[str] = field(default_factory=list)  # e.g. "3 attempts; graded the latest (2024-...)"


# -- detection -----------------------------------------------------------------------------------

_CANVAS = re.compile(r"(?P<name>[^_]+)_(?:(?P<late>late|LATE)_)?(?P<userid>\d+)_(?P<subid>\d+)_(?P<file>.+)")
_MOODLE = re.compile(r"(?P<name>.+?)_(?P<id>\d+)_assignsubmission_(?P<kind>file|onlinetext)_(?P<file>.*)")
_BLACKBOARD = re.compile(
    r"(?P<assignment>.+?)_(?P<user>[^_]+)_attempt_(?P<date>\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2})(?:_(?P<file>.+)|(?P<receipt>\.txt))"
)
_IGNORED = {"__MACOSX", ".DS_Store"}


def detect(root: Path) -> tuple[str, list[Handin]] | None:
    """The platform whose download ``root`` is, and its hand-ins; None for the plain layout."""
    try:
        names = sorted(n for n in os.listdir(root) if n not in _IGNORED and not n.startswith("."))
    except OSError as exc:
        raise MslabError(f"cannot list submissions folder {root}: {exc.strerror or exc}") from None
    if "submission_metadata.yml" in names:
        return "gradescope", _gradescope(root)
    if not names:
        return None
    regular = [n for n in names if _is_file(root / n)]
    folders = [n for n in names if _is_dir(root / n)]
    if folders and not regular and all(_moodle(n) == "" for n in folders):
        return "moodle", _moodle_folders(root, folders)
    if regular and not folders:
        if all(_moodle(n) for n in regular):
            return "moodle", _moodle_files(root, regular)
        if all(_BLACKBOARD.fullmatch(n) for n in regular):
            return "blackboard", _blackboard(root, regular)
        if all(_CANVAS.fullmatch(n) for n in regular):
            return "canvas", _canvas(root, regular)
    return None


def _moodle(name: str) -> str | None:
    """The file part of a Moodle name ("" for a student's folder), None if it is not one."""
    m = _MOODLE.fullmatch(name)
    return None if m is None else m["file"]


def _is_file(path: Path) -> bool:
    return path.is_file() and not path.is_symlink()


def _is_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


# -- each platform -------------------------------------------------------------------------------


def _gradescope(root: Path) -> list[Handin]:
    path = root / "submission_metadata.yml"
    try:
        if path.stat().st_size > METADATA_LIMIT:
            raise MslabError(f"{path} is over {METADATA_LIMIT // 1024**2} MiB")
        # Gradescope writes Ruby-style symbol keys (":submitters:"), plain YAML strings to a safe loader.
        metadata = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise MslabError(f"{path}: not Gradescope's submission metadata ({type(exc).__name__})") from None
    if not isinstance(metadata, dict):
        raise MslabError(f"{path}: not Gradescope's submission metadata (expected a mapping of submission folders)")
    handins = []
    for folder, entry in sorted(metadata.items(), key=lambda kv: str(kv[0])):
        folder = str(folder)
        if not isinstance(entry, dict) or "/" in folder or folder in ("", ".", ".."):
            raise MslabError(f"{path}: submission {folder!r} is not described as Gradescope describes one")
        submitters = entry.get(":submitters") or []
        if not isinstance(submitters, list):
            raise MslabError(f"{path}: submission {folder!r} has no list of submitters")
        created = _iso(entry.get(":created_at"))
        where = root / folder
        if not _is_dir(where):
            continue  # a submission with no files in the export (an empty hand-in)
        for person in submitters:
            if not isinstance(person, dict):
                continue
            name = str(person.get(":name") or person.get(":sid") or folder)
            handin = Handin(
                student=name,
                files={},
                platform="gradescope",
                platform_id=str(person.get(":sid") or ""),
                email=str(person.get(":email") or ""),
                submitted_at=created,
                folder=where,
            )
            if len(submitters) > 1:
                handin.notes.append(f"a group submission ({len(submitters)} submitters)")
            handins.append(handin)
    return handins


def _canvas(root: Path, names: list[str]) -> list[Handin]:
    by_user: dict[str, Handin] = {}
    for name in names:
        m = _CANVAS.fullmatch(name)
        assert m is not None
        handin = by_user.setdefault(
            m["userid"],
            Handin(
                student=m["name"], files={}, platform="canvas", platform_id=m["userid"], login=m["name"], late=False
            ),
        )
        handin.late = handin.late or bool(m["late"])
        handin.files[_canvas_original(m["file"])] = root / name
    return list(by_user.values())


def _canvas_original(file: str) -> str:
    """Canvas's name of an uploaded file without the ``-1``, ``-2`` it adds to a re-upload."""
    stem, dot, ext = file.rpartition(".")
    if dot and re.fullmatch(r".+-\d+", stem):
        return f"{stem.rsplit('-', 1)[0]}.{ext}"
    return file


def _moodle_folders(root: Path, names: list[str]) -> list[Handin]:
    handins = []
    for name in names:
        m = _MOODLE.fullmatch(name)
        assert m is not None
        handins.append(Handin(m["name"], {}, "moodle", platform_id=m["id"], folder=root / name))
    return handins


def _moodle_files(root: Path, names: list[str]) -> list[Handin]:
    by_id: dict[str, Handin] = {}
    for name in names:
        m = _MOODLE.fullmatch(name)
        assert m is not None
        by_id.setdefault(m["id"], Handin(m["name"], {}, "moodle", platform_id=m["id"])).files[m["file"]] = root / name
    return list(by_id.values())


def _blackboard(root: Path, names: list[str]) -> list[Handin]:
    attempts: dict[str, dict[str, dict]] = {}  # user -> date -> {"files": {...}, "receipt": Path}
    for name in names:
        m = _BLACKBOARD.fullmatch(name)
        assert m is not None
        attempt = attempts.setdefault(m["user"], {}).setdefault(m["date"], {"files": {}, "receipt": None})
        if m["receipt"]:
            attempt["receipt"] = root / name
        else:
            attempt["files"][m["file"]] = root / name
    handins = []
    for user, dated in sorted(attempts.items()):
        latest = max(dated)
        attempt = dated[latest]
        when = datetime.strptime(latest, "%Y-%m-%d-%H-%M-%S")
        receipt = _receipt(attempt["receipt"]) if attempt["receipt"] else {}
        name = receipt.get("name") or user
        handin = Handin(
            student=name,
            files=attempt["files"],
            platform="blackboard",
            platform_id=user,
            login=user,
            # Blackboard's file names carry the server's local time, with no zone: said as such.
            submitted_at=when.isoformat(),
        )
        if len(dated) > 1:
            handin.notes.append(f"{len(dated)} attempts; graded the latest ({when.isoformat(sep=' ')})")
        handins.append(handin)
    return handins


def _receipt(path: Path) -> dict[str, str]:
    """What a Blackboard receipt says of the student: ``Name: First Last (user)``."""
    try:
        with open(path, "rb") as fh:
            text = fh.read(RECEIPT_LIMIT).decode("utf-8", "replace")
    except OSError:
        return {}
    found = {}
    m = re.search(r"^Name:\s*(.+?)\s*\(([^()]+)\)\s*$", text, re.M)
    if m:
        found["name"], found["user"] = m[1], m[2]
    return found


def _iso(value) -> str:
    """A timestamp as ISO 8601 (with its offset, UTC when it says none), or ""."""
    if isinstance(value, datetime):
        when = value
    elif isinstance(value, str) and value.strip():
        try:
            when = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace(" ", "T", 1))
        except ValueError:
            return ""
    else:
        return ""
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.isoformat()
