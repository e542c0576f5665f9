"""Shared helpers for mslab's own tests (not the labs' checks)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from mslab.labs import Lab, all_labs

ROOT = Path(__file__).resolve().parent.parent
LABS = {lab.name: lab for lab in all_labs()}
IMAGE_TARGET = "cpu"  # the image the image tests inspect: pytest --image-target cuda|ascend


def pytest_addoption(parser):
    parser.addoption(
        "--image-target",
        default="cpu",
        help="the image tests/test_image_cpu.py inspects (cpu, cuda, ascend), like docker-stacks' --image",
    )


def pytest_configure(config):
    global IMAGE_TARGET
    IMAGE_TARGET = config.getoption("--image-target")


#: Test tiers, as docker-stacks keeps them: each module's tier (a test may name another with its
#: own mark). ``unit``: no MindSpore, no sandbox, no Docker (records, wire, intake, reports, CLI
#: parsing); ``sandbox``: student code in real sandboxes (the default); ``root``: walls that need a
#: root grader; ``docker``: a Docker engine and the images; ``cluster``: real Ray clusters. ``slow``
#: (attacks, whole classes, killed graders) is orthogonal. README gives each tier's command and time.
TIERS = {
    "unit": {
        "test_adjust",
        "test_docs",
        "test_images_compose",
        "test_images_static",
        "test_intake_matching",
        "test_layers",
        "test_layouts",
        "test_lms",
        "test_names_and_depth",
        "test_numeric",
        "test_records",
        "test_roster",
        "test_settings",
        "test_results_schema",
        "test_references",
        "test_report",
        "test_submissions",
        "test_target",
        "test_wire",
    },
    # the default for a module not named here; named where a module's own tests differ
    "sandbox": {
        "test_check_summary",
        "test_notebook_server",
        "test_suite",
    },  # test_notebook_server's image test: docker
    "root": {"test_sandbox_users", "test_walls", "test_redteam", "test_kernel_tables"},
    "docker": {"test_containers", "test_image_cpu", "test_images_runtime"},
    "cluster": {"test_cluster"},
}
TIER_NAMES = ("unit", "sandbox", "root", "docker", "cluster")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if any(item.get_closest_marker(name) for name in TIER_NAMES):
            continue  # a test that names its own tier
        module = item.module.__name__.rsplit(".", 1)[-1]
        tier = next((name for name, modules in TIERS.items() if module in modules), "sandbox")
        item.add_marker(getattr(pytest.mark, tier))


def pytest_sessionfinish(session, exitstatus):
    """``pytest -m unit`` must not import MindSpore: its tier promises tests that run anywhere,
    in seconds."""
    if session.config.getoption("markexpr") == "unit" and "mindspore" in sys.modules:
        session.exitstatus = 1
        print("\nerror: the unit tier imported MindSpore: mark the test that needs it sandbox", file=sys.stderr)


def dockerfile_stage(text: str, name: str) -> str:
    """The Dockerfile ``text`` of its stage ``name`` (``FROM ... AS name``), up to the next FROM."""
    start = text.rindex("\nFROM ", 0, text.index(f" AS {name}\n"))
    end = text.find("\nFROM ", start + 1)
    return text[start : end if end >= 0 else len(text)]


def needs_docker(reason: str):
    """Fail under CI (which starts an engine and builds the images), skip with the reason elsewhere."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: .ci/docker.sh should have provided it)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def cpu_image():
    """The Docker client, once the CPU image is there."""
    from mslab import images
    from mslab.errors import MslabError

    try:
        client = images.docker_client()
    except MslabError as exc:
        needs_docker(str(exc))
    tag = images.service(IMAGE_TARGET)["image"]
    if not client.images.list(name=tag):
        needs_docker(f"image {tag} is not built: inv image.build --target {IMAGE_TARGET}")
    return client


@pytest.fixture(params=sorted(LABS))
def lab(request) -> Lab:
    return LABS[request.param]


