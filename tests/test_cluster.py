"""`inv grade --cluster`: the bundled class graded on a real Ray cluster (a head and a second node
process on this machine) gives the local run's files byte for byte; a node killed mid-run, a
worker that dies, a submission that kills its own sandbox, a cluster that cannot run the target;
and without the extra, a one-line error. The hostile corpus is graded on the cluster too
(tests/test_hostile.py)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import ROOT, RayCluster, inv, needs_ray
from mslab import cluster
from mslab.doctor import resolve_target as resolve
from mslab.errors import MslabError
from mslab.grade import grade_class
from mslab.records import Record

CLASS = ROOT / "examples" / "submissions"
CLASS_FILES = ("gradebook.csv", "grades.csv", "grades.json", "report.html")
#: What differs between any two runs of the same class: how long things took.
TIMINGS = ("seconds", "start_seconds", "student_seconds")


@pytest.fixture(scope="module")
def local_run(tmp_path_factory) -> Path:
    """The bundled class graded locally with seed 7: what every cluster run must reproduce."""
    out = tmp_path_factory.mktemp("local") / "out"
    result = inv("grade", str(CLASS), "--out", str(out), "--seed", "7", "--jobs", "2")
    assert result.returncode == 0, result.stderr
    return out


def records(out: Path) -> dict[str, dict]:
    found = {}
    for path in sorted(out.glob("*/*/record.json")):
        data = Record.read(path).to_dict()
        for name in TIMINGS:
            data.pop(name)
        found[str(path.relative_to(out))] = data
    return found


def same_as_local(out: Path, local: Path) -> None:
    for name in CLASS_FILES:
        assert (out / name).read_bytes() == (local / name).read_bytes(), name
    assert records(out) == records(local)
    assert len(records(out)) == 23  # 4 students x 6 labs, carol has no value_and_grad


def start_grading(out: Path, address: str) -> subprocess.Popen:
    """`inv grade` of the bundled class (seed 7) on the cluster at ``address``, in the background,
    returned once it has recorded 2 of its 15 submissions (or ended)."""
    exe = shutil.which("inv", path=str(Path(sys.executable).parent))
    grading = subprocess.Popen(
        [exe, "--search-root", str(ROOT), "grade", str(CLASS), "--out", str(out), "--seed", "7", "--cluster", address],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 300
    while len(list(out.glob("*/*/record.json"))) < 2 and grading.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return grading


def workers_left(ray: RayCluster, seconds: float = 60) -> list[int]:
    """The cluster's grading workers and zygotes still running after up to ``seconds``."""
    deadline = time.monotonic() + seconds
    while (left := ray.processes()) and time.monotonic() < deadline:
        time.sleep(0.5)
    return left


@pytest.mark.slow  # a Ray cluster and a class: tens of seconds
def test_the_class_grades_the_same_on_a_cluster_of_two_nodes(ray_cluster, local_run, tmp_path):
    out = tmp_path / "out"
    result = inv("grade", str(CLASS), "--out", str(out), "--seed", "7", "--cluster", ray_cluster.address)
    assert result.returncode == 0, result.stderr
    # 4 students x 6 labs; carol hands in no value_and_grad; three of dave's files do not load
    assert "24 results (20 graded, 1 missing, 3 unloadable) on 2 cluster nodes" in result.stdout
    same_as_local(out, local_run)
    assert "warning" not in result.stdout
    # and a rerun on the cluster resumes: nothing is graded again, nothing changes
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    again = inv("grade", str(CLASS), "--out", str(out), "--cluster", ray_cluster.address)
    assert again.returncode == 0, again.stderr
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


@pytest.mark.slow  # a Ray cluster and a class: tens of seconds
def test_a_node_killed_mid_run_changes_nothing_in_the_gradebook(local_run, tmp_path):
    """The second node dies (SIGKILL) while it holds submissions: they are graded on the head."""
    ray = RayCluster()
    try:
        out = tmp_path / "out"
        grading = start_grading(out, ray.address)
        done_at_kill = len(list(out.glob("*/*/record.json")))
        ray.kill_node()
        stdout, stderr = grading.communicate(timeout=300)
    finally:
        ray.shutdown()
    assert grading.returncode == 0, stderr
    assert done_at_kill < 15  # it died mid-run, with work left
    assert "grading worker(s) lost mid-run" in stdout, stdout
    same_as_local(out, local_run)


