"""compose.yaml through a real compose implementation (Debian's docker-compose 1.29.2, compose v1;
CI installs it in .ci/docker.sh), against what mslab.images reads from the same file."""

import os
import shutil
import subprocess

import pytest
import yaml
from conftest import ROOT, needs_docker

from mslab import images


def compose_config(**env) -> dict:
    exe = shutil.which("docker-compose")
    if not exe:
        needs_docker("docker-compose missing: apt-get install docker-compose (bash .ci/docker.sh does)")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MSLAB_ASCEND_")}
    done = subprocess.run([exe, "-f", str(ROOT / "compose.yaml"), "config"], capture_output=True,
                          text=True, env={**clean, **env}, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)


def test_compose_v1_loads_the_file_and_sees_three_services():
    config = compose_config()
    assert list(config["services"]) == ["ascend", "cpu", "cuda"]  # v1 sorts them
    for name, svc in config["services"].items():
        assert "platforms" not in svc["build"], name
        assert svc["memswap_limit"] == svc["mem_limit"] == "4g", name  # no swap beyond memory


def test_variables_resolve_as_mslab_resolves_them():
    env = {"MSLAB_ASCEND_GID": "1234", "MSLAB_ASCEND_CHIP": "910"}
    config = compose_config(**env)
    ascend = config["services"]["ascend"]
    assert ascend["group_add"] == ["1234"]
    assert ascend["build"]["args"]["BASE_IMAGE"] == "ascendai/cann:8.0.rc3.beta1-910-ubuntu22.04-py3.10"
    ours = images.load_compose(env=env)["services"]
    for name, svc in config["services"].items():
        assert {k: str(v) for k, v in svc["build"]["args"].items()} == \
            {k: str(v) for k, v in ours[name]["build"]["args"].items()}, name
    assert images.service("ascend", env=env)["group_add"] == ["1234"]


def test_defaults_without_variables():
    ascend = compose_config()["services"]["ascend"]
    assert ascend["build"]["args"]["BASE_IMAGE"] == "ascendai/cann:8.0.rc3.beta1-910b-ubuntu22.04-py3.10"
    assert ascend["group_add"] == [""]  # compose users must export MSLAB_ASCEND_GID (docs/admin.md)
    assert images.service("ascend", env={})["group_add"] == []
