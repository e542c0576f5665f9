"""The cuda image: built from the cpu image's Debian base and PyPI's CUDA wheels (no Docker Hub),
its layers shared with the cpu image, its GPU plugin's links, and grading with it on a machine
without a GPU (the CPU, as the cpu image grades).

The first half reads files only; the second needs the images .ci/docker.sh builds (mslab-cpu and
mslab-cuda): with CI=true a missing engine or image fails, locally those tests skip.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, dockerfile_stage, inv, needs_docker
from mslab import doctor, imagecheck, images
from mslab.errors import MslabError

DOCKERFILE = ROOT / "docker/Dockerfile"  # the cpu and cuda images: its stages cpu and cuda
FAKES = ROOT / "tests/fakes"
CUDA_PACKAGES = {
    "nvidia-cuda-runtime-cu11",
    "nvidia-cuda-nvrtc-cu11",
    "nvidia-cublas-cu11",
    "nvidia-cudnn-cu11",
    "nvidia-cufft-cu11",
    "nvidia-curand-cu11",
    "nvidia-cusolver-cu11",
    "nvidia-cusparse-cu11",
}
# What `ldd` of MindSpore's libmindspore_gpu.so.11.6 lists without the CUDA wheels (2.7.2, seen
# on a Debian host): the wheels must bring all of them but the driver's.
PLUGIN_NEEDS = {
    "libcublas.so.11",
    "libcurand.so.10",
    "libcudnn.so.8",
    "libcudart.so.11.0",
    "libcusolver.so.11",
    "libcufft.so.10",
    "libcusparse.so.11",
    "libnvrtc.so.11.2",
    "libcuda.so.1",
}


def stages(text: str) -> dict[str, str]:
    """Each stage's name and its FROM line's base, in the file's order."""
    return {name: base for base, name in re.findall(r"^FROM (\S+) AS (\S+)$", text, re.M)}


def test_the_cuda_image_is_the_cpu_image_with_cuda_on_top():
    """One runtime, build and final stage: the cuda image is built FROM the cpu stage, so it has
    every layer of the cpu image (MindSpore's venv included) by construction; and the classic
    builder, which builds every stage before the target, never runs CUDA's stage for a cpu build."""
    text = DOCKERFILE.read_text()
    assert stages(text) == {
        "runtime": "${BASE_IMAGE}",
        "build": "runtime",
        "cpu": "runtime",
        "cuda-libs": "runtime",
        "cuda": "cpu",
    }
    assert text.count("COPY --from=build /opt/mslab/venv /opt/mslab/venv") == 1
    assert "COPY --from=build" in dockerfile_stage(text, "cpu")
    cuda = dockerfile_stage(text, "cuda")
    assert "COPY --from=cuda-libs /opt/mslab/cuda /opt/mslab/cuda" in cuda
    # root only for the loader's cache; the image runs as the sandbox user again
    assert cuda.index("USER 0:0") < cuda.index("ldconfig") < cuda.index("USER 10001:10001")
    # the shared build stage names no target (a target label would make its layers differ)
    assert 'LABEL org.mslab.stage="build"\n' in dockerfile_stage(text, "build")


def requirement_pins() -> dict[str, str]:
    lines = (ROOT / "docker/cuda/requirements.txt").read_text().splitlines()
    pins = dict(line.split("==") for line in lines if line.strip() and not line.startswith("#"))
    return pins


