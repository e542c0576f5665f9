"""The hostile corpus (tests/hostile/<student>/derivatives.py), graded as a class — locally and on
a Ray cluster: each student gets exactly the score it earned, and none of them disturbs the
others, the grader or the host.

The attacks that beat the first jail are canaries (see each file): where a wall is missing they do bounded, undone
harm and sabotage their own answers ("ESCAPED: ..."). Harm outside the score — a process left
alive, a file the grader read, time spent, a classmate's score — is asserted here. Each run
copies the corpus and writes a marker of its own into it (``MSLAB_HOSTILE_MARKER``), so these
tests look only at their own processes, keys and files.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import secrets
import time
from pathlib import Path

import pytest
import yaml

from conftest import LABS, ROOT, inv
from mslab.checker import collect
from mslab.grade import grade_class
from mslab.sandbox.host import Limits, Sandbox

pytestmark = pytest.mark.slow  # sandboxes under attack: minutes (pytest -m 'not slow' skips them)

CORPUS = ROOT / "tests" / "hostile"
EXPECTED = yaml.safe_load((CORPUS / "expected.yaml").read_text())
LIMITS = Limits(load_seconds=15, call_seconds=4, submission_seconds=40, processes=128)
CHECKS = collect(LABS["derivatives"])
PLACEHOLDER = "MSLAB_HOSTILE_MARKER"
HIDDEN = LABS["derivatives"].hidden_checks.read_text(encoding="utf-8")
#: Lines of the hidden checks that appear nowhere else: in a results file, the grader read them.
SECRETS = [
    line.strip()
    for line in HIDDEN.splitlines()
    if "FAMILIES = [" in line or "def draw(" in line or "np.isfinite(evaluate(" in line
]


def copy_class(students: dict[str, Path], folder: Path, marker: str) -> Path:
    """A class folder holding ``students`` (name: their folder), with this run's marker written in."""
    for name, source in students.items():
        (folder / name).mkdir(parents=True)
        for file in (f for f in source.iterdir() if f.is_file()):
            text = file.read_text(encoding="utf-8").replace(PLACEHOLDER, marker)
            (folder / name / file.name).write_text(text, encoding="utf-8")
    return folder


def processes_named(marker: str) -> list[int]:
    """Pids of the processes (anywhere on this host) whose command line holds ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def kill_all(pids: list[int]) -> None:
    for pid in pids:  # only processes named with this run's marker: ours
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass


def remove_tree(path: Path) -> None:
    """Remove a folder tree however deep: no recursion, one open folder at a time, no symlink followed."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
    fd, names = os.open(path, flags), []
    while True:
        entries = list(os.scandir(fd))
        sub = next((e for e in entries if e.is_dir(follow_symlinks=False)), None)
        if sub is not None:
            inner = os.open(sub.name, flags, dir_fd=fd)
            os.close(fd)
            fd = inner
            names.append(sub.name)
            continue
        for entry in entries:
            os.unlink(entry.name, dir_fd=fd)
        if not names:
            os.close(fd)
            os.rmdir(path)
            return
        parent = os.open("..", flags, dir_fd=fd)
        os.close(fd)
        fd = parent
        os.rmdir(names.pop(), dir_fd=fd)


def scratch_leftovers(marker: str) -> list[Path]:
    """Folders named with ``marker`` in any host-side sandbox scratch folder (the old design's)."""
    root = Path(os.environ.get("TMPDIR", "/tmp")) / f"mslab-sandboxes-{os.getuid()}"
    return sorted(root.glob(f"*/deep-{marker}")) if root.is_dir() else []


LEFTOVERS: dict[str, list[Path]] = {}


@pytest.fixture(scope="module")
def marker() -> str:
    return f"mslab-hostile-{secrets.token_hex(6)}"


@pytest.fixture(scope="module", params=["local", "cluster"])
def graded(request, tmp_path_factory, marker):
    """The corpus graded by local workers, then by workers on a real Ray cluster of two nodes
    (the walls must hold on every node: tests/test_cluster.py has the cluster's own tests)."""
    cluster = request.getfixturevalue("ray_cluster").address if request.param == "cluster" else None
    out = tmp_path_factory.mktemp("hostile-out")
    students = {p.name: p for p in CORPUS.iterdir() if p.is_dir()}
    corpus = copy_class(students, tmp_path_factory.mktemp("hostile-class"), marker)
    try:
        records = grade_class(corpus, out, labs=["derivatives"], jobs=2, seed=1, limits=LIMITS, cluster=cluster)
    finally:
        # At once, not at teardown: another run's sweep of dead graders' scratch folders (the old
        # design's rmtree) would fail on deep_tree's chain. What was found is asserted below.
        LEFTOVERS[marker] = scratch_leftovers(marker)
        for leftover in LEFTOVERS[marker]:
            remove_tree(leftover)
    yield out, {r.student: r.to_dict() for r in records}  # as record.json has them
    kill_all(processes_named(marker))


