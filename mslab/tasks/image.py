"""`inv image.build|verify|wheelhouse`: wiring to mslab.images (compose.yaml, docker/pins.env).

Defaults live in the `mslab_image` config: override in invoke.yaml or with INVOKE_MSLAB_IMAGE_*
variables (e.g. INVOKE_MSLAB_IMAGE_MINDSPORE_VERSION=2.7.2, as .ci/docker.sh does).
"""

from invoke import Collection, task

from mslab.errors import MslabError
from mslab.tasks import user_errors

TARGET_HELP = "cpu, cuda, ascend (compose.yaml services), or auto: what `inv doctor` recommends"


def _target(target: str) -> str:
    """The image target named by --target (auto: `inv doctor`'s pick), resolved as every task does."""
    from mslab.doctor import resolve_target as resolve

    picked = resolve(target, image=True).name
    if target == "auto":
        print(f"target auto -> {picked}")
    return picked


def _cfg(c, key: str, value: str) -> str:
    return value or c.config.get("mslab_image", {}).get(key, "") or ""


@task(
    help={
        "target": TARGET_HELP,
        "mindspore_version": "MindSpore version to install (default: docker/pins.env, 2.4.0)",
        "mindspore_source": "official (wheel + SHA-256), wheelhouse (offline, docker/wheelhouse) or pypi",
        "mindspore_sha256": "SHA-256 of the official wheel when pins.env has none for that version",
        "base_image": "replace compose.yaml's BASE_IMAGE (e.g. a locally imported Debian)",
        "platform": "build with docker buildx for these platforms, e.g. linux/arm64 or "
        "linux/amd64,linux/arm64 (several need --push; foreign ones binfmt/qemu)",
        "push": "with --platform: push the result (compose.yaml's image must name a registry)",
        "ascend_chip": "ascend: 910b (Atlas 800T A2, default) or 910: which CANN base image",
        "keep_build_stage": "keep the build stage's dangling image (a cache for the next build: "
        "build cpu with it, then cuda, and cuda reuses cpu's MindSpore layer)",
        "cuda_base": "cuda: wheels (Debian + NVIDIA's CUDA wheels from PyPI, default) or nvidia "
        "(NVIDIA's CUDA base image from Docker Hub, compose.yaml's x-cuda-nvidia-base)",
        "apt_mirror": "a Debian (Ubuntu for Ubuntu bases) archive URL to install from "
        "(default $MSLAB_APT_MIRROR), e.g. http://mirrors.example.edu.cn/debian",
        "pip_index": "a PyPI index URL to install from (default $PIP_INDEX_URL)",
        "notebook": "build the target's JupyterLab image (<image>-notebook, for `inv lab.notebook "
        "--target`) on top of its grading image, from docker/wheelhouse-notebook; the grading image "
        "itself never gets JupyterLab",
    }
)
@user_errors
def build(
    c,
    target="cpu",
    mindspore_version="",
    mindspore_source="",
    mindspore_sha256="",
    base_image="",
    platform="",
    push=False,
    ascend_chip="",
    keep_build_stage=False,
    cuda_base="",
    apt_mirror="",
    pip_index="",
    notebook=False,
):
    """Build the image of a target with the Docker engine (compose.yaml has tag and args)."""
    from mslab import images  # here, not at the top: `inv --list` and `inv lab.*` do not load the image code

    if notebook:
        print(f"built {images.build_notebook(_target(target), pip_index=pip_index)}")
        return
    tag = images.build(
        _target(target),
        version=_cfg(c, "mindspore_version", mindspore_version),
        source=_cfg(c, "mindspore_source", mindspore_source),
        base_image=_cfg(c, "base_image", base_image),
        sha256=mindspore_sha256,
        platform_=platform,
        chip=ascend_chip,
        push=push,
        keep_build_stage=keep_build_stage,
        cuda_base=cuda_base,
        apt_mirror=apt_mirror,
        pip_index=pip_index,
    )
    print(f"built {tag}")


@task(
    help={
        "target": TARGET_HELP,
        "mindspore_version": "the version the image must have (default: the image's own "
        "org.mslab.mindspore.version label)",
        "timeout": "seconds the self-check may take",
        "labs": "auto (on a GPU), yes or no: also run every lab's checks on its reference "
        "solution in the image and compare them with this machine's CPU",
        "seed": "seed of the hidden checks' random draws in that comparison",
    }
)
@user_errors
def verify(c, target="cpu", mindspore_version="", timeout=300, labs="auto", seed=0):
    """Check an image in a container started as the grader starts them (python -I -m):
    version, run_check on the device, imports, the GPU plugin's libraries (cuda); on a GPU,
    the labs' checks against the CPU's."""
    from mslab import imagecheck  # here, not at the top: `inv --list` and `inv lab.*` do not load the image code

    choice = {"auto": None, "yes": True, "no": False}
    if labs not in choice:
        raise MslabError(f"--labs must be auto, yes or no, not {labs!r}")
    output = imagecheck.verify(
        _target(target), version=mindspore_version, timeout=int(timeout), labs=choice[labs], seed=int(seed)
    )
    print(output, end="")


@task(
    help={
        "target": "whose Python version the wheels are for (compose.yaml PYTHON_VERSION)",
        "mindspore_version": "MindSpore version (default: docker/pins.env, 2.4.0)",
        "mindspore_source": "official (the published wheel, SHA-256 checked) or pypi",
        "arch": "x86_64 or aarch64 (default: this machine's)",
        "dest": "folder to fill (default docker/wheelhouse, which builds read; cuda's CUDA "
        "wheels go to docker/wheelhouse-cuda)",
        "cuda_base": "cuda: wheels (default: also download NVIDIA's CUDA wheels) or nvidia",
        "pip_index": "a PyPI index URL to download from (default $PIP_INDEX_URL)",
        "notebook": "JupyterLab's wheels for the target's notebook image, into docker/wheelhouse-notebook",
    }
)
@user_errors
def wheelhouse(
    c,
    target="cpu",
    mindspore_version="",
    mindspore_source="",
    arch="",
    dest="",
    cuda_base="",
    pip_index="",
    notebook=False,
):
    """Download the wheels an image needs into docker/wheelhouse, for offline builds."""
    from mslab import images  # here, not at the top: `inv --list` and `inv lab.*` do not load the image code

    if notebook:
        images.wheelhouse_notebook(target, arch=arch, dest=dest or images.WHEELHOUSE_NOTEBOOK, pip_index=pip_index)
        return
    source = _cfg(c, "mindspore_source", mindspore_source)
    images.wheelhouse(
        target,
        version=_cfg(c, "mindspore_version", mindspore_version),
        source="" if source == "wheelhouse" else source,
        arch=arch,
        dest=dest or images.WHEELHOUSE,
        cuda_base=cuda_base,
        pip_index=pip_index,
        cuda_dest=None if dest else images.WHEELHOUSE_CUDA,
    )


ns = Collection("image", build, verify, wheelhouse)
ns.configure({"mslab_image": {"mindspore_version": "", "mindspore_source": "", "base_image": ""}})
