"""Intake of a class's submissions: student folders and ``<student>.zip`` files, checked and staged.

``find_submissions(root, labs, staging)`` returns one :class:`Submission` per student under
``root``. Every lab file that will be graded is copied (folders) or extracted (zips) into
``staging/<student>/<lab>.py`` and its sha256 taken from those very bytes, so the digest is the
digest of what is graded, and later changes to ``root`` cannot reach the grader.

A student whose submission cannot be taken in gets a Submission with a one-line ``problem`` and
no files; the batch goes on. Nothing is ever executed or imported here, zip entries are never
extracted by name (only the needed ``<lab>.py`` bytes are written, under a name we choose), and
only ``staging/<student>/`` folders of students with safe names are removed or written.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

from mslab.errors import MslabError

MIB = 1 << 20
ENTRY_LIMIT = 1 * MIB  # one file, uncompressed (zip entry or folder lab file)
TOTAL_LIMIT = 10 * MIB  # a whole zip, uncompressed
ENTRY_COUNT_LIMIT = 100  # entries in a zip, folders included
ZIP_FILE_LIMIT = 16 * MIB  # the .zip itself on disk: anything larger breaks the limits above anyway
NAME_LIMIT = 100

_SAFE_NAME = re.compile(r"[A-Za-z0-9._-]{1,%d}" % NAME_LIMIT)
_DRIVE = re.compile(r"[A-Za-z]:")
# Top-level folders that are never a student's wrapper folder (macOS adds __MACOSX/ to zips).
_IGNORED_FOLDERS = {"__MACOSX"}


@dataclass(frozen=True)
class Submission:
    student: str  # folder name, or zip file name without .zip
    files: dict[str, Path]  # lab name -> readable path of that student's <lab>.py (only labs present)
    source: Path  # the folder or .zip it came from
    digest: dict[str, str]  # lab name -> sha256 hex of that file's bytes
    problem: str = ""  # one-line reason it could not be taken in ("" when fine); then files is {}


class Rejected(Exception):
    """A student's submission cannot be taken in; the message is the Submission's problem."""


def is_safe_name(name: str) -> bool:
    """``[A-Za-z0-9._-]``, 1-100 characters, not ``.`` or ``..``: usable as an output folder name."""
    return bool(_SAFE_NAME.fullmatch(name)) and name not in (".", "..")


def _show(text: str, limit: int = 120) -> str:
    """``repr`` of a name from a submission, cut short: always one line, whatever it holds."""
    shown = repr(text)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


def _detail(exc: BaseException) -> str:
    """An exception as a short single line."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


# ---------------------------------------------------------------------------------------------
# Finding students


@dataclass
class _Entry:
    name: str  # the name in root
    path: Path
    kind: str  # "folder" | "zip"
    student: str
    problem: str = ""


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


def find_submissions(root: Path, labs: list[str], staging: Path) -> list[Submission]:
    """Every student under `root`, sorted by student name."""
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
    entries = _scan_root(root, staging)
    if not entries:
        raise MslabError(f"{root} holds no students (expected <student>/<lab>.py or <student>.zip)")

    # Group entries naming the same student; names differing only in case collide too (their
    # output folders would be one folder on a case-insensitive file system).
    groups: dict[str, list[_Entry]] = {}
    for entry in entries:
        groups.setdefault(entry.student.casefold(), []).append(entry)

    try:
        staging.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MslabError(f"cannot create staging folder {staging}: {exc.strerror or exc}") from None
    if not staging.is_dir():
        raise MslabError(f"staging {staging} is not a folder")

    result = []
    for group in groups.values():
        students = sorted({e.student for e in group})
        if len(group) > 1:
            problem = "duplicate student: " + " and ".join(_show(e.name) for e in sorted(group, key=lambda e: e.name))
            for student in students:
                first = next(e for e in group if e.student == student)
                if is_safe_name(student):
                    _fresh(staging / student, create=False)
                    problem_here = problem
                else:
                    problem_here = f"unsafe student name {_show(student)}"
                result.append(Submission(student, {}, first.path, {}, problem_here))
            continue
        entry = group[0]
        result.append(_take_in(entry, labs, staging))
    result.sort(key=lambda s: s.student)
    return result


def _take_in(entry: _Entry, labs: list[str], staging: Path) -> Submission:
    student = entry.student
    if not is_safe_name(student):
        # Never touch a path built from an unsafe name.
        return Submission(student, {}, entry.path, {}, f"unsafe student name {_show(student)}")
    target = staging / student
    _fresh(target, create=False)
    if entry.problem:
        return Submission(student, {}, entry.path, {}, entry.problem)
    try:
        if entry.kind == "zip":
            contents = _read_zip(entry.path, labs)
        else:
            contents = _read_folder(entry.path, labs)
    except Rejected as exc:
        return Submission(student, {}, entry.path, {}, str(exc))
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
    return Submission(student, files, entry.path, digest)


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
# Where a lab file is: `<lab>.py` at the top, else inside exactly one top-level folder


