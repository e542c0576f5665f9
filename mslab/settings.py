"""Every setting mslab reads from the environment, declared once: its variable, default, meaning and
how its value is checked. `docs/settings.md` is the table of them (tests/test_settings.py holds
the two together), with the per-student limits (:class:`mslab.sandbox.host.Limits`).

Values are read when they are used, from the environment of the process that uses them — not
once at start-up — because several belong to the machine where the work happens: a Ray node's
``MSLAB_SANDBOX_UIDS`` or ``MSLAB_CGROUP`` is that node's, a worker's ``CUDA_VISIBLE_DEVICES`` is
given by Ray. A bad value is a one-line :class:`MslabError` naming the variable.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mslab.errors import MslabError


def _text(value: str) -> str:
    return value.strip()


def _seconds(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not number > 0:
        raise ValueError("must be a number of seconds above 0")
    return number


def _uid_range(value: str) -> tuple[int, int]:
    try:
        first, last = (int(v) for v in value.split("-"))
    except ValueError:
        raise ValueError("must be FIRST-LAST (uids)") from None
    if not 0 < first <= last:
        raise ValueError("must be FIRST-LAST with 0 < FIRST <= LAST")
    return first, last


def _flag(value: str) -> bool:
    if value.strip() not in ("", "0", "1"):
        raise ValueError("must be 1 or 0")
    return value.strip() == "1"


def _choice(*choices: str) -> Callable[[str], str]:
    """One of ``choices`` (any case; returned as written in ``choices``), or "" when unset."""

    def parse(value: str) -> str:
        found = [c for c in choices if c.lower() == value.strip().lower()]
        if value.strip() and not found:
            raise ValueError(f"must be {' or '.join(choices)}")
        return found[0] if found else ""

    return parse


def _gid(value: str) -> str:
    if value.strip() and not value.strip().isdigit():
        raise ValueError("must be a numeric GID")
    return value.strip()


@dataclass(frozen=True)
class Setting:
    var: str  # the environment variable
    default: str  # its value when unset or empty ("" where the default is computed: see ``what``)
    what: str  # one line for docs/settings.md
    parse: Callable[[str], Any] = _text


SETTINGS: dict[str, Setting] = {
    s.var: s
    for s in (
        Setting("MSLAB_LABS", "", "the folder of labs (default: the checkout's `labs/`)"),
        Setting(
            "MSLAB_SANDBOX_UIDS",
            "900000-965535",
            "a root grader's range of otherwise unused uids for students (FIRST-LAST)",
            _uid_range,
        ),
        Setting(
            "MSLAB_CGROUP",
            "",
            "a normal user's delegated cgroup folder (relative, or absolute under /sys/fs/cgroup; default `mslab-<user>`)",
        ),
        Setting("MSLAB_SANDBOX_PER_LAB", "0", "1: a fresh sandbox for every lab, not one per student", _flag),
        Setting(
            "MSLAB_PYTEST_PER_RUN",
            "0",
            "1: one `pytest.main` per student × lab instead of each lab's checks collected once per worker (to compare)",
            _flag,
        ),
        Setting(
            "MSLAB_CLUSTER_START_SECONDS",
            "600",
            "how long `inv grade --cluster` waits for a first worker (a node may be starting)",
            _seconds,
        ),
        Setting(
            "MSLAB_CUDA_DEVICE",
            "",
            "where the cuda target computes: GPU or CPU (default: GPU when Ray gave one or `nvidia-smi` lists one)",
            _choice("GPU", "CPU"),
        ),
        Setting(
            "MSLAB_ASCEND_GID",
            "",
            "the GID owning /dev/davinci_manager, added to ascend containers (default: read from the device node)",
            _gid,
        ),
        Setting(
            "MSLAB_ASCEND_CHIP",
            "910b",
            "the Ascend chip the ascend image is built for: 910b or 910",
            _choice("910b", "910"),
        ),
        Setting("MSLAB_APT_MIRROR", "", "a Debian/Ubuntu archive the image builds use instead of the base's"),
        Setting(
            "MSLAB_DOCKER_CLI", "", "the docker client with buildx, for `inv image.build --platform` (default: on PATH)"
        ),
        Setting(
            "MSLAB_DOCTOR_ROOT",
            "/",
            "where `inv doctor` and the device probes look for /dev, /etc and /proc (tests fake it)",
        ),
    )
}


def value(var: str, env: Mapping[str, str] | None = None) -> Any:
    """Setting ``var``'s value in ``env`` (default: this process's environment), checked and
    parsed; its default when unset or empty; a one-line MslabError for a bad value."""
    setting = SETTINGS[var]
    raw = (os.environ if env is None else env).get(var, "")
    text = raw if raw.strip() else setting.default
    try:
        return setting.parse(text)
    except ValueError as exc:
        raise MslabError(f"{var} {exc}, not {raw!r}") from None


#: The invoke configuration's section read by :func:`from_config`.
CONFIG_SECTION = "mslab"


def config_key(var: str) -> str:
    """The invoke configuration's key for ``var``: ``MSLAB_LIMIT_MEMORY_BYTES`` → ``limit_memory_bytes``."""
    return var.removeprefix("MSLAB_").lower()


def from_config(section: Mapping[str, Any] | None, limits: tuple[str, ...] = ()) -> dict[str, str]:
    """The invoke configuration's ``mslab`` section (``invoke.yaml`` beside tasks.py,
    ``~/.invoke.yaml``, ``/etc/invoke.yaml``, or ``inv -f FILE``) as the environment variables it
    stands for: the key ``limit_memory_bytes`` stands for ``MSLAB_LIMIT_MEMORY_BYTES``. ``limits``: the variables of :class:`~mslab.sandbox.host.Limits`' fields
    (checked where they are read). A key that is no setting, or a bad value, is a one-line
    MslabError naming ``mslab.<key>``."""
    known = {config_key(var): var for var in (*SETTINGS, *limits)}
    found: dict[str, str] = {}
    for key, raw in dict(section or {}).items():
        if key not in known:
            raise MslabError(
                f"invoke configuration: mslab.{key} is not a setting (they are: {', '.join(sorted(known))})"
            )
        text = ("1" if raw else "0") if isinstance(raw, bool) else str(raw)
        if known[key] in SETTINGS:
            try:
                SETTINGS[known[key]].parse(text if text.strip() else SETTINGS[known[key]].default)
            except ValueError as exc:
                raise MslabError(f"invoke configuration: mslab.{key} {exc}, not {raw!r}") from None
        found[known[key]] = text
    return found
