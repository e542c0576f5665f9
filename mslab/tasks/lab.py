"""`inv lab.*`: list, start, run and check one lab."""

from __future__ import annotations

import signal
from pathlib import Path

from invoke import Collection, Exit, task
from rich.console import Console
from rich.table import Table

from mslab import labs
from mslab.errors import MslabError
from mslab.tasks import INTERRUPTED, TARGET_HELP, integer, user_errors

# mslab.checker (pytest, NumPy) is imported inside the tasks that need it: `lab.check` starts the
# sandbox's zygote importing MindSpore first, so that both imports overlap.


@task(name="list")
@user_errors
def list_(c):
    """List the labs, their tasks and points."""
    from mslab import checker

    table = Table(title="mslab labs", title_justify="left")
    table.add_column("lab", no_wrap=True)
    table.add_column("title", overflow="fold")  # wrapped, never cut, however narrow the terminal
    for column in ("tasks", "visible points", "all points"):
        table.add_column(column, justify="right")
    for lab in labs.all_labs():
        found = checker.collect(lab)
        visible = sum(x.points for x in found if not x.hidden)
        table.add_row(lab.name, lab.title, str(len(lab.tasks)), f"{visible:g}", f"{sum(x.points for x in found):g}")
    Console().print(table)


@task(
    help={
        "lab": "the lab's name (see inv lab.list)",
        "dest": "folder to copy the starter into",
        "force": "overwrite an existing file",
    }
)
@user_errors
def start(c, lab, dest="work", force=False):
    """Copy a lab's starter file into your working folder."""
    chosen = labs.get_lab(lab)
    for folder in (Path(dest), *Path(dest).parents):
        if folder.exists() and not folder.is_dir():
            raise MslabError(f"--dest {dest}: {folder} is a file, not a folder")
    try:
        path = labs.start_lab(chosen, Path(dest), force=force)
    except OSError as exc:
        raise MslabError(f"cannot copy the starter into {dest}: {exc.strerror or exc}") from None
    print(f"{path} is ready: fill it in, then run `inv lab.check {lab}`")


@task(help={"lab": "the lab's name (see inv lab.list)", "target": TARGET_HELP})
@user_errors
def run(c, lab, target="local"):
    """Run a lab's walk-through: the tutorial's code, corrected, with what it prints."""
    from mslab.target import resolve

    code = labs.run_walkthrough(labs.get_lab(lab), target=resolve(target))
    if code != 0:
        raise Exit(f"error: the walk-through exited with code {code}", code=code)


class _Signals:
    """While checking, SIGINT and SIGTERM stop the run; ``seen`` says one came (pytest swallows
    the KeyboardInterrupt it raises and returns what it had, which must not count as a score)."""

    def __init__(self):
        self.seen = False

    def __enter__(self):
        self.before = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        return self

    def _stop(self, signum, frame):
        self.seen = True
        raise KeyboardInterrupt

    def __exit__(self, *exc):
        for sig, handler in self.before.items():
            signal.signal(sig, handler)


@task(
    help={
        "lab": "the lab's name (see inv lab.list)",
        "submission": "the file to check (default: work/<lab>.py from inv lab.start)",
        "all": "run the hidden checks too",
        "results": "also write a Gradescope results.json to this path",
        "seed": "seed of the hidden checks' random draws (default: a new one each run)",
        "target": TARGET_HELP,
        "verbose": "also show what your code printed when every check passes",
    }
)
@user_errors
def check(c, lab, submission=None, all=False, results=None, seed=None, target="local", verbose=False):
    """Check a submission: a table of checks, points and hints. Exit 0 only at full marks."""
    from mslab.target import resolve

    seed = integer(seed, "--seed")
    chosen = resolve(target)  # the one place --target is read
    if results and Path(results).is_dir():
        raise MslabError(f"--results {results} is a folder; give a file, e.g. {Path(results) / 'results.json'}")
    interrupted = Exit("interrupted: no score; rerun to check", code=INTERRUPTED)
    with _Signals() as signals:
        try:
            from mslab.sandbox import Zygote

            zygote = Zygote() if chosen.local else None  # starts importing MindSpore right away
            try:
                run = _check(lab, submission, all, seed, chosen, zygote)
            finally:
                if zygote is not None:
                    zygote.close()
        except KeyboardInterrupt:
            raise interrupted from None
        if signals.seen:
            raise interrupted
        if run is None:
            raise MslabError("not every check ran to its end, so there is no score; please report this")
    _show(run, results, all, verbose)


def _check(lab, submission, all, seed, target, zygote):
    """The check run, when complete; None when not every check ran to its end."""
    from mslab import checker

    chosen = labs.get_lab(lab)
    path = Path(submission) if submission else Path("work") / f"{chosen.name}.py"
    if submission is None and not path.exists():
        raise Exit(
            f"error: no submission at {path}: run `inv lab.start {lab}` first, or pass --submission FILE", code=2
        )
    # A student's own machine: every wall may be missing, and the check says which are (docs/walls.md).
    from mslab.sandbox import WALLS, Limits

    limits = Limits(allow_weaker=WALLS)
    run = checker.run_checks(chosen, path, hidden=all, target=target, seed=seed, zygote=zygote, limits=limits)
    if run.isolation.startswith("weaker: "):
        print(
            f"warning: this machine cannot raise every wall of the sandbox ({run.isolation.removeprefix('weaker: ')}): see docs/walls.md"
        )
    expected = sorted(x.name for x in checker.collect(chosen, hidden=all))
    return run if sorted(x.name for x in run.checks) == expected else None


def _show(run, results, all, verbose):
    from mslab import present

    run = present.tidy_run(run)
    present.print_run(run, verbose=verbose)
    if all:
        print(f"seed: {run.seed} (--seed {run.seed} draws the same hidden inputs again)")
    if results:
        try:
            present.write_results(run, Path(results))
        except OSError as exc:
            raise MslabError(f"cannot write --results {results}: {exc.strerror or exc}") from None
    if not run.full_marks:
        raise Exit(code=1)


ns = Collection("lab", list_, start, run, check)