def write_variant(lab: Lab, tmp_path: Path, edits: list[tuple[str, str]]) -> Path:
    """The lab's reference solution with text edits applied (each must apply)."""
    text = lab.solution.read_text(encoding="utf-8")
    for old, new in edits:
        assert old in text, f"edit does not apply to {lab.solution}: {old!r}"
        text = text.replace(old, new)
    path = tmp_path / f"{lab.name}.py"
    path.write_text(text, encoding="utf-8")
    return path


def inv(
    *args: str, cwd: Path = ROOT, timeout: float = 600, columns: int = 250, lines: int | None = None
) -> subprocess.CompletedProcess:
    """Run the real `inv` command line of this checkout, in a terminal ``columns`` wide (rich
    wraps tables to the terminal's width) and, if given, ``lines`` high."""
    exe = shutil.which("inv", path=str(Path(sys.executable).parent)) or "inv"
    size = {"COLUMNS": str(columns), **({"LINES": str(lines)} if lines else {})}
    return subprocess.run(
        [exe, "--search-root", str(ROOT), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **size},
    )


def needs_ray():
    """Ray (the cluster extra): fail under CI (.ci/run installs it), skip with the reason elsewhere.
    Imported as mslab imports it (mslab.cluster.import_ray): tests import MindSpore in the same
    process, which then still loads."""
    from mslab.cluster import import_ray
    from mslab.errors import MslabError

    try:
        import_ray()
    except MslabError:
        if os.environ.get("CI") == "true":
            pytest.fail("Ray is not installed (CI=true: .ci/run installs '.[test,cluster]')")
        pytest.skip("Ray is not installed: pip install -e '.[cluster]'")


class RayCluster:
    """A real Ray cluster on this machine, started by the test: a head and a second node
    process, one CPU each (so each runs one grading worker), stopped with the test."""

    def __init__(self, client: bool = False):
        needs_ray()
        from ray.cluster_utils import Cluster

        # Ray's folder of its own (sessions, sockets, and the "current cluster" file that
        # `ray.init("auto")` reads): a cluster the user runs on this host is never touched.
        self.tmp = tempfile.mkdtemp(prefix="mslab-ray-")
        before = os.environ.get("RAY_TMPDIR")
        os.environ["RAY_TMPDIR"] = self.tmp
        try:
            head = {"num_cpus": 1, "include_dashboard": False}
            if client:  # Ray Client's server on the head, for ray://127.0.0.1:PORT
                head["ray_client_server_port"] = self.client_port = free_port()
            self.cluster = Cluster(initialize_head=True, head_node_args=head)
            self.node = self.cluster.add_node(num_cpus=1)
        finally:
            if before is None:
                del os.environ["RAY_TMPDIR"]
            else:
                os.environ["RAY_TMPDIR"] = before
        self.address = self.cluster.address

    def processes(self) -> list[int]:
        """Pids of this cluster's grading workers and their zygotes (descendants of its raylets)."""
        raylets = {
            p.process.pid for node in self.cluster.list_all_nodes() for p in node.all_processes.get("raylet", [])
        }
        parents = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, ValueError, IndexError):
                    pass
        found = []
        for pid in parents:
            ancestor = parents.get(pid)
            while ancestor and ancestor not in raylets:
                ancestor = parents.get(ancestor)
            if ancestor:
                try:
                    command = (Path("/proc") / str(pid) / "cmdline").read_bytes()
                except OSError:
                    continue
                if b"GradeWorker" in command or b"mslab.sandbox.zygote" in command:
                    found.append(pid)
        return found

    def kill_node(self) -> None:
        """The second node dies at once (its raylet and workers are killed, not asked to stop)."""
        self.cluster.remove_node(self.node, allow_graceful=False)

    def shutdown(self) -> None:
        self.cluster.shutdown()
        shutil.rmtree(self.tmp, ignore_errors=True)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def ray_cluster():
    cluster = RayCluster()
    yield cluster
    cluster.shutdown()


def chromium() -> str:
    """Headless Chromium's command; fails under CI (which installs it), skips elsewhere."""
    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed (CI=true: .ci/run installs it)")
        pytest.skip("chromium is not installed: apt-get install -y chromium")
    return found
