"""Imports of mslab's own modules wait inside functions only where a reason is written down here:
the rest are at the top of their module, where import-linter's contracts (pyproject.toml) see them."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: (importing module, imported module) -> why it waits for the call.
DEFERRED = {
    ("mslab", "mslab.notebook"): "`import mslab` stays light: the sandbox's child imports the package",
}


def _function_level_imports() -> set[tuple[str, str]]:
    found = set()
    for path in (ROOT / "mslab").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        if module.startswith("mslab.tasks"):
            continue  # the command line: each task imports what it needs, so `inv --list` stays fast
        tree = ast.parse(path.read_text())
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("mslab"):
                    found.add((module, node.module or ""))
                elif isinstance(node, ast.Import):
                    found |= {(module, a.name) for a in node.names if a.name.startswith("mslab")}
    return found


def test_mslab_imports_wait_in_functions_only_with_a_written_reason():
    assert _function_level_imports() == set(DEFERRED)


def test_the_check_finds_a_deferred_import(tmp_path, monkeypatch):
    """The scan is not blind: an import inside a function is found."""
    fake = tmp_path / "mslab"
    fake.mkdir()
    (fake / "late.py").write_text("def f():\n    from mslab.records import Record\n    return Record\n")
    monkeypatch.setattr(__import__(__name__), "ROOT", tmp_path)
    assert _function_level_imports() == {("mslab.late", "mslab.records")}


def test_the_trust_boundary_imports_only_errors_and_settings_from_outside():
    """mslab/sandbox/ is the one place student code meets the grader: nothing of the grader's
    (checks, references, records) is importable from the processes it starts."""
    outside = set()
    for path in (ROOT / "mslab" / "sandbox").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""] if node.module != "mslab" else [f"mslab.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            outside |= {n for n in names if n.startswith("mslab") and not n.startswith("mslab.sandbox")}
    assert outside == {"mslab.errors", "mslab.settings"}
