"""Student code in the CPU image's container: same grades as local, inside a locked-down container."""

from __future__ import annotations

import os

import pytest

from conftest import LABS, ROOT, inv
from mslab.checker import run_checks
from mslab.containers import spawner
from mslab.doctor import resolve_target as resolve
from mslab.sandbox.host import Limits, Sandbox, StudentCrashed

pytestmark = pytest.mark.docker


@pytest.mark.parametrize("name", sorted(LABS))
def test_reference_solutions_score_full_marks_in_the_container(cpu_image, name):
    lab = LABS[name]
    report = run_checks(lab, lab.solution, hidden=True, target=resolve("cpu"), seed=4)
    assert [c.reason for c in report.checks if not c.passed] == []
    assert report.score == report.max_score > 0


def test_broken_and_partial_submissions_in_the_container(cpu_image):
    lab = LABS["derivatives"]
    dave = run_checks(
        lab, ROOT / "examples/submissions/dave/derivatives.py", hidden=True, target=resolve("cpu"), seed=4
    )
    assert dave.score == 0 and dave.load_error.startswith("the submission could not be loaded: SyntaxError")
    bob = run_checks(lab, ROOT / "examples/submissions/bob/derivatives.py", hidden=True, target=resolve("cpu"), seed=4)
    assert bob.score == bob.max_score - sum(c.points for c in bob.checks if c.errata)


HOSTILE = """
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
"""


def test_the_sandbox_container_is_locked_down(cpu_image, tmp_path):
    source = tmp_path / "student.py"
    source.write_text(HOSTILE)
    with Sandbox(source, "student", spawn=spawner(resolve("cpu")), limits=Limits(call_seconds=30)) as sb:
        assert sb.call("uid") == 10001
        assert sb.call("network") == "ENETUNREACH"  # no interface but loopback
        assert sb.call("write", "/etc/evil") in ("OSError", "PermissionError")
        assert sb.call("write", "/opt/evil") in ("OSError", "PermissionError")
        assert sb.call("write", "/submission/student.py") in ("OSError", "PermissionError")
        assert sb.call("write", "/work/notes.txt") == "written"  # its own tmpfs scratch
        for secret in (ROOT / "labs", LABS["derivatives"].hidden_checks, LABS["derivatives"].solution):
            assert sb.call("exists", str(secret)) is False
        error, started = sb.call("fork_bomb")
        from mslab.containers import pids_limit

        assert error in ("BlockingIOError", "OSError") and started < pids_limit(256)  # 256 on <= 32 CPUs
        host = sb._proc.container.attrs["HostConfig"]
        assert host["NetworkMode"] == "none"
        assert host["ReadonlyRootfs"] is True
        assert host["CapDrop"] == ["ALL"]
        assert any(o.startswith("no-new-privileges") for o in host["SecurityOpt"])
        assert host["PidsLimit"] == max(256, 128 + 4 * (os.cpu_count() or 1))
        assert host["Memory"] == 4 * 1024**3
        assert host["MemorySwap"] == host["Memory"]  # no swap on top of the memory limit
        labels = sb._proc.container.labels
        assert labels["org.mslab.run.pid"] == str(os.getpid()) and len(labels["org.mslab.run"]) == 16
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
    records = grade_class(
        ROOT / "examples" / "submissions",
        tmp_path,
        labs=["derivatives"],
        target=resolve("local", "container"),
        seed=3,
        jobs=2,
    )
    by_student = {r.student: r for r in records}
    assert by_student["alice"].score == sum(c.points for c in checks)
    assert by_student["bob"].score == sum(c.points for c in checks if not c.errata)
    assert by_student["alice"].isolation == "container"
    assert by_student["dave"].status == "unloadable"


