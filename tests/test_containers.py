"""Student code in the CPU image's container: same grades as local, inside a locked-down container."""

from __future__ import annotations

import os

import pytest
from conftest import LABS, ROOT, inv

from mslab.checker import run_checks
from mslab.sandbox import Limits, Sandbox, StudentCrashed

pytestmark = pytest.mark.docker


@pytest.mark.parametrize("name", sorted(LABS))
def test_reference_solutions_score_full_marks_in_the_container(cpu_image, name):
    lab = LABS[name]
    report = run_checks(lab, lab.solution, hidden=True, target="cpu", seed=4)
    assert [c.reason for c in report.checks if not c.passed] == []
    assert report.score == report.max_score > 0


def test_broken_and_partial_submissions_in_the_container(cpu_image):
    lab = LABS["derivatives"]
    dave = run_checks(lab, ROOT / "examples/submissions/dave/derivatives.py", hidden=True, target="cpu", seed=4)
    assert dave.score == 0 and dave.load_error.startswith("the submission could not be loaded: SyntaxError")
    bob = run_checks(lab, ROOT / "examples/submissions/bob/derivatives.py", hidden=True, target="cpu", seed=4)
    assert bob.score == bob.max_score - sum(c.points for c in bob.checks if c.errata)


HOSTILE = '''
import errno, os, socket, subprocess
def uid(): return os.getuid()
def network():
    try:
        socket.create_connection(("192.0.2.1", 80), timeout=2)
        return "connected"
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc))
def write(path):
    try:
        with open(path, "w") as fh:
            fh.write("x")
        return "written"
    except OSError as exc:
        return type(exc).__name__
def exists(path): return os.path.exists(path)
def fork_bomb():
    children = []
    try:
        for _ in range(10000):
            children.append(subprocess.Popen(["sleep", "60"]))
    except OSError as exc:
        return [type(exc).__name__, len(children)]
    return ["no limit", len(children)]
def die(): os._exit(7)
'''


def test_the_sandbox_container_is_locked_down(cpu_image, tmp_path):
    source = tmp_path / "student.py"
    source.write_text(HOSTILE)
    with Sandbox(source, "student", target="cpu", limits=Limits(call_seconds=30)) as sb:
        assert sb.call("uid") == 10001
        assert sb.call("network") == "ENETUNREACH"  # no interface but loopback
        assert sb.call("write", "/etc/evil") in ("OSError", "PermissionError")
        assert sb.call("write", "/opt/evil") in ("OSError", "PermissionError")
        assert sb.call("write", "/submission/student.py") in ("OSError", "PermissionError")
        assert sb.call("write", "/work/notes.txt") == "written"  # its own tmpfs scratch
        for secret in (ROOT / "labs", LABS["derivatives"].hidden_checks, LABS["derivatives"].solution):
            assert sb.call("exists", str(secret)) is False
        error, started = sb.call("fork_bomb")
        assert error in ("BlockingIOError", "OSError") and started < 256
        host = sb._proc.container.attrs["HostConfig"]
        assert host["NetworkMode"] == "none"
        assert host["ReadonlyRootfs"] is True
        assert host["CapDrop"] == ["ALL"]
        assert any(o.startswith("no-new-privileges") for o in host["SecurityOpt"])
        assert host["PidsLimit"] == 256 and host["Memory"] == 4 * 1024**3
        assert host["NanoCpus"] == (os.cpu_count() or 1) * 10**9  # one student alone: all CPUs
        mounts = {m["Destination"]: m for m in sb._proc.container.attrs["Mounts"]}
        assert mounts["/submission/student.py"]["RW"] is False
        with pytest.raises(StudentCrashed, match="exited with code 7"):
            sb.call("die")
        assert sb.call("uid") == 10001  # a fresh container


def test_lab_run_in_the_container(cpu_image):
    result = inv("lab.run", "derivatives", "--target", "cpu")
    assert result.returncode == 0, result.stderr
    assert "12.0" in result.stdout


def test_grading_a_class_with_a_fresh_container_per_submission(cpu_image, tmp_path):
    from mslab.checker import collect
    from mslab.grade import grade_class

    checks = collect(LABS["derivatives"])
    records = grade_class(ROOT / "examples" / "submissions", tmp_path, labs=["derivatives"],
                          isolation="container", seed=3, jobs=2)
    by_student = {r["student"]: r for r in records}
    assert by_student["alice"]["score"] == sum(c.points for c in checks)
    assert by_student["bob"]["score"] == sum(c.points for c in checks if not c.errata)
    assert by_student["alice"]["isolation"] == "container"
    assert by_student["dave"]["status"] == "unloadable"


def test_lab_check_on_the_reference_in_the_container(cpu_image, tmp_path):
    lab = LABS["derivatives"]
    result = inv("lab.check", lab.name, "--submission", str(lab.solution), "--all", "--target", "cpu",
                 "--results", str(tmp_path / "r.json"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert '"isolation": "container"' in (tmp_path / "r.json").read_text()
