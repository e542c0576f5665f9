"""Hardware detection: which mslab image suits this machine (`inv doctor`, `--target auto`).

Reads the Docker engine, NVIDIA GPUs (nvidia-smi), Ascend NPUs (/dev/davinci*, npu-smi, the
driver's version.info, CANN) and the CPU architecture. Never needs Docker: every probe that fails
becomes a row of the table. Files are looked up under a root (default "/", or $MSLAB_DOCTOR_ROOT)
and executables on a PATH, so tests can fake both.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mslab import containers, images
from mslab.devices import ascend_device_group, device_root, parse_npu_smi, parse_nvidia_smi, read_key
from mslab.errors import MslabError
from mslab.sandbox import host
from mslab.target import ISOLATIONS, LOCAL, RAY_UNITS, TARGET_TOLERANCES, Target

# CUDA 11.6 needs at least this Linux driver (CUDA 11.6 release notes, table 3; MindSpore's GPU guide).
CUDA_MIN_DRIVER = "510.39.01"
# MindSpore 2.4.0 pairs with CANN 8.0.RC3 and the 24.1.RC3 driver/firmware.
ASCEND_DRIVER = "24.1.rc3"
CANN_VERSION = "8.0.RC3"
ASCEND_CONTROL_DEVICES = ("davinci_manager", "devmm_svm", "hisi_hdc")
# The driver gives its device nodes to this group (unless installed --install-for-all); the
# image's user 10001 needs it as a supplementary group, as Ascend's container guide runs them.
ASCEND_GROUP = "HwHiAiUser"

OK, WARN, MISSING, FAIL = "ok", "warn", "missing", "fail"


@dataclass
class Check:
    """One row of doctor's table."""

    name: str
    status: str  # ok | warn | missing | fail
    detail: str


@dataclass
class Diagnosis:
    """Everything doctor found, and the target it recommends."""

    arch: str
    docker: bool
    gpu: bool  # an NVIDIA GPU whose driver runs CUDA 11.6
    npu: bool  # Ascend NPUs the ascend image can use
    checks: list[Check] = field(default_factory=list)

    @property
    def recommended(self) -> str:
        if not self.docker:
            return LOCAL
        if self.npu:
            return "ascend"
        if self.gpu:
            return "cuda"
        return "cpu"


def _version_tuple(text: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"[.\-]", text.strip().lower()))