def _locate(lab_file: str, top: set[str], folders: dict[str, set[str]]) -> str | None:
    """The folder holding ``lab_file`` ("" for the top), None when absent; Rejected when ambiguous."""
    if lab_file in top:
        return ""
    holders = sorted(d for d, names in folders.items() if lab_file in names)
    if len(holders) > 1:
        raise Rejected(f"ambiguous: {lab_file} is in folders " + " and ".join(_show(d) for d in holders[:3]))
    return holders[0] if holders else None


def _usable_folder(name: str) -> bool:
    return not name.startswith(".") and name not in _IGNORED_FOLDERS


# ---------------------------------------------------------------------------------------------
# Folders


def _read_folder(folder: Path, labs: list[str]) -> dict[str, bytes]:
    def listing(path: Path, rel: str) -> dict[str, os.stat_result]:
        try:
            names = os.listdir(path)
        except OSError as exc:
            raise Rejected(f"rejected folder: cannot list {_show(rel)} ({exc.strerror or exc})") from None
        found = {}
        for name in names:
            try:
                found[name] = os.lstat(path / name)
            except OSError:
                continue
        return found

    top = listing(folder, folder.name)
    folders = {
        name: listing(folder / name, f"{folder.name}/{name}")
        for name, st in top.items()
        if stat.S_ISDIR(st.st_mode) and _usable_folder(name)  # a symlinked folder is not followed
    }
    contents = {}
    for lab in labs:
        lab_file = f"{lab}.py"
        where = _locate(lab_file, set(top), {d: set(names) for d, names in folders.items()})
        if where is None:
            continue
        rel = f"{where}/{lab_file}" if where else lab_file
        st = folders[where][lab_file] if where else top[lab_file]
        contents[lab] = _read_regular(folder / rel, st, f"{folder.name}/{rel}")
    return contents


def _read_regular(path: Path, st: os.stat_result, rel: str) -> bytes:
    """The bytes of a regular, not symlinked file of at most 1 MiB (checked again on the open file)."""
    shown = _show(rel)
    if stat.S_ISLNK(st.st_mode):
        raise Rejected(f"rejected folder: {shown} is a symlink")
    if not stat.S_ISREG(st.st_mode):
        raise Rejected(f"rejected folder: {shown} is not a regular file")
    if st.st_size > ENTRY_LIMIT:
        raise Rejected(f"rejected folder: {shown} is over 1 MiB")
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
            data = fh.read(ENTRY_LIMIT + 1)
    except OSError as exc:
        raise Rejected(f"rejected folder: cannot read {shown} ({exc.strerror or exc})") from None
    finally:
        os.close(fd)
    if len(data) > ENTRY_LIMIT:
        raise Rejected(f"rejected folder: {shown} is over 1 MiB")
    return data


# ---------------------------------------------------------------------------------------------
# Zips


def _entry_parts(name: str) -> list[str]:
    """A zip entry name as path parts: backslashes are separators, empty and ``.`` parts dropped."""
    return [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]


def _read_zip(path: Path, labs: list[str]) -> dict[str, bytes]:
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
    except Exception as exc:  # BadZipFile, and whatever else a hostile archive provokes
        raise Rejected(f"rejected zip: corrupt or not a zip ({_detail(exc)})") from None
    with archive:
        infos = archive.infolist()
        by_name = _check_entries(infos)
        top: set[str] = set()
        folders: dict[str, set[str]] = {}
        for key, info in by_name.items():
            parts = key.split("/")
            if info.is_dir():
                continue
            if len(parts) == 1:
                top.add(parts[0])
            elif len(parts) == 2 and _usable_folder(parts[0]):
                folders.setdefault(parts[0], set()).add(parts[1])
        contents, total = {}, 0
        for lab in labs:
            lab_file = f"{lab}.py"
            where = _locate(lab_file, top, folders)
            if where is None:
                continue
            info = by_name[f"{where}/{lab_file}" if where else lab_file]
            data = _read_entry(archive, info)
            total += len(data)
            if total > TOTAL_LIMIT:
                raise Rejected("rejected zip: over 10 MiB uncompressed in total")
            contents[lab] = data
    return contents


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
        if info.file_size > ENTRY_LIMIT:
            raise Rejected(f"rejected zip: entry {shown} is over 1 MiB uncompressed")
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


def _read_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """An entry's bytes, decompressing at most 1 MiB + 1 whatever its header claims; CRC checked.

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
    info.file_size = ENTRY_LIMIT + (1 << 17)
    try:
        with archive.open(info) as fh:
            data = fh.read(ENTRY_LIMIT + 1)
    except Exception as exc:  # BadZipFile (CRC, header), zlib.error, EOFError, NotImplementedError...
        raise Rejected(f"rejected zip: corrupt entry {shown} ({_detail(exc)})") from None
    finally:
        info.file_size = declared
    if len(data) > ENTRY_LIMIT:
        raise Rejected(f"rejected zip: entry {shown} decompresses to over 1 MiB (header claims {declared} bytes)")
    if len(data) != declared:
        raise Rejected(f"rejected zip: corrupt entry {shown} ({len(data)} bytes, header claims {declared})")
    return data
