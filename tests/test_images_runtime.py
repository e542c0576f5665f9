"""What a container of a target gets at run time, without Docker: the Ascend device group read
from a fake device root, memory = memory + swap, the PIDs limit, and `image.build --platform`'s
buildx path with fake docker clients (buildx cannot run here: no registry, no qemu)."""

import os
import stat
import sys
from pathlib import Path

import pytest

from conftest import inv
from mslab import containers, devices, doctor, images
from mslab.errors import MslabError
from mslab.sandbox.host import Limits


def device_root(tmp_path: Path, gid: int, group_line: str | None) -> Path:
    """/dev as the Ascend driver leaves it (Ascend's install guide: the driver's running user and
    group HwHiAiUser own the device nodes unless --install-for-all): nodes of group `gid`, mode 0660."""
    dev = tmp_path / "dev"
    dev.mkdir()
    for name in ("davinci0", "davinci1", *doctor.ASCEND_CONTROL_DEVICES):
        (dev / name).touch()
        os.chown(dev / name, 0, gid)
        (dev / name).chmod(stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP | stat.S_IWGRP)
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/group").write_text("root:x:0:\n" + (group_line + "\n" if group_line else ""))
    return tmp_path


@pytest.fixture
def clean_env(monkeypatch):
    for var in ("MSLAB_ASCEND_GID", "MSLAB_ASCEND_CHIP", "MSLAB_DOCTOR_ROOT"):
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def test_ascend_group_is_read_from_the_device_node(tmp_path, clean_env):
    root = device_root(tmp_path, 1234, "HwHiAiUser:x:1234:")
    assert devices.ascend_device_group(root) == devices.DeviceGroup(1234, "HwHiAiUser", "/dev/davinci_manager")
    clean_env.setenv("MSLAB_DOCTOR_ROOT", str(root))
    assert images.service("ascend")["group_add"] == ["1234"]
    kwargs = containers._run_kwargs("ascend", Limits(), [], "sandbox")
    assert kwargs["group_add"] == ["1234"]
    # nothing else gets it
    assert "group_add" not in images.service("cpu") and "group_add" not in images.service("cuda")


def test_ascend_group_can_be_overridden(tmp_path, clean_env):
    clean_env.setenv("MSLAB_DOCTOR_ROOT", str(device_root(tmp_path, 1234, "HwHiAiUser:x:1234:")))
    clean_env.setenv("MSLAB_ASCEND_GID", "2001")
    assert images.service("ascend")["group_add"] == ["2001"]
    clean_env.setenv("MSLAB_ASCEND_GID", "HwHiAiUser")
    with pytest.raises(MslabError, match="group_add of ascend must be numeric GIDs, not HwHiAiUser"):
        images.service("ascend")


def test_root_owned_devices_add_no_group(tmp_path, clean_env):
    clean_env.setenv("MSLAB_DOCTOR_ROOT", str(device_root(tmp_path, 0, None)))
    assert images.service("ascend")["group_add"] == []


def test_doctor_shows_the_device_group(tmp_path, clean_env):
    root = device_root(tmp_path, 1234, "HwHiAiUser:x:1234:")
    report = doctor.diagnose(root, str(tmp_path / "nobin"), lambda: "20.10.24", arch="aarch64", reap=lambda: [])
    rows = {c.name: (c.status, c.detail) for c in report.checks}
    assert rows["Ascend device group"] == (
        "ok",
        "GID 1234 (HwHiAiUser) owns /dev/davinci_manager: added to every ascend container"
        " (for docker compose: export MSLAB_ASCEND_GID=1234)",
    )
    assert rows["Orphaned containers"] == ("ok", "none")
    clean_env.setenv("MSLAB_ASCEND_GID", "99")
    report = doctor.diagnose(root, str(tmp_path / "nobin"), lambda: "20.10.24", arch="aarch64", reap=lambda: ["ab12"])
    rows = {c.name: (c.status, c.detail) for c in report.checks}
    assert rows["Ascend device group"][0] == "warn"
    assert "MSLAB_ASCEND_GID=99 is what containers get" in rows["Ascend device group"][1]
    assert rows["Orphaned containers"] == ("warn", "removed 1 of runs that are gone: ab12")


def test_no_devices_no_group_row(tmp_path, clean_env):
    report = doctor.diagnose(tmp_path, str(tmp_path / "nobin"), lambda: "20.10.24", arch="x86_64", reap=lambda: [])
    assert "Ascend device group" not in {c.name for c in report.checks}


@pytest.mark.parametrize("target", ["cpu", "cuda", "ascend"])
def test_swap_equals_memory(target, clean_env):
    assert images.service(target)["memswap_limit"] == images.service(target)["mem_limit"] == "4g"
    kwargs = containers._run_kwargs(target, Limits(), [], "sandbox")
    assert kwargs["memswap_limit"] == kwargs["mem_limit"] == "4g"


