"""What this machine's devices are, read from its files and tools — NVIDIA GPUs (`nvidia-smi`),
Ascend NPUs (`npu-smi`, /dev/davinci*, the driver's version.info): the probes that both
`inv doctor` (mslab.doctor) and compose.yaml's runtime environment (mslab.images) read.
Files are looked up under a root (default "/", or $MSLAB_DOCTOR_ROOT), so tests can fake them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from mslab import settings


def parse_nvidia_smi(text: str) -> tuple[str, list[str]]:
    """(driver version, GPU names) from plain `nvidia-smi` output; ('', []) if none."""
    driver = re.search(r"Driver Version:\s*([\d.]+)", text)
    gpus = re.findall(r"^\|\s+\d+\s+(.+?)\s+(?:On|Off)\s*\|", text, re.MULTILINE)
    return (driver.group(1) if driver else ""), gpus


def parse_npu_smi(text: str) -> tuple[str, list[tuple[str, str, str]]]:
    """(npu-smi version, [(npu id, name, health)]) from `npu-smi info` output."""
    version = re.search(r"Version:\s*(\S+)", text)
    npus = re.findall(
        r"^\|\s*(\d+)\s+(\S+)\s*\|\s*(OK|Warning|Alarm|Critical|Unknown|\w+)\s*\|\s*[\d.-]", text, re.MULTILINE
    )
    return (version.group(1) if version else ""), npus


def read_key(path: Path, key: str) -> str:
    """VALUE of the first `key=VALUE` line (case-insensitive key), '' if absent/unreadable."""
    try:
        for line in path.read_text(errors="replace").splitlines():
            k, sep, v = line.partition("=")
            if sep and k.strip().lower() == key.lower():
                return v.strip()
    except OSError:
        pass
    return ""


@dataclass
class DeviceGroup:
    """The group owning the Ascend device nodes on the host."""

    gid: int
    name: str  # from the host's /etc/group, '' if it has no entry
    node: str  # the device node it was read from, e.g. /dev/davinci_manager


def device_root(root: str | Path | None) -> Path:
    return Path(root or settings.value("MSLAB_DOCTOR_ROOT"))


def ascend_device_group(root: str | Path | None = None) -> DeviceGroup | None:
    """Group of the host's Ascend device nodes (davinci_manager first, then davinci<N>), None if
    there are none. root: where /dev and /etc are (default $MSLAB_DOCTOR_ROOT or /)."""
    root = device_root(root)
    dev = root / "dev"
    nodes = [dev / "davinci_manager", *sorted(dev.glob("davinci[0-9]*"))] if dev.is_dir() else []
    for node in nodes:
        try:
            gid = node.stat().st_gid
        except OSError:
            continue
        name = ""
        try:
            for line in (root / "etc/group").read_text(errors="replace").splitlines():
                fields = line.split(":")
                if len(fields) >= 3 and fields[2] == str(gid):
                    name = fields[0]
                    break
        except OSError:
            pass
        return DeviceGroup(gid, name, "/" + str(node.relative_to(root)))
    return None
