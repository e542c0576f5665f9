"""`inv grade` as an instructor meets it: bad input is one line and leaves nothing behind, what
cannot work is refused before starting, and every student — whatever their name or file name — is
graded and shown as they are named."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
from test_tasks import EXAMPLES, one_line_error, points

from conftest import LABS, ROOT, inv

SOLUTION = LABS["derivatives"].solution


def inv_env(*args: str, env: dict, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    exe = str(Path(sys.executable).parent / "inv")
    return subprocess.run(
        [exe, "--search-root", str(ROOT), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "250", **env},
        timeout=600,
    )


@pytest.mark.parametrize(
    "extra,fragment",
    [
        (["--jobs", "abc"], "--jobs must be a whole number, not 'abc'"),
        (["--jobs", "0"], "--jobs must be 1 or more, not 0"),
        (["--jobs", "-1"], "--jobs must be 1 or more, not -1"),
        (["--seed", "abc"], "--seed must be a whole number, not 'abc'"),
        (
            ["--labs", ""],
            "--labs is empty; name one or more of: custom_gradients, derivatives, jacobians, logistic_gradients,"
            " training_step, value_and_grad",
        ),
        (["--regrade", "zed,alice"], "--regrade: no student named 'zed'; the students are: alice, bob, carol, dave"),
    ],
)
def test_bad_options_get_one_line_and_leave_no_out(tmp_path, extra, fragment):
    out = tmp_path / "out"
    result = inv("grade", str(EXAMPLES), "--out", str(out), *extra)
    assert fragment in one_line_error(result) and result.stderr.startswith("error: ")
    assert not out.exists()


def test_out_that_cannot_be_written(tmp_path):
    (tmp_path / "file").write_text("x")
    for out, fragment in [
        (tmp_path / "file", "is a file, not a folder"),
        (tmp_path / "file" / "sub", f"{tmp_path / 'file'} is a file, not a folder"),
        (Path("/proc/self/mslab-out"), "not a place for results"),
    ]:
        result = inv("grade", str(EXAMPLES), "--out", str(out))
        assert fragment in one_line_error(result), out
    if os.geteuid() != 0:  # root may write anywhere: a read-only folder stops only other users
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o555)
        assert "is not writable" in one_line_error(inv("grade", str(EXAMPLES), "--out", str(ro / "out")))


def test_an_empty_class_leaves_no_out(tmp_path):
    (tmp_path / "empty").mkdir()
    result = inv("grade", str(tmp_path / "empty"), "--out", str(tmp_path / "X"))
    assert "holds no students" in one_line_error(result)
    assert not (tmp_path / "X").exists()


@pytest.mark.parametrize("extra", [["--target", "cpu"], ["--isolation", "container"]])
def test_no_docker_engine_is_refused_before_starting(tmp_path, extra):
    out = tmp_path / "out"
    result = inv_env(
        "grade", str(EXAMPLES), "--out", str(out), *extra, env={"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"}
    )
    assert "Docker engine not reachable" in one_line_error(result)
    assert not out.exists()


def notebook(code: str) -> str:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("求导"), nbformat.v4.new_code_cell("%matplotlib inline\n" + code)]
    return nbformat.writes(nb)


def test_every_student_is_graded_under_their_own_name(tmp_path):
    code = SOLUTION.read_text(encoding="utf-8")
    full = points("derivatives")
    subs = tmp_path / "class"
    files = {
        "张三/Derivatives.py": code,
        "李四/derivatives (1).py": code,
        "Mary Ann/hw/lab1/derivatives.py.txt": code,
        "-5/derivatives": code,
        "grades.csv/derivatives.py": code,
        "ctrl_a/derivatives.py": code,
        "nb/derivatives.ipynb": notebook(code),
        "two/Derivatives.py": code,
        "two/derivatives.py.txt": code,
    }
    for rel, text in files.items():
        (subs / rel).parent.mkdir(parents=True, exist_ok=True)
        (subs / rel).write_text(text, encoding="utf-8")
    (subs / "empty").mkdir()
    with zipfile.ZipFile(subs / "CTRL_A.zip", "w") as zf:
        zf.writestr("Lab1_Submission/code/derivatives.py", code)
    out = tmp_path / "out"
    result = inv("grade", str(subs), "--out", str(out), "--labs", "derivatives", "--jobs", "2", "--seed", "3")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "weaker isolation: \n" not in result.stdout + "\n"
    assert not any(line.rstrip().endswith("isolation:") for line in result.stdout.splitlines())
    with open(out / "gradebook.csv", newline="", encoding="utf-8") as fh:
        rows = {r["student"]: r for r in csv.DictReader(fh)}
    graded = ["张三", "李四", "Mary Ann", "-5", "grades.csv", "ctrl_a", "CTRL_A", "nb"]
    assert sorted(rows) == sorted(graded + ["two", "empty"])
    for student in graded:
        assert (rows[student]["status"], float(rows[student]["score"])) == ("graded", full), rows[student]
    assert rows["张三"]["reason"] == "graded from 'Derivatives.py'"
    assert rows["Mary Ann"]["reason"] == "graded from 'hw/lab1/derivatives.py.txt'"
    assert rows["CTRL_A"]["reason"] == ""  # the exact name, however deep: nothing to say
    assert rows["nb"]["reason"].startswith("graded from 'derivatives.ipynb', its code cells without 1 IPython")
    assert rows["two"]["status"] == "missing" and "'Derivatives.py', 'derivatives.py.txt'" in rows["two"]["reason"]
    assert (rows["empty"]["status"], rows["empty"]["reason"]) == ("missing", "empty submission")
    assert (out / "grades.csv").is_file()  # the student named grades.csv did not take the sheet's place
    with open(out / "grades.csv", newline="", encoding="utf-8") as fh:
        assert {r[0] for r in csv.reader(fh)} >= {"张三", "Mary Ann", "-5", "grades.csv"}
    data = json.loads((out / "grades.json").read_text(encoding="utf-8"))
    for student in graded:
        folder = data["students"][student]["folder"]
        assert (out / folder / "derivatives" / "results.json").is_file()
        assert folder.isascii() and "/" not in folder
    assert not (out / ".staging").exists()
    # --regrade takes the name as written
    again = inv("grade", str(subs), "--out", str(out), "--labs", "derivatives", "--regrade", "张三", "--jobs", "1")
    assert again.returncode == 0, again.stderr