@pytest.mark.slow  # a Ray cluster and a class, twice: about a minute
def test_a_driver_killed_takes_its_workers_along_and_a_rerun_resumes(local_run, tmp_path):
    """kill -9 of `inv grade --cluster` mid-run: its workers and their zygotes end (they are the
    driver's actors), and the same command, through Ray Client this time, finishes the class
    with the files of an uninterrupted run."""
    ray = RayCluster(client=True)
    try:
        out = tmp_path / "out"
        grading = start_grading(out, ray.address)
        assert ray.processes()  # the workers (and their zygotes) are running
        grading.kill()
        grading.communicate()
        kept = len(list(out.glob("*/*/record.json")))
        assert not workers_left(ray)
        assert 2 <= kept < 15
        again = inv("grade", str(CLASS), "--out", str(out), "--cluster", f"ray://127.0.0.1:{ray.client_port}")
    finally:
        ray.shutdown()
    assert again.returncode == 0, again.stderr
    assert "on 2 cluster nodes" in again.stdout or "on 1 cluster node" in again.stdout
    same_as_local(out, local_run)


@pytest.mark.slow  # a Ray cluster and a class: tens of seconds
def test_a_killed_workers_copies_of_student_files_are_swept(ray_cluster, tmp_path):
    """A worker killed mid-submission leaves its scratch folder (a copy of the student's file)
    behind: the next worker on that node removes it."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a pid that no longer runs
    stale = Path(tempfile.gettempdir()) / f"{cluster.SCRATCH_PREFIX}{gone.pid}-test{os.getpid()}"
    (stale / "1").mkdir(parents=True)
    (stale / "1" / "derivatives.py").write_text("# a student's file\n")
    try:
        grade_class(CLASS, tmp_path / "out", seed=7, cluster=ray_cluster.address, labs=["derivatives"])
        assert not stale.exists()
    finally:
        shutil.rmtree(stale, ignore_errors=True)


@pytest.mark.slow  # a Ray cluster and a class, twice: about a minute
def test_ctrl_c_on_a_cluster_run_stops_it_as_locally(ray_cluster, local_run, tmp_path):
    """SIGINT mid-run: exit 130 with the one-line count, the workers stopped, what was kept is
    complete; a rerun finishes with the files of an uninterrupted run."""
    out = tmp_path / "out"
    grading = start_grading(out, ray_cluster.address)
    grading.send_signal(signal.SIGINT)
    _, stderr = grading.communicate(timeout=60)
    assert grading.returncode == 130, stderr
    (line,) = [text for text in stderr.splitlines() if text.startswith("interrupted")]
    assert line.endswith("graded; rerun to continue") and " of 24 graded" in line  # 4 students x 6 labs
    assert not workers_left(ray_cluster)
    again = inv("grade", str(CLASS), "--out", str(out), "--cluster", ray_cluster.address)
    assert again.returncode == 0, again.stderr
    same_as_local(out, local_run)


class DiesOnce(cluster.GradeWorker):
    """A worker whose process dies (os._exit) the first time any worker grades bob's derivatives."""

    marker = ""

    def grade_one(self, job, source):
        if (job.student, job.lab) == ("bob", "derivatives"):
            try:
                os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                pass
            else:
                os._exit(1)
        return super().grade_one(job, source)


class DiesOnBob(cluster.GradeWorker):
    """A worker whose process dies every time it grades anything of bob's."""

    def grade_one(self, job, source):
        if job.student == "bob":
            os._exit(1)
        return super().grade_one(job, source)


@pytest.fixture
def worker_class(monkeypatch):
    """Put a test's worker class in the driver's place (Ray ships it by value to the nodes)."""
    needs_ray()
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])

    def use(cls):
        monkeypatch.setattr(cluster, "WORKER", cls)

    yield use
    ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


