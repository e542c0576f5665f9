"""Intake: student folders and zips are found, checked and staged; hostile archives are rejected."""

from __future__ import annotations

import hashlib
import os
import re
import stat
import struct
import warnings
import zipfile
import zlib
from pathlib import Path

import pytest

from mslab.errors import MslabError
from mslab.submissions import Submission, find_submissions, folder_names

LABS = ["derivatives", "value_and_grad"]
CODE = b"def f(x):\n    return x ** 2\n"
OTHER = b"def g(x):\n    return 3 * x\n"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_zip(path: Path, entries) -> Path:
    """entries: (name or ZipInfo, bytes); deflated unless a ZipInfo says otherwise."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names warn
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in entries:
                zf.writestr(name, data)
    return path


def patch_headers(path: Path, *, field: str, value: int) -> None:
    """Overwrite one field in every local header and central directory record of a zip."""
    # (offset in local header, offset in central record, struct format)
    fields = {"flags": (6, 8, "<H"), "crc": (14, 16, "<I"), "file_size": (22, 24, "<I")}
    local_off, central_off, fmt = fields[field]
    data = bytearray(path.read_bytes())
    for signature, off in ((b"PK\x03\x04", local_off), (b"PK\x01\x02", central_off)):
        start = 0
        while (at := data.find(signature, start)) >= 0:
            struct.pack_into(fmt, data, at + off, value)
            start = at + 4
    path.write_bytes(bytes(data))


def info(name: str, mode: int) -> zipfile.ZipInfo:
    zi = zipfile.ZipInfo(name)
    zi.create_system = 3
    zi.external_attr = mode << 16
    return zi


def bz2_info(name: str) -> zipfile.ZipInfo:
    zi = zipfile.ZipInfo(name)
    zi.compress_type = zipfile.ZIP_BZIP2
    return zi


def tree(path: Path, skip: Path | None = None) -> dict[str, bytes | str]:
    """Everything under path (not following symlinks), to prove nothing else was written."""
    seen = {}
    for dirpath, dirnames, filenames in os.walk(path):
        if skip is not None and Path(dirpath) == skip:
            dirnames[:] = []
            continue
        dirnames[:] = [d for d in dirnames if skip is None or Path(dirpath, d) != skip]
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            rel = str(p.relative_to(path))
            if p.is_symlink():
                seen[rel] = "link:" + os.readlink(p)
            elif p.is_file():
                seen[rel] = p.read_bytes()
            else:
                seen[rel] = "dir"
    return seen


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "subs"
    r.mkdir()
    return r


@pytest.fixture
def staging(tmp_path):
    return tmp_path / "staging"


def one(root: Path, staging: Path, student: str) -> Submission:
    subs = {s.student: s for s in find_submissions(root, LABS, staging)}
    return subs[student]


# ------------------------------------------------------------------------------------- good cases


def test_folder_zip_flat_zip_nested_and_missing_lab(root, staging, tmp_path):
    (root / "alice").mkdir()
    (root / "alice" / "derivatives.py").write_bytes(CODE)
    (root / "alice" / "value_and_grad.py").write_bytes(OTHER)
    (root / "alice" / "notes.txt").write_text("ignored")
    make_zip(root / "bob.zip", [("derivatives.py", CODE), ("value_and_grad.py", OTHER)])
    make_zip(root / "carol.zip", [("carol/", b""), ("carol/derivatives.py", OTHER), ("carol/readme.md", b"x")])
    (root / "dave").mkdir()  # handed in nothing
    (root / ".hidden").mkdir()
    (root / ".DS_Store").write_bytes(b"junk")
    (root / "notes.txt").write_text("stray file")
    before = tree(tmp_path)

    subs = find_submissions(root, LABS, staging)

    assert [s.student for s in subs] == ["alice", "bob", "carol", "dave"]
    alice, bob, carol, dave = subs
    assert all(s.problem == "" for s in subs)
    assert alice.source == root / "alice" and bob.source == root / "bob.zip"
    assert alice.files == {
        "derivatives": staging / "alice" / "derivatives.py",
        "value_and_grad": staging / "alice" / "value_and_grad.py",
    }
    assert alice.digest == {"derivatives": sha(CODE), "value_and_grad": sha(OTHER)}
    assert bob.files == {
        "derivatives": staging / "bob" / "derivatives.py",
        "value_and_grad": staging / "bob" / "value_and_grad.py",
    }
    assert bob.digest == {"derivatives": sha(CODE), "value_and_grad": sha(OTHER)}
    assert carol.files == {"derivatives": staging / "carol" / "derivatives.py"}  # value_and_grad missing
    assert carol.digest == {"derivatives": sha(OTHER)}
    assert dave.files == {} and dave.digest == {}
    for s in subs:
        for lab, path in s.files.items():
            assert sha(path.read_bytes()) == s.digest[lab]
    # Only the needed lab files were written, and only under staging.
    assert sorted(str(p.relative_to(staging)) for p in staging.rglob("*")) == [
        "alice",
        "alice/derivatives.py",
        "alice/value_and_grad.py",
        "bob",
        "bob/derivatives.py",
        "bob/value_and_grad.py",
        "carol",
        "carol/derivatives.py",
    ]
    assert tree(tmp_path, skip=staging) == before


def test_nested_folder_student_macosx_ignored_and_top_level_wins(root, staging):
    (root / "erin" / "erin").mkdir(parents=True)  # unzipped her folder into her folder
    (root / "erin" / "erin" / "derivatives.py").write_bytes(CODE)
    make_zip(
        root / "fay.zip",
        [
            ("fay/derivatives.py", CODE),
            ("__MACOSX/fay/._derivatives.py", b"\x00\x05\x16\x07"),
            ("__MACOSX/derivatives.py", b"appledouble"),
        ],
    )
    make_zip(
        root / "gus.zip",
        [("derivatives.py", CODE), ("gus/derivatives.py", OTHER), ("gus/deep/value_and_grad.py", OTHER)],
    )  # two folders deep: found
    erin, fay, gus = find_submissions(root, LABS, staging)
    assert erin.problem == "" and erin.digest == {"derivatives": sha(CODE)}
    assert fay.problem == "" and fay.digest == {"derivatives": sha(CODE)}
    assert gus.problem == "" and gus.digest == {"derivatives": sha(CODE), "value_and_grad": sha(OTHER)}
    assert gus.notes == {}  # exact names: nothing to say


def test_staging_is_fresh_each_call_and_a_symlink_there_is_not_followed(root, staging, tmp_path):
    (root / "alice").mkdir()
    (root / "alice" / "derivatives.py").write_bytes(CODE)
    make_zip(root / "bob.zip", [("derivatives.py", CODE)])
    (staging / "alice").mkdir(parents=True)
    (staging / "alice" / "value_and_grad.py").write_bytes(b"stale")
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "keep.txt").write_text("keep")
    (staging / "bob").symlink_to(precious)

    alice, bob = find_submissions(root, LABS, staging)
    assert alice.files == {"derivatives": staging / "alice" / "derivatives.py"}
    assert not (staging / "alice" / "value_and_grad.py").exists()
    assert not (staging / "bob").is_symlink() and (staging / "bob" / "derivatives.py").read_bytes() == CODE
    assert (precious / "keep.txt").read_text() == "keep" and sorted(os.listdir(precious)) == ["keep.txt"]

    # A second call replaces the first's files; a student who is now rejected keeps none.
    (root / "alice" / "derivatives.py").write_bytes(OTHER)
    (root / "bob.zip").write_bytes(b"not a zip")
    alice, bob = find_submissions(root, LABS, staging)
    assert alice.digest == {"derivatives": sha(OTHER)}
    assert (staging / "alice" / "derivatives.py").read_bytes() == OTHER
    assert bob.problem and bob.files == {} and not (staging / "bob").exists()


def test_root_errors(tmp_path):
    with pytest.raises(MslabError, match="no submissions folder at"):
        find_submissions(tmp_path / "nope", LABS, tmp_path / "staging")
    (tmp_path / "file").write_text("x")
    with pytest.raises(MslabError, match="no submissions folder at"):
        find_submissions(tmp_path / "file", LABS, tmp_path / "staging")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / ".hidden").mkdir()
    (empty / "stray.txt").write_text("x")
    with pytest.raises(MslabError) as exc:
        find_submissions(empty, LABS, tmp_path / "staging")
    assert str(exc.value) == f"{empty} holds no students (expected <student>/<lab>.py or <student>.zip)"
    assert "\n" not in str(exc.value)


# ---------------------------------------------------------------------------------- zip rejections

MIB = 1 << 20


def _bomb(path: Path) -> None:
    make_zip(path, [("derivatives.py", bytes(20 * MIB))])  # ~20 KiB on disk
    patch_headers(path, field="file_size", value=10)  # the header lies: "10 bytes"


def _crc(path: Path) -> None:
    make_zip(path, [("derivatives.py", CODE)])
    patch_headers(path, field="crc", value=zlib.crc32(CODE) ^ 0xFFFF)


def _encrypted(path: Path) -> None:
    make_zip(path, [("derivatives.py", CODE)])
    patch_headers(path, field="flags", value=0x1)


ZIP_CASES = {
    "not a zip": (
        lambda p: p.write_bytes(b"PK? definitely not a zip"),
        "rejected zip: corrupt or not a zip (File is not a zip file)",
    ),
    "truncated": (
        lambda p: p.write_bytes(make_zip(p, [("derivatives.py", CODE)]).read_bytes()[:-30]),
        "rejected zip: corrupt or not a zip (File is not a zip file)",
    ),
    "crc": (_crc, "rejected zip: corrupt entry 'derivatives.py' (Bad CRC-32 for file 'derivatives.py')"),
    "encrypted": (_encrypted, "rejected zip: encrypted entry 'derivatives.py'"),
    "zip-slip": (
        lambda p: make_zip(p, [("derivatives.py", CODE), ("../evil.py", b"x")]),
        "rejected zip: zip-slip entry '../evil.py'",
    ),
    "zip-slip inside": (
        lambda p: make_zip(p, [("a/../../evil.py", b"x")]),
        "rejected zip: zip-slip entry 'a/../../evil.py'",
    ),
    "zip-slip backslash": (
        lambda p: make_zip(p, [("..\\evil.py", b"x")]),
        "rejected zip: zip-slip entry '..\\evil.py'",
    ),  # as written, not repr
    "absolute": (lambda p: make_zip(p, [("/etc/evil.py", b"x")]), "rejected zip: absolute path entry '/etc/evil.py'"),
    "drive": (lambda p: make_zip(p, [("C:\\evil.py", b"x")]), "rejected zip: absolute path entry 'C:\\evil.py'"),
    "unc": (
        lambda p: make_zip(p, [("\\\\server\\share\\evil.py", b"x")]),
        "rejected zip: absolute path entry '\\\\server\\share\\evil.py'",
    ),
    "symlink": (
        lambda p: make_zip(p, [(info("derivatives.py", stat.S_IFLNK | 0o777), b"/srv/hidden.py")]),
        "rejected zip: symlink entry 'derivatives.py'",
    ),
    "fifo": (
        lambda p: make_zip(p, [(info("derivatives.py", stat.S_IFIFO | 0o644), b"")]),
        "rejected zip: non-regular entry 'derivatives.py'",
    ),
    "too many entries": (
        lambda p: make_zip(p, [(f"f{i}.txt", b"") for i in range(101)]),
        "rejected zip: 101 entries (limit 100)",
    ),
    "entry over 1 MiB": (
        lambda p: make_zip(p, [("derivatives.py", CODE), ("data.bin", bytes(MIB + 1))]),
        "rejected zip: entry 'data.bin' is over 1 MiB uncompressed",
    ),
    "total over 10 MiB": (
        lambda p: make_zip(p, [(f"d{i}.bin", bytes(MIB)) for i in range(11)]),
        "rejected zip: over 10 MiB uncompressed in total",
    ),
    "bomb with lying header": (
        _bomb,
        "rejected zip: entry 'derivatives.py' decompresses to over 1 MiB (header claims 10 bytes)",
    ),
    "bzip2": (
        lambda p: make_zip(p, [(bz2_info("derivatives.py"), CODE)]),
        "rejected zip: entry 'derivatives.py' is compressed with bzip2 (only stored or deflate)",
    ),
    "duplicate": (
        lambda p: make_zip(p, [("derivatives.py", CODE), ("derivatives.py", OTHER)]),
        "rejected zip: duplicate entry 'derivatives.py'",
    ),
    "duplicate via ./": (
        lambda p: make_zip(p, [("derivatives.py", CODE), ("./derivatives.py", OTHER)]),
        "rejected zip: duplicate entry './derivatives.py'",
    ),
}


@pytest.mark.parametrize("case", list(ZIP_CASES))
def test_zip_rejections(case, root, staging, tmp_path):
    build, problem = ZIP_CASES[case]
    build(root / "mallory.zip")
    (root / "alice").mkdir()
    (root / "alice" / "derivatives.py").write_bytes(CODE)
    before = tree(tmp_path)

    alice, mallory = find_submissions(root, LABS, staging)  # the batch goes on

    assert mallory == Submission("mallory", {}, root / "mallory.zip", {}, problem, "mallory")
    assert "\n" not in problem
    assert alice.problem == "" and alice.digest == {"derivatives": sha(CODE)}
    assert not (staging / "mallory").exists()  # a rejected zip writes nothing
    assert tree(tmp_path, skip=staging) == before
    assert not (tmp_path / "evil.py").exists() and not (root / "evil.py").exists()


def test_bomb_is_stopped_at_the_limit(root, staging):
    """A lying header cannot make intake decompress (or hold) more than the limit."""
    _bomb(root / "mallory.zip")
    assert (root / "mallory.zip").stat().st_size < 100_000
    with zipfile.ZipFile(root / "mallory.zip") as zf:
        assert zf.getinfo("derivatives.py").file_size == 10
    (mallory,) = find_submissions(root, LABS, staging)
    assert mallory.problem.startswith("rejected zip: entry 'derivatives.py' decompresses to over 1 MiB")


def test_unneeded_entries_are_checked_but_only_lab_files_extracted(root, staging):
    make_zip(
        root / "bob.zip",
        [
            ("derivatives.py", CODE),
            ("setup.py", b"import os"),
            ("conftest.py", b"x"),
            (bz2_info("notes.txt"), b"never decompressed"),
        ],
    )
    (bob,) = find_submissions(root, LABS, staging)
    assert bob.problem == "" and sorted(os.listdir(staging / "bob")) == ["derivatives.py"]


def test_zip_with_stored_entry(root, staging):
    with zipfile.ZipFile(root / "bob.zip", "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("derivatives.py", CODE)
    (bob,) = find_submissions(root, LABS, staging)
    assert bob.problem == "" and bob.digest == {"derivatives": sha(CODE)}


# ------------------------------------------------------------------------------- folder rejections


def test_symlinked_lab_file_in_folder(root, staging, tmp_path):
    hidden = tmp_path / "hidden_checks.py"
    hidden.write_bytes(b"SECRET = 42\n")
    (root / "mallory").mkdir()
    (root / "mallory" / "derivatives.py").symlink_to(hidden)
    (mallory,) = find_submissions(root, LABS, staging)
    assert mallory == Submission(
        "mallory", {}, root / "mallory", {}, "rejected folder: 'mallory/derivatives.py' is a symlink", "mallory"
    )
    assert not (staging / "mallory").exists()


def test_symlinked_lab_file_in_nested_folder(root, staging, tmp_path):
    (tmp_path / "hidden.py").write_bytes(b"x")
    (root / "mallory" / "sub").mkdir(parents=True)
    (root / "mallory" / "sub" / "derivatives.py").symlink_to(tmp_path / "hidden.py")
    (mallory,) = find_submissions(root, LABS, staging)
    assert mallory.problem == "rejected folder: 'mallory/sub/derivatives.py' is a symlink"


def test_symlinked_student_folder_and_zip(root, staging, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "derivatives.py").write_bytes(CODE)
    (root / "mallory").symlink_to(elsewhere)
    make_zip(tmp_path / "real.zip", [("derivatives.py", CODE)])
    (root / "trent.zip").symlink_to(tmp_path / "real.zip")
    mallory, trent = find_submissions(root, LABS, staging)
    assert mallory.problem == "rejected folder: 'mallory' is a symlink"
    assert trent.problem == "rejected zip: 'trent.zip' is a symlink"


def test_non_regular_and_oversized_lab_files_in_folder(root, staging):
    (root / "fifo").mkdir()
    os.mkfifo(root / "fifo" / "derivatives.py")
    (root / "big").mkdir()
    (root / "big" / "derivatives.py").write_bytes(b"#" * (MIB + 1))
    big, fifo = find_submissions(root, LABS, staging)
    assert big.problem == "rejected folder: 'big/derivatives.py' is over 1 MiB"
    assert fifo.problem == "rejected folder: 'fifo/derivatives.py' is not a regular file"
    assert all(s.files == {} and s.digest == {} for s in (big, fifo))


def test_competing_exact_names_make_the_lab_missing_and_list_them(root, staging):
    for sub in ("v1", "v2"):
        (root / "ann" / sub).mkdir(parents=True)
        (root / "ann" / sub / "derivatives.py").write_bytes(CODE)
    (root / "ann" / "value_and_grad.py").write_bytes(OTHER)
    make_zip(root / "bo.zip", [("a/derivatives.py", CODE), ("b/derivatives.py", OTHER)])
    ann, bo = find_submissions(root, LABS, staging)
    assert ann.problem == "" and ann.digest == {"value_and_grad": sha(OTHER)}  # the rest is graded
    assert ann.missing == {
        "derivatives": "no single derivatives.py: several compete ('v1/derivatives.py', 'v2/derivatives.py'); keep one"
    }
    assert bo.problem == "" and bo.files == {}
    assert bo.missing["derivatives"] == (
        "no single derivatives.py: several compete ('a/derivatives.py', 'b/derivatives.py'); keep one"
    )


# ------------------------------------------------------------------------------------ names


def test_any_name_a_person_can_have_is_taken_in_under_a_safe_folder(root, staging, tmp_path):
    names = ["张三", "李四", "Mary Ann", "bad;rm -rf", "new\nline", "x" * 101, "O'Brien", "Anne-Marie (2)"]
    for name in names:
        (root / name).mkdir()
        (root / name / "derivatives.py").write_bytes(CODE)
    make_zip(root / "Zoë Ünal.zip", [("derivatives.py", OTHER)])
    (root / "ok").mkdir()
    subs = {s.student: s for s in find_submissions(root, LABS, staging)}
    shown = [name.replace("\n", "\\x0a") for name in names]  # a control character is shown escaped
    assert sorted(subs) == sorted(shown + ["Zoë Ünal", "ok"])
    for name in shown:
        s = subs[name]
        assert s.problem == "" and s.digest == {"derivatives": sha(CODE)}, s
        assert s.folder != name and re.fullmatch(r"[a-z0-9._-]{1,40}-[0-9a-f]{8}", s.folder), s.folder
        assert s.files["derivatives"] == staging / s.folder / "derivatives.py"
    assert subs["Mary Ann"].folder.startswith("mary_ann-") and subs["张三"].folder.startswith("student-")
    assert subs["张三"].folder != subs["李四"].folder
    assert subs["Zoë Ünal"].folder.startswith("zoe_unal-") and subs["Zoë Ünal"].digest == {"derivatives": sha(OTHER)}
    assert subs["ok"].folder == "ok" and subs["ok"].missing == {
        "derivatives": "empty submission",
        "value_and_grad": "empty submission",
    }
    assert sorted(os.listdir(staging)) == sorted(s.folder for s in subs.values() if s.files)
    again = {s.student: s.folder for s in find_submissions(root, LABS, staging)}
    assert again == {n: s.folder for n, s in subs.items()}  # the same folder on every run
    assert subs["new\\x0aline"].folder == folder_names(["new\nline"])["new\nline"]  # from the name handed in


def test_names_the_grader_uses_and_names_differing_in_case_are_distinct_students(root, staging):
    (root / "ctrl_a").mkdir()
    (root / "ctrl_a" / "derivatives.py").write_bytes(CODE)
    make_zip(root / "CTRL_A.zip", [("derivatives.py", OTHER)])
    (root / "gradebook.csv").mkdir()
    (root / "gradebook.csv" / "derivatives.py").write_bytes(CODE)
    subs = {s.student: s for s in find_submissions(root, LABS, staging, reserved={"gradebook.csv", "grades.csv"})}
    assert set(subs) == {"ctrl_a", "CTRL_A", "gradebook.csv"}
    assert subs["ctrl_a"].problem == subs["CTRL_A"].problem == subs["gradebook.csv"].problem == ""
    assert subs["ctrl_a"].digest == {"derivatives": sha(CODE)} and subs["CTRL_A"].digest == {"derivatives": sha(OTHER)}
    folders = [s.folder for s in subs.values()]
    assert len({f.casefold() for f in folders}) == 3  # distinct even on a case-insensitive disk
    assert "gradebook.csv" not in folders and subs["gradebook.csv"].folder.startswith("gradebook.csv-")


def test_duplicate_student(root, staging):
    (root / "alice").mkdir()
    (root / "alice" / "derivatives.py").write_bytes(CODE)
    make_zip(root / "alice.zip", [("derivatives.py", CODE)])
    subs = find_submissions(root, LABS, staging)
    assert subs == [Submission("alice", {}, root / "alice", {}, "duplicate student: 'alice' and 'alice.zip'", "alice")]
    assert not (staging / "alice").exists()


def test_invalid_lab_name_is_the_callers_error(root, staging):
    (root / "alice").mkdir()
    with pytest.raises(MslabError, match="invalid lab name '../x'"):
        find_submissions(root, ["../x"], staging)


def test_staging_inside_root_is_not_a_student(root):
    (root / "alice").mkdir()
    (root / "alice" / "derivatives.py").write_bytes(CODE)
    staging = root / "staging"
    find_submissions(root, LABS, staging)
    (alice,) = find_submissions(root, LABS, staging)
    assert alice.student == "alice"


def test_staging_that_would_delete_submissions_is_refused(root, tmp_path):
    (root / "alice").mkdir()
    (root / "alice" / "derivatives.py").write_bytes(CODE)
    for staging in (root, tmp_path):
        with pytest.raises(MslabError, match="must not be the submissions folder or hold it"):
            find_submissions(root, LABS, staging)
    assert (root / "alice" / "derivatives.py").read_bytes() == CODE
