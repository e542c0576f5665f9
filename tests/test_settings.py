"""Every environment setting is declared once, documented in docs/settings.md, and checked."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from mslab import settings
from mslab.errors import MslabError
from mslab.sandbox.host import Limits

DOC = (Path(__file__).resolve().parent.parent / "docs" / "settings.md").read_text()
UNITS = {"s": 1, "GiB": 1024**3, "MiB": 1024**2}


def _rows(header: str) -> list[list[str]]:
    lines = DOC.splitlines()
    start = lines.index(header) + 2
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows


def test_the_table_lists_every_setting_with_its_default():
    documented = {var.strip("`"): default for var, default, _ in _rows("| variable | default | what |")}
    declared = {s.var: (f"`{s.default}`" if s.default else "(unset)") for s in settings.SETTINGS.values()}
    assert documented == declared


def test_no_module_reads_an_undeclared_mslab_variable():
    root = Path(__file__).resolve().parent.parent / "mslab"
    import re

    used = set()
    for path in root.rglob("*.py"):
        used |= set(re.findall(r"\"(MSLAB_[A-Z_]+)\"", path.read_text()))
    used -= {"MSLAB_LIMIT_"}
    assert used <= set(settings.SETTINGS), used - set(settings.SETTINGS)


def test_the_limits_table_is_the_limits_dataclass():
    rows = _rows("| variable | `Limits` field | default | what |")
    names = [f.name for f in fields(Limits) if f.name != "allow_weaker"]
    assert [r[1].strip("`") for r in rows] == names
    for var, name, default, _ in rows:
        assert var == f"`MSLAB_LIMIT_{name.strip('`').upper()}`"
        number, _, unit = default.partition(" ")
        expected = getattr(Limits(), name.strip("`"))
        assert (None if number == "none" else float(number) * UNITS.get(unit, 1)) == expected, name


def test_limits_come_from_the_environment_and_the_command_line_wins():
    env = {"MSLAB_LIMIT_CALL_SECONDS": "5", "MSLAB_LIMIT_MEMORY_BYTES": "1073741824", "MSLAB_LIMIT_CPUS": "1.5"}
    limits = Limits.configured(env, allow_weaker=("cgroup",), call_seconds=7.0)
    assert (limits.call_seconds, limits.memory_bytes, limits.cpus, limits.allow_weaker) == (
        7.0,
        2**30,
        1.5,
        ("cgroup",),
    )
    assert Limits.configured({}) == Limits()
    with pytest.raises(MslabError, match="^MSLAB_LIMIT_PROCESSES must be a number above 0, not 'many'$"):
        Limits.configured({"MSLAB_LIMIT_PROCESSES": "many"})
    with pytest.raises(MslabError, match="^MSLAB_LIMIT_CALL_SECONDS must be a number above 0, not '0'$"):
        Limits.configured({"MSLAB_LIMIT_CALL_SECONDS": "0"})


@pytest.mark.parametrize(
    "var,raw,expected",
    [
        ("MSLAB_SANDBOX_UIDS", "", (900000, 965535)),
        ("MSLAB_SANDBOX_UIDS", "5-9", (5, 9)),
        ("MSLAB_SANDBOX_PER_LAB", "1", True),
        ("MSLAB_SANDBOX_PER_LAB", "", False),
        ("MSLAB_CUDA_DEVICE", "gpu", "GPU"),
        ("MSLAB_CLUSTER_START_SECONDS", "", 600.0),
        ("MSLAB_DOCTOR_ROOT", "", "/"),
    ],
)
def test_a_setting_is_parsed(var, raw, expected):
    assert settings.value(var, {var: raw}) == expected


@pytest.mark.parametrize(
    "var,raw,line",
    [
        ("MSLAB_SANDBOX_UIDS", "0-10", "MSLAB_SANDBOX_UIDS must be FIRST-LAST with 0 < FIRST <= LAST, not '0-10'"),
        ("MSLAB_SANDBOX_PER_LAB", "yes", "MSLAB_SANDBOX_PER_LAB must be 1 or 0, not 'yes'"),
        ("MSLAB_CUDA_DEVICE", "tpu", "MSLAB_CUDA_DEVICE must be GPU or CPU, not 'tpu'"),
        ("MSLAB_ASCEND_GID", "HwHiAiUser", "MSLAB_ASCEND_GID must be a numeric GID, not 'HwHiAiUser'"),
        (
            "MSLAB_CLUSTER_START_SECONDS",
            "-1",
            "MSLAB_CLUSTER_START_SECONDS must be a number of seconds above 0, not '-1'",
        ),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(var, raw, line):
    with pytest.raises(MslabError) as info:
        settings.value(var, {var: raw})
    assert str(info.value) == line


# -- the invoke configuration's `mslab` section: the same settings, from a file ----------------


def _config(tmp_path: Path, body: str) -> str:
    path = tmp_path / "invoke.yaml"
    path.write_text(body, encoding="utf-8")
    return str(path)


def _one_lab(tmp_path: Path) -> Path:
    import shutil

    labs = tmp_path / "labs"
    shutil.copytree(Path(__file__).resolve().parent.parent / "labs" / "derivatives", labs / "derivatives")
    return labs


def test_a_setting_in_the_invoke_configuration_is_in_force(tmp_path, monkeypatch):
    from conftest import inv

    monkeypatch.delenv("MSLAB_LABS", raising=False)
    listed = inv("-f", _config(tmp_path, f"mslab:\n  labs: {_one_lab(tmp_path)}\n"), "lab.list")
    assert listed.returncode == 0, listed.stderr
    assert "derivatives" in listed.stdout and "jacobians" not in listed.stdout and "value_and_grad" not in listed.stdout


def test_the_environment_wins_over_the_invoke_configuration(tmp_path, monkeypatch):
    from conftest import inv

    monkeypatch.setenv("MSLAB_LABS", str(Path(__file__).resolve().parent.parent / "labs"))
    listed = inv("-f", _config(tmp_path, f"mslab:\n  labs: {_one_lab(tmp_path)}\n"), "lab.list")
    assert listed.returncode == 0, listed.stderr
    assert "jacobians" in listed.stdout and "value_and_grad" in listed.stdout


@pytest.mark.parametrize(
    ("body", "line"),
    [
        ("mslab:\n  sandbox_per_lab: 7\n", "error: invoke configuration: mslab.sandbox_per_lab must be 1 or 0, not 7"),
        (
            "mslab:\n  sandbox_uids: 5-2\n",
            "error: invoke configuration: mslab.sandbox_uids must be FIRST-LAST with 0 < FIRST <= LAST, not '5-2'",
        ),
        ("mslab:\n  memory: 1\n", "error: invoke configuration: mslab.memory is not a setting (they are: "),
    ],
)
def test_a_bad_invoke_configuration_is_one_line(tmp_path, body, line):
    from conftest import inv

    result = inv("-f", _config(tmp_path, body), "lab.list")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [result.stderr.strip()] and result.stderr.startswith(line)


def test_limits_come_from_the_invoke_configuration_under_their_variables():
    env = settings.from_config(
        {"limit_memory_bytes": 1073741824, "limit_call_seconds": "7.5"}, tuple(Limits.variables())
    )
    assert env == {"MSLAB_LIMIT_MEMORY_BYTES": "1073741824", "MSLAB_LIMIT_CALL_SECONDS": "7.5"}
    configured = Limits.configured(env=env)
    assert configured.memory_bytes == 1073741824 and configured.call_seconds == 7.5
    assert configured.load_seconds == Limits().load_seconds
    assert settings.from_config({"sandbox_per_lab": True}) == {"MSLAB_SANDBOX_PER_LAB": "1"}