@pytest.mark.slow  # a Ray cluster and a class: tens of seconds
def test_a_worker_process_killed_mid_submission_is_replaced_and_retried(ray_cluster, local_run, tmp_path, worker_class):
    DiesOnce.marker = str(tmp_path / "died")
    worker_class(DiesOnce)
    met = {}
    grade_class(CLASS, tmp_path / "out", seed=7, cluster=ray_cluster.address, progress=lambda **kw: met.update(kw))
    assert Path(DiesOnce.marker).exists()  # it did die
    assert met["cluster"]["lost"] == 1 and met["cluster"]["retried"] >= 1
    same_as_local(tmp_path / "out", local_run)


@pytest.mark.slow  # a Ray cluster and a class: tens of seconds
def test_a_submission_whose_worker_always_dies_is_not_retried_forever(ray_cluster, tmp_path, worker_class):
    worker_class(DiesOnBob)
    started = time.monotonic()
    got = grade_class(CLASS, tmp_path / "out", seed=7, cluster=ray_cluster.address)
    bob = {r.lab: r for r in got if r.student == "bob"}
    assert {r.status.value for r in bob.values()} == {"error"}
    for record in bob.values():
        assert f"the grader's worker died {cluster.MAX_DEATHS} times while grading it" in record.reason
    others = [r for r in got if r.student != "bob"]
    assert len(others) == 18 and {r.status.value for r in others} <= {"graded", "missing", "unloadable"}  # 3 x 6
    assert not (tmp_path / "out" / "bob" / "derivatives" / "record.json").exists()  # errors are retried next run
    assert time.monotonic() - started < 240


SANDBOX_KILLER = """
import os, signal
{solution}

def f(x):
    os.kill(os.getpid(), signal.SIGKILL)  # the sandbox's server: init, and the sandbox, end with it
"""


@pytest.mark.slow  # a Ray cluster and a class: tens of seconds
def test_a_submission_that_kills_its_own_sandbox_is_graded_once(ray_cluster, tmp_path):
    from mslab.labs import get_lab

    lab = get_lab("derivatives")
    student = tmp_path / "class" / "killer"
    student.mkdir(parents=True)
    (student / "derivatives.py").write_text(SANDBOX_KILLER.format(solution=lab.solution.read_text()))
    met = {}
    (record,) = grade_class(
        tmp_path / "class",
        tmp_path / "out",
        labs=["derivatives"],
        seed=7,
        cluster=ray_cluster.address,
        progress=lambda **kw: met.update(kw),
    )
    assert met["cluster"] == {"nodes": 1, "lost": 0, "retried": 0}  # its worker was never lost
    assert record.status.value == "graded"
    failed = {c.name: c.reason for c in record.checks if not c.passed}
    # f kills its sandbox; f_prime and f_second call f: each check of them fails, once, saying so
    assert failed and all("the student process exited" in reason for reason in failed.values()), failed
    assert {"test_f_values", "test_f_prime_at_one", "test_f_second_at_one"} <= set(failed)
    assert "test_derivative_first_order" not in failed and 0 < record.score < record.max_score
    (local,) = grade_class(tmp_path / "class", tmp_path / "local", labs=["derivatives"], seed=7)
    assert records(tmp_path / "out") == records(tmp_path / "local")  # as a local run grades it


RAY_PROBE = """
import os, socket
{solution}
_seen = []
try:
    socket.create_connection(({host!r}, {port}), timeout=2).close()
    _seen.append("reached the Ray GCS")
except OSError:
    pass
for _path in ("/tmp/ray", "/dev/shm/plasma", "/tmp/ray/session_latest"):
    if os.path.exists(_path):
        _seen.append("sees " + _path)
if _seen:
    raise SystemExit("ESCAPED: " + ", ".join(_seen))
"""


@pytest.mark.slow  # a Ray cluster and a class: tens of seconds
def test_student_code_on_a_node_cannot_reach_the_cluster(ray_cluster, tmp_path):
    """A student who knows the cluster's address (and Ray's folders) reaches neither from a sandbox."""
    from mslab.labs import get_lab

    lab = get_lab("derivatives")
    host, port = ray_cluster.address.rsplit(":", 1)
    student = tmp_path / "class" / "prober"
    student.mkdir(parents=True)
    text = RAY_PROBE.format(solution=lab.solution.read_text(), host=host, port=int(port))
    (student / "derivatives.py").write_text(text)
    (record,) = grade_class(
        tmp_path / "class", tmp_path / "out", labs=["derivatives"], seed=7, cluster=ray_cluster.address
    )
    assert "ESCAPED" not in record.reason
    assert record.status.value == "graded" and record.score == record.max_score, record.reason


