"""The documentation is part of the repository and says what the code does: nothing cites a file
outside the repository, and the tables copied from the labs (points, errata) match the labs."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from conftest import LABS, ROOT
from mslab.checker import collect

OUTSIDE = "shared" + "/"  # (spelled so that this file does not match itself)


def repo_files() -> list[str]:
    """Tracked files and new ones git does not ignore (what a commit would hold)."""
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [f for f in out.splitlines() if (ROOT / f).is_file()]


def text_files() -> dict[str, str]:
    texts = {}
    for name in repo_files():
        try:
            texts[name] = (ROOT / name).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # not text
    return texts


def test_nothing_cites_a_file_outside_the_repository():
    texts = text_files()
    assert "docs/errata.md" in texts and "README.md" in texts
    citing = [
        f"{name}:{n}" for name, text in texts.items() for n, line in enumerate(text.splitlines(), 1) if OUTSIDE in line
    ]
    assert citing == [], "cite docs/ (or the lab) instead: everything a reader needs is in the repository"


def test_markdown_links_point_into_the_repository():
    broken = []
    for name, text in text_files().items():
        if not name.endswith(".md"):
            continue
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue  # a web address or an anchor
            path = (ROOT / name).parent / target.split("#")[0]
            if not path.exists() or ROOT.resolve() not in path.resolve().parents:
                broken.append(f"{name}: {target}")
    assert broken == []


def test_readme_points_table_matches_the_labs():
    """The README's table of labs: one row per lab, with its points as the checks give them
    (visible + hidden). When a lab is added, the failure prints the row's points."""
    rows = re.findall(
        r"^\| \[`(\w+)`\]\(labs/\1/README\.md\) \|.*\| (\d+(?:\.\d+)?) \+ (\d+(?:\.\d+)?) \|$",
        (ROOT / "README.md").read_text(encoding="utf-8"),
        re.MULTILINE,
    )
    in_readme = {name: (float(v), float(h)) for name, v, h in rows}
    expected = {}
    for name, lab in LABS.items():
        checks = collect(lab)
        expected[name] = (sum(c.points for c in checks if not c.hidden), sum(c.points for c in checks if c.hidden))
    assert in_readme == expected


ERRATA_DOC = (ROOT / "docs" / "errata.md").read_text(encoding="utf-8")
#: A lab's section of mistakes students make (not the tutorial's), with its block of numbers.
MISTAKES_SECTION = re.compile(r"^## Mistakes students make in `(\w+)` \((\d+)–(\d+)\)$", re.MULTILINE)
#: A row that names the checks catching a mistake: "| n | `visible`...; `hidden`... |", the
#: checks in the last cell (the tutorial's table of checks has two cells, a lab's section four).
CHECKS_ROW = re.compile(r"^\| (\d+) \|(?: .* \|)? (`test_[^|]*`;?) \|$", re.MULTILINE)


def test_errata_page_lists_every_erratum_the_labs_reproduce():
    sections = list(MISTAKES_SECTION.finditer(ERRATA_DOC))
    tutorial = ERRATA_DOC[: sections[0].start()] if sections else ERRATA_DOC
    rows = re.findall(r"^\| (\d+) \| .* \| `(\w+)` \|$", tutorial, re.MULTILINE)
    numbers = [int(n) for n, _ in rows]
    assert numbers == list(range(1, len(rows) + 1)), "the tutorial's errata are numbered 1, 2, 3..."
    found = {(int(n), lab) for n, lab in rows}
    for i, section in enumerate(sections):
        lab, first, last = section.group(1), int(section.group(2)), int(section.group(3))
        body = ERRATA_DOC[section.end() : sections[i + 1].start() if i + 1 < len(sections) else len(ERRATA_DOC)]
        numbers = [int(n) for n, _ in CHECKS_ROW.findall(body)]
        assert numbers == list(range(first, first + len(numbers))) and numbers[-1] <= last, (lab, numbers)
        found |= {(n, lab) for n in numbers}
    reproduced = {(m["erratum"], name) for name, lab in LABS.items() for m in lab.mistakes}
    assert found == reproduced, "each erratum or mistake, and the lab that reproduces it"