def test_pids_limit_grows_with_the_cpus():
    assert containers.pids_limit(256, cpus=2) == 256  # this machine: compose's floor
    assert containers.pids_limit(256, cpus=32) == 256
    assert containers.pids_limit(256, cpus=64) == 384
    assert containers.pids_limit(256, cpus=192) == 896  # a Kunpeng 920 Ascend server
    kwargs = containers._run_kwargs("cpu", Limits(), [], "sandbox")
    assert kwargs["pids_limit"] == max(256, 128 + 4 * (os.cpu_count() or 1))


def fake_docker(tmp_path: Path, with_buildx: bool) -> Path:
    """A docker client that records its arguments; `buildx version` answers as buildx 0.10.4 does
    ("github.com/docker/buildx 0.10.4 ..."), or as a client without the plugin does
    ("docker: 'buildx' is not a docker command.", exit 1)."""
    exe = tmp_path / "docker"
    exe.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> "{tmp_path}/argv"\n'
        'if [ "$1 $2" = "buildx version" ]; then\n'
        + (
            '  echo "github.com/docker/buildx 0.10.4 0.10.4+unknown"; exit 0\n'
            if with_buildx
            else "  echo \"docker: 'buildx' is not a docker command.\" >&2; exit 1\n"
        )
        + "fi\nexit 0\n"
    )
    exe.chmod(0o755)
    return exe


def test_platform_without_buildx_is_one_clear_error(tmp_path, clean_env):
    clean_env.setenv("MSLAB_DOCKER_CLI", str(fake_docker(tmp_path, with_buildx=False)))
    with pytest.raises(
        MslabError, match=r"--platform needs docker buildx, which `.*docker buildx version` does not find"
    ):
        images.build("ascend", platform_="linux/arm64", echo=lambda s: None)
    result = inv("image.build", "--target", "cpu", "--platform", "linux/arm64")
    assert result.returncode == 2
    assert result.stderr.startswith("error: --platform needs docker buildx") and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_platform_with_buildx_runs_buildx(tmp_path, clean_env):
    clean_env.setenv("MSLAB_DOCKER_CLI", str(fake_docker(tmp_path, with_buildx=True)))
    assert images.build("ascend", platform_="linux/arm64", chip="910", echo=lambda s: None) == "mslab-ascend"
    version, build = (tmp_path / "argv").read_text().splitlines()
    assert version == "buildx version"
    args = build.split()
    assert args[:4] == ["buildx", "build", "--platform", "linux/arm64"]
    assert "--load" in args and args[-1] == str(images.ROOT)
    assert "BASE_IMAGE=ascendai/cann:8.0.rc3.beta1-910-ubuntu22.04-py3.10" in args
    with pytest.raises(MslabError, match="2 platforms make a multi-arch image that the engine cannot load: add --push"):
        images.build("ascend", platform_="linux/amd64,linux/arm64", echo=lambda s: None)
    images.build("ascend", platform_="linux/amd64,linux/arm64", push=True, echo=lambda s: None)
    last = (tmp_path / "argv").read_text().splitlines()[-1].split()
    assert last[3] == "linux/amd64,linux/arm64" and "--push" in last and "--load" not in last


def test_watcher_module_usage():
    import subprocess

    done = subprocess.run([sys.executable, "-m", "mslab.containers"], capture_output=True, text=True)
    assert done.returncode == 1 and done.stderr.strip() == "usage: python -m mslab.containers --watch TOKEN"


def test_a_build_whose_clean_up_times_out_ends_with_a_note_not_a_traceback():
    """Seen in CI under load: removing the build stage's GBs kept the engine past the client's
    timeout after a successful build. The image is built: a note says what is left to remove."""

    class Images:
        def get(self, tag):
            raise LookupError(tag)  # not built before

        def list(self, filters):
            assert filters == {"dangling": True, "label": ["org.mslab.stage=build"]}
            raise TimeoutError("UnixHTTPConnectionPool(host='localhost', port=None): Read timed out. (read timeout=10)")

    class Api:
        def build(self, **kwargs):
            assert kwargs["tag"] == "mslab-cpu" and kwargs["buildargs"]["MINDSPORE_SOURCE"] == "pypi"
            return iter([{"stream": "Successfully built 0123\n"}])

    class Client:
        images, api = Images(), Api()

    said = []
    assert images.build("cpu", source="pypi", version="2.7.2", client=Client(), echo=said.append) == "mslab-cpu"
    assert said[-1] == (
        "note: built, but cleaning up after the build failed (UnixHTTPConnectionPool(host='localhost', port=None):"
        " Read timed out. (read timeout=10)): `docker image prune -f --filter label=org.mslab.stage=build`"
        " removes the build stage's image"
    )
