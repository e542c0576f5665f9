"""Finding labs: each is a folder under ``labs/`` with the same shape.

::

    labs/<name>/
      lab.yaml            title (en, zh) and tasks
      README.md           goal, math, tasks, points — Chinese and English
      walkthrough.py      the tutorial's section, corrected, runnable
      <name>.py           the starter the student fills in
      solution/<name>.py  the reference solution
      checks/visible.py   checks students see
      checks/hidden.py    checks run with --all and by `grade`
      checks/*.py         anything else the checks load with ``sibling`` (reference.py: the lab's math)
      mistakes.yaml       known mistakes as edits of the solution, with the hint a check gives for each

Everything a lab needs is in its folder: copy one to start a new lab (docs/authoring.md).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import yaml

from mslab import settings
from mslab.errors import MslabError


def labs_root() -> Path:
    """``$MSLAB_LABS``, or ``labs/`` next to the package in a source checkout."""
    return Path(settings.value("MSLAB_LABS") or Path(__file__).resolve().parent.parent / "labs")


@dataclass(frozen=True)
class Lab:
    name: str
    dir: Path

    @cached_property
    def meta(self) -> dict:
        try:
            data = yaml.safe_load((self.dir / "lab.yaml").read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise MslabError(f"lab {self.name}: cannot read lab.yaml ({exc})") from None
        if not isinstance(data, dict) or not isinstance(data.get("tasks"), dict):
            raise MslabError(f"lab {self.name}: lab.yaml needs a title and a tasks mapping")
        return data

    @property
    def title(self) -> str:
        return str(self.meta.get("title", self.name))

    @property
    def tasks(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in self.meta["tasks"].items()}

    @property
    def autodiff(self) -> list[str]:
        """Functions that must be computed with autodiff (flagged when their code reaches none)."""
        return [str(name) for name in self.meta.get("autodiff", [])]

    @property
    def module(self) -> str:
        return self.name

    @property
    def starter(self) -> Path:
        return self.dir / f"{self.name}.py"

    @property
    def solution(self) -> Path:
        return self.dir / "solution" / f"{self.name}.py"

    @property
    def walkthrough(self) -> Path:
        return self.dir / "walkthrough.py"

    def check_files(self, hidden: bool) -> list[Path]:
        """The check files to run: the visible ones, and with ``hidden`` the hidden ones too."""
        return [self.visible_checks] + ([self.hidden_checks] if hidden else [])

    @property
    def visible_checks(self) -> Path:
        return self.dir / "checks" / "visible.py"

    @property
    def hidden_checks(self) -> Path:
        return self.dir / "checks" / "hidden.py"

    @property
    def check_sources(self) -> list[Path]:
        """Every file a check result depends on: the check files, what they load, the hints."""
        return sorted(self.dir.glob("checks/*.py")) + [self.dir / "lab.yaml", self.dir / "mistakes.yaml"]

    @cached_property
    def mistakes(self) -> list[dict]:
        path = self.dir / "mistakes.yaml"
        if not path.exists():
            return []
        return yaml.safe_load(path.read_text(encoding="utf-8")) or []


def all_labs() -> list[Lab]:
    root = labs_root()
    if not root.is_dir():
        raise MslabError(f"no labs folder at {root} (set MSLAB_LABS)")
    return [Lab(p.name, p) for p in sorted(root.iterdir()) if (p / "lab.yaml").is_file()]


def get_lab(name: str) -> Lab:
    labs = all_labs()
    for lab in labs:
        if lab.name == name:
            return lab
    names = ", ".join(lab.name for lab in labs)
    raise MslabError(f"unknown lab {name!r}; choose one of: {names}")


def start_lab(lab: Lab, dest: Path, *, force: bool = False) -> Path:
    """Copy the lab's starter to ``dest/<lab>.py`` for the student to fill in."""
    target = Path(dest) / f"{lab.name}.py"
    if target.exists() and not force:
        raise MslabError(f"{target} already exists (your work?); pass --force to overwrite it")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(lab.starter, target)
    return target