def test_the_corpus_is_complete(graded):
    _, records = graded
    assert set(records) == set(EXPECTED) == {p.name for p in CORPUS.iterdir() if p.is_dir()}


def _names(entry) -> set[str]:
    """Check names for ``all``, or a list of task ids and check names."""
    if entry == "all":
        return {c.name for c in CHECKS}
    return {c.name for c in CHECKS if c.task in entry or c.name in entry}


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_each_hostile_student_gets_exactly_what_it_earned(graded, student):
    _, records = graded
    record, expected = records[student], EXPECTED[student]
    statuses = expected["status"] if isinstance(expected["status"], list) else [expected["status"]]
    assert record["status"] in statuses, record["reason"]
    assert expected.get("reason", "") in record["reason"]
    lost = _names(expected["loses"])
    allowed = lost | _names(expected.get("may_lose", []))
    failed = {c["name"]: c["reason"] for c in record["checks"] if not c["passed"]}
    if record["status"] == "graded":
        assert lost <= set(failed) <= allowed, failed
        assert record["score"] == sum(c.points for c in CHECKS if c.name not in failed), failed
    elif not expected.get("may_lose"):
        assert record["score"] == sum(c.points for c in CHECKS if c.name not in lost)
    for name, words in expected.get("check_reasons", {}).items():
        assert words in failed.get(name, ""), failed


def test_no_attack_escaped(graded):
    """A canary that got through a missing wall says ESCAPED in its reason (its answers sabotaged)."""
    _, records = graded
    escaped = {
        r["student"]: [text for text in [r["reason"], *(c["reason"] for c in r["checks"])] if "ESCAPED" in text]
        for r in records.values()
    }
    assert not {k: v[0][:300] for k, v in escaped.items() if v}


def test_the_gradebook_has_a_row_for_everyone_and_nothing_forged(graded):
    out, records = graded
    with open(out / "gradebook.csv", newline="") as fh:
        rows = {r["student"]: r for r in csv.DictReader(fh)}
    assert set(rows) == set(EXPECTED)
    junit = (out / "forger" / "derivatives" / "junit.xml").read_text()
    count = len(collect(LABS["derivatives"]))
    assert f'failures="{count}"' in junit and f'tests="{count}"' in junit
    results = json.loads((out / "forger" / "derivatives" / "results.json").read_text())
    assert results["score"] == 0 and all(t["status"] == "failed" for t in results["tests"])


def _written(out: Path):
    for path in out.rglob("*"):
        if path.is_file() and not path.is_symlink():
            yield path


def test_the_grader_never_reads_a_path_the_student_controls(graded):
    """log_symlink pointed the file of printed output at the hidden checks: nothing of them is on record."""
    out, records = graded
    assert SECRETS and all(s in HIDDEN for s in SECRETS)
    leaked = {str(p.relative_to(out)): s for p in _written(out) for s in SECRETS if s in p.read_text(errors="replace")}
    assert not leaked


def test_a_fifo_does_not_hold_the_grader(graded):
    """log_fifo made the file of printed output a FIFO that it opens for writing only after 30 s."""
    _, records = graded
    assert records["log_fifo"]["seconds"] < 20


