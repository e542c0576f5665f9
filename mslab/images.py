"""Container images: read compose.yaml and docker/pins.env; build, verify, wheelhouse.

compose.yaml is the single source of truth for the targets (tag, build context and args, what a
container needs at run time); docker/pins.env holds the versions and hashes. Nothing here repeats
them. The Docker SDK builds with the classic builder, which the multi-stage Dockerfiles suit.
"""

from __future__ import annotations

import hashlib
import platform
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Callable

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
    "user", "read_only", "network_mode", "cap_drop", "security_opt", "pids_limit",
    "mem_limit", "working_dir", "devices", "volumes", "environment",
)


def load_compose(path: Path = COMPOSE) -> dict:
    """The parsed compose file; MslabError if it is missing or has no services."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as e:
        raise MslabError(f"cannot read {path}: {e}") from e
    if not isinstance(data, dict) or not data.get("services"):
        raise MslabError(f"{path} defines no services")
    return data


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


def service(target: str, path: Path = COMPOSE) -> dict:
    """Keyword arguments for `docker_client().containers.run(**service(t), command=...)`.

    image, user, read_only, network_mode, cap_drop, security_opt, pids_limit, mem_limit,
    working_dir, tmpfs (dict), devices, volumes, environment (dict), labels, and
    device_requests (a GPU reservation, cuda only) - all from compose.yaml.
    """
    svc = _service(target, path)
    kwargs = {"image": svc["image"]}
    kwargs.update({k: svc[k] for k in _RUN_KEYS if k in svc})
    kwargs["environment"] = dict(svc.get("environment") or {})
    kwargs["labels"] = dict(svc.get("labels") or {})
    kwargs["tmpfs"] = dict(_split_tmpfs(t) for t in svc.get("tmpfs") or [])
    kwargs["devices"] = [d if d.count(":") else f"{d}:{d}" for d in svc.get("devices") or []]
    kwargs["volumes"] = list(svc.get("volumes") or [])
    gpus = svc.get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices", [])
    if gpus:
        from docker.types import DeviceRequest

        kwargs["device_requests"] = [
            DeviceRequest(
                driver=g.get("driver", ""),
                count=-1 if g.get("count") == "all" else int(g.get("count", -1)),
                device_ids=g.get("device_ids"),
                capabilities=[list(g.get("capabilities", ["gpu"]))],
            )
            for g in gpus
        ]
    return kwargs


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
) -> dict[str, str]:
    """Build args: compose.yaml's for the target, the pins, then the given overrides."""
    pins = read_pins()
    source = source or pins["MINDSPORE_SOURCE_PIN"]
    if source not in SOURCES:
        raise MslabError(f"MindSpore source must be one of {', '.join(SOURCES)}, not {source!r}")
    args = {k: str(v) for k, v in (_service(target, path)["build"].get("args") or {}).items()}
    args["MINDSPORE_VERSION"] = version or pins["MINDSPORE_VERSION_PIN"]
    args["MINDSPORE_SOURCE"] = source
    if base_image:
        args["BASE_IMAGE"] = base_image
    if sha256:
        args["MINDSPORE_SHA256"] = sha256
    return args


def docker_client():
    """A Docker SDK client for the local engine, or MslabError if no engine answers."""
    try:
        import docker
    except ImportError as e:
        raise MslabError("Docker engine not reachable: the docker Python package is missing") from e
    try:
        client = docker.from_env(timeout=10)
        client.ping()
    except Exception as e:  # noqa: BLE001 - any failure means "no engine"
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
) -> str:
    """Build the target's image from compose.yaml; returns its tag. Streams the log to echo."""
    svc = _service(target)
    args = build_args(target, version, source, base_image, sha256)
    if args["MINDSPORE_SOURCE"] == "wheelhouse" and not (WHEELHOUSE / "SHA256SUMS").is_file():
        raise MslabError(f"{WHEELHOUSE / 'SHA256SUMS'} missing: run `inv image.wheelhouse` first")
    client = client or docker_client()
    context = (COMPOSE.parent / svc["build"].get("context", ".")).resolve()
    echo(f"building {svc['image']} from {svc['build']['dockerfile']}: {args}")
    last = []
    stream = client.api.build(
        path=str(context),
        dockerfile=svc["build"]["dockerfile"],
        tag=svc["image"],
        buildargs=args,
        rm=True,
        forcerm=True,
        decode=True,
        platform=platform_ or None,
    )
    for chunk in stream:
        if "error" in chunk:
            tail = " | ".join(line.strip() for line in last[-3:] if line.strip())
            raise MslabError(f"building {svc['image']} failed: {chunk['error'].strip()} ({tail})")
        text = chunk.get("stream", "")
        if text:
            last.append(text)
            echo(text.rstrip("\n"))
    return svc["image"]


def verify(
    target: str,
    version: str = "",
    timeout: int = 300,
    client=None,
) -> str:
    """Run the image's self-check in a container of the target (its devices, its limits).

    Checks: MindSpore version == pin (or `version`), run_check on the target's device, every
    mslab module imports. Returns the self-check's output; MslabError when anything fails.
    """
    version = version or read_pins()["MINDSPORE_VERSION_PIN"]
    client = client or docker_client()
    kwargs = service(target)
    command = ["python", "/opt/mslab/selfcheck.py", "--device", device(target), "--version", version]
    try:
        container = client.containers.run(command=command, detach=True, **kwargs)
    except Exception as e:  # noqa: BLE001 - SDK errors: image missing, devices missing...
        raise MslabError(f"cannot start {kwargs['image']}: {str(e).splitlines()[0]}") from e
    try:
        try:
            status = container.wait(timeout=timeout)["StatusCode"]
        except Exception as e:  # noqa: BLE001 - requests' timeout
            raise MslabError(f"verify {target}: no answer within {timeout}s") from e
        output = container.logs().decode(errors="replace")
    finally:
        container.remove(force=True)
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
        "download", "--disable-pip-version-check", "--dest", str(dest),
        *wanted, "-r", str(REQUIREMENTS),
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
