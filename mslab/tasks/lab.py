"""`inv lab.*`: list, start, run and check one lab."""

from __future__ import annotations

import time
from pathlib import Path

from invoke import Collection, Exit, task
from rich.console import Console
from rich.table import Table

from mslab import labs, stops
from mslab.errors import MslabError
from mslab.target import LOCAL, LOCAL_TARGET
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
        "notebook": "a Jupyter notebook (work/<lab>.ipynb) instead of a .py file",
    }
)
@user_errors
def start(c, lab, dest="work", force=False, notebook=False):
    """Copy a lab's starter file (or, with --notebook, a notebook) into your working folder."""
    chosen = labs.get_lab(lab)
    for folder in (Path(dest), *Path(dest).parents):
        if folder.exists() and not folder.is_dir():
            raise MslabError(f"--dest {dest}: {folder} is a file, not a folder")
    try:
        if notebook:
            from mslab import notebook as notebooks

            path = notebooks.start(chosen, Path(dest), force=force)
        else:
            path = labs.start_lab(chosen, Path(dest), force=force)
    except OSError as exc:
        raise MslabError(f"cannot copy the starter into {dest}: {exc.strerror or exc}") from None
    where = "run its last cell" if notebook else f"run `inv lab.check {lab}`"
    print(f"{path} is ready: fill it in, then {where}")


@task(
    help={
        "lab": "the lab whose notebook opens (work/<lab>.ipynb, made from the starter when missing)",
        "target": "local (this Python's JupyterLab, the default) or cpu, cuda, ascend: "
        "JupyterLab in that target's image, with its device",
        "dest": "the work folder JupyterLab serves",
        "port": "port on 127.0.0.1 (default 8888, or a free one when that is taken)",
    },
)
@user_errors
def notebook(c, lab, target="local", dest="work", port=None):
    """JupyterLab on your work folder with the lab's notebook open (localhost only, a token in its
    URL); Ctrl-C stops it."""
    from mslab import jupyter
    from mslab.doctor import resolve_target as resolve

    port = integer(port, "--port", minimum=1)
    chosen = resolve(target)
    folder = Path(dest)
    for parent in (folder, *folder.parents):
        if parent.exists() and not parent.is_dir():
            raise MslabError(f"--dest {dest}: {parent} is a file, not a folder")
    opened = jupyter.prepare(lab, folder)
    stopped = Exit("stopped JupyterLab", code=INTERRUPTED)
    with stops.Stops() as signals:
        server = None
        try:
            server = jupyter.start(folder, target=chosen.name, port=port)
            where = "on this machine" if chosen.local else f"in the {chosen.image}-notebook container ({chosen.device})"
            print(f"JupyterLab {where}, serving {folder.resolve()}", flush=True)
            print(f"open: {server.open_url(opened)}", flush=True)
            if not chosen.local:
                print(f"checks run here: `inv lab.check {lab} --watch` checks the notebook on every save")
            print("Ctrl-C stops it", flush=True)
            while server.alive():
                time.sleep(0.5)
            raise MslabError(f"JupyterLab stopped by itself ({server.last_words() or 'no output'})")
        except KeyboardInterrupt:
            raise stopped from None
        finally:
            if server is not None:
                server.stop()
            if signals.seen:
                raise stopped


@task(help={"lab": "the lab's name (see inv lab.list)", "target": TARGET_HELP})
@user_errors
def run(c, lab, target="local"):
    """Run a lab's walk-through: the tutorial's code, corrected, with what it prints."""
    from mslab.containers import run_walkthrough
    from mslab.doctor import resolve_target as resolve

    code = run_walkthrough(labs.get_lab(lab), target=resolve(target))
    if code != 0:
        raise Exit(f"error: the walk-through exited with code {code}", code=code)


@task(
    help={
        "lab": "the lab's name (see inv lab.list)",
        "submission": "the file to check, .py or .ipynb (default: work/<lab>.py or work/<lab>.ipynb)",
        "all": "run the hidden checks too",
        "results": "also write a Gradescope results.json to this path",
        "seed": "seed of the hidden checks' random draws (default: a new one each run)",
        "target": TARGET_HELP,
        "verbose": "the full table of checks, and what your code printed even when every check passes",
        "watch": "check again on every save (MindSpore stays imported between checks); Ctrl-C ends it",
        "task": "check this task only (its number, see the lab's README)",
    }
)
@user_errors
def check(
    c, lab, submission=None, all=False, results=None, seed=None, target="local", verbose=False, watch=False, task=None
):
    """Check a submission: a line per task, the failing checks with their hints, the score.
    Exit 0 only at full marks."""
    from mslab.sandbox.zygote import Zygote

    # The zygote imports MindSpore (most of a check's time) while this process loads the rest.
    zygote = Zygote() if target == LOCAL and not watch else None
    try:
        _check_task(lab, submission, all, results, seed, target, verbose, watch, task, zygote)
    finally:
        if zygote is not None:
            zygote.close()


def _check_task(lab, submission, all, results, seed, target, verbose, watch, task, zygote):
    from mslab.doctor import resolve_target as resolve

    seed = integer(seed, "--seed")
    chosen = resolve(target)  # the one place --target is read
    task = _task(lab, task)
    if watch:
        if not chosen.local:
            raise MslabError("--watch checks on this machine (--target local)")
        _watch(lab, submission, all, seed, verbose, task)
    if results and Path(results).is_dir():
        raise MslabError(f"--results {results} is a folder; give a file, e.g. {Path(results) / 'results.json'}")
    interrupted = Exit("interrupted: no score; rerun to check", code=INTERRUPTED)
    with stops.Stops() as signals:
        try:
            run = _check(lab, submission, all, seed, chosen, zygote, task)
        except KeyboardInterrupt:
            raise interrupted from None
        if signals.seen:
            raise interrupted
        if run is None:
            raise MslabError("not every check ran to its end, so there is no score; please report this")
    _show(run, results, all, verbose, task)


def _task(lab: str, task) -> str | None:
    """--task's value, a task of the lab (one line naming them otherwise); None when not given."""
    if task is None:
        return None
    tasks = labs.get_lab(lab).tasks
    if str(task).strip() not in tasks:
        raise MslabError(f"lab {lab} has no task {str(task)!r}; its tasks are {', '.join(tasks)}")
    return str(task).strip()


def default_submission(name: str) -> Path:
    """The file `lab.check` checks when none is named: ``<lab>.py`` or ``<lab>.ipynb`` in
    ``work/`` (where `lab.start` puts them), or in this folder when it is ``work/`` itself."""
    folders = [Path("work"), Path(".")] if Path.cwd().name == "work" else [Path("work")]
    candidates = [folder / f"{name}{suffix}" for folder in folders for suffix in (".py", ".ipynb")]
    found = [path for path in candidates if path.is_file()]
    if not found:
        raise Exit(
            f"error: no submission at {candidates[0]}: run `inv lab.start {name}` first, or pass --submission FILE",
            code=2,
        )
    return found[0]


def _check(lab, submission, all, seed, target, zygote, task=None):
    """The check run, when complete; None when not every check ran to its end. The file is
    taken in as `inv grade` takes a lab's file (a notebook's code cells), so both give one mark."""
    from mslab import checker

    chosen = labs.get_lab(lab)
    path = Path(submission) if submission else default_submission(chosen.name)
    run = checker.check_own_file(chosen, path, hidden=all, seed=seed, target=target, zygote=zygote, task=task)
    if run.isolation.startswith("weaker: "):
        print(
            f"warning: this machine cannot raise every wall of the sandbox ({run.isolation.removeprefix('weaker: ')}): see docs/walls.md"
        )
    expected = sorted(x.name for x in checker.collect(chosen, hidden=all) if task is None or x.task == task)
    return run if sorted(x.name for x in run.checks) == expected else None


