"""Intake finds a student's work under the names students really give it: case, browser renames,
no extension, deeper folders, another top folder, Jupyter notebooks; it says what it picked."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import nbformat
import pytest

from mslab.submissions import find_submissions, notebook_code

LABS = ["derivatives", "value_and_grad"]
CODE = b"def f(x):\n    return x ** 2\n"
OTHER = b"def g(x):\n    return 3 * x\n"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "subs"
    r.mkdir()
    return r


def put(root: Path, rel: str, data: bytes) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def take(root: Path, tmp_path: Path) -> dict:
    return {s.student: s for s in find_submissions(root, LABS, tmp_path / "staging")}


@pytest.mark.parametrize(
    "derivatives,value_and_grad",
    [
        ("Derivatives.py", "Value_And_Grad.py"),  # case
        ("derivatives (1).py", "value_and_grad.py.txt"),  # browser renames
        ("derivatives", "value_and_grad (2).py"),  # no extension
        ("hw/lab/derivatives.py", "hw/lab/value_and_grad.py"),  # two folders deep
    ],
)
def test_near_names_in_a_folder_are_graded_and_the_row_says_which(root, tmp_path, derivatives, value_and_grad):
    put(root, f"ann/{derivatives}", CODE)
    put(root, f"ann/{value_and_grad}", OTHER)
    ann = take(root, tmp_path)["ann"]
    assert ann.problem == "" and ann.missing == {}
    assert ann.digest == {"derivatives": sha(CODE), "value_and_grad": sha(OTHER)}
    exact = {"derivatives": "derivatives.py", "value_and_grad": "value_and_grad.py"}
    for lab, name in (("derivatives", derivatives), ("value_and_grad", value_and_grad)):
        if name.rsplit("/", 1)[-1] == exact[lab]:
            assert lab not in ann.notes
        else:
            assert ann.notes[lab] == f"graded from '{name}'"


def test_a_zip_two_folders_deep_under_another_top_folder(root, tmp_path):
    with zipfile.ZipFile(root / "bo.zip", "w") as zf:
        zf.writestr("作业2/code/Derivatives.py", CODE)
        zf.writestr("作业2/code/value_and_grad.py", OTHER)
        zf.writestr("作业2/readme.md", "hi")
    bo = take(root, tmp_path)["bo"]
    assert bo.problem == "" and bo.digest == {"derivatives": sha(CODE), "value_and_grad": sha(OTHER)}
    assert bo.notes == {"derivatives": "graded from '作业2/code/Derivatives.py'"}


def test_exact_name_wins_over_near_matches_and_near_matches_that_compete_are_listed(root, tmp_path):
    put(root, "cy/derivatives.py", CODE)
    put(root, "cy/Derivatives (1).py", OTHER)
    put(root, "cy/derivatives.ipynb", b"{}")
    put(root, "cy/Value_and_grad.py", CODE)
    put(root, "cy/value_and_grad.py.txt", OTHER)
    cy = take(root, tmp_path)["cy"]
    assert cy.digest == {"derivatives": sha(CODE)} and "derivatives" not in cy.notes
    assert cy.missing == {
        "value_and_grad": "no value_and_grad.py, and several files could be it "
        "('Value_and_grad.py', 'value_and_grad.py.txt'); "
        "rename one to value_and_grad.py"
    }


def test_a_missing_row_lists_what_the_submission_held_and_an_empty_one_says_so(root, tmp_path):
    put(root, "dee/notes.txt", b"x")
    put(root, "dee/lab1/deriv.py", CODE)
    put(root, "dee/.git/config", b"x")  # hidden: neither a candidate nor listed
    (root / "eli").mkdir()
    with zipfile.ZipFile(root / "fox.zip", "w") as zf:
        zf.writestr("fox/", "")
    subs = take(root, tmp_path)
    assert subs["dee"].missing == {lab: f"no {lab}.py; the folder holds 'lab1/deriv.py', 'notes.txt'" for lab in LABS}
    assert subs["eli"].missing == dict.fromkeys(LABS, "empty submission")
    assert subs["fox"].missing == dict.fromkeys(LABS, "empty submission")


def test_listing_is_capped(root, tmp_path):
    for i in range(12):
        put(root, f"gil/f{i:02d}.txt", b"x")
    gil = take(root, tmp_path)["gil"]
    assert gil.missing["derivatives"].endswith("'f07.txt' and 4 more")


def notebook(*cells) -> bytes:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Lab 1\n求导")] + [nbformat.v4.new_code_cell(c) for c in cells]
    return nbformat.writes(nb).encode()


def test_a_notebook_is_graded_from_its_code_cells_without_ipython_lines(root, tmp_path):
    data = notebook(
        "%matplotlib inline\n!pip install mindspore\nimport math",
        "def f(x):\n    if x:\n        %time y = 1\n    return x ** 2",
        "%%bash\necho hi",
        "files = !ls\nprint(f(2))",
    )
    put(root, "hua/derivatives.ipynb", data)
    hua = take(root, tmp_path)["hua"]
    staged = hua.files["derivatives"].read_text()
    assert staged == (
        "pass  # IPython line dropped by the grader\npass  # IPython line dropped by the grader\nimport math\n\n"
        "def f(x):\n    if x:\n        pass  # IPython line dropped by the grader\n    return x ** 2\n\n"
        "# %%bash\n# echo hi\n\n"
        "pass  # IPython line dropped by the grader\nprint(f(2))\n"
    )
    compile(staged, "derivatives.py", "exec")  # still Python
    assert hua.digest == {"derivatives": sha(staged.encode())}
    assert hua.notes["derivatives"] == (
        "graded from 'derivatives.ipynb', its code cells without 5 IPython line(s) that are not Python "
        "('%matplotlib inline'; '!pip install mindspore'; '%time y = 1' and 2 more)"
    )


def test_a_notebook_without_magics_and_a_broken_notebook(root, tmp_path):
    put(root, "ivy/Derivatives (1).ipynb", notebook("def f(x):\n    return x ** 2"))
    put(root, "ivy/value_and_grad.ipynb", b'{"cells": [')
    ivy = take(root, tmp_path)["ivy"]
    assert ivy.files["derivatives"].read_bytes() == CODE
    assert ivy.notes == {"derivatives": "graded from 'Derivatives (1).ipynb', its code cells"}
    assert ivy.missing["value_and_grad"].startswith("'value_and_grad.ipynb' is not a readable notebook (")


def test_notebook_code_keeps_text_cells_out():
    code, dropped = notebook_code(notebook("x = 1"), "'n.ipynb'")
    assert code == b"x = 1\n" and dropped == []
    assert json.loads(notebook("x = 1"))["cells"][0]["cell_type"] == "markdown"