@pytest.mark.slow  # a Ray cluster and a class: tens of seconds
def test_a_target_the_cluster_cannot_run_is_one_line(ray_cluster, tmp_path):
    """No node offers mslab-cpu (nodes holding the image advertise it): refused, nothing queued forever."""
    result = inv(
        "grade", str(CLASS), "--out", str(tmp_path / "out"), "--target", "cpu", "--cluster", ray_cluster.address
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        """error: no node of the cluster offers mslab-cpu, which target cpu needs: start nodes with --resources='{"mslab-cpu": 1}'"""
    ]


def test_the_worker_options_follow_the_target():
    assert resolve("local").cluster_resources() == {"num_cpus": 1}
    assert resolve("cpu").cluster_resources() == {"num_cpus": 1, "resources": {"mslab-cpu": 0.001}}
    assert resolve("cuda").cluster_resources() == {"num_cpus": 1, "num_gpus": 1, "resources": {"mslab-cuda": 0.001}}
    assert resolve("ascend").cluster_resources() == {"num_cpus": 1, "resources": {"mslab-ascend": 0.001, "NPU": 1}}


@pytest.mark.slow  # a Ray cluster and a class: tens of seconds
def test_a_node_with_other_labs_refuses_to_grade(ray_cluster, tmp_path, worker_class):
    class OtherLabs(cluster.GradeWorker):
        def __init__(self, target, limits, driver_fingerprint):
            super().__init__(target, limits, "0" * 64)

    worker_class(OtherLabs)
    with pytest.raises(MslabError, match=r"^node \S+ has another mslab or other labs than the grader"):
        grade_class(CLASS, tmp_path / "out", seed=7, cluster=ray_cluster.address)


# -- without a cluster ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address, error",
    [
        ("bogus", "error: --cluster 'bogus': give ray://HOST:PORT, HOST:PORT or auto"),
        ("http://host:1", "error: --cluster 'http://host:1': give ray://HOST:PORT, HOST:PORT or auto"),
        ("127.0.0.1:1", "error: --cluster 127.0.0.1:1: cannot reach it (Connection refused)"),
        ("ray://127.0.0.1:1", "error: --cluster ray://127.0.0.1:1: cannot reach it (Connection refused)"),
    ],
)
def test_a_bad_address_is_one_line_and_leaves_nothing(tmp_path, address, error):
    needs_ray()
    result = inv("grade", str(CLASS), "--out", str(tmp_path / "out"), "--cluster", address)
    assert (result.returncode, result.stderr.strip().splitlines()) == (2, [error])  # user_errors: 2
    assert not (tmp_path / "out").exists()


def test_without_the_extra_cluster_is_one_line_naming_it(tmp_path):
    """Ray hidden from the interpreter (a package named ray that cannot be imported)."""
    fake = tmp_path / "site" / "ray"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError(\"No module named 'ray'\")\n")
    exe = shutil.which("inv", path=str(Path(sys.executable).parent))
    result = subprocess.run(
        [exe, "--search-root", str(ROOT), "grade", str(CLASS), "--out", str(tmp_path / "out"), "--cluster", "auto"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(tmp_path / "site")},
        timeout=120,
    )
    assert (result.returncode, result.stderr.strip().splitlines()) == (
        2,
        ["error: --cluster needs Ray, which is not installed: pip install -e '.[cluster]'"],
    )
    assert not (tmp_path / "out").exists()


def test_without_cluster_ray_is_never_imported():
    """`inv --list` and a local `inv grade` stay fast: nothing of theirs imports Ray."""
    code = (
        "import sys, tasks, mslab.grade, mslab.tasks.grading, mslab.cluster; "
        "print(json.dumps(sorted(m for m in sys.modules if m == 'ray' or m.startswith('ray.'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", "import json; " + code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []
