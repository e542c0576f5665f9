"""`inv grade`: grade a whole class."""

from __future__ import annotations

from pathlib import Path

from invoke import Collection, Exit, task
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from mslab.tasks import INTERRUPTED, NOT_GRADED, TARGET_HELP, integer, split_names, user_errors


@task(
    help={
        "submissions": "folder of student folders (<student>/<lab>.py) and/or <student>.zip files",
        "out": "where the gradebook, reports and <student>/<lab>/ results go (default: out)",
        "labs": "comma-separated labs to grade (default: all)",
        "target": TARGET_HELP,
        "isolation": "process (default: forked from a warm worker, in its own namespaces) or container (a fresh container per submission)",
        "jobs": "parallel workers (default: the number of CPUs)",
        "force": "regrade everything, even what an earlier run already graded",
        "regrade": "comma-separated students to regrade even if already graded",
        "seed": "seed of the hidden checks' draws (default: the one this --out already uses, else a new one)",
        "cluster": "grade on a Ray cluster: ray://HOST:10001, HOST:6379, or auto (needs pip install -e '.[cluster]')",
        "roster": "the class roster as the learning platform exports it (Canvas, Moodle, Gradescope, or id,name,email CSV)",
        "due": "the due date and time, ISO 8601 (2026-12-01T23:59+08:00); with --late-penalty",
        "late_penalty": "per day late, e.g. 10%/day or 10%/day,max=50% (a started day counts)",
        "extensions": "a CSV of student,due (an ISO date or +N days) for extensions",
        "overrides": "a CSV of student,lab,check,points,reason (check: a check's name or total); kept in OUT for later runs",
        "allow_weaker": "comma-separated walls student code may run without where this host cannot raise them (e.g. cgroup,uid; all): see docs/walls.md",
    }
)
@user_errors
def grade(
    c,
    submissions,
    out="out",
    labs=None,
    target="local",
    isolation="process",
    jobs=None,
    force=False,
    regrade=None,
    seed=None,
    cluster=None,
    roster=None,
    due=None,
    late_penalty=None,
    extensions=None,
    overrides=None,
    allow_weaker=None,
):
    """Grade every student × lab under SUBMISSIONS with all checks; resumable (rerun to continue).

    Exit codes: 0 every row graded; 2 refused before grading (bad option, no sandbox, no image);
    3 some rows the grader itself could not grade (listed; those students' totals are left blank
    in grades.csv: rerun to grade them); 130 interrupted (rerun to continue).
    """
    from mslab import grade as grading
    from mslab.doctor import resolve_target as resolve
    from mslab.present import plain
    from mslab.sandbox.host import Limits, parse_walls

    jobs, seed = integer(jobs, "--jobs", minimum=1), integer(seed, "--seed")
    chosen = resolve(target, isolation)  # the one place --target and --isolation are read
    counts: dict[str, int] = {}
    bar = Progress(
        TextColumn("grading"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}", markup=False),
        console=Console(stderr=True),
    )
    task_id = bar.add_task("", total=None)
    shown: list = []
    met: dict = {}
    gone: dict = {}

    def show(total=None, record=None, cluster=None, lost=None):
        if total is not None:  # the work is known: only now does the bar appear
            bar.start()
            shown.append(True)
            bar.update(task_id, total=total)
        if record is not None:
            counts[record.status.value] = counts.get(record.status.value, 0) + 1
            bar.update(task_id, advance=1, description=plain(f"{record.student} {record.lab}")[:60])
        if cluster is not None:
            met.update(cluster)
        if lost is not None:  # local workers lost mid-run
            gone.update(lost)

    try:
        records = grading.grade_class(
            Path(submissions),
            Path(out),
            labs=split_names(labs),
            target=chosen,
            jobs=jobs,
            force=force,
            regrade=split_names(regrade),
            seed=seed,
            progress=show,
            cluster=cluster or None,
            roster=Path(roster) if roster else None,
            due=due,
            late_penalty=late_penalty,
            extensions=Path(extensions) if extensions else None,
            overrides=Path(overrides) if overrides else None,
            limits=Limits.configured(allow_weaker=parse_walls(allow_weaker or "")),
        )
    except grading.Interrupted as stop:
        raise Exit(str(stop), code=INTERRUPTED) from None
    except KeyboardInterrupt:  # before grading began
        raise Exit("interrupted: nothing graded; rerun to continue", code=INTERRUPTED) from None
    finally:
        if shown:  # a bar never started would still print a blank line
            bar.stop()
    # Rows that never ran (missing, rejected, unloadable) have no isolation to speak of.
    weak = sorted({plain(r.isolation) for r in records if r.isolation and r.isolation not in ("full", "container")})
    for isolation in weak:  # the records say which rows; the instructor should know at once
        print(f"warning: some submissions ran with weaker isolation: {isolation}")
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    if gone.get("lost"):
        print(
            f"warning: {gone['lost']} grading worker(s) died mid-run (killed, or out of memory); "
            f"{gone['retried']} submission(s) graded again by another"
        )
    if met.get("lost"):
        print(
            f"warning: {met['lost']} grading worker(s) lost mid-run (a node or a process gone); "
            f"{met['retried']} submission(s) graded again elsewhere"
        )
    where = f" on {met['nodes']} cluster node{'s' if met['nodes'] != 1 else ''}" if met else ""
    print(
        f"{len(records)} results ({summary}){where} in {Path(out) / 'gradebook.csv'}; "
        f"report: {Path(out) / 'report.html'}"
    )
    failed = grading.not_graded(records)
    if failed:
        raise Exit(f"error: {plain(failed)}", code=NOT_GRADED)


@task(
    help={
        "out": "the OUT folder inv grade wrote (default: out)",
        "format": "canvas, moodle, gradescope or csv: the platform's grade-import format",
        "assignment": "the graded item's name on the platform (Canvas: 'Lab 1 (4411)', with its assignment id)",
        "to": "the file to write (default: OUT/export-<format>.csv)",
    }
)
@user_errors
def export(c, out="out", format="csv", assignment="", to=None):
    """Write OUT's marks in a learning platform's import format, from the records (no regrading)."""
    from mslab import exports
    from mslab.errors import MslabError
    from mslab.records import write_atomic

    target = Path(to) if to else Path(out) / f"export-{format}.csv"
    text = exports.from_out(Path(out), format, assignment=assignment)
    try:
        write_atomic(target, text)
    except OSError as exc:
        raise MslabError(f"cannot write {target}: {exc.strerror or exc}") from None
    print(f"{target}: {text.count(chr(10)) - 1 - (format == 'canvas')} students, {format} import format")


ns = Collection("grade")
ns.add_task(grade, default=True)
ns.add_task(export)
