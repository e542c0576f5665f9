"""What `inv lab.check` shows by default: a line per task, each failing check once with its hint,
and a score that says what is left to run — a screen of an 80×24 terminal, not a page of table."""

from __future__ import annotations

import json
import re
import subprocess

import yaml

from conftest import LABS, ROOT, inv, write_variant
from mslab.checker import collect

EXAMPLES = ROOT / "examples" / "submissions"


def inv80(*args: str) -> subprocess.CompletedProcess:
    """`inv` in an 80×24 terminal, as a student's laptop has it."""
    return inv(*args, columns=80, lines=24)


def hint(lab: str, erratum: int) -> str:
    mistakes = yaml.safe_load((LABS[lab].dir / "mistakes.yaml").read_text(encoding="utf-8"))
    return next(m["hint"] for m in mistakes if m["erratum"] == erratum)


def task_lines(stdout: str) -> dict[str, str]:
    """{task: its line}: the lines that start with a mark and "task N"."""
    found = {}
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] in ("✓", "✗", "·") and parts[1] == "task" and ":" not in parts[2]:
            found[parts[2]] = line
    return found


def test_one_mistake_shows_exactly_that_task_failing_with_its_hint(tmp_path):
    """The solution with erratum 1 applied (f′ written as 3x − 2): task 2 fails, once, with the
    erratum's hint; tasks 1, 3 and 4 pass; the score is what the checks that catch it leave."""
    lab = LABS["derivatives"]
    sub = write_variant(lab, tmp_path, [("    return grad(f)(x)", "    return 3 * x - 2")])
    result = inv80("lab.check", "derivatives", "--submission", str(sub))
    assert result.returncode == 1, result.stdout + result.stderr
    tasks = task_lines(result.stdout)
    assert set(tasks) == set(lab.tasks), result.stdout
    assert [t for t, line in tasks.items() if line.startswith("✗")] == ["2"], result.stdout
    assert all(tasks[t].startswith("✓") for t in ("1", "3", "4"))
    lost = sum(c.points for c in collect(lab, hidden=False) if 1 in c.errata)
    visible = sum(c.points for c in collect(lab, hidden=False))
    assert f"Score: {visible - lost:g}/{visible:g}" in result.stdout
    failures = [line for line in result.stdout.splitlines() if re.match(r"✗ task \d+: ", line)]
    assert failures == [f"✗ task 2: f′(x) = 3x² − 2 at six points (−{lost:g})"], result.stdout
    # the hint, whole (wrapped at 80 columns), right under its failure
    text = " ".join(result.stdout.split())
    assert "Hint: " + hint("derivatives", 1) in text
    assert "┃" not in result.stdout and "│" not in result.stdout  # no table by default


def test_a_class_of_mistakes_fits_an_80x24_terminal_and_verbose_has_the_table(tmp_path):
    """bob's logistic_gradients repeats three errata: --all printed 140 lines of table at 80
    columns; the summary fits a 24-line screen, each mistake said once (visible and hidden)."""
    sub = EXAMPLES / "bob" / "logistic_gradients.py"
    result = inv80("lab.check", "logistic_gradients", "--submission", str(sub), "--all", "--seed", "1")
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) <= 24, result.stdout
    assert all(len(line) <= 80 for line in lines), result.stdout
    failures = [line for line in lines if re.match(r"✗ task \d+: ", line)]
    assert [f.split(":")[0] for f in failures] == ["✗ task 2", "✗ task 3", "✗ task 7"], result.stdout
    assert all(", and 1 hidden check (−3)" in f for f in failures), failures
    text = " ".join(result.stdout.split())
    for erratum in (3, 4, 5):
        assert "Hint: " + hint("logistic_gradients", erratum) in text
    assert "Score: 21/30 (visible and hidden checks)" in result.stdout
    verbose = inv80("lab.check", "logistic_gradients", "--submission", str(sub), "--all", "--seed", "1", "--verbose")
    assert verbose.returncode == 1 and "┃ check" in verbose.stdout and "Score: 21/30" in verbose.stdout