def _run(exe: str, *args: str, timeout: float = 15) -> tuple[int, str]:
    try:
        done = subprocess.run([exe, *args], capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        return -1, str(e)
    return done.returncode, done.stdout + done.stderr


def _docker_probe() -> str:
    """Engine version, or MslabError when no engine answers."""
    return images.docker_client().version().get("Version", "?")


def _device_group_check(root: Path) -> Check | None:
    group = ascend_device_group(root)
    if group is None:
        return None
    var = "MSLAB_ASCEND_GID"
    override = os.environ.get(var, "")
    named = f"{group.gid} ({group.name or 'no name in /etc/group'})"
    if override and override != str(group.gid):
        return Check(
            "Ascend device group",
            WARN,
            f"{group.node} belongs to GID {named}, but {var}={override} is what containers get",
        )
    if group.gid == 0:
        return Check(
            "Ascend device group",
            WARN,
            f"{group.node} belongs to root's group: none added (the devices must be usable by all,"
            " driver installed --install-for-all)",
        )
    status = OK if group.name in ("", ASCEND_GROUP) else WARN
    return Check(
        "Ascend device group",
        status,
        f"GID {named} owns {group.node}: added to every ascend container"
        f" (for docker compose: export {var}={group.gid})",
    )


def orphan_check(reap: Callable[[], list[str]] | None = None) -> Check:
    """Remove the containers of grader runs that are gone (killed, crashed) and say how many."""
    if reap is None:
        reap = containers.reap_orphans
    try:
        removed = reap()
    except MslabError as e:
        return Check("Orphaned containers", WARN, f"not checked: {e}")
    if removed:
        return Check("Orphaned containers", WARN, f"removed {len(removed)} of runs that are gone: {', '.join(removed)}")
    return Check("Orphaned containers", OK, "none")


#: What each wall (mslab.sandbox.host.WALLS, by the names --allow-weaker takes) is, for doctor's rows.
WALLS = {
    "uid": "a uid that owns nothing the sandbox sees",
    "user_ns": "user namespace",
    "mount_ns": "mount namespace",
    "pid_ns": "PID namespace",
    "net_ns": "network namespace",
    "ipc_ns": "IPC namespace",
    "uts_ns": "UTS namespace",
    "cgroup_ns": "cgroup namespace",
    "seccomp": "seccomp filter",
    "no_new_privs": "no_new_privs",
    "capabilities": "no capabilities",
    "jail": "new root (no checkout)",
    "scratch": "tmpfs scratch",
    "cgroup": "memory, pids and CPU limits",
}


def walls_checks(probe: Callable[[], tuple[dict, str]], how: Callable[[str], str] | None = None) -> list[Check]:
    """One row per wall of a sandbox started here for the user running doctor (``probe`` =
    mslab.sandbox.host.probe, every wall allowed missing), as measured: whether it stands and, where
    it does not, the command that provides it (``how`` = mslab.sandbox.host.how); then whether
    `inv grade` would run here or refuse."""
    explain_wall = how or host.how
    try:
        walls, isolation = probe()
    except Exception as e:  # noqa: BLE001 - doctor reports, it does not crash
        return [Check("Sandbox walls", FAIL, f"no sandbox could start: {e}")]
    if not walls:
        return [Check("Sandbox walls", FAIL, isolation)]
    missing = host.missing_walls(walls)
    rows = []
    for key, name in WALLS.items():
        if key in missing:
            rows.append(Check(f"Wall: {key} ({name})", FAIL, f"missing: {explain_wall(key)}"))
            continue
        value = walls.get(key)
        detail = {
            "uid": f"uid {walls.get('uid')} as the host sees it",
            "capabilities": "none",
            "cgroup": f"cgroup {value}",
        }.get(key, "up")
        rows.append(Check(f"Wall: {key} ({name})", OK, detail))
    rows.append(Check("Sandbox isolation", OK if isolation == "full" else WARN, isolation))
    if missing:
        rows.append(
            Check(
                "inv grade here",
                FAIL,
                f"refuses (provide the walls above, or: --allow-weaker {','.join(missing)}); lab.check runs with a warning",
            )
        )
    else:
        rows.append(Check("inv grade here", OK, "every wall stands"))
    return rows


def _gpu_checks(path: str | None) -> tuple[bool, list[Check]]:
    exe = shutil.which("nvidia-smi", path=path)
    if not exe:
        return False, [Check("NVIDIA GPU", MISSING, "no nvidia-smi on PATH")]
    code, out = _run(exe)
    driver, gpus = parse_nvidia_smi(out)
    if code != 0 or not driver:
        first = next((line for line in out.splitlines() if line.strip()), f"exit {code}")
        return False, [Check("NVIDIA GPU", FAIL, f"nvidia-smi failed: {first.strip()}")]
    names = ", ".join(gpus) if gpus else "none listed"
    checks = [Check("NVIDIA GPU", OK if gpus else WARN, f"{len(gpus)}: {names}")]
    good = _version_tuple(driver) >= _version_tuple(CUDA_MIN_DRIVER)
    checks.append(
        Check(
            "NVIDIA driver",
            OK if good else FAIL,
            f"{driver} ({'>=' if good else '<'} {CUDA_MIN_DRIVER}, the CUDA 11.6 minimum)",
        )
    )
    if gpus:
        checks.append(_cuda_driver_library(path))
    return bool(gpus) and good, checks


def _cuda_driver_library(path: str | None) -> Check:
    """The cuda image has CUDA's runtime libraries but not the driver's libcuda.so.1: the NVIDIA
    Container Toolkit (nvidia-container-cli) mounts this host's into each container."""
    toolkit = shutil.which("nvidia-container-cli", path=path)
    where = "libcuda.so.1 is this host driver's, not the cuda image's"
    if toolkit:
        return Check("CUDA driver library", OK, f"{where}: the NVIDIA Container Toolkit ({toolkit}) mounts it")
    return Check("CUDA driver library", WARN, f"{where}: install the NVIDIA Container Toolkit, which mounts it")


def _npu_checks(root: Path, path: str | None) -> tuple[bool, list[Check]]:
    dev = root / "dev"
    cards = sorted(p.name for p in dev.glob("davinci[0-9]*")) if dev.is_dir() else []
    control = [d for d in ASCEND_CONTROL_DEVICES if not (dev / d).exists()]
    if not cards:
        checks = [Check("Ascend NPU devices", MISSING, "no /dev/davinci<N>")]
    elif control:
        checks = [Check("Ascend NPU devices", FAIL, f"{', '.join(cards)}; missing /dev/{', /dev/'.join(control)}")]
    else:
        checks = [Check("Ascend NPU devices", OK, ", ".join(cards) + " + " + ", ".join(ASCEND_CONTROL_DEVICES))]

    exe = shutil.which("npu-smi", path=path)
    smi_ok = False
    if not exe:
        checks.append(Check("npu-smi", MISSING, "no npu-smi on PATH"))
    else:
        code, out = _run(exe, "info")
        version, npus = parse_npu_smi(out)
        sick = [f"{n} {name}: {health}" for n, name, health in npus if health != "OK"]
        if code != 0 or not npus:
            first = next((line for line in out.splitlines() if line.strip()), f"exit {code}")
            checks.append(Check("npu-smi", FAIL, f"npu-smi info failed: {first.strip()}"))
        else:
            smi_ok = not sick
            names = ", ".join(f"{n} {name} {health}" for n, name, health in npus)
            checks.append(Check("npu-smi", WARN if sick else OK, f"{version}: {len(npus)} NPU(s): {names}"))

    info = root / "usr/local/Ascend/driver/version.info"
    driver = read_key(info, "Version") or read_key(info, "package_version")
    if not driver:
        checks.append(Check("Ascend driver", MISSING, f"no /{info.relative_to(root)}"))
    else:
        same = driver.lower() == ASCEND_DRIVER
        checks.append(
            Check(
                "Ascend driver",
                OK if same else WARN,
                f"{driver}" + ("" if same else f" (MindSpore 2.4.0 is documented with {ASCEND_DRIVER})"),
            )
        )

    toolkit = root / "usr/local/Ascend/ascend-toolkit/latest"
    cann = ""
    for candidate in sorted(toolkit.glob("*/ascend_toolkit_install.info")) if toolkit.is_dir() else []:
        cann = read_key(candidate, "version")
        break
    if cann:
        checks.append(Check("CANN (host)", OK, f"{cann} (the ascend image brings its own {CANN_VERSION})"))
    else:
        checks.append(
            Check("CANN (host)", MISSING, f"not on the host; not needed: the ascend image has {CANN_VERSION}")
        )
    group = _device_group_check(root)
    if group is not None:
        checks.insert(1, group)
    return bool(cards) and not control and smi_ok and bool(driver), checks


def diagnose(
    root: str | Path | None = None,
    path: str | None = None,
    docker_probe: Callable[[], str] = _docker_probe,
    arch: str | None = None,
    reap: Callable[[], list[str]] | None = None,
    walls: Callable[[], tuple[dict, str]] | None = None,
) -> Diagnosis:
    """Probe this machine. root: where /dev and /usr/local/Ascend are (default $MSLAB_DOCTOR_ROOT
    or /); path: PATH for nvidia-smi/npu-smi (default $PATH); docker_probe: returns the engine's
    version or raises MslabError; reap: removes dead runs' containers (default
    mslab.containers.reap_orphans; only called when the engine answers); walls: starts a sandbox
    and measures its walls (mslab.sandbox.host.probe; None: not checked)."""
    root = device_root(root)
    arch = arch or platform.machine()
    checks = [
        Check(
            "CPU architecture",
            OK if arch in ("x86_64", "aarch64") else WARN,
            arch + {"x86_64": " (cpu, cuda, ascend images)", "aarch64": " (cpu, ascend images)"}.get(arch, ""),
        )
    ]
    try:
        checks.append(Check("Docker engine", OK, f"reachable, version {docker_probe()}"))
        docker = True
    except MslabError as e:
        checks.append(Check("Docker engine", MISSING, str(e)))
        docker = False
    if docker:
        checks.append(orphan_check(reap))
    gpu, gpu_checks = _gpu_checks(path)
    if gpu and arch != "x86_64":
        gpu = False
        gpu_checks.append(Check("NVIDIA GPU", WARN, f"the cuda image is x86_64 only, this is {arch}"))
    npu, npu_checks = _npu_checks(root, path)
    wall_checks = walls_checks(walls) if walls is not None else []
    return Diagnosis(arch=arch, docker=docker, gpu=gpu, npu=npu, checks=checks + gpu_checks + npu_checks + wall_checks)


def recommended_target(
    root: str | Path | None = None,
    path: str | None = None,
    docker_probe: Callable[[], str] = _docker_probe,
) -> str:
    """'local' (no Docker engine), 'ascend', 'cuda' or 'cpu': the image to use here."""
    return diagnose(root, path, docker_probe).recommended


def explain(diagnosis: Diagnosis) -> str:
    """One sentence on why the recommended target was chosen."""
    target = diagnosis.recommended
    if target == LOCAL:
        extra = " (install Docker to use the GPU/NPU through an image)" if diagnosis.gpu or diagnosis.npu else ""
        return f"no Docker engine: run the labs in the local venv on CPU{extra}"
    if target == "ascend":
        return "Ascend NPUs usable: the ascend image (CANN 8.0.RC3, MindSpore's official 2.4.0 target)"
    if target == "cuda":
        return "NVIDIA GPU with a CUDA 11.6 driver: the cuda image (GPU is not an official 2.4.0 target)"
    return "Docker but no usable accelerator: the cpu image"


def table(diagnosis: Diagnosis):
    """The diagnosis as a rich Table."""
    from rich.table import Table

    colour = {OK: "green", WARN: "yellow", MISSING: "dim", FAIL: "red"}
    t = Table(title="mslab doctor")
    t.add_column("Check")
    t.add_column("Status")
    t.add_column("Details")
    for c in diagnosis.checks:
        t.add_row(c.name, f"[{colour[c.status]}]{c.status}[/]", c.detail)
    t.add_row("[bold]Recommended target[/]", f"[bold]{diagnosis.recommended}[/]", explain(diagnosis))
    return t


def _target_choices() -> list[str]:
    return [LOCAL, *images.targets()]


def resolve_target(name: str = LOCAL, isolation: str = "process", *, image: bool = False) -> Target:
    """The :class:`Target` named on the command line, or a one-line MslabError.

    ``auto`` is `inv doctor`'s recommendation; ``isolation="container"`` with ``local`` means the
    ``cpu`` image (a fresh container per submission). ``image``: the caller needs an image (the
    ``image.*`` tasks), so ``local`` — named, or what ``auto`` picked — is refused.
    """
    if isolation not in ISOLATIONS:
        raise MslabError(f"unknown isolation {isolation!r}; choose process or container")
    if name == "auto":
        name = recommended_target()
        if image and name == LOCAL:
            raise MslabError("no Docker engine here: `inv doctor` recommends running locally, not an image")
    choices = [c for c in _target_choices() if not (image and c == LOCAL)]
    if name not in choices:
        raise MslabError(f"unknown target {name!r}; choose one of: {', '.join(choices)}, auto")
    if isolation == "container" and name == LOCAL:
        name = "cpu"  # a fresh container per submission
    tolerances = dict(TARGET_TOLERANCES.get(name, {}))
    if name == LOCAL:
        return Target(LOCAL, tolerances=tolerances, isolation="process")
    return Target(
        name,
        images.service(name)["image"],
        images.device(name),
        tolerances,
        "container",
        unit=RAY_UNITS[images.built_for(name)],
    )
