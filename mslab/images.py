"""Container images: read compose.yaml and docker/pins.env; build, verify, wheelhouse.

compose.yaml is the single source of truth for the targets (tag, build context and args, what a
container needs at run time); docker/pins.env holds the versions and hashes. Nothing here repeats
them. The Docker SDK builds with the classic builder, which the multi-stage Dockerfiles suit.
"""

from __future__ import annotations

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

from mslab.errors import MslabError

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "compose.yaml"
PINS = ROOT / "docker" / "pins.env"
REQUIREMENTS = ROOT / "docker" / "requirements.txt"
WHEELHOUSE = ROOT / "docker" / "wheelhouse"
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
        from mslab.doctor import ascend_device_group

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


def device(target: str, path: Path = COMPOSE) -> str:
    """MindSpore device_target of a target's containers: CPU, GPU or Ascend (compose label)."""
    return (_service(target, path).get("labels") or {}).get("org.mslab.device", "CPU")


def build_args(
    target: str,
    version: str = "",
    source: str = "",
    base_image: str = "",
    sha256: str = "",
    path: Path = COMPOSE,
    chip: str = "",
) -> dict[str, str]:
    """Build args: compose.yaml's for the target, the pins, then the given overrides.
    chip: the Ascend chip of the CANN base (910b, 910), as MSLAB_ASCEND_CHIP in compose.yaml."""
    pins = read_pins()
    source = source or pins["MINDSPORE_SOURCE_PIN"]
    if source not in SOURCES:
        raise MslabError(f"MindSpore source must be one of {', '.join(SOURCES)}, not {source!r}")
    env = dict(os.environ)
    if chip:
        env[ASCEND_CHIP_VAR] = chip
    if (env.get(ASCEND_CHIP_VAR) or "910b") not in ASCEND_CHIPS:
        raise MslabError(f"Ascend chip must be one of {', '.join(ASCEND_CHIPS)}, not {env[ASCEND_CHIP_VAR]!r}")
    svc = load_compose(path, env)["services"].get(target) or _service(target, path)
    args = {k: str(v) for k, v in (svc["build"].get("args") or {}).items()}
    args["MINDSPORE_VERSION"] = version or pins["MINDSPORE_VERSION_PIN"]
    args["MINDSPORE_SOURCE"] = source
    if base_image:
        args["BASE_IMAGE"] = base_image
    if sha256:
        args["MINDSPORE_SHA256"] = sha256
    return args


def context_excludes(source: str, dockerignore: Path = ROOT / ".dockerignore") -> list[str]:
    """The build context's exclusions: .dockerignore's, and the wheelhouse's wheels unless the
    build installs from it (they are hundreds of MB the engine would receive for nothing)."""
    lines = dockerignore.read_text().splitlines() if dockerignore.is_file() else []
    patterns = [p.strip() for p in lines if p.strip() and not p.strip().startswith("#")]
    if source != "wheelhouse":
        patterns.append("docker/wheelhouse/*.whl")
    return patterns


def docker_client():
    """A Docker SDK client for the local engine, or MslabError if no engine answers."""
    try:
        import docker
    except ImportError as e:
        raise MslabError("Docker engine not reachable: the docker Python package is missing") from e
    try:
        client = docker.from_env(timeout=10)
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
) -> str:
    """Build the target's image from compose.yaml; returns its tag. Streams the log to echo.

    Without platform_: the engine's classic builder through the SDK, for this machine. With
    platform_ (e.g. linux/arm64 or linux/amd64,linux/arm64): `docker buildx build`, which must
    be installed; several platforms can only be pushed (push=True, the tag names a registry).
    After a build, the dangling image of the build stage (the venv before it is copied, GBs)
    is removed unless keep_build_stage.
    """
    svc = _service(target)
    args = build_args(target, version, source, base_image, sha256, chip=chip)
    if args["MINDSPORE_SOURCE"] == "wheelhouse" and not (WHEELHOUSE / "SHA256SUMS").is_file():
        raise MslabError(f"{WHEELHOUSE / 'SHA256SUMS'} missing: run `inv image.wheelhouse` first")
    context = (COMPOSE.parent / svc["build"].get("context", ".")).resolve()
    if platform_:
        return _buildx(svc, context, args, platform_, push, echo)
    if push:
        raise MslabError("--push needs --platform (buildx); push a local build with `docker push`")
    client = client or docker_client()
    from docker.utils.build import tar

    echo(f"building {svc['image']} from {svc['build']['dockerfile']}: {args}")
    try:
        previous = client.images.get(svc["image"]).id
    except Exception:  # noqa: BLE001 - not built yet
        previous = ""
    excludes = context_excludes(args["MINDSPORE_SOURCE"], context / ".dockerignore")
    last: list[str] = []
    with tar(str(context), exclude=excludes, dockerfile=(svc["build"]["dockerfile"], None), gzip=False) as ctx:
        stream = client.api.build(
            fileobj=ctx,
            custom_context=True,
            dockerfile=svc["build"]["dockerfile"],
            tag=svc["image"],
            buildargs=args,
            rm=True,
            forcerm=True,
            decode=True,
        )
        for chunk in stream:
            if "error" in chunk:
                tail = " | ".join(line.strip() for line in last[-3:] if line.strip())
                raise MslabError(f"building {svc['image']} failed: {chunk['error'].strip()} ({tail})")
            text = chunk.get("stream", "")
            if text:
                last.append(text)
                echo(text.rstrip("\n"))
    if not keep_build_stage:
        for image in remove_build_stages(target, client):
            echo(f"removed the build stage's image {image}")
    if previous and previous != client.images.get(svc["image"]).id:
        try:  # the image this build replaced, if now unnamed; kept while a container uses it
            if not client.images.get(previous).tags:
                client.images.remove(previous, noprune=False)
                echo(f"removed the replaced image {previous[:19]}")
        except Exception:  # noqa: BLE001 - in use by a container
            pass
    return svc["image"]