def test_no_process_outlives_the_run(graded, marker):
    """immortal's grandchild (cleared death signal, own session, os._exit turned into a sleep) is gone."""
    deadline = time.monotonic() + 5
    while (left := processes_named(marker)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, f"still running after the class was graded: {left}"


def test_nothing_the_student_planted_is_left_on_the_host(graded, marker):
    """deep_tree's 3000-deep chain of folders made the grader's clean-up fail; nothing of it remains."""
    assert not LEFTOVERS[marker] and not scratch_leftovers(marker)


def test_a_slow_loader_costs_its_submission_budget_not_one_per_check(graded):
    """slow_loader sleeps 12 s at import and kills its process in every function: 11 loads."""
    _, records = graded
    assert records["slow_loader"]["seconds"] < LIMITS.submission_seconds + LIMITS.load_seconds + 5


def test_an_oracle_without_autodiff_is_flagged(graded):
    """oracle's file reaches no autodiff API: its row says so (with the word "autodiff"); a correct one's does not."""
    _, records = graded
    assert any("autodiff" in flag for flag in records["oracle"]["flags"])
    assert records["escaper"]["flags"] == []


def test_isolation_is_measured_not_reported(graded):
    out, records = graded
    for record in records.values():
        isolation = record.get("isolation", "")
        assert isolation.isprintable() and len(isolation) <= 200, record["student"]
    forged = records["isolation_forger"].get("isolation", "")
    assert "all submissions isolated" not in forged and "pwned" not in forged
    raw = {str(p.relative_to(out)) for p in _written(out) if b"\x1b" in p.read_bytes() or b"\x07" in p.read_bytes()}
    assert not raw, "a file of the run holds a raw control character"


def test_student_text_is_capped_in_every_record(graded):
    """huge_messages raised 30 MB and 20 MB texts and returned a 20 MB string."""
    out, records = graded
    sizes = {str(p.relative_to(out)): p.stat().st_size for p in (out / "huge_messages").rglob("*") if p.is_file()}
    assert sizes and all(size < 1024**2 for size in sizes.values()), sizes
    assert len(json.dumps(records["huge_messages"])) < 1024**2
    with open(out / "gradebook.csv", newline="") as fh:
        cells = [cell for row in csv.reader(fh) for cell in row]
    assert max(map(len, cells)) < 4096
    for report in ("report.html", "report.md"):
        if (out / report).exists():
            assert (out / report).stat().st_size < 4 * 1024**2


def test_isolation_is_reported(graded):
    _, records = graded
    if os.geteuid() == 0:
        assert records["escaper"]["isolation"] == "full"


def test_markup_in_student_text_is_shown_as_text(tmp_path):
    """`[/]` in an exception message crashed `inv lab.check` before it wrote results; it is text."""
    results = tmp_path / "results.json"
    proc = inv(
        "lab.check",
        "derivatives",
        "--submission",
        str(CORPUS / "markup" / "derivatives.py"),
        "--all",
        "--results",
        str(results),
        "--seed",
        "1",
    )
    assert results.exists(), proc.stderr[-2000:]
    assert "[/]" in proc.stdout and "[bold green]pass[/]" in proc.stdout, proc.stdout[-3000:]


def test_a_spinner_does_not_make_a_classmate_time_out(tmp_path, marker):
    """spinner starts up to 200 spinning processes in sessions of their own for 20 s; correct
    classmates graded beside it (jobs=2: it goes first, they follow one after another on the other
    worker while it spins) still get every point."""
    lab = LABS["derivatives"]
    classmates = [f"z{n}_classmate" for n in range(1, 4)]  # sorted after "spinner": graded during it
    students = {"spinner": CORPUS / "spinner", **{name: lab.solution.parent for name in classmates}}
    corpus = copy_class(students, tmp_path / "class", marker)
    for name in classmates:
        for extra in (corpus / name).iterdir():
            if extra.name != "derivatives.py":
                extra.unlink()
    limits = dataclasses.replace(LIMITS, processes=1024)  # room for all 200 spinners
    records = {
        r.student: r.to_dict()
        for r in grade_class(corpus, tmp_path / "out", labs=["derivatives"], jobs=2, seed=1, limits=limits)
    }
    for name in classmates:
        record = records[name]
        assert record["status"] == "graded", record["reason"]
        assert record["score"] == record["max_score"], [
            (name, c["name"], c["reason"]) for c in record["checks"] if not c["passed"]
        ]


PROBE = """
import os, socket
def exists(path): return os.path.exists(path)
def listdir(path):
    try:
        return sorted(os.listdir(path))
    except OSError as exc:
        return type(exc).__name__
def write(path):
    try:
        with open(path, "a") as fh:
            fh.write("x")
        return "written"
    except OSError as exc:
        return type(exc).__name__
def commands():
    found = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/cmdline", "rb") as fh:
                    found.append(fh.read().replace(b"\\0", b" ").decode(errors="replace"))
            except OSError:
                pass
    return found
def network():
    try:
        socket.create_connection(("127.0.0.1", 22), timeout=1)
        return "connected"
    except OSError as exc:
        return type(exc).__name__
def capabilities():
    with open("/proc/self/status") as fh:
        return [line.split()[1] for line in fh if line.startswith(("CapEff", "CapBnd"))]
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="the namespace jail is checked as root, as CI runs")
def test_the_jail_hides_checks_solutions_and_other_students(tmp_path):
    source = tmp_path / "probe.py"
    source.write_text(PROBE)
    other = tmp_path / "class"
    (other / "alice").mkdir(parents=True)
    (other / "alice" / "derivatives.py").write_text("# alice's work\n")
    lab = LABS["derivatives"]
    with Sandbox(source, "probe") as sb:  # nothing named to hide: the jail shows only what it allows
        for secret in (lab.hidden_checks, lab.solution, other / "alice" / "derivatives.py"):
            assert sb.call("exists", str(secret)) is False
        assert sb.call("listdir", str(ROOT / "labs")) == "FileNotFoundError"
        assert sb.call("listdir", "/dev") == ["fd", "full", "null", "random", "shm", "urandom", "zero"]  # no disks
        assert sb.call("write", str(ROOT / "mslab" / "checks.py")) in ("OSError", "FileNotFoundError")
        assert sb.call("write", "notes.txt") == "written"  # its own scratch (a tmpfs in the sandbox)
        commands = sb.call("commands")
        assert 1 <= len(commands) <= 4 and not [c for c in commands if "pytest" in c]
        assert sb.call("network") == "OSError"  # its own network namespace, loopback down
        assert sb.call("capabilities") == ["0000000000000000", "0000000000000000"]
        assert sb.isolation == "full"