def show(run, verbose: bool, task: str | None, console=None) -> None:
    """The run as a student reads it: the summary (a line per task, each failing check once with
    its hint), or with ``verbose`` the full table of checks."""
    from mslab import present

    if verbose:
        present.print_run(run, console, verbose=True)
        return
    more = f"inv lab.check {run.lab} --all"
    lines = present.SUMMARY_OUTPUT_LINES
    summary = present.summarize(run, labs.get_lab(run.lab), more=more, task=task, output_lines=lines)
    present.print_summary(summary, console)


def _show(run, results, all, verbose, task=None):
    from mslab import present

    show(run, verbose, task)
    if all:
        print(f"seed: {run.seed} (--seed {run.seed} draws the same hidden inputs again)")
    if results:
        try:
            present.write_results(run, Path(results))
        except OSError as exc:
            raise MslabError(f"cannot write --results {results}: {exc.strerror or exc}") from None
    if not run.full_marks:
        raise Exit(code=1)


def task_states(run) -> dict[str, bool]:
    """Each task of a check run, and whether all its checks passed."""
    states: dict[str, bool] = {}
    for c in run.checks:
        states[c.task] = states.get(c.task, True) and c.passed
    return states


def changes(before: dict[str, bool], after: dict[str, bool]) -> list[str]:
    """What changed between two runs, task by task: "task 2 now passes"."""
    said = []
    for name in sorted(after, key=lambda t: (len(t), t)):
        if name in before and before[name] != after[name]:
            said.append(f"task {name} now {'passes' if after[name] else 'fails'}")
    return said


def _watch(lab, submission, all, seed, verbose, task=None):
    """Check, then check again on every save of the file, with one warm zygote; never ends on
    student code (a broken sandbox gets a fresh one), Ctrl-C ends it with exit 130."""
    import time

    import watchfiles
    from rich.console import Console

    from mslab import present
    from mslab.sandbox.zygote import Zygote

    chosen = labs.get_lab(lab)
    path = (Path(submission) if submission else default_submission(chosen.name)).resolve()
    console = Console()
    zygote = Zygote()
    before: dict[str, bool] = {}

    def content() -> bytes | None:
        try:
            return path.read_bytes()
        except OSError:
            return None

    # One watcher for the whole session, started before the first check: a save made while a
    # check runs (or just after it) is queued, never lost; every second it also compares the
    # file with what was checked, so a missed event costs at most a second.
    saves = watchfiles.watch(
        path.parent,
        watch_filter=lambda change, name: Path(name).resolve() == path,
        debounce=100,
        step=20,
        recursive=False,
        yield_on_timeout=True,
        rust_timeout=1000,
    )
    try:
        with stops.Stops():
            while True:
                if not zygote.alive():
                    zygote.close()
                    zygote = Zygote()
                started = time.monotonic()
                checked = content()
                try:
                    run = _check(lab, str(path), all, seed, LOCAL_TARGET, zygote, task)
                except MslabError as exc:
                    run = None
                    console.clear()
                    console.print(f"error: {present.plain(exc)}", style="red", markup=False)
                if run is not None:
                    console.clear()
                    show(run, verbose, task, console)
                    after = task_states(run)
                    for line in changes(before, after):
                        console.print(line, style="bold", markup=False)
                    before = after
                console.print(
                    f"checked in {time.monotonic() - started:.2f} s; watching {path.name} (Ctrl-C to stop)",
                    style="dim",
                    markup=False,
                )
                for _ in saves:
                    now = content()
                    if now is not None and now != checked:
                        break
    except KeyboardInterrupt:
        raise Exit("stopped watching", code=INTERRUPTED) from None
    finally:
        zygote.close()


ns = Collection("lab", list_, start, notebook, run, check)