def test_lab_check_on_the_reference_in_the_container(cpu_image, tmp_path):
    lab = LABS["derivatives"]
    result = inv(
        "lab.check",
        lab.name,
        "--submission",
        str(lab.solution),
        "--all",
        "--target",
        "cpu",
        "--results",
        str(tmp_path / "r.json"),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert '"isolation": "container"' in (tmp_path / "r.json").read_text()


# The SIGKILL tests: a grader process of their own, whose containers they find by its run labels.
GRADER = """
import sys, time
from pathlib import Path
from mslab.containers import spawner
from mslab.doctor import resolve_target
from mslab.sandbox.host import Limits, Sandbox
src = Path(sys.argv[1])
src.write_text("def ping():\\n    return 'pong'\\n")
sb = Sandbox(src, "student", spawn=spawner(resolve_target("cpu")), limits=Limits(call_seconds=60))
sb.start()
assert sb.call("ping") == "pong"
print(sb._proc.container.id, flush=True)
time.sleep(float(sys.argv[2]))  # then exits without closing the sandbox
"""


def _start_grader(tmp_path, seconds=600):
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-c", GRADER, str(tmp_path / "student.py"), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    line = proc.stdout.readline().strip()
    assert line, "the grader did not start its container"
    return proc, line


def _gone(client, container_id: str, seconds: float) -> bool:
    import time

    import docker

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            client.containers.get(container_id)
        except docker.errors.NotFound:
            return True
        time.sleep(0.2)
    return False


def test_sigkill_of_the_grader_removes_its_containers(cpu_image, tmp_path):
    import signal

    proc, container_id = _start_grader(tmp_path)
    container = cpu_image.containers.get(container_id)
    assert container.labels["org.mslab.run.pid"] == str(proc.pid)
    assert container.status == "running"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert _gone(cpu_image, container_id, 15), "the killed grader's container is still there after 15 s"


def test_a_run_that_exits_leaving_a_container_has_it_removed(cpu_image, tmp_path):
    """A normal exit with a container still up (the sandbox never closed): no clean-exit word
    to the watcher, which removes it."""
    proc, container_id = _start_grader(tmp_path, seconds=0)
    assert proc.wait(timeout=60) == 0
    assert _gone(cpu_image, container_id, 15), "the container outlived its run by 15 s"


def test_next_run_and_doctor_remove_containers_of_dead_runs(cpu_image, tmp_path):
    """Containers labelled by a run that is gone (no watcher removed them, e.g. the engine was
    down then) go at the next run's first container and at `inv doctor`; a live run's stay.
    (The next run removes every dead run's containers on this host, as it would in use; doctor's
    check is limited here to the test's own dead run.)"""
    import secrets
    import subprocess

    from mslab import containers, doctor

    dead = subprocess.Popen(["sleep", "30"])
    dead_labels = {
        **containers._Run.current(),
        "org.mslab.run": secrets.token_hex(8),
        "org.mslab.run.pid": str(dead.pid),
        "org.mslab.run.start": containers._proc_start(dead.pid),
    }
    dead.kill()
    dead.wait()
    live_labels = {**containers._Run.current(), "org.mslab.run": secrets.token_hex(8)}  # this process
    image = containers.images.service("cpu")["image"]

    def make(labels):
        return cpu_image.containers.run(
            image, ["sleep", "300"], entrypoint=[], detach=True, network_mode="none", labels=labels
        )

    orphan, mine = make(dead_labels), make(live_labels)
    try:
        assert containers.owner_alive(orphan.labels) is False and containers.owner_alive(mine.labels) is True
        # the next run: a fresh grader process, its first container reaps the dead run's
        proc, _ = _start_grader(tmp_path)
        proc.kill()
        proc.wait()
        assert _gone(cpu_image, orphan.id, 10)
        mine.reload()
        assert mine.status == "running"
        # doctor, with another orphan
        orphan = make(dead_labels)
        assert doctor.orphan_check(lambda: containers.reap_orphans(token="0" * 16)) == doctor.Check(
            "Orphaned containers", "ok", "none"
        )
        row = doctor.orphan_check(lambda: containers.reap_orphans(token=dead_labels["org.mslab.run"]))
        assert (row.status, row.detail) == ("warn", f"removed 1 of runs that are gone: {orphan.short_id}")
        assert _gone(cpu_image, orphan.id, 5)
        mine.reload()
        assert mine.status == "running"
    finally:
        for c in (orphan, mine):
            try:
                c.remove(force=True)
            except Exception:  # noqa: BLE001 - removed by the test itself
                pass