def test_full_visible_marks_say_what_the_hidden_checks_hold():
    lab = LABS["derivatives"]
    hidden = sum(c.points for c in collect(lab) if c.hidden)
    assert hidden > 0
    result = inv("lab.check", "derivatives", "--submission", str(lab.solution))
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        f"the hidden checks hold {hidden:g} more points, on new inputs each run: inv lab.check derivatives --all"
        in result.stdout
    ), result.stdout
    every = inv("lab.check", "derivatives", "--submission", str(lab.solution), "--all")
    assert every.returncode == 0 and "hidden checks hold" not in every.stdout
    assert f"Score: {sum(c.points for c in collect(lab)):g}/" in every.stdout


def test_task_option_runs_that_task_only(tmp_path):
    lab = LABS["derivatives"]
    sub = write_variant(lab, tmp_path, [("    return grad(f)(x)", "    return 3 * x - 2")])
    out = tmp_path / "r.json"
    result = inv("lab.check", "derivatives", "--submission", str(sub), "--task", "3", "--results", str(out))
    assert result.returncode == 0, result.stdout + result.stderr  # task 3 has no mistake
    assert set(task_lines(result.stdout)) == {"3"}
    tests = json.loads(out.read_text())["tests"]
    assert {t["tags"][0] for t in tests} == {"task 3"}
    assert len(tests) == sum(1 for c in collect(lab, hidden=False) if c.task == "3")
    failing = inv("lab.check", "derivatives", "--submission", str(sub), "--task", "2")
    assert failing.returncode == 1 and set(task_lines(failing.stdout)) == {"2"}
    assert "task 2 only" in failing.stdout
    bad = inv("lab.check", "derivatives", "--submission", str(sub), "--task", "9")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip() == "error: lab derivatives has no task '9'; its tasks are 1, 2, 3, 4"


def test_walkthroughs_label_what_they_print():
    """`inv lab.run` prints `name = value` lines (f′(1) = 1.0), every label saying what it is."""
    result = inv("lab.run", "derivatives")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "f(1) = 0.0" in lines and "f′(1) = 1.0" in lines and "f″(1) = 6.0" in lines
    assert "f′(2) = 10.0" in lines and "f″(2) = 12.0" in lines
    for lab in ("logistic_gradients", "value_and_grad"):
        result = inv("lab.run", lab)
        assert result.returncode == 0, result.stderr
        labels = [line.split(" = ", 1)[0] for line in result.stdout.splitlines() if " = " in line]
        assert labels and len(labels) == len(set(labels)), f"{lab}: each value once, with its own label: {labels}"
        starts = [line for line in result.stdout.splitlines() if line and not line.startswith((" ", "["))]
        assert all(" = " in line for line in starts), starts


def test_the_notebook_shows_the_same_summary_as_html_with_student_text_escaped():
    """check() in a notebook renders present.summarize's summary: the same task lines, failures
    and hints as the terminal, student text escaped."""
    import html

    from mslab import present
    from mslab.checker import CheckRun
    from mslab.records import CheckResult

    lab = LABS["derivatives"]
    checks = [
        CheckResult("a", "f(x) at six points", "1", 2, 2, False, True),
        CheckResult(
            "b",
            "f′(x) = 3x² − 2 at six points",
            "2",
            2,
            0,
            False,
            False,
            "f_prime(x) returns <b>3x − 2</b>",
            "use grad",
        ),
        CheckResult("c", "f′ on new inputs", "2", 1, 0, True, False, "f_prime(x) returns 3x − 2", "use grad"),
        CheckResult("d", "f″(x)", "3", 1, 0, False, False, "not done yet — Task 3: f_second"),
    ]
    run = CheckRun("derivatives", "work/derivatives.ipynb", "local", 1, checks, output="<script>x</script>")
    summary = present.summarize(run, lab, more='check("derivatives", all=True)', output_lines=5)
    assert [(t.task, t.state, t.score, t.points) for t in summary.tasks] == [
        ("1", "pass", 2, 2),
        ("2", "fail", 0, 3),
        ("3", "todo", 0, 1),
    ]
    assert [f.heading for f in summary.failures] == ["task 2: f′(x) = 3x² − 2 at six points, and 1 hidden check (−3)"]
    page = present.summary_html(summary)
    assert html.escape("task 2: f′(x) = 3x² − 2 at six points, and 1 hidden check (−3)") in page
    assert "&lt;b&gt;3x − 2&lt;/b&gt;" in page and "<b>3" not in page
    assert "&lt;script&gt;x&lt;/script&gt;" in page and "<script>" not in page
    assert "<em>Hint: use grad</em>" in page and "not done yet" in page
    assert "Score: 2/6</strong> (visible and hidden checks)" in page
