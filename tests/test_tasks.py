"""The real command line: `inv lab.*` and `inv grade`, as a student and an instructor use them."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest

from conftest import LABS, ROOT, inv, write_variant
from mslab.checker import collect

EXAMPLES = ROOT / "examples" / "submissions"
#: The labs the bundled class handed in (a lab added later gets `missing` rows, and no expectations).
EXAMPLE_LABS = sorted({p.stem for p in EXAMPLES.glob("*/*.py")})
#: The mistakes (numbers of docs/errata.md) bob's file of a lab makes where not all of the lab's.
BOB_MISTAKES = {"training_step": {31, 32, 34, 36}}


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state is [0], ppid [1], start time [19])."""
    try:
        text = open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace").read()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def descendants(pid: int) -> set[tuple[int, str]]:
    """(pid, start time) of ``pid`` and every process below it: this test's own processes only,
    never other graders on the machine (sandboxes in their own session or PID namespace included)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat(int(entry))) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = set(), [pid]
    while todo:
        p = todo.pop()
        fields = _stat(p)
        if fields is not None:
            found.add((p, fields[19]))
        todo += children.get(p, [])
    return found


def alive(process: tuple[int, str]) -> bool:
    """Whether that very process (same pid and start time) still runs (a zombie does not)."""
    fields = _stat(process[0])
    return fields is not None and fields[19] == process[1] and fields[0] != "Z"


def one_line_error(result) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def points(lab, predicate=lambda c: True) -> float:
    return sum(c.points for c in collect(LABS[lab]) if predicate(c))


def test_list_shows_every_lab_and_its_points():
    result = inv("lab.list")
    assert result.returncode == 0, result.stderr
    for name in LABS:
        assert name in result.stdout
        assert f"{points(name):g}" in result.stdout


def test_start_then_check_the_untouched_starter(tmp_path):
    result = inv("lab.start", "derivatives", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    copy = tmp_path / "work" / "derivatives.py"
    assert copy.read_text() == LABS["derivatives"].starter.read_text()
    again = inv("lab.start", "derivatives", cwd=tmp_path)
    assert "already exists" in one_line_error(again)
    check = inv("lab.check", "derivatives", cwd=tmp_path)
    assert check.returncode == 1
    assert f"Score: 0/{points('derivatives', lambda c: not c.hidden):g}" in check.stdout
    assert "not done yet" in check.stdout


def test_check_reference_with_all_writes_gradescope_results(tmp_path):
    lab = LABS["logistic_gradients"]
    out = tmp_path / "results.json"
    result = inv("lab.check", lab.name, "--submission", str(lab.solution), "--all", "--results", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(out.read_text())
    assert data["score"] == points(lab.name) and data["extra_data"]["max_score"] == points(lab.name)
    assert {"score", "execution_time", "output", "visibility", "stdout_visibility", "tests"} <= set(data)
    visibilities = {t["visibility"] for t in data["tests"]}
    assert visibilities == {"visible", "after_published"}
    assert all(t["status"] == "passed" and t["score"] == t["max_score"] for t in data["tests"])


def test_check_shows_the_mistake_hint(tmp_path):
    result = inv("lab.check", "derivatives", "--submission", str(EXAMPLES / "bob" / "derivatives.py"))
    assert result.returncode == 1
    assert "3x − 2" in result.stdout and "f″(1) is 6, not 3" in result.stdout


@pytest.mark.parametrize(
    "args,fragment",
    [
        (["lab.check", "nope"], "unknown lab 'nope'"),
        (["lab.check", "derivatives", "--submission", "/no/such/file.py"], "no submission file at /no/such/file.py"),
        (["lab.check", "derivatives", "--submission", "x.py", "--target", "moon"], "unknown target 'moon'"),
        (["lab.run", "nope"], "unknown lab 'nope'"),
        (["lab.start", "nope"], "unknown lab 'nope'"),
        (["grade", "/no/such/dir"], "no submissions folder at /no/such/dir"),
    ],
)
def test_bad_input_gets_one_line_and_exit_2(args, fragment, tmp_path):
    (tmp_path / "x.py").write_text("")
    assert fragment in one_line_error(inv(*args, cwd=tmp_path))


def test_run_prints_the_corrected_walkthrough():
    result = inv("lab.run", "derivatives")
    assert result.returncode == 0, result.stderr
    assert "12.0" in result.stdout  # f″(2) = 12, which the tutorial gets wrong


def test_grading_the_bundled_class(tmp_path):
    result = inv("grade", str(EXAMPLES), "--out", str(tmp_path), "--seed", "11")
    assert result.returncode == 0, result.stdout + result.stderr
    # dave's unloadable files never ran in a sandbox: no warning with nothing after its colon
    assert not [line for line in result.stdout.splitlines() if line.rstrip().endswith("isolation:")]
    with open(tmp_path / "gradebook.csv", newline="") as fh:
        rows = {(r["student"], r["lab"]): r for r in csv.DictReader(fh)}
    assert len(rows) == 4 * len(LABS)

    def expect(student, lab, score, status):
        row = rows[(student, lab)]
        assert (float(row["score"]), float(row["max_score"]), row["status"]) == (score, points(lab), status), row

    done = {
        "derivatives": {"1", "2", "3"},
        "logistic_gradients": {"1", "2", "4"},
        "custom_gradients": {"1", "3"},
        "jacobians": {"1", "2"},
        "training_step": {"1", "2"},
    }
    assert EXAMPLE_LABS == [
        "custom_gradients",
        "derivatives",
        "jacobians",
        "logistic_gradients",
        "training_step",
        "value_and_grad",
    ]
    for lab in EXAMPLE_LABS:
        expect("alice", lab, points(lab), "graded")
        # bob repeats every tutorial erratum, and four of training_step's mistakes students make
        made = BOB_MISTAKES.get(lab, {m["erratum"] for m in LABS[lab].mistakes})
        expect("bob", lab, points(lab, lambda c, made=made: not set(c.errata) & made), "graded")
    for lab in set(LABS) - set(EXAMPLE_LABS):
        assert {rows[(student, lab)]["status"] for student in ("alice", "bob", "carol", "dave")} == {"missing"}
    expect("carol", "derivatives", points("derivatives", lambda c: c.task in done["derivatives"]), "graded")
    expect(
        "carol",
        "logistic_gradients",
        points("logistic_gradients", lambda c: c.task in done["logistic_gradients"]),
        "graded",
    )
    expect(
        "carol", "custom_gradients", points("custom_gradients", lambda c: c.task in done["custom_gradients"]), "graded"
    )
    expect("carol", "jacobians", points("jacobians", lambda c: c.task in done["jacobians"]), "graded")
    expect("carol", "training_step", points("training_step", lambda c: c.task in done["training_step"]), "graded")
    expect("carol", "value_and_grad", 0, "missing")
    expect("dave", "derivatives", 0, "unloadable")
    expect("dave", "logistic_gradients", 0, "unloadable")
    expect("dave", "training_step", 0, "unloadable")
    expect("dave", "value_and_grad", 0, "graded")
    expect("dave", "custom_gradients", 0, "graded")  # NumPy answers: no Tensor, and flagged
    expect("dave", "jacobians", 0, "graded")  # NumPy arrays worked out by hand: no Tensor, no autodiff
    assert "SyntaxError" in rows[("dave", "derivatives")]["reason"]
    assert "sys.exit(0)" in rows[("dave", "logistic_gradients")]["reason"]
    assert "sys.exit(0)" in rows[("dave", "training_step")]["reason"]
    results = json.loads((tmp_path / "bob" / "value_and_grad" / "results.json").read_text())
    assert results["score"] == points("value_and_grad", lambda c: not c.errata)
    assert any("erratum 6" in t["output"] for t in results["tests"])
    assert not (tmp_path / "carol" / "value_and_grad").exists()


@pytest.mark.slow
def test_killed_mid_run_then_rerun_equals_an_uninterrupted_run(tmp_path):
    import os
    import signal
    import subprocess
    import time

    from mslab import classreport
    from mslab.grade import grade_class

    full, part = tmp_path / "full", tmp_path / "part"
    grade_class(EXAMPLES, full, seed=5, jobs=2)
    exe = str(ROOT / ".venv" / "bin" / "inv") if (ROOT / ".venv" / "bin" / "inv").exists() else "inv"
    run = subprocess.Popen(
        [exe, "--search-root", str(ROOT), "grade", str(EXAMPLES), "--out", str(part), "--seed", "5", "--jobs", "2"],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    ours = set()
    while not list(part.glob("*/*/record.json")) and time.monotonic() < deadline:
        ours |= descendants(run.pid)
        time.sleep(0.05)
    os.killpg(run.pid, signal.SIGSTOP)  # freeze the group, so the tree we see is the whole tree
    ours |= descendants(run.pid)
    os.killpg(run.pid, signal.SIGKILL)  # the grader, its workers, zygotes and sandboxes at once
    run.wait()
    for _ in range(100):  # die_with_parent: workers, then zygotes, then sandboxes follow the grader
        left = {p for p in ours if alive(p)}
        if not left:
            break
        time.sleep(0.05)
    assert not left, "a killed grader leaves no worker, zygote or student process behind"
    done = len(list(part.glob("*/*/record.json")))
    assert 1 <= done < 13, "killed in the middle (13 of the 16 rows are graded, 3 are missing/rejected)"
    assert not (part / "gradebook.csv").exists()
    from mslab.sandbox import cgroups

    # The killed workers' sandbox cgroups (named after the worker's pid) outlive them, empty.
    orphans = [
        p
        for parent in cgroups._parents()
        if parent.is_dir()
        for p in parent.iterdir()
        if p.name.split("-")[1:2] and p.name.split("-")[1].isdigit() and int(p.name.split("-")[1]) in ours
    ]
    rerun = inv("grade", str(EXAMPLES), "--out", str(part), "--jobs", "2")
    assert rerun.returncode == 0, rerun.stderr
    for name in classreport.FILES:
        assert (part / name).read_bytes() == (full / name).read_bytes(), name
    assert not any(p.exists() for p in orphans), "the rerun removed the killed run's cgroups"


def test_rerun_skips_what_is_graded_and_regrades_changed_or_named_students(tmp_path):
    import shutil

    from mslab.grade import grade_class

    class_dir = tmp_path / "class"
    for student in ("alice", "bob"):
        shutil.copytree(EXAMPLES / student, class_dir / student)
    out = tmp_path / "out"
    first = {(r.student, r.lab): r for r in grade_class(class_dir, out, labs=["derivatives"], seed=2, jobs=1)}
    stamp = {k: (out / k[0] / k[1] / "record.json").stat().st_mtime_ns for k in first}
    seen = []
    grade_class(class_dir, out, labs=["derivatives"], jobs=1, progress=lambda **kw: seen.append(kw))
    assert {k: (out / k[0] / k[1] / "record.json").stat().st_mtime_ns for k in first} == stamp
    shutil.copy(EXAMPLES / "alice" / "derivatives.py", class_dir / "bob" / "derivatives.py")  # bob fixes his work
    again = {
        (r.student, r.lab): r for r in grade_class(class_dir, out, labs=["derivatives"], jobs=1, regrade=["alice"])
    }
    assert again[("bob", "derivatives")].score == points("derivatives") > first[("bob", "derivatives")].score
    assert (out / "alice" / "derivatives" / "record.json").stat().st_mtime_ns != stamp[("alice", "derivatives")]


def test_zipped_and_rejected_submissions(tmp_path):
    import zipfile

    from mslab.grade import grade_class

    class_dir = tmp_path / "class"
    class_dir.mkdir()
    with zipfile.ZipFile(class_dir / "zoe.zip", "w") as zf:
        zf.write(EXAMPLES / "alice" / "derivatives.py", "zoe/derivatives.py")
    with zipfile.ZipFile(class_dir / "eve.zip", "w") as zf:
        zf.writestr("../../evil.py", "import os")
        zf.write(EXAMPLES / "alice" / "derivatives.py", "derivatives.py")
    (class_dir / "notes.txt").write_text("not a student")
    records = {r.student: r for r in grade_class(class_dir, tmp_path / "out", labs=["derivatives"], seed=1, jobs=1)}
    assert set(records) == {"zoe", "eve"}
    assert records["zoe"].score == points("derivatives") and records["zoe"].status == "graded"
    assert records["eve"].status == "rejected" and "zip-slip" in records["eve"].reason
    assert not (tmp_path / "evil.py").exists() and not (tmp_path / "out" / "evil.py").exists()


# --- what lab.check shows, and how it stops ------------------------------------------


def test_list_shows_whole_titles_in_a_narrow_terminal():
    import subprocess
    import sys

    exe = str(Path(sys.executable).parent / "inv")
    result = subprocess.run(
        [exe, "--search-root", str(ROOT), "lab.list"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "80"},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    titles, current = {}, None
    for line in result.stdout.splitlines():
        cells = [cell.strip() for cell in line.split("│")]
        if len(cells) < 4:
            continue
        if cells[1]:
            current = cells[1]
        titles[current] = (titles.get(current, "") + " " + cells[2]).strip()
    for name, lab in LABS.items():
        # a folded cell splits a word anywhere: compare without the spaces the wrapping adds
        assert titles[name].replace(" ", "") == lab.title.replace(" ", ""), titles[name]


def test_walkthrough_labels_its_values():
    result = inv("lab.run", "derivatives")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "f(1) = 0.0" in lines and "f′(1) = 1.0" in lines and "f″(1) = 6.0" in lines
    assert all("=" in line for line in lines if line.strip()), "every value printed with its label"


def test_student_text_is_shown_as_text_never_as_markup(tmp_path):
    sub = write_variant(
        LABS["derivatives"],
        tmp_path,
        [
            (
                "from mindspore import grad\n",
                'from mindspore import grad\nprint("[bold green]pass[/] \\x1b]0;owned\\x07\\x1b[2J[/]")\n',
            ),
            ("    return x**3 - 2 * x + 1", '    raise ValueError("[/] [bold green]pass[/] \\x1b[31mred")'),
        ],
    )
    result = inv("lab.check", "derivatives", "--submission", str(sub), "--results", str(tmp_path / "r.json"))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "MarkupError" not in result.stderr
    assert "raised ValueError" in result.stdout and "[/] [bold green]pass[/] red" in result.stdout
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["score"] < data["extra_data"]["max_score"]
    # What the code printed, below the table: plain text, escape sequences removed.
    assert "What your code printed (last 1 lines):" in result.stdout
    assert "  [bold green]pass[/] [/]" in result.stdout.splitlines()


def test_printed_output_is_shown_on_failure_capped_and_with_verbose(tmp_path):
    lab = LABS["derivatives"]
    sub = write_variant(
        lab,
        tmp_path,
        [
            (
                "from mindspore import grad\n",
                'from mindspore import grad\nfor i in range(100):\n    print(f"line {i}", "x" * (1000 if i == 99 else 1))\n',
            ),
            ("    return x**3 - 2 * x + 1", "    return x**3 - 2 * x"),  # wrong: every f check fails
        ],
    )
    failing = inv("lab.check", "derivatives", "--submission", str(sub))
    assert failing.returncode == 1
    shown = [line for line in failing.stdout.splitlines() if line.startswith("  line ")]
    assert [line.split()[1] for line in shown] == [str(i) for i in range(95, 100)]  # the summary: the last 5
    assert shown[-1].endswith("…") and len(shown[-1]) <= 2 + 300
    table = inv("lab.check", "derivatives", "--submission", str(sub), "--verbose")
    shown = [line for line in table.stdout.splitlines() if line.startswith("  line ")]
    assert [line.split()[1] for line in shown] == [str(i) for i in range(80, 100)]  # --verbose: the last 20
    (tmp_path / "good").mkdir()
    good = write_variant(
        lab,
        tmp_path / "good",
        [
            ("from mindspore import grad\n", 'from mindspore import grad\nprint("hello from the student")\n'),
        ],
    )
    quiet = inv("lab.check", "derivatives", "--submission", str(good))
    assert quiet.returncode == 0 and "hello from the student" not in quiet.stdout
    verbose = inv("lab.check", "derivatives", "--submission", str(good), "--verbose")
    assert verbose.returncode == 0 and "  hello from the student" in verbose.stdout.splitlines()


def test_check_all_prints_its_seed_and_the_seed_reproduces(tmp_path):
    import re

    lab = LABS["derivatives"]
    first = inv(
        "lab.check", "derivatives", "--submission", str(lab.solution), "--all", "--results", str(tmp_path / "a.json")
    )
    assert first.returncode == 0, first.stdout + first.stderr
    m = re.search(r"^seed: (\d+) \(--seed \1 draws the same hidden inputs again\)$", first.stdout, re.M)
    assert m, first.stdout
    assert json.loads((tmp_path / "a.json").read_text())["extra_data"]["seed"] == int(m[1])
    visible = inv("lab.check", "derivatives", "--submission", str(lab.solution))
    assert "seed:" not in visible.stdout


def test_check_interrupted_while_a_function_hangs_claims_no_score(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    sub = write_variant(
        LABS["derivatives"],
        tmp_path,
        [
            (
                '    """Task 2. f′(x) = 3x² − 2."""\n',
                '    """Task 2. f′(x) = 3x² − 2."""\n    while True:\n        pass\n',
            ),
        ],
    )
    results = tmp_path / "results.json"
    exe = str(Path(sys.executable).parent / "inv")
    run = subprocess.Popen(
        [
            exe,
            "--search-root",
            str(ROOT),
            "lab.check",
            "derivatives",
            "--submission",
            str(sub),
            "--results",
            str(results),
        ],
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    ours, deadline = set(), time.monotonic() + 120
    while time.monotonic() < deadline and run.poll() is None:
        ours |= descendants(run.pid)
        # the hanging call: a student process burning CPU
        if any(_stat(p)[0] == "R" for p, _ in ours if _stat(p) and p != run.pid) and len(ours) > 2:
            break
        time.sleep(0.1)
    time.sleep(1.0)
    assert run.poll() is None
    os.killpg(run.pid, signal.SIGINT)
    stdout, stderr = run.communicate(timeout=60)
    assert run.returncode == 130, stdout + stderr
    assert stderr.strip().splitlines()[-1] == "interrupted: no score; rerun to check"
    assert "Score:" not in stdout and "Traceback" not in stderr
    assert not results.exists()
    for _ in range(100):
        if not any(alive(p) for p in ours):
            break
        time.sleep(0.05)
    assert not any(alive(p) for p in ours)


@pytest.mark.parametrize(
    "args,fragment",
    [
        (
            ["lab.check", "derivatives", "--submission", "x.py", "--seed", "abc"],
            "--seed must be a whole number, not 'abc'",
        ),
        (
            ["lab.check", "derivatives", "--submission", "x.py", "--results", "."],
            "--results . is a folder; give a file",
        ),
        (["lab.start", "derivatives", "--dest", "x.py"], "--dest x.py: x.py is a file, not a folder"),
        (["lab.start", "derivatives", "--dest", "x.py/sub"], "--dest x.py/sub: x.py is a file, not a folder"),
    ],
)
def test_lab_bad_input_gets_one_line_and_exit_2(args, fragment, tmp_path):
    (tmp_path / "x.py").write_text("")
    result = inv(*args, cwd=tmp_path)
    assert fragment in one_line_error(result)
    assert result.stderr.startswith("error: ")  # no blank line first