def test_cuda_wheels_are_pinned_and_named_in_the_labels():
    pins = requirement_pins()
    assert set(pins) == CUDA_PACKAGES
    args = images.build_args("cuda")
    assert args["CUDA_LIBS"] == "wheels"
    # CUDA 11.7's set (PyPI's oldest CUDA 11 wheels) with cuDNN 8.5, MindSpore's pair for 11.6
    assert args["CUDA_VERSION"] == "11.7" == ".".join(pins["nvidia-cuda-runtime-cu11"].split(".")[:2])
    assert args["CUDNN_VERSION"] == pins["nvidia-cudnn-cu11"] and args["CUDNN_VERSION"].startswith("8.5.")
    assert pins["nvidia-cuda-nvrtc-cu11"] == pins["nvidia-cuda-runtime-cu11"]
    text = dockerfile_stage(DOCKERFILE.read_text(), "cuda")
    for label in ("org.mslab.cuda.libs", "org.mslab.cuda.version", "org.mslab.cudnn.version"):
        assert f"{label}=" in text
    assert 'org.mslab.cuda.plugin="11.6"' in text and "--links 11.6" in text
    # the Dockerfile's defaults are compose.yaml's
    assert re.search(r"^ARG CUDA_VERSION=11\.7$", text, re.M) and re.search(
        r"^ARG CUDNN_VERSION=8\.5\.0\.96$", text, re.M
    )
    assert images.build_args("cuda")["BASE_IMAGE"] == images.build_args("cpu")["BASE_IMAGE"] == "debian:bookworm-slim"
    assert images.build_args("cuda")["PYTHON_VERSION"] == images.build_args("cpu")["PYTHON_VERSION"] == "3.11"


def test_the_nvidia_base_is_a_build_option():
    args = images.build_args("cuda", cuda_base="nvidia")
    assert args["BASE_IMAGE"] == "nvidia/cuda:11.8.0-cudnn8-runtime-ubuntu22.04"
    assert (args["PYTHON_VERSION"], args["CUDA_LIBS"], args["CUDA_VERSION"], args["CUDNN_VERSION"]) == (
        "3.10",
        "base",
        "11.8",
        "8",
    )
    # an explicit base still wins (e.g. the same image from a registry mirror)
    assert images.build_args("cuda", cuda_base="nvidia", base_image="m.invalid/nvidia/cuda:x")["BASE_IMAGE"] == (
        "m.invalid/nvidia/cuda:x"
    )
    assert images.build_args("cuda", cuda_base="wheels")["CUDA_LIBS"] == "wheels"
    with pytest.raises(MslabError, match="--cuda-base is for the cuda target, not cpu"):
        images.build_args("cpu", cuda_base="nvidia")
    with pytest.raises(MslabError, match="CUDA base must be one of wheels, nvidia, not 'ngc'"):
        images.build_args("cuda", cuda_base="ngc")


def test_install_cuda_refuses_an_unknown_source_and_a_base_without_cuda(tmp_path):
    script = ROOT / "docker/cuda/install_cuda.sh"
    done = subprocess.run(
        ["bash", str(script)], env={"CUDA_LIBS": "conda", "PATH": os.environ["PATH"]}, capture_output=True, text=True
    )
    assert (done.returncode, done.stderr.strip()) == (1, "mslab: CUDA_LIBS must be wheels or base, not 'conda'")


@pytest.fixture
def no_mirror_env(monkeypatch):
    for var in ("MSLAB_APT_MIRROR", "PIP_INDEX_URL"):
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def test_mirrors_are_build_args_of_every_image(no_mirror_env):
    for target in ("cpu", "cuda", "ascend"):
        args = images.build_args(target)
        assert (args["APT_MIRROR"], args["PIP_INDEX_URL"]) == ("", "")
        args = images.build_args(
            target, apt_mirror="http://mirror.invalid/debian", pip_index="https://mirror.invalid/pypi/simple"
        )
        assert (args["APT_MIRROR"], args["PIP_INDEX_URL"]) == (
            "http://mirror.invalid/debian",
            "https://mirror.invalid/pypi/simple",
        )
    # compose.yaml's variables, as `docker compose build` reads them
    no_mirror_env.setenv("MSLAB_APT_MIRROR", "http://mirror.invalid:8080/debian/")
    no_mirror_env.setenv("PIP_INDEX_URL", "http://mirror.invalid/simple")
    args = images.build_args("cuda")
    assert (args["APT_MIRROR"], args["PIP_INDEX_URL"]) == (
        "http://mirror.invalid:8080/debian/",
        "http://mirror.invalid/simple",
    )