def test_errata_page_names_the_checks_that_catch_each_erratum():
    table = dict(CHECKS_ROW.findall(ERRATA_DOC))
    checks = [c for lab in LABS.values() for c in collect(lab)]
    for number, cell in table.items():
        visible, hidden = cell.split(";")
        documented = {n: False for n in re.findall(r"`(\w+)`", visible)} | {
            n: True for n in re.findall(r"`(\w+)`", hidden)
        }
        tagged = {c.name: c.hidden for c in checks if int(number) in c.errata}
        assert documented == tagged, number
    assert set(table) == {str(m["erratum"]) for lab in LABS.values() for m in lab.mistakes}


@pytest.mark.parametrize("name", sorted(LABS))
def test_lab_readme_points_tables_match_the_checks(name):
    """Each lab's README has a table of tasks with visible and hidden points, in Chinese and in
    English; both match the checks, task by task and in total."""
    lab = LABS[name]
    checks = collect(lab)
    text = (lab.dir / "README.md").read_text(encoding="utf-8")
    per_task = {
        task: (
            sum(c.points for c in checks if c.task == task and not c.hidden),
            sum(c.points for c in checks if c.task == task and c.hidden),
        )
        for task in lab.tasks
    }
    rows = re.findall(r"^\| (\w+) \|.*\| (\d+(?:\.\d+)?) \| (\d+(?:\.\d+)?) \|$", text, re.MULTILINE)
    tables = [rows[i : i + len(per_task)] for i in range(0, len(rows), len(per_task))]
    assert len(tables) == 2, "a table in each language"
    for table in tables:
        assert {t: (float(v), float(h)) for t, v, h in table} == per_task
    totals = re.findall(r"\*\*(\d+(?:\.\d+)?)\*\* \| \*\*(\d+(?:\.\d+)?)\*\*", text)
    visible, hidden = sum(v for v, _ in per_task.values()), sum(h for _, h in per_task.values())
    assert [(float(v), float(h)) for v, h in totals] == [(visible, hidden)] * 2


def test_the_authoring_guides_mistake_example_is_valid():
    # docs/authoring.md shows a mistakes.yaml entry: it must be one the loader accepts.
    block = re.search(r"```yaml\n(.*?)```", (ROOT / "docs" / "authoring.md").read_text(encoding="utf-8"), re.DOTALL)
    entries = yaml.safe_load(block.group(1))
    assert isinstance(entries, list) and all({"erratum", "what", "hint", "replace"} <= set(m) for m in entries)


def test_the_kuberay_manifest_asks_for_what_the_workers_ask_ray_for():
    """docs/kuberay.yaml: the Ray of the cluster extra; each group offers the resources a worker of
    its target asks for (Target.cluster_resources); the head grades nothing; pods that fork
    sandboxes run unconfined (not privileged), pods that start containers have the Docker socket."""
    import json
    import re

    from mslab.doctor import resolve_target as resolve

    manifest = yaml.safe_load((ROOT / "docs" / "kuberay.yaml").read_text(encoding="utf-8"))
    pinned = re.search(r'"ray\[client\]==([\d.]+)"', (ROOT / "pyproject.toml").read_text()).group(1)
    assert manifest["kind"] == "RayCluster" and manifest["spec"]["rayVersion"] == pinned
    assert manifest["spec"]["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    groups = {g["groupName"]: g for g in manifest["spec"]["workerGroupSpecs"]}
    for name, target in (("cpu", "local"), ("gpu", "cuda"), ("ascend", "ascend")):
        params = groups[name]["rayStartParams"]
        offered = {"CPU": float(params["num-cpus"])}
        if "num-gpus" in params:
            offered["GPU"] = float(params["num-gpus"])
        offered.update(json.loads(json.loads(params.get("resources", '"{}"'))))  # KubeRay's quoting
        wants = resolve(target).cluster_resources()
        asked = {"CPU": wants["num_cpus"], **({"GPU": wants["num_gpus"]} if "num_gpus" in wants else {})}
        asked.update(wants.get("resources", {}))
        assert set(asked) <= set(offered) and all(offered[k] >= v for k, v in asked.items()), (name, offered)
        (container,) = groups[name]["template"]["spec"]["containers"]
        if target == "local":
            walls = container["securityContext"]
            assert walls["privileged"] is False and "capabilities" not in walls
            assert walls["seccompProfile"] == {"type": "Unconfined"} == walls["appArmorProfile"]
        else:
            assert container["volumeMounts"] == [{"name": "docker", "mountPath": "/var/run/docker.sock"}]
