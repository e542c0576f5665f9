"""`inv lab.check` takes a file in as `inv grade` does: a notebook is graded from its code cells
(it was read as Python and scored 0), both give the same mark, and run from inside work/ it finds
the lab's file there."""

from __future__ import annotations

import json

import nbformat

from conftest import LABS, inv
from mslab.records import Record

LAB = LABS["derivatives"]


def _notebook(code: str) -> str:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# 求导 / Derivatives"),
        nbformat.v4.new_code_cell("%matplotlib inline\n" + code),
        nbformat.v4.new_code_cell("!pip list | head -1"),
    ]
    return nbformat.writes(nb)


def test_a_notebook_gets_the_same_mark_from_check_and_grade(tmp_path):
    (tmp_path / "class" / "ann").mkdir(parents=True)
    notebook = tmp_path / "class" / "ann" / "derivatives.ipynb"
    notebook.write_text(_notebook(LAB.solution.read_text()))
    out = tmp_path / "out"
    graded = inv("grade", str(tmp_path / "class"), "--out", str(out), "--labs", "derivatives", "--seed", "4")
    assert graded.returncode == 0, graded.stdout + graded.stderr
    record = Record.read(out / "ann" / "derivatives" / "record.json")
    assert record is not None and record.score == record.max_score == 20
    results = tmp_path / "results.json"
    checked = inv(
        "lab.check", "derivatives", "--submission", str(notebook), "--all", "--seed", str(record.key["seed"]),
        "--results", str(results),
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert json.loads(results.read_text())["score"] == record.score
    assert "Score: 20/20" in checked.stdout


def test_check_run_inside_work_finds_the_lab_file(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "derivatives.py").write_text(LAB.solution.read_text())
    inside = inv("lab.check", "derivatives", cwd=work)
    assert inside.returncode == 0, inside.stdout + inside.stderr
    assert "derivatives.py" in inside.stdout
    (work / "derivatives.py").unlink()
    (work / "derivatives.ipynb").write_text(_notebook(LAB.solution.read_text()))
    beside = inv("lab.check", "derivatives", cwd=tmp_path)  # work/<lab>.ipynb from the folder above
    assert beside.returncode == 0, beside.stdout + beside.stderr


def test_the_same_answers_as_a_py_and_as_the_notebook_starter_give_the_same_record(tmp_path):
    """The notebook starter (inv lab.start --notebook) filled in with the reference's functions,
    check cell included, is graded as the .py with the same answers is."""
    import ast

    import nbformat

    from mslab.grade import grade_class
    from mslab.notebook import starter

    notebook = nbformat.reads(starter(LAB), as_version=4)
    solution = LAB.solution.read_text()
    bodies = {
        node.name: ast.get_source_segment(solution, node)
        for node in ast.parse(solution).body
        if isinstance(node, ast.FunctionDef)
    }
    for cell in notebook.cells:
        if cell.cell_type == "code" and cell.source.startswith("def "):
            cell.source = bodies[cell.source.split("(")[0][4:]]
    assert any("from mslab import check" in c.source for c in notebook.cells)  # the check cell stays in
    records = {}
    for kind in ("py", "ipynb"):
        (tmp_path / kind / "ann").mkdir(parents=True)
        path = tmp_path / kind / "ann" / f"derivatives.{kind}"
        path.write_text(solution if kind == "py" else nbformat.writes(notebook))
        (records[kind],) = grade_class(tmp_path / kind, tmp_path / f"out-{kind}", labs=["derivatives"], jobs=1, seed=3)
    py, ipynb = records["py"], records["ipynb"]
    assert py.score == ipynb.score == 20 and py.checks == ipynb.checks
    assert "without 1 IPython line(s)" in ipynb.reason or ipynb.reason.startswith("graded from")