@pytest.mark.parametrize(
    "mirror",
    [
        "ftp://mirror.invalid/debian",
        "http://mirror.invalid/debian#x",
        "http://a b/debian",
        "mirror.invalid/debian",
        "http://u:p@mirror.invalid/",
    ],
)
def test_a_mirror_is_a_plain_url(no_mirror_env, mirror):
    """It goes into sed in the build and into pip's environment: nothing but an http(s) URL."""
    with pytest.raises(MslabError, match="APT_MIRROR must be a plain http\\(s\\) URL"):
        images.build_args("cpu", apt_mirror=mirror)
    with pytest.raises(MslabError, match="PIP_INDEX_URL must be a plain http\\(s\\) URL"):
        images.build_args("cpu", pip_index=mirror)


def test_apt_mirror_replaces_the_archives_of_debian_and_ubuntu_sources(tmp_path):
    """The runtime stage's sed, run on the sources files of the three bases."""
    expr = re.search(r'sed -i -E "([^"]+)"', DOCKERFILE.read_text()).group(1)
    # the same rewrite in the ascend image (cpu and cuda share the runtime stage)
    assert f'sed -i -E "{expr}"' in (ROOT / "docker/ascend/Dockerfile").read_text()
    files = {
        "debian.sources": "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\n"
        "Types: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\n",
        "sources.list": "deb http://deb.debian.org/debian bookworm main\n",
        "ubuntu.list": "deb http://archive.ubuntu.com/ubuntu/ jammy main\ndeb http://security.ubuntu.com/ubuntu/ jammy-security main\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    env = {"PATH": os.environ["PATH"], "APT_MIRROR": "http://mirror.invalid/debian/"}
    done = subprocess.run(
        ["bash", "-c", f'sed -i -E "{expr}" "$@"', "sed", *sorted(files)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "debian.sources").read_text().splitlines()[1] == "URIs: http://mirror.invalid/debian"
    assert (tmp_path / "debian.sources").read_text().splitlines()[4] == "URIs: http://mirror.invalid/debian-security"
    assert (tmp_path / "sources.list").read_text() == "deb http://mirror.invalid/debian bookworm main\n"
    assert (tmp_path / "ubuntu.list").read_text() == (
        "deb http://mirror.invalid/debian/ jammy main\ndeb http://mirror.invalid/debian/ jammy-security main\n"
    )


def test_cuda_wheels_are_sent_only_to_a_cuda_build_from_the_wheelhouse(tmp_path):
    from docker.utils.build import exclude_paths

    names = [
        "docker/pins.env",
        "docker/wheelhouse/SHA256SUMS",
        "docker/wheelhouse/mindspore-2.7.2-cp311-cp311-manylinux1_x86_64.whl",
        "docker/wheelhouse-cuda/.gitignore",
        "docker/wheelhouse-cuda/SHA256SUMS",
        "docker/wheelhouse-cuda/nvidia_cudnn_cu11-8.5.0.96-2-py3-none-manylinux1_x86_64.whl",
    ]
    for f in names:
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).write_text("x")

    def sent(source, cuda_wheels):
        excludes = images.context_excludes(source, cuda_wheels=cuda_wheels)
        return {f for f in exclude_paths(str(tmp_path), excludes) if (tmp_path / f).is_file()}

    assert sent("wheelhouse", True) == set(names)
    assert sent("wheelhouse", False) == set(names) - {names[-1]}  # the cpu image: no 1.3 GB of CUDA
    assert sent("pypi", True) == set(names) - {names[2], names[-1]}


def test_wheelhouse_for_cuda_downloads_the_cuda_wheels_apart(tmp_path):
    fake_pip = tmp_path / "pip.py"
    fake_pip.write_text(
        "import sys, pathlib\n"
        "dest = pathlib.Path(sys.argv[sys.argv.index('--dest') + 1])\n"
        "(dest / 'argv.txt').write_text('\\n'.join(sys.argv[1:]))\n"
        "name = 'nvidia_cudnn_cu11-8.5.0.96-2-py3-none-manylinux1_x86_64.whl' if '--no-deps' in sys.argv"
        " else 'mindspore-2.7.2-cp311-cp311-manylinux1_x86_64.whl'\n"
        "(dest / name).write_bytes(name.encode())\n"
    )
    dest, cuda = tmp_path / "wheelhouse", tmp_path / "wheelhouse-cuda"
    images.wheelhouse(
        "cuda", version="2.7.2", arch="x86_64", dest=dest, pip=[sys.executable, str(fake_pip)], echo=lambda s: None
    )
    main, extra = ((d / "argv.txt").read_text().splitlines() for d in (dest, cuda))
    assert str(ROOT / "docker/cuda/requirements.txt") not in main  # dest = what the cpu image's holds
    assert extra[:4] == ["download", "--disable-pip-version-check", "--no-deps", "--dest"]
    assert str(ROOT / "docker/cuda/requirements.txt") in extra and "manylinux1_x86_64" in extra
    name = "nvidia_cudnn_cu11-8.5.0.96-2-py3-none-manylinux1_x86_64.whl"
    assert (cuda / "SHA256SUMS").read_text() == f"{hashlib.sha256(name.encode()).hexdigest()}  {name}\n"
    # the NVIDIA base has its CUDA: no CUDA wheels, Python 3.10's wheelhouse
    other = tmp_path / "nv"
    images.wheelhouse(
        "cuda", version="2.7.2", arch="x86_64", dest=other, pip=[sys.executable, str(fake_pip)], echo=lambda s: None,
        cuda_base="nvidia", cuda_dest=tmp_path / "nv-cuda",
    )  # fmt: skip
    assert not (tmp_path / "nv-cuda").exists()
    argv = (other / "argv.txt").read_text().splitlines()
    assert argv[argv.index("--python-version") + 1] == "3.10"


def test_where_cuda_containers_compute(tmp_path):
    """GPU where nvidia-smi lists one or a device was given, else the CPU; MSLAB_CUDA_DEVICE decides."""
    images._nvidia_gpus.cache_clear()
    bare = {"PATH": str(tmp_path)}
    assert images.gpu_device(bare) == "CPU"
    assert images.gpu_device({"PATH": str(FAKES / "gpu")}) == "GPU"
    assert images.gpu_device({"PATH": str(FAKES / "gpu-broken")}) == "CPU"
    assert images.gpu_device({**bare, "CUDA_VISIBLE_DEVICES": "1"}) == "GPU"
    assert images.gpu_device({**bare, "MSLAB_CUDA_DEVICE": "gpu"}) == "GPU"
    assert images.gpu_device({"PATH": str(FAKES / "gpu"), "MSLAB_CUDA_DEVICE": "CPU"}) == "CPU"
    with pytest.raises(MslabError, match="MSLAB_CUDA_DEVICE must be GPU or CPU, not 'tpu'"):
        images.gpu_device({"MSLAB_CUDA_DEVICE": "tpu"})
    # no GPU: no GPU request (the engine would refuse the container), MindSpore on the CPU
    assert "device_requests" not in images.service("cuda", env=bare)
    assert images.device("cuda", env=bare) == "CPU"
    assert images.device("cuda", env={"PATH": str(FAKES / "gpu")}) == "GPU"
    (request,) = images.service("cuda", env={"PATH": str(FAKES / "gpu")})["device_requests"]
    assert (request.driver, request.count) == ("nvidia", 1)
    assert images.device("cpu", env={"PATH": str(FAKES / "gpu")}) == "CPU"


def test_doctor_says_libcuda_comes_from_the_host(tmp_path):
    def row(path):
        report = doctor.diagnose(tmp_path, path, lambda: "20.10.24", arch="x86_64", reap=lambda: [])
        return {c.name: (c.status, c.detail) for c in report.checks}

    gpu = str(FAKES / "gpu")
    assert row(gpu)["CUDA driver library"] == (
        "warn",
        "libcuda.so.1 is this host driver's, not the cuda image's: install the NVIDIA Container Toolkit, which mounts it",
    )
    toolkit = tmp_path / "bin"
    toolkit.mkdir()
    (toolkit / "nvidia-container-cli").write_text("#!/bin/sh\n")
    (toolkit / "nvidia-container-cli").chmod(0o755)
    assert row(f"{gpu}:{toolkit}")["CUDA driver library"] == (
        "ok",
        f"libcuda.so.1 is this host driver's, not the cuda image's: the NVIDIA Container Toolkit"
        f" ({toolkit}/nvidia-container-cli) mounts it",
    )
    assert "CUDA driver library" not in row(str(tmp_path / "none"))


def test_verify_names_the_checks_where_the_image_differs_from_the_cpu(monkeypatch):
    """compare_labs with a stand-in checker: one check fails in the image, one is missing there."""
    from mslab import checker
    from mslab.records import CheckResult

    def fake(lab, submission, *, hidden, target, seed):
        assert hidden and seed == 3 and submission == lab.solution
        names = ["test_a", "test_b"] if target.local else ["test_a"]
        passed = target.local or lab.name != "derivatives"
        checks = [
            CheckResult(n, n, "t", 1.0, 1.0 if passed else 0.0, False, passed, "" if passed else "off by 1e-2")
            for n in names
        ]
        return checker.CheckRun(lab=lab.name, submission=str(submission), target=target.name, seed=seed, checks=checks)

    monkeypatch.setattr(checker, "run_checks", fake)
    monkeypatch.setenv("MSLAB_CUDA_DEVICE", "GPU")
    with pytest.raises(MslabError) as info:
        imagecheck.compare_labs("cuda", seed=3)
    assert str(info.value) == (
        # the labs in name order, the first five differences named
        "verify cuda: the labs' checks differ from the CPU's: custom_gradients::test_b (CPU passed, GPU missing);"
        " derivatives::test_a (CPU passed, GPU failed: off by 1e-2); derivatives::test_b (CPU passed, GPU missing);"
        " jacobians::test_b (CPU passed, GPU missing); logistic_gradients::test_b (CPU passed, GPU missing)"
    )


# -- the built images ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client():
    try:
        docker = images.docker_client()
    except MslabError as exc:
        needs_docker(str(exc))
    for target in ("cpu", "cuda"):
        if not docker.images.list(name=f"mslab-{target}"):
            needs_docker(f"image mslab-{target} is not built: bash .ci/docker.sh builds it")
    return docker


@pytest.fixture(scope="module")
def cuda_image(client):
    return client.images.get("mslab-cuda")


def run(client, script: str, **kwargs) -> str:
    """Output of bash -c script in a cuda container started as the grader starts them."""
    svc = images.service("cuda", env={"PATH": "", "MSLAB_CUDA_DEVICE": "CPU"})
    return client.containers.run(command=["bash", "-c", script], remove=True, **{**svc, **kwargs}).decode()


def test_cuda_image_labels(cuda_image):
    labels = cuda_image.labels
    pins = requirement_pins()
    assert labels["org.mslab.target"] == "cuda" and labels["org.mslab.device"] == "GPU"
    assert labels["org.mslab.cuda.libs"] == "wheels"
    assert labels["org.mslab.cuda.version"] == "11.7"
    assert labels["org.mslab.cudnn.version"] == pins["nvidia-cudnn-cu11"]
    assert labels["org.mslab.cuda.plugin"] == "11.6"
    assert labels["org.mslab.cuda.driver-library"].startswith("libcuda.so.1 from the host")
    base = os.environ.get("INVOKE_MSLAB_IMAGE_BASE_IMAGE") or images.build_args("cuda")["BASE_IMAGE"]
    assert labels["org.mslab.base-image"] == base
    cpu = images.image_labels("cpu")
    assert labels["org.mslab.mindspore.version"] == cpu["org.mslab.mindspore.version"]
    assert labels["org.mslab.base-image"] == cpu["org.mslab.base-image"]
    env = dict(e.split("=", 1) for e in cuda_image.attrs["Config"]["Env"])
    assert env["NVIDIA_REQUIRE_CUDA"] == "cuda>=11.6" and "NVIDIA_VISIBLE_DEVICES" not in env
    assert "CUDA_HOME" not in env  # MindSpore would then look for nvcc to pick its plugin


def plugin_missing(output: str) -> dict[str, set[str]]:
    """`ldd` output of several files (each introduced by '== FILE') -> FILE: what is not found."""
    found: dict[str, set[str]] = {}
    current = ""
    for line in output.splitlines():
        if line.startswith("== "):
            current = line[3:]
            found[current] = set()
        elif "=> not found" in line:
            found[current].add(line.split("=>")[0].strip())
    return found


LDD_PLUGIN = (
    "cd /opt/mslab/venv/lib/python3*/site-packages/mindspore/lib/plugin && "
    'for f in libmindspore_gpu.so.11.6 gpu11.6/*.so* gpu/*.so*; do echo "== $f"; ldd "$f"; done'
)


def test_gpu_plugin_finds_every_library_but_the_drivers(client, cuda_image):
    missing = plugin_missing(run(client, LDD_PLUGIN))
    assert "libmindspore_gpu.so.11.6" in missing and "gpu11.6/libnccl.so.2" in missing
    print({f: sorted(m) for f, m in missing.items()})
    assert missing["libmindspore_gpu.so.11.6"] == {"libcuda.so.1"}
    assert {f: m for f, m in missing.items() if m - {"libcuda.so.1"}} == {}
    # and the wheels are what resolves them: through the image's ld.so.conf.d entry
    resolved = run(client, LDD_PLUGIN.replace('ldd "$f"', '{ ldd "$f" | grep /opt/mslab/cuda/ || true; }'))
    from_wheels = {line.split("=>")[0].strip() for line in resolved.splitlines() if "=>" in line}
    # libcublas.so.11 in turn needs libcublasLt.so.11, from the same wheel
    assert from_wheels == PLUGIN_NEEDS - {"libcuda.so.1"} | {"libcublasLt.so.11"}
    # every other libmindspore_gpu*.so*: MindSpore 2.7.2's is CUDA 11.1's, which also wants
    # libnvrtc.so.11.1 (CUDA 11.7's is .11.2); MindSpore loads the newest plugin that loads, 11.6
    others = run(
        client, LDD_PLUGIN.replace("libmindspore_gpu.so.11.6 gpu11.6/*.so* gpu/*.so*", "libmindspore_gpu*.so*")
    )
    for name, libs in plugin_missing(others).items():
        assert libs - {"libcuda.so.1"} <= ({"libnvrtc.so.11.1"} if name.endswith(".so.11.1") else set()), (name, libs)
    conf = run(client, "cat /etc/ld.so.conf.d/mslab-cuda.conf").split()
    assert len(conf) == 8 and all(re.fullmatch(r"/opt/mslab/cuda/nvidia/\w+/lib", d) for d in conf)


@pytest.mark.parametrize(
    "image,code,last",
    [
        (
            "mslab-cpu",
            1,
            "mslab: CUDA_LIBS=base, but the base image has no libcudart.so.11.0 (a CUDA 11 + cuDNN 8 runtime image?)",
        ),
        ("mslab-cuda", 0, "mslab: CUDA libraries from the base image"),
    ],
)
def test_cuda_libs_base_needs_a_base_with_cuda(client, image, code, last):
    """--cuda-base nvidia's stage, run on a base without CUDA (the cpu image) and on one whose
    loader knows CUDA 11 and cuDNN 8 (the cuda image, standing in for NVIDIA's)."""
    container = client.containers.run(
        image,
        ["bash", "/mnt/cuda/install_cuda.sh"],
        entrypoint=[],
        user="0",
        network_mode="none",
        environment={"CUDA_LIBS": "base"},
        volumes=[f"{ROOT / 'docker/cuda'}:/mnt/cuda:ro"],
        detach=True,
    )
    try:
        status = container.wait(timeout=120)["StatusCode"]
        out = container.logs().decode().strip().splitlines()
    finally:
        container.remove(force=True)
    assert (status, out[-1]) == (code, last)


def test_the_hosts_libcuda_is_found_where_the_toolkit_mounts_it(client, cuda_image, tmp_path):
    """A stand-in mounted as the NVIDIA Container Toolkit mounts the driver's: nothing is missing."""
    standin = tmp_path / "libcuda.so.1"
    shutil.copyfile(
        next(p for p in ("/lib/x86_64-linux-gnu/libz.so.1", "/usr/lib/x86_64-linux-gnu/libz.so.1") if Path(p).exists()),
        standin,
    )
    standin.chmod(0o644)
    tmp_path.chmod(0o755)
    mount = [f"{standin}:/usr/lib/x86_64-linux-gnu/libcuda.so.1:ro"]
    missing = plugin_missing(run(client, LDD_PLUGIN, volumes=mount))
    assert {f: m for f, m in missing.items() if m} == {}
    out = run(client, "python -I -m mslab_selfcheck --device CPU --links 11.6 | head -n 1", volumes=mount)
    assert out.strip().endswith("libcuda.so.1 from the host at /usr/lib/x86_64-linux-gnu/libcuda.so.1")


def test_verify_cuda_without_a_gpu_checks_links_and_the_cpu(client, cuda_image, monkeypatch):
    monkeypatch.delenv("MSLAB_CUDA_DEVICE", raising=False)
    monkeypatch.setenv("PATH", os.environ["PATH"])
    if images.gpu_device(dict(os.environ)) == "GPU":
        pytest.skip("this machine has a GPU: verify checks it there (docs/admin.md)")
    notes: list[str] = []
    output = imagecheck.verify("cuda", timeout=300, echo=notes.append, labs=False)
    version = cuda_image.labels["org.mslab.mindspore.version"]
    assert notes[-1].startswith("note: no NVIDIA GPU here")
    lines = output.splitlines()
    assert lines[0].startswith(
        "links OK: 5 files of MindSpore's CUDA 11.6 plugin find every library; libcuda.so.1 not in the image"
    )
    assert lines[-1].startswith(f"selfcheck OK: mindspore {version} on CPU, numpy 1.")


def test_verify_runs_the_labs_checks_in_the_cuda_image(client, cuda_image, monkeypatch):
    """What CI's `inv image.verify --target cuda --labs yes` runs, on this machine's CPU."""
    monkeypatch.setenv("MSLAB_CUDA_DEVICE", "CPU")
    output = imagecheck.verify("cuda", timeout=300, echo=lambda s: None, labs=True)
    from mslab import checker
    from mslab.labs import all_labs

    counts = {lab.name: len(checker.collect(lab, hidden=True)) for lab in all_labs()}
    assert len(counts) == 6 and all(counts.values())
    expected = [f"labs: {name}: {n} checks on CPU in mslab-cuda == on this machine's CPU" for name, n in counts.items()]
    expected.append(
        f"labs OK: {sum(counts.values())} checks of {len(counts)} labs pass on CPU in mslab-cuda as on this machine's CPU (seed 0)"
    )
    assert output.splitlines()[-len(expected) :] == expected


def test_cuda_image_shares_the_cpu_images_layers(client, cuda_image):
    """Base, runtime stage, MindSpore's venv and the entrypoint: the cpu image's own layers."""
    cpu = client.images.get("mslab-cpu").attrs["RootFS"]["Layers"]
    cuda = cuda_image.attrs["RootFS"]["Layers"]
    common = 0
    while common < min(len(cpu), len(cuda)) and cpu[common] == cuda[common]:
        common += 1
    # every layer of the cpu image: the cuda image is built on it
    assert common == len(cpu), (common, len(cpu))
    cpu_size, cuda_size = client.images.get("mslab-cpu").attrs["Size"], cuda_image.attrs["Size"]
    print(f"mslab-cpu {cpu_size / 1e9:.2f} GB, mslab-cuda {cuda_size / 1e9:.2f} GB, {common} layers shared")
    assert cuda_size - cpu_size < 3.5e9  # the CUDA libraries; the MindSpore venv is not copied again


def gradebook(folder: Path) -> list[dict]:
    with open(folder / "gradebook.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_the_class_grades_in_the_cuda_image_on_the_cpu_as_in_the_cpu_image(client, cuda_image, tmp_path):
    books = {}
    for target in ("cpu", "cuda"):
        done = inv(
            "grade", "--target", target, "--submissions", str(ROOT / "examples/submissions"),
            "--out", str(tmp_path / target), "--seed", "7", "--jobs", "2",
        )  # fmt: skip
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        books[target] = gradebook(tmp_path / target)
    assert len(books["cpu"]) == 24  # 4 students x 6 labs
    differ = [
        (a["student"], a["lab"], a["status"], a["reason"], b["status"], b["reason"])
        for a, b in zip(books["cpu"], books["cuda"], strict=True)
        if a != b
    ]
    assert differ == []
