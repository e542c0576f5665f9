"""compose.yaml through a real compose implementation (Debian's docker-compose 1.29.2, compose v1;
CI installs it in .ci/docker.sh), against what mslab.images reads from the same file."""

import os
import shutil
import subprocess

import yaml

from conftest import ROOT, needs_docker
from mslab import images


def compose_config(**env) -> dict:
    exe = shutil.which("docker-compose")
    if not exe:
        needs_docker("docker-compose missing: apt-get install docker-compose (bash .ci/docker.sh does)")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MSLAB_ASCEND_")}
    done = subprocess.run(
        [exe, "-f", str(ROOT / "compose.yaml"), "config"],
        capture_output=True,
        text=True,
        env={**clean, **env},
        cwd=ROOT,
    )
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
        assert {k: str(v) for k, v in svc["build"]["args"].items()} == {
            k: str(v) for k, v in ours[name]["build"]["args"].items()
        }, name
    assert images.service("ascend", env=env)["group_add"] == ["1234"]


def test_defaults_without_variables():
    ascend = compose_config()["services"]["ascend"]
    assert ascend["build"]["args"]["BASE_IMAGE"] == "ascendai/cann:8.0.rc3.beta1-910b-ubuntu22.04-py3.10"
    assert ascend["group_add"] == [""]  # compose users must export MSLAB_ASCEND_GID (docs/admin.md)
    assert images.service("ascend", env={})["group_add"] == []


def test_interpolation_rules_match_compose(tmp_path):
    """${VAR}, ${VAR:-d}, ${VAR-d} and $$ with a variable set, empty and unset: docker-compose's
    answers are the reference for mslab.images.interpolate."""
    exe = shutil.which("docker-compose")
    if not exe:
        needs_docker("docker-compose missing: apt-get install docker-compose (bash .ci/docker.sh does)")
    forms = {"plain": "${V}", "colon": "${V:-d}", "dash": "${V-d}", "dollar": "a$$b", "mixed": "x-${V:-d}-y"}
    text = "services:\n  s:\n    image: busybox\n    labels:\n" + "".join(
        f'      {k}: "{v}"\n' for k, v in forms.items()
    )
    (tmp_path / "compose.yaml").write_text(text)
    for env in ({"V": "set"}, {"V": ""}, {}):
        clean = {k: v for k, v in os.environ.items() if k != "V"}
        done = subprocess.run(
            [exe, "-f", str(tmp_path / "compose.yaml"), "config"],
            capture_output=True,
            text=True,
            env={**clean, **env},
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stderr
        theirs = yaml.safe_load(done.stdout)["services"]["s"]["labels"]
        ours = images.load_compose(tmp_path / "compose.yaml", env=env)["services"]["s"]["labels"]
        # `config` prints a literal $ escaped again ($$), so that its output is a valid compose file
        assert {k: str(v or "").replace("$$", "$") for k, v in theirs.items()} == ours, env
