"""The real CPU image (or, with ``pytest --image-target cuda|ascend``, another), inspected through
running containers (built by .ci/docker.sh).

Needs a Docker engine and the mslab-cpu image: with CI=true a missing engine or image fails;
locally these tests skip with the reason.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import conftest
from mslab import imagecheck, images
from mslab.errors import MslabError

pytestmark = pytest.mark.docker
TARGET = conftest.IMAGE_TARGET  # pytest --image-target cuda|ascend inspects another image


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


def installed_version(client) -> str:
    """MindSpore's version as the image's venv reports it (not its label)."""
    out = client.containers.run(
        images.service(TARGET)["image"],
        ["python", "-I", "-c", "import mindspore; print(mindspore.__version__)"],
        entrypoint=[],
        remove=True,
        network_mode="none",
    )
    return out.decode().strip().splitlines()[-1]


@pytest.fixture(scope="module")
def expected(client):
    return installed_version(client)


def test_label_says_what_is_installed(image, expected):
    assert image.labels["org.mslab.mindspore.version"] == expected
    assert images.image_version(TARGET) == expected


def test_verify_passes(image, expected):
    output = imagecheck.verify(TARGET, timeout=120, echo=lambda s: None)
    assert f"MindSpore version:  {expected}" in output or f"MindSpore version: {expected}" in output
    assert "installed on platform [CPU] successfully!" in output
    assert output.splitlines()[-1].startswith(f"selfcheck OK: mindspore {expected} on CPU, numpy 1.")


def test_inv_verify_reads_the_version_from_the_image_label(image, expected):
    """No INVOKE_MSLAB_IMAGE_MINDSPORE_VERSION: the image CI builds (2.7.2) still verifies."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INVOKE_MSLAB_IMAGE_")}
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("inv")),
            "--search-root",
            str(images.ROOT),
            "image.verify",
            "--target",
            "cpu",
            "--timeout",
            "120",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    assert done.stdout.splitlines()[-1].startswith(f"selfcheck OK: mindspore {expected} on CPU")
    pin = images.read_pins()["MINDSPORE_VERSION_PIN"]
    if expected != pin:
        assert f"note: the image says it has MindSpore {expected} (label); the pin is {pin}" in done.stdout


def test_verify_runs_as_the_grader_runs(client, image):
    """Isolated interpreter, the grader's labels and limits: a verify container seen while it runs."""
    import threading

    seen = {}

    def watch():
        for _ in range(200):
            found = client.containers.list(
                filters={"label": ["org.mslab.role=verify", f"org.mslab.run.pid={os.getpid()}"]}
            )
            if found:
                seen["attrs"] = found[0].attrs
                return
            time.sleep(0.05)

    t = threading.Thread(target=watch)
    t.start()
    imagecheck.verify(TARGET, timeout=120, echo=lambda s: None)
    t.join()
    attrs = seen["attrs"]
    assert attrs["Config"]["Cmd"][:4] == ["python", "-I", "-m", "mslab_selfcheck"]
    assert attrs["HostConfig"]["MemorySwap"] == attrs["HostConfig"]["Memory"] == 4 * 1024**3
    assert "GLOG_v=3" in attrs["Config"]["Env"]


def test_verify_rejects_another_version(image):
    with pytest.raises(
        MslabError, match=r"verify cpu failed \(exit 1\): selfcheck FAILED: MindSpore .*, expected 0\.0\.1"
    ):
        imagecheck.verify(TARGET, version="0.0.1", timeout=120)


def test_image_metadata(image):
    cfg = image.attrs["Config"]
    assert cfg["User"] == "10001:10001"
    assert cfg["WorkingDir"] == "/work"
    assert cfg["Entrypoint"] == ["/opt/mslab/entrypoint.sh"]
    assert "/opt/mslab/venv/bin" in next(e for e in cfg["Env"] if e.startswith("PATH="))
    labels = image.labels
    assert labels["org.opencontainers.image.title"] == "mslab-cpu"
    assert labels["org.mslab.target"] == "cpu"
    assert labels["org.opencontainers.image.version"] == labels["org.mslab.mindspore.version"]
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
    code, out = sh(
        container,
        "python -I -c 'import numpy, mindspore, mslab.sandbox.serve, mslab.sandbox.wire; print(numpy.__version__); print(mslab.__file__)'",
    )
    assert code == 0, out
    numpy_version, where = out.splitlines()[-2:]
    assert numpy_version.startswith("1.")
    assert where == "/opt/mslab/venv/lib/python3.11/site-packages/mslab/__init__.py"