BUILD_STAGE_LABEL = "org.mslab.stage"


def remove_build_stages(target: str, client=None) -> list[str]:
    """Remove the dangling build-stage images of a target (labelled org.mslab.stage=build by the
    Dockerfiles); the final image does not need them. Returns their short ids."""
    client = client or docker_client()
    removed = []
    filters = {"dangling": True, "label": [f"{BUILD_STAGE_LABEL}=build", f"org.mslab.target={target}"]}
    for image in client.images.list(filters=filters):
        try:
            client.images.remove(image.id, noprune=False)
            removed.append(image.short_id)
        except Exception:  # noqa: BLE001 - in use by a build running now: leave it
            pass
    return removed


def docker_cli() -> str:
    """The docker command line client (buildx is a plugin of it), or MslabError."""
    exe = os.environ.get("MSLAB_DOCKER_CLI") or shutil.which("docker")
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


def image_version(target: str, client=None) -> str:
    """The MindSpore version the target's image was built with (its org.mslab.mindspore.version
    label), or MslabError if the image is not built."""
    client = client or docker_client()
    tag = _service(target)["image"]
    try:
        image = client.images.get(tag)
    except Exception as e:
        raise MslabError(f"image {tag} is not built: run `inv image.build --target {target}`") from e
    return (image.labels or {}).get("org.mslab.mindspore.version", "")


# How the grader starts Python in a container (mslab.containers): isolated mode, a module of the
# venv. verify starts the self-check the same way, so whatever -I hides from the grader (PYTHONPATH,
# the working directory) it hides from the check too.
SELFCHECK = ["python", "-I", "-m", "mslab_selfcheck"]


def verify(
    target: str,
    version: str = "",
    timeout: int = 300,
    client=None,
    echo: Callable[[str], None] = print,
) -> str:
    """Run the image's self-check in a container started as the grader starts them (compose.yaml,
    the grader's environment, limits and labels; `python -I -m`).

    Checks: MindSpore version == `version` (default: the image's own label), run_check on the
    target's device, every mslab module imports. Returns the self-check's output; MslabError
    when anything fails.
    """
    from mslab import containers
    from mslab.sandbox import Limits

    client = client or docker_client()
    if not version:
        version = image_version(target, client)
        pin = read_pins()["MINDSPORE_VERSION_PIN"]
        if not version:
            version = pin
        elif version != pin:
            echo(f"note: the image says it has MindSpore {version} (label); the pin is {pin}")
    kwargs = containers._run_kwargs(target, Limits(), [], "verify", client)
    command = [*SELFCHECK, "--device", device(target), "--version", version]
    try:
        container = client.containers.run(command=command, detach=True, **kwargs)
    except Exception as e:
        raise MslabError(f"cannot start {kwargs['image']}: {str(e).splitlines()[0]}") from e
    containers.track(container)
    try:
        try:
            status = container.wait(timeout=timeout)["StatusCode"]
        except Exception as e:
            raise MslabError(f"verify {target}: no answer within {timeout}s") from e
        output = container.logs().decode(errors="replace")
    finally:
        container.remove(force=True)
        containers.untrack(container)
    if status != 0:
        lines = [line for line in output.splitlines() if line.strip()]
        raise MslabError(f"verify {target} failed (exit {status}): {lines[-1] if lines else 'no output'}")
    return output


def wheelhouse(
    target: str = "cpu",
    version: str = "",
    source: str = "",
    arch: str = "",
    dest: Path = WHEELHOUSE,
    pip: list[str] | None = None,
    echo: Callable[[str], None] = print,
) -> Path:
    """Download on the host every wheel the target's image needs, for offline builds.

    source "official": the official MindSpore wheel, checked against pins.env; "pypi": PyPI's.
    Dependencies come from PyPI for the target's Python and arch. Writes dest/SHA256SUMS, which
    the build checks. Returns dest.
    """
    pins = read_pins()
    version = version or pins["MINDSPORE_VERSION_PIN"]
    source = source or ("official" if version == pins["MINDSPORE_VERSION_PIN"] else "pypi")
    if source not in ("official", "pypi"):
        raise MslabError(f"the wheelhouse takes MindSpore from official or pypi, not {source!r}")
    python = str(_service(target)["build"].get("args", {}).get("PYTHON_VERSION", ""))
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
    if extra.is_file():
        cmd += ["-r", str(extra)]
    here = f"{sys.version_info[0]}.{sys.version_info[1]}"
    if (python, arch) != (here, platform.machine()):
        plats = [f"manylinux{v}_{arch}" for v in ("_2_28", "_2_17", "2014", "2010", "1")] + [f"linux_{arch}"]
        cmd += ["--python-version", python, "--only-binary=:all:"]
        for p in plats:
            cmd += ["--platform", p]
    echo(" ".join(cmd))
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        tail = [line for line in done.stderr.splitlines() if line.strip()][-1:]
        raise MslabError(f"pip download failed: {tail[0] if tail else done.returncode}")
    sums = "".join(f"{_sha256(w)}  {w.name}\n" for w in sorted(dest.glob("*.whl")))
    (dest / "SHA256SUMS").write_text(sums)
    echo(f"{dest}: {sums.count(chr(10))} wheels, SHA256SUMS written")
    return dest


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
