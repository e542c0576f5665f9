"""The real CPU image, inspected through running containers (built by .ci/docker.sh).

Needs a Docker engine and the mslab-cpu image: with CI=true a missing engine or image fails;
locally these tests skip with the reason.
"""

import os

import pytest

from mslab import images
from mslab.errors import MslabError

pytestmark = pytest.mark.docker
TARGET = "cpu"


@pytest.fixture(scope="module")
def client(cpu_image):
    return cpu_image


@pytest.fixture(scope="module")
def image(client):
    return client.images.get(images.service(TARGET)["image"])


@pytest.fixture(scope="module")
def container(client, image):
    """One container run the way the grader runs them (compose.yaml), kept alive for exec."""
    c = client.containers.run(command=["sleep", "300"], detach=True, **images.service(TARGET))
    yield c
    c.remove(force=True)


def sh(container, command: str) -> tuple[int, str]:
    code, out = container.exec_run(["/bin/bash", "-c", command])
    return code, out.decode(errors="replace").strip()


def expected_version() -> str:
    """The pin, or the version CI builds instead (2.4.0 is not downloadable there)."""
    return os.environ.get("INVOKE_MSLAB_IMAGE_MINDSPORE_VERSION") or images.read_pins()["MINDSPORE_VERSION_PIN"]


def test_verify_passes(image):
    expected = expected_version()
    assert image.labels["org.mslab.mindspore.version"] == expected
    output = images.verify(TARGET, version=expected, timeout=120)
    assert f"MindSpore version:  {expected}" in output or f"MindSpore version: {expected}" in output
    assert "installed on platform [CPU] successfully!" in output
    assert output.splitlines()[-1].startswith(f"selfcheck OK: mindspore {expected} on CPU, numpy 1.")


def test_verify_rejects_another_version(image):
    with pytest.raises(MslabError, match=r"verify cpu failed \(exit 1\): selfcheck FAILED: MindSpore .*, expected 0\.0\.1"):
        images.verify(TARGET, version="0.0.1", timeout=120)


def test_image_metadata(image):
    cfg = image.attrs["Config"]
    assert cfg["User"] == "10001:10001"
    assert cfg["WorkingDir"] == "/work"
    assert cfg["Entrypoint"] == ["/opt/mslab/entrypoint.sh"]
    assert "/opt/mslab/venv/bin" in next(e for e in cfg["Env"] if e.startswith("PATH="))
    labels = image.labels
    assert labels["org.opencontainers.image.title"] == "mslab-cpu"
    assert labels["org.mslab.target"] == "cpu"
    assert labels["org.opencontainers.image.version"] == expected_version()
    base = os.environ.get("INVOKE_MSLAB_IMAGE_BASE_IMAGE") or images.build_args(TARGET)["BASE_IMAGE"]
    assert labels["org.mslab.base-image"] == base


def test_container_is_confined(container):
    container.reload()
    host = container.attrs["HostConfig"]
    assert host["ReadonlyRootfs"] is True
    assert host["NetworkMode"] == "none"
    assert host["CapDrop"] == ["ALL"]
    assert set(host["Tmpfs"]) == {"/work", "/tmp"}
    assert container.status == "running"


def test_runs_as_fixed_non_root_user(container):
    assert sh(container, "id -u; id -g") == (0, "10001\n10001")
    assert sh(container, "pwd; stat -c '%u %a' /work") == (0, "/work\n10001 711")


def test_only_tmpfs_is_writable(container):
    assert sh(container, "echo hi > /work/f && cat /work/f")[1] == "hi"
    for path in ("/opt/mslab/venv/x", "/etc/x", "/home/x", "/x"):
        code, out = sh(container, f"touch {path}")
        assert code != 0 and "Read-only file system" in out, path


def test_no_network(container):
    code, out = sh(container, "python -c \"import socket; socket.create_connection(('1.1.1.1', 53), timeout=3)\"")
    assert code != 0 and "Network is unreachable" in out
    assert sh(container, "ls /sys/class/net")[1] == "lo"


def test_python_environment(container):
    assert sh(container, "command -v python")[1] == "/opt/mslab/venv/bin/python"
    code, out = sh(container, "python -I -c 'import numpy, mindspore, mslab._child, mslab.wire; print(numpy.__version__); print(mslab.__file__)'")
    assert code == 0, out
    numpy_version, where = out.splitlines()[-2:]
    assert numpy_version.startswith("1.")
    assert where == "/opt/mslab/venv/lib/python3.11/site-packages/mslab/__init__.py"


def test_no_solutions_or_hidden_checks_in_image(container):
    code, out = sh(container, "find / -xdev \\( -name solution -o -name hidden.py -o -path '*/labs/*' -o -name '*.egg-link' \\) -print 2>/dev/null")
    assert out == ""
    assert sh(container, "ls /tmp/mslab 2>&1; ls /opt/mslab")[1].endswith("entrypoint.sh\nselfcheck.py\nvenv")
