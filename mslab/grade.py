"""Grading a class: every student × lab, in parallel warm workers, resumable, into reports.

Intake (:mod:`mslab.submissions`) stages each student's files and hashes them. Each student × lab
is a job; ``jobs`` worker processes each keep a :class:`~mslab.sandbox.zygote.Zygote` (MindSpore
imported once) and fork a fresh, isolated child per submission. Every finished job writes its
files atomically at once — ``junit.xml``, ``results.json``, then ``record.json``, which marks
it done — so an interrupted run loses nothing: a rerun skips what is done (same file, same
checks, same seed) and grades the rest. The class reports (:mod:`mslab.classreport`) are rebuilt
from all records at the end, byte for byte the same as after an uninterrupted run.

A student × lab is recorded only when every one of the lab's checks ran to its end (the names in
the check run are compared with the lab's collected checks). SIGINT (Ctrl-C) and SIGTERM stop the
run at once: the workers are killed (their zygotes and sandboxes go with them), whatever a worker
finishes after the signal is dropped, the reports are written for what is done, and
:class:`Interrupted` says how much; a rerun grades the rest.

Students are named in every record and sheet as they handed in; on disk their results live under
the safe folder intake gives them (``OUT/<folder>/<lab>/``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mslab import adjust, classreport, executor, images, similarity, stops, version, worker
from mslab import roster as roster_module
from mslab.checker import collect
from mslab.cluster import Cluster
from mslab.errors import MslabError
from mslab.labs import Lab, all_labs, get_lab
from mslab.records import WRITTEN, Record, Status, points, write_atomic
from mslab.sandbox import hostlimits
from mslab.sandbox.host import Limits, sweep
from mslab.submissions import Submission, find_submissions
from mslab.target import LOCAL_TARGET, Target
from mslab.worker import Job, by_student

STATE = "grading.json"
STAGING = ".staging"
#: Names in OUT that are the grader's own: no student's folder may take one.
RESERVED = {*classreport.FILES, STATE, STAGING, roster_module.PEOPLE, "overrides.csv", "similarity.json"}


class Interrupted(Exception):
    """The run was stopped by SIGINT or SIGTERM; ``done`` of ``total`` student × lab rows are recorded."""

    def __init__(self, done: int, total: int):
        counted = f"{done} of {total} graded" if total else "nothing graded"
        super().__init__(f"interrupted: {counted}; rerun to continue")
        self.done, self.total = done, total


def student_seed(class_seed: int, student: str, lab: str) -> int:
    """The seed of one student × lab's hidden inputs: drawn from the class's seed and the
    student's identity, so that no two students (nor two labs of one) get the same hidden
    inputs — a classmate's answers, passed over any channel, are worth nothing — while a rerun
    with the same class seed draws them again. `inv lab.check LAB --all --seed N` with the seed
    the record gives (``key.seed``, results.json's ``extra_data.seed``) reproduces one student's
    draw. 31 bits, as ``--seed`` takes."""
    text = f"mslab-student-seed\0{int(class_seed)}\0{student}\0{lab}"
    digest = hashlib.sha256(text.encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:4], "big") >> 1


def checks_digest(lab: Lab) -> str:
    digest = hashlib.sha256()
    for path in lab.check_sources:
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


RECORD = "record.json"


def record_path(out: Path, folder: str, lab: str) -> Path:
    return out / folder / lab / RECORD


def _previous(out: Path, job: Job) -> Record | None:
    """The record of an earlier run of the same job, if it is complete and still valid."""
    record = Record.read(record_path(out, job.folder, job.lab))
    if record is None or record.key != job.key or record.student != job.student:
        return None
    if record.check_names() != sorted(job.checks):
        return None  # not every check ran (a record an older grader kept after an interrupt)
    return record


def keep(out: Path, job: Job, text: str) -> Record:
    """The record a worker handed back for ``job`` (:func:`graded_text`), its files written to
    ``OUT/<folder>/<lab>/`` when it is one a rerun keeps — junit.xml, results.json, then
    record.json, which marks the job done. Runs only in the grader's own process."""
    try:
        graded = json.loads(text)
        record = Record.from_dict(graded["record"])
        results, junit = str(graded.get("results") or ""), str(graded.get("junit") or "")
    except (ValueError, TypeError, KeyError) as exc:
        reason = f"grader worker answered garbage: {exc}"
        return Record.empty(job.student, job.lab, job.max_score, Status.ERROR, reason, job.folder)
    if (record.student, record.lab, record.folder) != (job.student, job.lab, job.folder):
        reason = "grader worker answered for another job"
        return Record.empty(job.student, job.lab, job.max_score, Status.ERROR, reason, job.folder)
    if record.status in WRITTEN:
        folder = out / job.folder / job.lab
        try:
            write_atomic(folder / "junit.xml", junit)
            write_atomic(folder / "results.json", results)
            record.write(record_path(out, job.folder, job.lab))
        except OSError as exc:
            raise MslabError(f"cannot write {folder}: {exc.strerror or exc}") from None
    return record


# -- the instructor's side -------------------------------------------------------------------


def _state(out: Path, seed: int | None, target: Target) -> dict:
    """The run's class seed, kept in ``out/grading.json`` so a rerun draws the same hidden
    inputs (each student's own are drawn from it: :func:`student_seed`), and ``labs``: every lab
    this OUT holds results for, so that a run with ``--labs`` still shows them all in the sheets.
    Read here; written by :func:`_write_state` once the run is under way."""
    try:
        state = json.loads((out / STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        state = {}
    if not isinstance(state, dict):
        state = {}
    if seed is not None or type(state.get("seed")) is not int:
        state["seed"] = secrets.randbits(31) if seed is None else seed
    state["target"] = target.name
    labs = state.get("labs")
    state["labs"] = sorted({str(lab) for lab in labs}) if isinstance(labs, list) else []
    return state


def _write_state(out: Path, state: dict) -> None:
    try:
        write_atomic(out / STATE, json.dumps(state, indent=1) + "\n")
    except OSError as exc:
        raise MslabError(f"cannot write {out / STATE}: {exc.strerror or exc}") from None


def grade_class(
    submissions: Path,
    out: Path,
    *,
    labs: list[str] | None = None,
    target: Target = LOCAL_TARGET,
    jobs: int | None = None,
    force: bool = False,
    regrade: list[str] | None = None,
    seed: int | None = None,
    limits: Limits | None = None,
    progress=None,
    cluster: str | None = None,
    roster: Path | None = None,
    due: str | None = None,
    late_penalty: str | None = None,
    extensions: Path | None = None,
    overrides: Path | None = None,
) -> list[Record]:
    """Grade every student × lab under ``submissions`` into ``out``; returns the records.

    ``roster``: the class roster as the learning platform exports it (:mod:`mslab.roster`): every
    submission is matched to an enrolled student (exactly by id, e-mail or login; by name only
    when unambiguous), enrolled students with no hand-in get ``missing`` rows, submissions that
    match nobody are graded under their own names and flagged; ``OUT/people.json`` says who
    each student is (what `inv grade.export` writes the platform's ids from).

    ``due``, ``late_penalty`` (``10%/day[,max=50%]``), ``extensions`` and ``overrides`` are the
    instructor's decisions, applied after grading every run (:mod:`mslab.adjust`); the overrides
    file is kept in ``OUT/overrides.csv`` and applied again by later runs.

    Resumes: a student × lab whose file, checks, seed and target are those of an earlier run's
    record is not graded again, unless ``force`` (everyone) or the student is in ``regrade``.
    ``progress(total=n)`` is called once with the number of jobs to run, then
    ``progress(record=r)`` for each record (graded now, resumed, or missing/rejected), and on a
    cluster ``progress(cluster={nodes, lost, retried})`` once, with what the run met.
    ``cluster``: the address of a Ray cluster to grade on (:mod:`mslab.cluster`) instead of this
    machine's workers; connected to before anything is staged.
    Raises :class:`Interrupted` after SIGINT or SIGTERM, once the reports of what is done are written.
    """
    if jobs is not None and jobs < 1:
        raise MslabError(f"--jobs must be 1 or more, not {jobs}")
    if labs is not None and not labs:
        raise MslabError("--labs is empty; name one or more of: " + ", ".join(lab.name for lab in all_labs()))
    chosen = [get_lab(name) for name in labs] if labs else all_labs()
    enrolled = roster_module.read(roster) if roster is not None else None
    policy = _policy(Path(out), due, late_penalty, extensions, overrides)
    if cluster is None and not target.local:
        _need_image(target)  # refuse now, not with an `error` row per student (on a cluster: each node's)
    out = Path(out).resolve()
    submissions = Path(submissions).resolve()
    if out == submissions or submissions in out.parents or out in submissions.parents:
        raise MslabError("--out must be outside the submissions folder and not contain it")
    _usable_out(out)
    created = not out.exists()
    staging = out / STAGING
    session = None
    if cluster is not None:  # connect now: an address or a cluster that cannot grade is refused up front
        limits = limits or Limits()
        if limits.cpus is None:  # each worker holds one of its node's CPUs
            limits = dataclasses.replace(limits, cpus=1.0)
        session = Cluster(cluster, target, limits, jobs)
    run = _Run(
        chosen=chosen,
        submissions=submissions,
        out=out,
        staging=staging,
        target=target,
        jobs=jobs,
        force=force,
        seed=seed,
        limits=limits,
        progress=progress or (lambda **_: None),
        cluster=session,
        roster=enrolled,
        policy=policy,
    )
    with run.signals:
        try:
            return _grade(run, regrade)
        except KeyboardInterrupt:  # before anything was graded (the workers not started yet)
            raise Interrupted(0, 0) from None
        except MslabError:
            if created and not any(out.glob(f"*/*/{RECORD}")):  # refused before anything was graded
                shutil.rmtree(out, ignore_errors=True)  # OUT is this run's own: a refused run leaves none
            raise
        finally:
            if session is not None:
                session.close()
            shutil.rmtree(staging, ignore_errors=True)  # copies of student code never stay behind
            if created:
                with contextlib.suppress(OSError):
                    out.rmdir()  # only if nothing was written: a refused run leaves no OUT


@dataclass(frozen=True)
class _Run:
    """What one :func:`grade_class` call was asked for, once checked (and its cluster, if any)."""

    chosen: list[Lab]
    submissions: Path
    out: Path
    staging: Path
    target: Target
    jobs: int | None
    force: bool
    seed: int | None
    limits: Limits | None
    progress: Callable
    cluster: Cluster | None
    roster: list[roster_module.Enrolled] | None = None
    policy: dict = dataclasses.field(default_factory=dict)  # mslab.adjust's options, checked
    #: SIGINT and SIGTERM raise KeyboardInterrupt, held back until the workers exist (mslab.stops)
    signals: stops.Stops = dataclasses.field(default_factory=lambda: stops.Stops(hold=True))


def _grade(run: _Run, regrade: list[str] | None) -> list[Record]:
    pool = _start_pool(run)  # the local workers start (interpreters, zygotes, checks) while intake runs
    try:
        return _take_in(run, regrade, pool)
    finally:
        if pool is not None:
            pool.close(kill=True)  # a run that ended early (refused, interrupted, nothing to grade)


def _start_pool(run: _Run) -> executor.Local | None:
    """The local workers for ``run``, started now, before intake (which does not need them):
    each spawns its interpreter, starts its zygote (MindSpore's import) and collects the chosen
    labs' checks, then starts the sandbox it is asked for (the check before any student: its
    answer is read once intake is done). As many as ``--jobs`` (default: one per CPU), no more
    than the submissions folder has entries; fewer students than that let the rest go. None
    on a cluster or a container target (their workers start after intake, as before)."""
    if run.cluster is not None or not run.target.local:
        return None
    return _local(run.target, run.limits or Limits(), _workers(run.jobs, _entries(run.submissions)), run.chosen)


def _local(target: Target, limits: Limits, workers: int, labs: list[Lab]) -> executor.Local:
    """``workers`` local workers for ``target``, started now, each checking its sandbox."""
    limits = _pool_limits(limits, workers)
    tables = hostlimits.problems(limits, workers)  # the sandboxes at once must not fill a host-wide table
    if tables:
        raise MslabError(f"cannot grade: {tables[0]}")
    names = tuple(dict.fromkeys(lab.name for lab in labs))
    local = executor.Local(workers, worker.start_local, (target, limits, names), worker.handle)
    stops.release()  # the workers exist: Ctrl-C may come through now
    return local


def _entries(folder: Path) -> int:
    """How many students ``folder`` can hold at most before intake: its entries."""
    try:
        return sum(1 for _ in folder.iterdir())
    except OSError:
        return 1  # intake says what is wrong with it


def _workers(jobs: int | None, students: int) -> int:
    return max(1, min(jobs or os.cpu_count() or 1, students))


def _pool_limits(limits: Limits, workers: int) -> Limits:
    if limits.cpus is None:  # containers share the machine's CPUs between the workers
        limits = dataclasses.replace(limits, cpus=max(1.0, (os.cpu_count() or 1) / workers))
    return limits


def _take_in(run: _Run, regrade: list[str] | None, pool: executor.Executor | None) -> list[Record]:
    state = _state(run.out, run.seed, run.target)
    every = {lab.name: lab for lab in all_labs()}
    # Labs graded into this OUT before and not chosen now still appear in the sheets, from their
    # records (never graded again by this run).
    shown = [*run.chosen, *(every[name] for name in state["labs"] if name in every and every[name] not in run.chosen)]
    found_labs = {lab.name: collect(lab) for lab in shown}
    if run.signals.seen:  # pytest (collect) swallows the KeyboardInterrupt and returns what it had
        raise KeyboardInterrupt
    maxima = {name: points(found) for name, found in found_labs.items()}
    names = {name: tuple(c.name for c in found) for name, found in found_labs.items()}
    found = find_submissions(run.submissions, [lab.name for lab in shown], run.staging, reserved=RESERVED)
    asked = set(regrade or ())
    unknown = sorted(asked - {s.student for s in found} - {s.folder for s in found})
    if unknown:
        known = sorted(s.student for s in found)
        listed = ", ".join(known[:20]) + (", ..." if len(known) > 20 else "")
        raise MslabError(f"--regrade: no student named {', '.join(map(repr, unknown))}; the students are: {listed}")
    regrade_set = {s.student for s in found if s.student in asked or s.folder in asked}
    found, people, flags = _match_roster(found, run.roster, [lab.name for lab in shown])
    if run.policy.get("overrides"):
        adjust.check_overrides(
            run.policy["overrides"], {s.student for s in found}, {k: set(v) for k, v in names.items()}
        )
    roster_module.write_people(run.out, people)
    records: list[Record] = []
    try:
        return _grade_found(run, state, shown, found, regrade_set, maxima, names, records, flags, pool)
    except KeyboardInterrupt:  # before the workers started or while the reports were written
        classreport.write_reports(records, run.out, labs=maxima)
        raise Interrupted(len(records), len(found) * len(run.chosen)) from None


def _grade_found(
    run: _Run,
    state: dict,
    shown: list[Lab],
    found,
    regrade_set: set[str],
    maxima: dict,
    names: dict,
    records: list[Record],
    flags: dict[str, str],
    pool: executor.Executor | None = None,
) -> list[Record]:
    """Grade what ``found`` (intake) holds of the chosen labs that is not done yet into
    ``records`` (which also gets the rows of missing, rejected and resumed work, and those of
    the ``shown`` labs not chosen: their earlier records), then write the reports."""
    out, target = run.out, run.target
    state["labs"] = sorted({*state["labs"], *(lab.name for lab in run.chosen)})
    _write_state(out, state)
    sweep()
    digests = {lab.name: checks_digest(lab) for lab in shown}
    grader_version = version.grader()  # an upgraded grader regrades: one gradebook, one grader
    limits_digest = _limits_digest(run.limits or Limits())
    only = ",".join(lab.name for lab in run.chosen)

    todo = []
    for sub in found:
        for lab in shown:
            if sub.problem:
                records.append(
                    Record.empty(sub.student, lab.name, maxima[lab.name], Status.REJECTED, sub.problem, sub.folder)
                )
            elif lab.name not in sub.files:
                reason = sub.missing.get(lab.name) or f"no {lab.name}.py"
                records.append(
                    Record.empty(sub.student, lab.name, maxima[lab.name], Status.MISSING, reason, sub.folder)
                )
            else:
                key = {
                    "file": sub.digest[lab.name],
                    "checks": digests[lab.name],
                    "seed": student_seed(state["seed"], sub.student, lab.name),
                    "target": target.name,
                    "grader": grader_version,
                    "limits": limits_digest,
                }
                job = Job(
                    sub.student,
                    sub.folder,
                    lab.name,
                    str(sub.files[lab.name]),
                    key,
                    names[lab.name],
                    maxima[lab.name],
                    sub.notes.get(lab.name, ""),
                )
                fresh = (run.force or sub.student in regrade_set) and lab in run.chosen
                previous = None if fresh else _previous(out, job)
                if previous is not None:
                    records.append(previous)
                elif lab in run.chosen:
                    todo.append(job)
                else:  # a lab this run was not asked to grade, whose record is gone or out of date
                    reason = f"not graded: this run graded only --labs {only}; run inv grade without --labs"
                    records.append(
                        Record.empty(sub.student, lab.name, maxima[lab.name], Status.ERROR, reason, sub.folder)
                    )
    total = len(records) + len(todo)

    def announce() -> None:  # once the workers' sandboxes started: the progress bar appears
        run.progress(total=total)
        for record in list(records):
            run.progress(record=record)

    try:
        workers = run.cluster if run.cluster is not None else pool
        records += _run(todo, out, target, run.limits or Limits(), run.jobs, run.progress, announce, workers)
    except _Stopped as stopped:
        records += stopped.done
        classreport.write_reports(_flag_names(records, found, flags), out, labs=maxima)
        raise Interrupted(len(records), total) from None
    records = _adjusted(_flag_names(records, found, flags), found, run)
    staged = {sub.student: sub.files for sub in found if sub.files}  # intake's copies, in OUT/.staging
    similar = similarity.write_similarity(out, staged, [lab.name for lab in shown])
    classreport.write_reports(records, out, labs=maxima, people=roster_module.read_people(out), similar=similar)
    return records


def _policy(out: Path, due, late_penalty, extensions, overrides) -> dict:
    """The instructor's late and override options, read and checked now (one line if wrong)."""
    policy: dict = {}
    if (due is None) != (late_penalty is None):
        raise MslabError("--due and --late-penalty go together: give both, or neither")
    if due is not None:
        policy["due"] = adjust.parse_time(due, "--due")
        policy["penalty"] = adjust.parse_penalty(late_penalty or "")
        policy["extensions"] = adjust.read_extensions(extensions, policy["due"]) if extensions else {}
    elif extensions is not None:
        raise MslabError("--extensions needs --due and --late-penalty")
    kept = out / adjust.OVERRIDES
    if overrides is not None:
        policy["overrides"] = adjust.read_overrides(overrides)
        policy["overrides_text"] = Path(overrides).read_text(encoding="utf-8-sig")
    elif kept.is_file():
        policy["overrides"] = adjust.read_overrides(kept)  # an earlier run's: kept across regrades
    return policy


def _adjusted(records: list[Record], found, run: _Run) -> list[Record]:
    """``records`` with the instructor's overrides and late penalties applied (mslab.adjust);
    the overrides given now are kept in OUT for later runs."""
    policy = run.policy
    if "overrides_text" in policy:
        write_atomic(run.out / adjust.OVERRIDES, policy["overrides_text"])
    if not policy:
        return records
    return adjust.apply(
        records,
        when={sub.student: (sub.submitted_at, sub.late) for sub in found},
        due=policy.get("due"),
        penalty=policy.get("penalty"),
        extensions=policy.get("extensions"),
        overrides=tuple(policy.get("overrides", ())),
    )


def _match_roster(found: list[Submission], enrolled: list[roster_module.Enrolled] | None, labs: list[str]):
    """``found`` with a row for each enrolled student who handed in nothing, who each student is
    (``{student: {name, id, email, login, platform_id, matched}}``), and the flags of
    submissions that match no enrolled student."""
    people: dict[str, dict] = {}
    flags: dict[str, str] = {}
    for sub in found:
        people[sub.student] = {
            "name": sub.student,
            "id": sub.platform_id,
            "email": sub.email,
            "login": sub.login,
            "platform_id": sub.platform_id,
            "matched": sub.platform or "",
        }
    if enrolled is None:
        return found, people, flags
    taken: dict[str, str] = {}
    for sub in found:
        match = roster_module.match(
            enrolled, name=sub.student, platform_id=sub.platform_id, email=sub.email, login=sub.login
        )
        if match.enrolled is None or match.enrolled.id in taken:
            why = (
                match.how
                if match.enrolled is None
                else f"the roster's {match.enrolled.id} is also {taken[match.enrolled.id]!r}"
            )
            flags[sub.student] = f"not matched to the roster: {why}"
            people[sub.student]["matched"] = ""
            continue
        e = match.enrolled
        taken[e.id] = sub.student
        people[sub.student] = _person(e, match.how, sub.platform_id)
    used = {sub.folder.casefold() for sub in found} | {r.casefold() for r in RESERVED}
    absent = []
    for e in enrolled:
        if e.id in taken:
            continue
        name = e.name if e.name not in people else f"{e.name} ({e.id})"
        folder = _absent_folder(e.id, used)
        used.add(folder.casefold())
        missing = {lab: "handed in nothing (on the roster)" for lab in labs}
        absent.append(Submission(name, {}, Path(), {}, "", folder, missing=missing))
        people[name] = _person(e, "roster")
    return sorted([*found, *absent], key=lambda s: s.student), people, flags


def _person(e: roster_module.Enrolled, matched: str, platform_id: str = "") -> dict:
    """An enrolled student as people.json says who a student is; ``matched``: how."""
    return {
        "name": e.name,
        "id": e.id,
        "email": e.email,
        "login": e.login,
        "platform_id": e.platform_id or platform_id,
        "section": e.section,
        "matched": matched,
    }


def _absent_folder(student_id: str, used: set[str]) -> str:
    base = f"roster-{hashlib.sha256(student_id.encode()).hexdigest()[:10]}"
    folder, n = base, 1
    while folder.casefold() in used:
        n += 1
        folder = f"{base}-{n}"
    return folder


def _limits_digest(limits: Limits) -> str:
    """The limits a grade depends on, as a short digest; not ``cpus``, which is where it ran
    (a cluster gives each worker one CPU) rather than what it was allowed."""
    fields = {k: v for k, v in dataclasses.asdict(limits).items() if k != "cpus"}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]


def not_graded(records: list[Record]) -> str:
    """One line naming the rows the grader itself could not grade (status ``error``: its own
    failure, never the student's), or "" when there are none. Such a row is not a zero: the
    student's total is left blank in the sheets, and a rerun grades it."""
    failed = [r for r in records if r.status == Status.ERROR]
    if not failed:
        return ""
    shown = "; ".join(f"{r.student} {r.lab} ({r.reason[:160]})" for r in failed[:5])
    more = f"; and {len(failed) - 5} more" if len(failed) > 5 else ""
    return (
        f"{len(failed)} row(s) not graded because of the grader, not the students: {shown}{more}; "
        "their totals are blank in grades.csv: fix the cause and rerun"
    )


def _flag_names(records: list[Record], found, flags: dict[str, str] | None = None) -> list[Record]:
    """``records``, those of a student whose name looks like another's (the same Unicode
    confusable skeleton: ``alice`` and ``аlice`` with a Cyrillic а) or who matched no student of
    the roster (``flags``) flagged for review; the marks are untouched. Flags of a class, added
    for its reports, not stored."""
    alike = {sub.student: sub.looks_like for sub in found if sub.looks_like}
    flagged = []
    for record in records:
        notes = []
        others = alike.get(record.student)
        if others:
            notes.append("name looks like " + ", ".join(map(repr, others)) + ": check who handed this in")
        if flags and record.student in flags:
            notes.append(flags[record.student])
        if notes:
            record = dataclasses.replace(record, flags=[*record.flags, *notes])
        flagged.append(record)
    return flagged


def _need_image(target: Target) -> None:
    """The Docker engine answers and the target's image is built, or a one-line MslabError."""
    client = images.docker_client()
    try:
        client.images.get(target.image)
    except Exception:  # noqa: BLE001 - ImageNotFound, or the engine refusing: either way, not usable
        raise MslabError(f"image {target.image} is not built: run `inv image.build --target {target.name}`") from None


def _usable_out(out: Path) -> None:
    """``out`` is (or can become) a folder this user can write, or a one-line MslabError."""
    if out.parts[1:2] in (("proc",), ("sys",), ("dev",)):
        raise MslabError(f"--out {out}: not a place for results")
    existing = out
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise MslabError(f"--out {out}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise MslabError(f"--out {out}: {existing} is not writable")


class _Stopped(Exception):
    """SIGINT or SIGTERM during the run; ``done`` holds the records that completed before it."""

    def __init__(self, done: list[Record]):
        self.done = done


def _run(
    todo: list[Job],
    out: Path,
    target: Target,
    limits: Limits,
    jobs,
    progress,
    started=lambda: None,
    workers: executor.Executor | None = None,
) -> list[Record]:
    """Grade ``todo`` on ``workers`` (an :class:`mslab.executor.Executor`: the local pool
    started before intake by :func:`_start_pool`, or a cluster's; else a local pool started
    now), a student per call, with :func:`mslab.executor.grade_students`'s fault model;
    ``started()`` once every worker's sandbox is up. Only this process writes ``out``."""
    if not todo:
        started()
        return []
    students = by_student(todo)
    done: list[Record] = []

    def kept(job: Job, text: str) -> Record:
        record = keep(out, job, text)  # an MslabError (OUT cannot be written) ends the run
        if record.status == Status.INTERRUPTED:
            raise KeyboardInterrupt  # the worker saw a signal meant for the whole run
        done.append(record)
        progress(record=record)
        return record

    def ready() -> None:
        stops.release()  # the workers exist: Ctrl-C may come through now
        started()

    try:
        if workers is None:
            labs = [get_lab(name) for name in dict.fromkeys(job.lab for job in todo)]
            workers = _local(target, limits, _workers(jobs, len(students)), labs)
        met = executor.grade_students(workers, students, kept, started=ready)
        if met["lost"] or "nodes" in met:
            progress(**({"cluster": met} if "nodes" in met else {"lost": met}))
    except BaseException as exc:
        stops.ignore()  # a second Ctrl-C must not cut the cleanup short
        if workers is not None:
            workers.close(kill=True)  # their zygotes and sandboxes die with them (die_with_parent)
        if isinstance(exc, KeyboardInterrupt):
            raise _Stopped(done) from None
        raise
    workers.close()
    return done
