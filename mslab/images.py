"""Container images: read compose.yaml and docker/pins.env; build, verify, wheelhouse.

compose.yaml is the single source of truth for the targets (tag, build context and args, what a
container needs at run time); docker/pins.env holds the versions and hashes. Nothing here repeats
them. The Docker SDK builds with the classic builder, which the multi-stage Dockerfiles suit.
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path

import yaml

from mslab import settings
from mslab.devices import ascend_device_group, parse_nvidia_smi
from mslab.errors import MslabError

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "compose.yaml"
PINS = ROOT / "docker" / "pins.env"
REQUIREMENTS = ROOT / "docker" / "requirements.txt"
WHEELHOUSE = ROOT / "docker" / "wheelhouse"
# The cuda image's second wheelhouse: NVIDIA's CUDA wheels (GBs), sent only to a cuda build.
WHEELHOUSE_CUDA = ROOT / "docker" / "wheelhouse-cuda"
CUDA_REQUIREMENTS = ROOT / "docker" / "cuda" / "requirements.txt"
# JupyterLab's wheels for the notebook images (docker/notebook/Dockerfile), sent only to their build.
WHEELHOUSE_NOTEBOOK = ROOT / "docker" / "wheelhouse-notebook"
NOTEBOOK_REQUIREMENTS = ROOT / "docker" / "notebook" / "requirements.txt"
# Where the cuda image's CUDA libraries come from: PyPI's wheels on the cpu image's Debian (the
# default), or NVIDIA's CUDA base image (compose.yaml's x-cuda-nvidia-base).
CUDA_BASES = ("wheels", "nvidia")
NVIDIA_BASE_KEY = "x-cuda-nvidia-base"
# Where a cuda container computes: GPU or CPU (default: GPU when nvidia-smi lists one).
CUDA_DEVICE_VAR = "MSLAB_CUDA_DEVICE"
# A mirror's address goes into a build's sources.list or pip: a plain http(s) URL, nothing else.
_MIRROR = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]+)?(/[A-Za-z0-9._~/%+-]*)?")
SOURCES = ("official", "wheelhouse", "pypi")
# Run-time keys of a compose service that map one-to-one onto `containers.run` arguments.
_RUN_KEYS = (
    "user",
    "read_only",
    "network_mode",
    "cap_drop",
    "security_opt",
    "pids_limit",
    "mem_limit",
    "memswap_limit",
    "working_dir",
    "devices",
    "volumes",
    "environment",
    "group_add",
)
# compose.yaml's variables (compose interpolates them from the environment the same way):
# the GID of the Ascend devices' group and the Ascend chip of the CANN base image.
ASCEND_GID_VAR = "MSLAB_ASCEND_GID"
ASCEND_CHIP_VAR = "MSLAB_ASCEND_CHIP"
ASCEND_CHIPS = ("910b", "910")
# ${VAR}, ${VAR:-default}, ${VAR-default}, and $$ for a literal $ (the compose file format's rules).
_VARIABLE = re.compile(r"\$(?:\$|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<sep>:?-)(?P<default>[^}]*))?\})")


def interpolate(value, env: dict[str, str]):
    """compose's variable substitution, applied to every string of a parsed compose file."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        name, sep, default = m.group("name"), m.group("sep"), m.group("default") or ""
        if name in env and (env[name] != "" or sep != ":-"):
            return env[name]
        return default if sep else ""

    return _VARIABLE.sub(one, value)