def test_no_solutions_or_hidden_checks_in_image(container):
    code, out = sh(
        container,
        "find / -xdev \\( -name solution -o -name hidden.py -o -path '*/labs/*' -o -name '*.egg-link' \\) -print 2>/dev/null",
    )
    assert out == ""
    # Only the student's side of the sandbox: not the checker's closed forms (an oracle) or checks.
    code, out = sh(container, "python -I -c 'import mslab.numeric' 2>&1; python -I -c 'import mslab.checks' 2>&1")
    assert out.count("ModuleNotFoundError") == 2, out
    assert sh(container, "ls /tmp/mslab 2>&1; ls /opt/mslab")[1].endswith("entrypoint.sh\nvenv\nvenv_paths.py")


def test_no_apt_caches(container):
    assert (
        sh(
            container,
            "ls /var/cache/apt/*.bin /var/lib/apt/lists/ 2>/dev/null | grep -v '^/var/lib/apt/lists/:$' | grep -v '^$' | grep -v '^partial$'",
        )[1]
        == ""
    )


def test_no_dangling_build_stage_left(client, image):
    """`inv image.build` removes the build stage's image (labelled org.mslab.stage=build; the cpu
    and cuda images share theirs, which names no target)."""
    left = client.images.list(filters={"dangling": True, "label": ["org.mslab.stage=build"]})
    assert left == []


def test_cann_pythonpath_reaches_the_isolated_interpreter(client, image):
    """The ascend image's mechanism, in the CPU image with a stand-in for CANN's site folder:
    PYTHONPATH (where CANN's base puts te/hccl) is ignored by `python -I`, the .pth that
    docker/venv_paths.py writes from it is not. Root and a writable root only for this check."""
    standin = "/opt/fake-cann/python/site-packages"
    script = (
        f"mkdir -p {standin}/te_standin && echo 'WHERE = __file__' > {standin}/te_standin/__init__.py && "
        "chmod -R o+rX /opt/fake-cann && "
        "python -I -c 'import te_standin' 2>&1 | tail -n 1; "
        f"python /opt/mslab/venv_paths.py --pth mslab-cann && "
        "cat /opt/mslab/venv/lib/python3.11/site-packages/mslab-cann.pth && "
        "su -s /bin/sh mslab -c \"cd /tmp && python -I -c 'import te_standin; print(te_standin.WHERE)'\""
    )
    out = (
        client.containers.run(
            image.id,
            ["bash", "-c", script],
            entrypoint=[],
            user="0",
            remove=True,
            network_mode="none",
            environment={"PYTHONPATH": f"{standin}:relative/ignored"},
        )
        .decode()
        .strip()
        .splitlines()
    )
    assert out[0] == "ModuleNotFoundError: No module named 'te_standin'"  # the defect -I causes
    assert out[1] == "venv_paths: /opt/mslab/venv/lib/python3.11/site-packages/mslab-cann.pth: 1 folders"
    assert out[2] == standin
    assert out[3] == f"{standin}/te_standin/__init__.py"


def test_entrypoint_fails_clearly_without_the_toolkit(client, image):
    import docker

    with pytest.raises(docker.errors.ContainerError) as info:
        client.containers.run(
            image.id,
            ["python", "-c", "print('ran')"],
            network_mode="none",
            environment={"MSLAB_CANN_SET_ENV": "/usr/local/Ascend/ascend-toolkit/set_env.sh"},
            remove=True,
            stderr=True,
            stdout=True,
        )
    assert info.value.exit_status == 127
    assert info.value.stderr.decode().strip() == (
        "mslab entrypoint: CANN toolkit missing or unreadable for uid 10001: "
        "/usr/local/Ascend/ascend-toolkit/set_env.sh"
    )
