"""The hostile corpus (tests/hostile/<student>/derivatives.py), graded as a class: each student
gets exactly the score it earned, and none of them disturbs the others or the grader."""

from __future__ import annotations

import csv
import json
import os

import pytest
import yaml
from conftest import LABS, ROOT

from mslab.checker import collect
from mslab.grade import grade_class
from mslab.sandbox import Limits, Sandbox

CORPUS = ROOT / "tests" / "hostile"
EXPECTED = yaml.safe_load((CORPUS / "expected.yaml").read_text())
LIMITS = Limits(load_seconds=15, call_seconds=4, submission_seconds=40, processes=128)
CHECKS = collect(LABS["derivatives"])


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    out = tmp_path_factory.mktemp("hostile-out")
    records = grade_class(CORPUS, out, labs=["derivatives"], jobs=2, seed=1, limits=LIMITS)
    return out, {r["student"]: r for r in records}


def test_the_corpus_is_complete(graded):
    _, records = graded
    assert set(records) == set(EXPECTED) == {p.name for p in CORPUS.iterdir() if p.is_dir()}


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_each_hostile_student_gets_exactly_what_it_earned(graded, student):
    _, records = graded
    record, expected = records[student], EXPECTED[student]
    lost = {c.name for c in CHECKS if expected["loses"] == "all" or c.task in expected["loses"]}
    earned = sum(c.points for c in CHECKS if c.name not in lost)
    assert record["status"] == expected["status"], record["reason"]
    assert record["score"] == earned, [(c["name"], c["reason"]) for c in record["checks"] if not c["passed"]]
    assert expected.get("reason", "") in record["reason"]
    if record["status"] == "graded":
        assert {c["name"] for c in record["checks"] if not c["passed"]} == lost


def test_the_gradebook_has_a_row_for_everyone_and_nothing_forged(graded):
    out, records = graded
    with open(out / "gradebook.csv", newline="") as fh:
        rows = {r["student"]: r for r in csv.DictReader(fh)}
    assert set(rows) == set(EXPECTED)
    junit = (out / "forger" / "derivatives" / "junit.xml").read_text()
    assert 'failures="11"' in junit and 'tests="11"' in junit
    results = json.loads((out / "forger" / "derivatives" / "results.json").read_text())
    assert results["score"] == 0 and all(t["status"] == "failed" for t in results["tests"])


def test_isolation_is_reported(graded):
    _, records = graded
    expected = "namespaces" if os.geteuid() == 0 else None
    if expected:
        assert records["escaper"]["isolation"] == "namespaces"


PROBE = '''
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
def processes(): return sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
def network():
    try:
        socket.create_connection(("127.0.0.1", 22), timeout=1)
        return "connected"
    except OSError as exc:
        return type(exc).__name__
def capabilities():
    with open("/proc/self/status") as fh:
        return [line.split()[1] for line in fh if line.startswith(("CapEff", "CapBnd"))]
'''


@pytest.mark.skipif(os.geteuid() != 0, reason="the namespace jail is checked as root, as CI runs")
def test_the_jail_hides_checks_solutions_and_other_students(tmp_path):
    source = tmp_path / "probe.py"
    source.write_text(PROBE)
    other = tmp_path / "class"
    (other / "alice").mkdir(parents=True)
    (other / "alice" / "derivatives.py").write_text("# alice's work\n")
    lab = LABS["derivatives"]
    with Sandbox(source, "probe", hide=(ROOT / "labs", other)) as sb:
        for secret in (lab.hidden_checks, lab.solution, other / "alice" / "derivatives.py"):
            assert sb.call("exists", str(secret)) is False
        assert sb.call("listdir", str(ROOT / "labs")) == "FileNotFoundError"
        assert sb.call("listdir", "/dev") == ["full", "null", "random", "shm", "urandom", "zero"]  # no disks
        assert sb.call("write", str(ROOT / "mslab" / "checks.py")) == "OSError"  # read-only view
        assert sb.call("write", str(sb.scratch / "notes.txt")) == "written"
        assert sb.call("processes") == [1]  # its own PID namespace
        assert sb.call("network") == "OSError"  # its own network namespace, loopback down
        assert sb.call("capabilities") == ["0000000000000000", "0000000000000000"]
        assert sb.isolation == "namespaces"