def load_compose(path: Path = COMPOSE, env: dict[str, str] | None = None) -> dict:
    """The parsed compose file with its ${VARIABLES} substituted from env (default os.environ);
    MslabError if it is missing or has no services."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as e:
        raise MslabError(f"cannot read {path}: {e}") from e
    if not isinstance(data, dict) or not data.get("services"):
        raise MslabError(f"{path} defines no services")
    return interpolate(data, dict(os.environ) if env is None else env)


def runtime_env(root: str | Path | None = None) -> dict[str, str]:
    """os.environ plus what the grader reads from this host: MSLAB_ASCEND_GID from the group of
    the Ascend device nodes (unless already set). root as for `inv doctor`."""
    env = dict(os.environ)
    if not env.get(ASCEND_GID_VAR):
        group = ascend_device_group(root)
        if group is not None and group.gid != 0:
            env[ASCEND_GID_VAR] = str(group.gid)
    return env


def targets(path: Path = COMPOSE) -> list[str]:
    """The image targets, in compose.yaml order (cpu, cuda, ascend)."""
    return list(load_compose(path)["services"])


def _service(target: str, path: Path = COMPOSE) -> dict:
    services = load_compose(path)["services"]
    if target not in services:
        raise MslabError(f"unknown target {target!r}: compose.yaml has {', '.join(services)}")
    return services[target]


def read_pins(path: Path = PINS) -> dict[str, str]:
    """docker/pins.env as a dict (KEY=VALUE lines; # comments and blank lines skipped)."""
    pins = {}
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            if not sep:
                raise MslabError(f"{path}: not KEY=VALUE: {line!r}")
            pins[key.strip()] = value.strip()
    return pins


def wheel_sha256(version: str, arch: str, python: str, pins: dict[str, str] | None = None) -> str:
    """Published SHA-256 of the official wheel, '' when pins.env has none (e.g. ambiguous)."""
    pins = read_pins() if pins is None else pins
    cp = "cp" + python.replace(".", "")
    return pins.get(f"SHA256_{version.replace('.', '_')}_{arch}_{cp}", "")


def official_wheel_url(version: str, arch: str, python: str, pins: dict[str, str] | None = None) -> str:
    pins = read_pins() if pins is None else pins
    cp = "cp" + python.replace(".", "")
    name = f"mindspore-{version}-{cp}-{cp}-linux_{arch}.whl"
    return f"{pins['MINDSPORE_URL_BASE']}/{version}/MindSpore/unified/{arch}/{name}"


def service(target: str, path: Path = COMPOSE, env: dict[str, str] | None = None) -> dict:
    """Keyword arguments for `docker_client().containers.run(**service(t), command=...)`.

    image, user, read_only, network_mode, cap_drop, security_opt, pids_limit, mem_limit,
    memswap_limit, working_dir, tmpfs (dict), devices, volumes, environment (dict), labels,
    group_add (ascend: the device nodes' group), and device_requests (a GPU reservation, cuda
    only) - all from compose.yaml, its variables taken from env (default: runtime_env()).
    """
    env = runtime_env() if env is None else env
    svc = load_compose(path, env)["services"].get(target)
    if svc is None:
        _service(target, path)  # the one-line error for an unknown target
    kwargs = {"image": svc["image"]}
    kwargs.update({k: svc[k] for k in _RUN_KEYS if k in svc})
    if "group_add" in kwargs:
        groups = [str(g) for g in kwargs["group_add"] if str(g).strip()]
        bad = [g for g in groups if not g.isdigit()]
        if bad:
            raise MslabError(
                f"group_add of {target} must be numeric GIDs, not {', '.join(bad)} "
                f"(set {ASCEND_GID_VAR} to the GID that owns /dev/davinci_manager)"
            )
        kwargs["group_add"] = groups
    kwargs["environment"] = dict(svc.get("environment") or {})
    kwargs["labels"] = dict(svc.get("labels") or {})
    kwargs["tmpfs"] = dict(_split_tmpfs(t) for t in svc.get("tmpfs") or [])
    kwargs["devices"] = [d if d.count(":") else f"{d}:{d}" for d in svc.get("devices") or []]
    kwargs["volumes"] = list(svc.get("volumes") or [])
    gpus = svc.get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices", [])
    if gpus and gpu_device(env) != "GPU":
        gpus = []  # no GPU here: the container computes on the CPU (gpu_device)
    # The devices this process was given (Ray sets these for a worker that holds a GPU or an
    # NPU; an admin may too): the container gets those, not compose.yaml's first ones.
    cuda_ids = _visible(env.get("CUDA_VISIBLE_DEVICES"))
    npu_ids = _visible(env.get("ASCEND_RT_VISIBLE_DEVICES"))
    if gpus:
        from docker.types import DeviceRequest

        kwargs["device_requests"] = [
            DeviceRequest(
                driver=g.get("driver", ""),
                count=0 if cuda_ids else -1 if g.get("count") == "all" else int(g.get("count", -1)),
                device_ids=cuda_ids or g.get("device_ids"),
                capabilities=[list(g.get("capabilities", ["gpu"]))],
            )
            for g in gpus
        ]
    if npu_ids:
        cards = [d for d in kwargs["devices"] if re.fullmatch(r"/dev/davinci\d+:/dev/davinci\d+", d)]
        if cards:
            others = [d for d in kwargs["devices"] if d not in cards]
            kwargs["devices"] = [f"/dev/davinci{n}:/dev/davinci{n}" for n in npu_ids] + others
    return kwargs


def _visible(value: str | None) -> list[str]:
    """Device numbers from a CUDA_VISIBLE_DEVICES-style list ("0,2"); [] when unset or not numbers."""
    ids = [part.strip() for part in (value or "").split(",") if part.strip()]
    return ids if ids and all(i.isdigit() for i in ids) else []


def _split_tmpfs(entry: str) -> tuple[str, str]:
    mount, _, options = entry.partition(":")
    return mount, options


def built_for(target: str, path: Path = COMPOSE) -> str:
    """The device a target's image is built for (compose label ``org.mslab.device``): CPU, GPU
    or Ascend — whatever this machine has."""
    return (_service(target, path).get("labels") or {}).get("org.mslab.device", "CPU")


def device(target: str, path: Path = COMPOSE, env: dict[str, str] | None = None) -> str:
    """MindSpore device_target of a target's containers here: CPU, GPU or Ascend (compose
    label); a GPU target computes on the CPU where gpu_device(env) says there is no GPU."""
    found = built_for(target, path)
    if found == "GPU":
        return gpu_device(dict(os.environ) if env is None else env)
    return found


def gpu_device(env: dict[str, str]) -> str:
    """Where a GPU target's containers compute: "GPU" or "CPU".

    MSLAB_CUDA_DEVICE=GPU|CPU decides; unset, a device Ray (or an admin) gave this process
    (CUDA_VISIBLE_DEVICES) means GPU, else GPU when `nvidia-smi` lists one (on env's PATH),
    else CPU: the cuda image then grades on a machine without a GPU as the cpu image does.
    """
    chosen = settings.value(CUDA_DEVICE_VAR, env)
    if chosen:
        return chosen
    if _visible(env.get("CUDA_VISIBLE_DEVICES")):
        return "GPU"
    return "GPU" if _nvidia_gpus(env.get("PATH", "")) else "CPU"


@functools.lru_cache(maxsize=8)
def _nvidia_gpus(path: str) -> int:
    """How many GPUs `nvidia-smi` lists, read as `inv doctor` reads it (0 without nvidia-smi or
    when it fails); asked once per PATH."""
    exe = shutil.which("nvidia-smi", path=path or None)
    if not exe:
        return 0
    try:
        done = subprocess.run([exe], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    driver, gpus = parse_nvidia_smi(done.stdout)
    return len(gpus) if done.returncode == 0 and driver else 0


def build_args(
    target: str,
    version: str = "",
    source: str = "",
    base_image: str = "",
    sha256: str = "",
    path: Path = COMPOSE,
    chip: str = "",
    cuda_base: str = "",
    apt_mirror: str = "",
    pip_index: str = "",
) -> dict[str, str]:
    """Build args: compose.yaml's for the target, the pins, then the given overrides.
    chip: the Ascend chip of the CANN base (910b, 910), as MSLAB_ASCEND_CHIP in compose.yaml.
    cuda_base: wheels (compose.yaml's cuda args) or nvidia (its x-cuda-nvidia-base args).
    apt_mirror, pip_index: a Debian/Ubuntu archive and a PyPI index to build from (else
    compose.yaml's MSLAB_APT_MIRROR and PIP_INDEX_URL, from the environment)."""
    pins = read_pins()
    source = source or pins["MINDSPORE_SOURCE_PIN"]
    if source not in SOURCES:
        raise MslabError(f"MindSpore source must be one of {', '.join(SOURCES)}, not {source!r}")
    env = dict(os.environ)
    if chip:
        env[ASCEND_CHIP_VAR] = chip
    if (env.get(ASCEND_CHIP_VAR) or "910b") not in ASCEND_CHIPS:
        raise MslabError(f"Ascend chip must be one of {', '.join(ASCEND_CHIPS)}, not {env[ASCEND_CHIP_VAR]!r}")
    compose = load_compose(path, env)
    svc = compose["services"].get(target) or _service(target, path)
    args = {k: str(v) for k, v in (svc["build"].get("args") or {}).items()}
    if cuda_base and cuda_base not in CUDA_BASES:
        raise MslabError(f"CUDA base must be one of {', '.join(CUDA_BASES)}, not {cuda_base!r}")
    if cuda_base == "nvidia":
        if target != "cuda":
            raise MslabError(f"--cuda-base is for the cuda target, not {target}")
        args.update({k: str(v) for k, v in (compose.get(NVIDIA_BASE_KEY) or {}).items()})
    for key, value in (("APT_MIRROR", apt_mirror), ("PIP_INDEX_URL", pip_index)):
        if value:
            args[key] = value
        if args.get(key) and not _MIRROR.fullmatch(args[key]):
            raise MslabError(
                f"{key} must be a plain http(s) URL such as http://mirror.example/debian, not {args[key]!r}"
            )
    args["MINDSPORE_VERSION"] = version or pins["MINDSPORE_VERSION_PIN"]
    args["MINDSPORE_SOURCE"] = source
    if base_image:
        args["BASE_IMAGE"] = base_image
    if sha256:
        args["MINDSPORE_SHA256"] = sha256
    return args


def context_excludes(
    source: str, dockerignore: Path = ROOT / ".dockerignore", cuda_wheels: bool = False, notebook: bool = False
) -> list[str]:
    """The build context's exclusions: .dockerignore's, and the wheelhouses' wheels unless the
    build installs from them (hundreds of MB, GBs for CUDA, the engine would receive for
    nothing). cuda_wheels: the build installs the CUDA wheels (a cuda build with CUDA_LIBS=wheels);
    notebook: the build is a notebook image's, which installs JupyterLab's (and no other)."""
    lines = dockerignore.read_text().splitlines() if dockerignore.is_file() else []
    patterns = [p.strip() for p in lines if p.strip() and not p.strip().startswith("#")]
    if source != "wheelhouse":
        patterns.append("docker/wheelhouse/*.whl")
    if source != "wheelhouse" or not cuda_wheels:
        patterns.append("docker/wheelhouse-cuda/*.whl")
    if not notebook:
        patterns.append("docker/wheelhouse-notebook/*.whl")
    return patterns


def docker_client(timeout=10):
    """A Docker SDK client for the local engine (`timeout` seconds per API call), or MslabError
    if no engine answers."""
    try:
        import docker
    except ImportError as e:
        raise MslabError("Docker engine not reachable: the docker Python package is missing") from e
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except Exception as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise MslabError(f"Docker engine not reachable: {reason}") from e
    return client


def build(
    target: str,
    version: str = "",
    source: str = "",
    base_image: str = "",
    sha256: str = "",
    platform_: str = "",
    echo: Callable[[str], None] = print,
    client=None,
    chip: str = "",
    push: bool = False,
    keep_build_stage: bool = False,
    cuda_base: str = "",
    apt_mirror: str = "",
    pip_index: str = "",
) -> str:
    """Build the target's image from compose.yaml; returns its tag. Streams the log to echo.

    Without platform_: the engine's classic builder through the SDK, for this machine. With
    platform_ (e.g. linux/arm64 or linux/amd64,linux/arm64): `docker buildx build`, which must
    be installed; several platforms can only be pushed (push=True, the tag names a registry).
    After a build, the dangling image of the build stage (the venv before it is copied, GBs)
    is removed unless keep_build_stage (the cpu and cuda images share it: keep it when building
    cpu and then cuda, and the cuda image reuses the cpu image's MindSpore layer).
    """
    svc = _service(target)
    args = build_args(
        target, version, source, base_image, sha256, chip=chip, cuda_base=cuda_base,
        apt_mirror=apt_mirror, pip_index=pip_index,
    )  # fmt: skip
    wheelhouse_build = args["MINDSPORE_SOURCE"] == "wheelhouse"
    if wheelhouse_build and not (WHEELHOUSE / "SHA256SUMS").is_file():
        raise MslabError(f"{WHEELHOUSE / 'SHA256SUMS'} missing: run `inv image.wheelhouse` first")
    cuda_wheels = args.get("CUDA_LIBS") == "wheels"
    if wheelhouse_build and cuda_wheels and not (WHEELHOUSE_CUDA / "SHA256SUMS").is_file():
        raise MslabError(f"{WHEELHOUSE_CUDA / 'SHA256SUMS'} missing: run `inv image.wheelhouse --target cuda` first")
    context = (COMPOSE.parent / svc["build"].get("context", ".")).resolve()
    if platform_:
        return _buildx(svc, context, args, platform_, push, echo)
    if push:
        raise MslabError("--push needs --platform (buildx); push a local build with `docker push`")
    # Removing a build stage of GBs keeps a busy engine longer than the default 10 s per call.
    client = client or docker_client(timeout=BUILD_API_TIMEOUT)
    stage = svc["build"].get("target")  # docker/Dockerfile's stage for this image
    echo(f"building {svc['image']} from {svc['build']['dockerfile']}{f' (stage {stage})' if stage else ''}: {args}")
    try:
        previous = client.images.get(svc["image"]).id
    except Exception:  # noqa: BLE001 - not built yet
        previous = ""
    excludes = context_excludes(args["MINDSPORE_SOURCE"], context / ".dockerignore", cuda_wheels)
    _engine_build(client, context, excludes, svc["build"]["dockerfile"], svc["image"], args, echo, stage)
    try:
        _clean_up(target, svc["image"], previous, keep_build_stage, client, echo)
    except Exception as e:  # noqa: BLE001 - the image is built; what is left is only disk space
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        echo(
            f"note: built, but cleaning up after the build failed ({reason}): `docker image prune -f"
            f" --filter label={BUILD_STAGE_LABEL}=build` removes the build stage's image"
        )
    return svc["image"]


BUILD_API_TIMEOUT = 600

#: JupyterLab on top of a target's image (`inv lab.notebook --target T`): its Dockerfile, and the
#: tag's suffix (mslab-cpu -> mslab-cpu-notebook). The grading image itself never gets JupyterLab.
NOTEBOOK_DOCKERFILE = "docker/notebook/Dockerfile"
NOTEBOOK_SUFFIX = "-notebook"


def notebook_image(target: str) -> str:
    """The tag of the target's JupyterLab image."""
    return _service(target)["image"] + NOTEBOOK_SUFFIX


def build_notebook(target: str, echo: Callable[[str], None] = print, client=None, pip_index: str = "") -> str:
    """Build the target's JupyterLab image on top of its grading image (which must be built);
    returns its tag. PIP_INDEX_URL as for `build` (JupyterLab comes from PyPI or that mirror)."""
    base = _service(target)["image"]
    client = client or docker_client(timeout=BUILD_API_TIMEOUT)
    try:
        client.images.get(base)
    except Exception:  # noqa: BLE001 - not built
        raise MslabError(f"image {base} is not built: run `inv image.build --target {target}` first") from None
    index = pip_index or os.environ.get("PIP_INDEX_URL", "")
    if index and not _MIRROR.fullmatch(index):
        raise MslabError(f"PIP_INDEX_URL must be a plain http(s) URL, not {index!r}")
    tag = base + NOTEBOOK_SUFFIX
    echo(f"building {tag} from {NOTEBOOK_DOCKERFILE} on {base}")
    if not (WHEELHOUSE_NOTEBOOK / "SHA256SUMS").is_file():
        raise MslabError(f"{WHEELHOUSE_NOTEBOOK / 'SHA256SUMS'} missing: run `inv image.wheelhouse --notebook` first")
    excludes = context_excludes("official", ROOT / ".dockerignore", notebook=True)
    _engine_build(client, ROOT, excludes, NOTEBOOK_DOCKERFILE, tag, {"BASE_IMAGE": base, "PIP_INDEX_URL": index}, echo)
    return tag


def _engine_build(
    client,
    context: Path,
    excludes: list[str],
    dockerfile: str,
    tag: str,
    args: dict,
    echo: Callable[[str], None],
    stage: str | None = None,
) -> None:
    """Build ``dockerfile`` in ``context`` (less ``excludes``) as ``tag`` on the engine — its
    ``stage`` where given, else its last — echoing its output; a one-line MslabError with the
    last lines when the build fails."""
    from docker.utils.build import tar

    last: list[str] = []
    with tar(str(context), exclude=excludes, dockerfile=(dockerfile, None), gzip=False) as ctx:
        stream = client.api.build(
            fileobj=ctx,
            custom_context=True,
            dockerfile=dockerfile,
            target=stage,
            tag=tag,
            buildargs=args,
            rm=True,
            forcerm=True,
            decode=True,
        )
        for chunk in stream:
            if "error" in chunk:
                tail = " | ".join(line.strip() for line in last[-3:] if line.strip())
                raise MslabError(f"building {tag} failed: {chunk['error'].strip()} ({tail})")
            text = chunk.get("stream", "")
            if text:
                last.append(text)
                echo(text.rstrip("\n"))


def _clean_up(target: str, tag: str, previous: str, keep_build_stage: bool, client, echo) -> None:
    """After a build: the build stage's dangling image (unless kept) and the image this build
    replaced, if now unnamed (kept while a container uses it)."""
    if not keep_build_stage:
        for image in remove_build_stages(target, client):
            echo(f"removed the build stage's image {image}")
    if previous and previous != client.images.get(tag).id:
        try:
            if not client.images.get(previous).tags:
                client.images.remove(previous, noprune=False)
                echo(f"removed the replaced image {previous[:19]}")
        except Exception:  # noqa: BLE001 - in use by a container
            pass


BUILD_STAGE_LABEL = "org.mslab.stage"


def remove_build_stages(target: str = "", client=None) -> list[str]:
    """Remove the dangling build-stage images (labelled org.mslab.stage=build by the Dockerfiles;
    the cpu and cuda images share theirs, so every target's); the final images do not need them.
    Returns their short ids."""
    client = client or docker_client()
    removed = []
    filters = {"dangling": True, "label": [f"{BUILD_STAGE_LABEL}=build"]}
    for image in client.images.list(filters=filters):
        try:
            client.images.remove(image.id, noprune=False)
            removed.append(image.short_id)
        except Exception:  # noqa: BLE001 - in use by a build running now: leave it
            pass
    return removed


def docker_cli() -> str:
    """The docker command line client (buildx is a plugin of it), or MslabError."""
    exe = settings.value("MSLAB_DOCKER_CLI") or shutil.which("docker")
    if not exe:
        raise MslabError("--platform needs the docker command with the buildx plugin: no docker on PATH")
    return exe


def _buildx(svc: dict, context: Path, args: dict[str, str], platform_: str, push: bool, echo) -> str:
    exe = docker_cli()
    probe = subprocess.run([exe, "buildx", "version"], capture_output=True, text=True)
    if probe.returncode != 0:
        raise MslabError(
            f"--platform needs docker buildx, which `{exe} buildx version` does not find;"
            " build without --platform for this machine, or install the buildx plugin"
        )
    platforms = [p.strip() for p in platform_.split(",") if p.strip()]
    if len(platforms) > 1 and not push:
        raise MslabError(
            f"{len(platforms)} platforms make a multi-arch image that the engine cannot"
            " load: add --push (and a registry in compose.yaml's image), or name one platform"
        )
    cmd = [
        exe,
        "buildx",
        "build",
        "--platform",
        ",".join(platforms),
        "--file",
        str(context / svc["build"]["dockerfile"]),
        *(["--target", svc["build"]["target"]] if svc["build"].get("target") else []),
        "--tag",
        svc["image"],
        "--push" if push else "--load",
    ]
    for key, value in args.items():
        cmd += ["--build-arg", f"{key}={value}"]
    cmd.append(str(context))
    echo(" ".join(cmd))
    if subprocess.run(cmd).returncode != 0:
        raise MslabError(f"docker buildx build of {svc['image']} for {','.join(platforms)} failed (log above)")
    return svc["image"]


def image_labels(target: str, client=None) -> dict[str, str]:
    """The labels of the target's image, or MslabError if the image is not built."""
    client = client or docker_client()
    tag = _service(target)["image"]
    try:
        image = client.images.get(tag)
    except Exception as e:
        raise MslabError(f"image {tag} is not built: run `inv image.build --target {target}`") from e
    return dict(image.labels or {})


def image_version(target: str, client=None) -> str:
    """The MindSpore version the target's image was built with (its org.mslab.mindspore.version
    label), or MslabError if the image is not built."""
    return image_labels(target, client).get("org.mslab.mindspore.version", "")


def wheelhouse(
    target: str = "cpu",
    version: str = "",
    source: str = "",
    arch: str = "",
    dest: Path = WHEELHOUSE,
    pip: list[str] | None = None,
    echo: Callable[[str], None] = print,
    cuda_base: str = "",
    pip_index: str = "",
    cuda_dest: Path | None = None,
) -> Path:
    """Download on the host every wheel the target's image needs, for offline builds.

    source "official": the official MindSpore wheel, checked against pins.env; "pypi": PyPI's.
    Dependencies come from PyPI (or pip_index, else $PIP_INDEX_URL) for the target's Python and
    arch. Writes dest/SHA256SUMS, which the build checks. The cuda target (unless cuda_base is
    nvidia) also gets NVIDIA's CUDA wheels in cuda_dest (default: dest's sibling
    wheelhouse-cuda), with their own SHA256SUMS: dest then holds what the cpu image's holds, so
    both builds share their MindSpore layer. Returns dest.
    """
    pins = read_pins()
    version = version or pins["MINDSPORE_VERSION_PIN"]
    source = source or ("official" if version == pins["MINDSPORE_VERSION_PIN"] else "pypi")
    if source not in ("official", "pypi"):
        raise MslabError(f"the wheelhouse takes MindSpore from official or pypi, not {source!r}")
    args = build_args(target, version, cuda_base=cuda_base, pip_index=pip_index)
    python = args.get("PYTHON_VERSION", "")
    env = dict(os.environ)
    if args.get("PIP_INDEX_URL"):
        env["PIP_INDEX_URL"] = args["PIP_INDEX_URL"]
    if not python:
        raise MslabError(f"compose.yaml gives no PYTHON_VERSION build arg for {target}")
    arch = arch or platform.machine()
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    wanted = [f"mindspore=={version}"]
    if source == "official":
        wanted = [str(_fetch_official(version, arch, python, dest, pins, echo))]
    cmd = list(pip or [sys.executable, "-m", "pip"]) + [
        "download",
        "--disable-pip-version-check",
        "--dest",
        str(dest),
        *wanted,
        "-r",
        str(REQUIREMENTS),
    ]
    extra = REQUIREMENTS.parent / target / "requirements.txt"
    if extra.is_file() and extra != CUDA_REQUIREMENTS:
        cmd += ["-r", str(extra)]
    here = f"{sys.version_info[0]}.{sys.version_info[1]}"
    plats = [f"manylinux{v}_{arch}" for v in ("_2_28", "_2_17", "2014", "2010", "1")] + [f"linux_{arch}"]
    cross = ["--python-version", python, "--only-binary=:all:"] + [x for p in plats for x in ("--platform", p)]
    if (python, arch) != (here, platform.machine()):
        cmd += cross
    _download(cmd, dest, env, echo)
    if args.get("CUDA_LIBS") == "wheels":
        cuda_dest = Path(cuda_dest) if cuda_dest else dest.parent / WHEELHOUSE_CUDA.name
        cuda_dest.mkdir(parents=True, exist_ok=True)
        # Exactly the pinned wheels: their Requires-Dist (setuptools, wheel, each other) adds nothing.
        cmd = list(pip or [sys.executable, "-m", "pip"]) + [
            "download",
            "--disable-pip-version-check",
            "--no-deps",
            "--dest",
            str(cuda_dest),
            "-r",
            str(CUDA_REQUIREMENTS),
            *cross,
        ]
        _download(cmd, cuda_dest, env, echo)
    return dest


def wheelhouse_notebook(
    target: str = "cpu",
    arch: str = "",
    dest: Path = WHEELHOUSE_NOTEBOOK,
    pip: list[str] | None = None,
    echo: Callable[[str], None] = print,
    pip_index: str = "",
) -> Path:
    """Download JupyterLab's wheels (docker/notebook/requirements.txt, with the grader's pins as
    constraints) for the target's Python and arch into dest, with its SHA256SUMS: the notebook
    image's build installs from them offline, as the grading images' builds do. Returns dest."""
    args = build_args(target, pip_index=pip_index)
    python = args.get("PYTHON_VERSION", "")
    env = dict(os.environ)
    if args.get("PIP_INDEX_URL"):
        env["PIP_INDEX_URL"] = args["PIP_INDEX_URL"]
    arch = arch or platform.machine()
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    cmd = list(pip or [sys.executable, "-m", "pip"]) + [
        "download",
        "--disable-pip-version-check",
        "--dest",
        str(dest),
        "-r",
        str(NOTEBOOK_REQUIREMENTS),
        "-c",
        str(REQUIREMENTS),
    ]
    # Always for the image's Python, never this one's: a newer patch release here would pick
    # wheels that refuse the image's (soupsieve 4 needs 3.11.5; Debian 12 has 3.11.2).
    plats = [f"manylinux{v}_{arch}" for v in ("_2_28", "_2_17", "2014", "2010", "1")] + [f"linux_{arch}"]
    cmd += ["--python-version", python, "--only-binary=:all:"] + [x for p in plats for x in ("--platform", p)]
    for old in dest.glob("*.whl"):  # only what this download picks
        old.unlink()
    _download(cmd, dest, env, echo)
    return dest


def _download(cmd: list[str], dest: Path, env: dict[str, str], echo) -> None:
    """Run a `pip download` into dest and write dest/SHA256SUMS of its wheels."""
    echo(" ".join(cmd))
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        tail = [line for line in done.stderr.splitlines() if line.strip()][-1:]
        raise MslabError(f"pip download failed: {tail[0] if tail else done.returncode}")
    sums = "".join(f"{_sha256(w)}  {w.name}\n" for w in sorted(dest.glob("*.whl")))
    (dest / "SHA256SUMS").write_text(sums)
    echo(f"{dest}: {sums.count(chr(10))} wheels, SHA256SUMS written")


def _fetch_official(version, arch, python, dest, pins, echo) -> Path:
    sha = wheel_sha256(version, arch, python, pins)
    if not sha:
        raise MslabError(f"docker/pins.env has no SHA-256 for MindSpore {version} {arch} Python {python}")
    url = official_wheel_url(version, arch, python, pins)
    wheel = dest / url.rsplit("/", 1)[1]
    if not wheel.is_file() or _sha256(wheel) != sha:
        echo(f"downloading {url}")
        try:
            urllib.request.urlretrieve(url, wheel)
        except OSError as e:
            raise MslabError(f"cannot download {url}: {e}") from e
    if _sha256(wheel) != sha:
        wheel.unlink()
        raise MslabError(f"{wheel.name}: SHA-256 differs from the published {sha}")
    return wheel


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
