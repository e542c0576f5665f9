"""`inv lab.*`: list, start, run and check one lab."""

from __future__ import annotations

from pathlib import Path

from invoke import Collection, Exit, task
from rich.console import Console
from rich.table import Table

from mslab import labs
from mslab.tasks import TARGET_HELP, user_errors

# mslab.checker (pytest, NumPy) is imported inside the tasks that need it: `lab.check` starts the
# sandbox's zygote importing MindSpore first, so that both imports overlap.


@task(name="list")
@user_errors
def list_(c):
    """List the labs, their tasks and points."""
    from mslab import checker

    table = Table(title="mslab labs", title_justify="left")
    for column in ("lab", "title", "tasks", "visible points", "all points"):
        table.add_column(column)
    for lab in labs.all_labs():
        found = checker.collect(lab)
        visible = sum(x.points for x in found if not x.hidden)
        table.add_row(lab.name, lab.title, str(len(lab.tasks)), f"{visible:g}", f"{sum(x.points for x in found):g}")
    Console().print(table)


@task(help={"lab": "the lab's name (see inv lab.list)", "dest": "folder to copy the starter into", "force": "overwrite an existing file"})
@user_errors
def start(c, lab, dest="work", force=False):
    """Copy a lab's starter file into your working folder."""
    path = labs.start_lab(labs.get_lab(lab), Path(dest), force=force)
    print(f"{path} is ready: fill it in, then run `inv lab.check {lab}`")


@task(help={"lab": "the lab's name (see inv lab.list)", "target": TARGET_HELP})
@user_errors
def run(c, lab, target="local"):
    """Run a lab's walk-through: the tutorial's code, corrected, with what it prints."""
    code = labs.run_walkthrough(labs.get_lab(lab), target=target)
    if code != 0:
        raise Exit(f"error: the walk-through exited with code {code}", code=code)


@task(
    help={
        "lab": "the lab's name (see inv lab.list)",
        "submission": "the file to check (default: work/<lab>.py from inv lab.start)",
        "all": "run the hidden checks too",
        "results": "also write a Gradescope results.json to this path",
        "seed": "seed of the hidden checks' random draws (default: a new one each run)",
        "target": TARGET_HELP,
    }
)
@user_errors
def check(c, lab, submission=None, all=False, results=None, seed=None, target="local"):  # noqa: A002
    """Check a submission: a table of checks, points and hints. Exit 0 only at full marks."""
    from mslab.sandbox import Zygote

    zygote = Zygote() if target == "local" else None  # starts importing MindSpore right away
    try:
        _check(lab, submission, all, results, seed, target, zygote)
    finally:
        if zygote is not None:
            zygote.close()


def _check(lab, submission, all, results, seed, target, zygote):  # noqa: A002
    from mslab import checker
    from mslab import results as results_files

    chosen = labs.get_lab(lab)
    path = Path(submission) if submission else Path("work") / f"{chosen.name}.py"
    if submission is None and not path.exists():
        raise Exit(f"error: no submission at {path}: run `inv lab.start {lab}` first, or pass --submission FILE", code=2)
    report = checker.run_checks(
        chosen, path, hidden=all, target=target, seed=None if seed is None else int(seed), zygote=zygote
    )
    results_files.print_report(report)
    if results:
        results_files.write_results(report, Path(results))
    if not report.full_marks:
        raise Exit(code=1)


ns = Collection("lab", list_, start, run, check)
