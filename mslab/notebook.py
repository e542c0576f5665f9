"""The student's loop in a Jupyter notebook: a notebook starter, and ``check()`` inside it.

:func:`starter` builds ``work/<lab>.ipynb`` (nbformat) from the lab's own files: its goal, math and
tasks in Chinese and English (the lab README's first three sections of each language), the
starter's imports, one code cell per task with the starter's stub, and a last cell that checks the
notebook. :func:`check` — ``from mslab import check; check()`` in that cell — checks the *saved*
notebook through the same intake, sandbox and checks as `inv lab.check`, and shows the table as
HTML in the notebook (plain text in a terminal). It keeps one warm zygote for the kernel's life,
so MindSpore is imported once, not at every check.

The grader never runs the check cell: intake drops a code cell tagged ``mslab-check`` or starting
with ``from mslab import check`` (mslab is not importable inside the sandbox), and says so.
"""

from __future__ import annotations

import ast
import atexit
import html
import re
from pathlib import Path

from mslab import checker, present
from mslab.errors import MslabError
from mslab.labs import Lab, get_lab
from mslab.present import check_output, plain
from mslab.sandbox.zygote import Zygote

CHECK_TAG = "mslab-check"  # the check cell's tag: intake never grades it


def _readme_sections(lab: Lab) -> list[str]:
    """The lab README's first three sections (goal, math, tasks and points) in each language."""
    try:
        text = (lab.dir / "README.md").read_text(encoding="utf-8")
    except OSError:
        return [f"# {lab.title}"]
    title = text.splitlines()[0] if text.startswith("# ") else f"# {lab.title}"
    parts = []
    for block in re.split(r"^## ", text, flags=re.M)[1:]:
        heading, _, body = block.partition("\n")
        sections = re.split(r"^(?=### )", body, flags=re.M)
        kept = "".join(s for s in sections[1:4])
        parts.append(f"## {heading.strip()}\n\n{kept.strip()}\n")
    return [title, *parts]


def starter(lab: Lab) -> str:
    """The lab's notebook starter (nbformat 4 JSON text)."""
    import nbformat

    source = lab.starter.read_text(encoding="utf-8")
    tree = ast.parse(source)
    cells = [nbformat.v4.new_markdown_cell(part) for part in _readme_sections(lab)]
    doc = ast.get_docstring(tree)
    if doc:
        cells.append(nbformat.v4.new_markdown_cell(doc))
    imports = [ast.get_source_segment(source, n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    if imports:
        cells.append(nbformat.v4.new_code_cell("\n".join(i for i in imports if i)))
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            first = (ast.get_docstring(node) or node.name).splitlines()[0]
            cells.append(nbformat.v4.new_markdown_cell(f"### {first}"))
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            lines = source.splitlines()[start - 1 : node.end_lineno]
            cells.append(nbformat.v4.new_code_cell("\n".join(lines)))
        elif isinstance(node, ast.Assign):
            cells.append(nbformat.v4.new_code_cell(ast.get_source_segment(source, node) or ""))
    check_cell = nbformat.v4.new_code_cell(
        f'from mslab import check\n\ncheck("{lab.name}")  # 保存后检查 / save, then check'
    )
    check_cell.metadata["tags"] = [CHECK_TAG]
    cells.append(
        nbformat.v4.new_markdown_cell(
            "### 检查 / Check\n\n保存笔记本（Ctrl-S）后运行下一格。Save the notebook (Ctrl-S), then run the next cell."
        )
    )
    cells.append(check_cell)
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.metadata["mslab"] = {"lab": lab.name}
    return nbformat.writes(notebook)


def start(lab: Lab, dest: Path, *, force: bool = False) -> Path:
    """Write the lab's notebook starter to ``dest/<lab>.ipynb``."""
    target = Path(dest) / f"{lab.name}.ipynb"
    if target.exists() and not force:
        raise MslabError(f"{target} already exists (your work?); pass --force to overwrite it")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(starter(lab), encoding="utf-8")
    return target


# -- check() in a notebook --------------------------------------------------------------------------

_zygote: list = []  # the kernel's warm zygote, started at the first check


def _warm_zygote():
    if not _zygote or not _zygote[0].alive():
        for old in _zygote:
            old.close()
        _zygote[:] = [Zygote()]
        atexit.register(_zygote[0].close)
    return _zygote[0]


def _ipython():
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def _notebook_path(shell) -> Path | None:
    """The notebook this kernel runs, where Jupyter says: ``__session__`` (ipykernel ≥ 6.20,
    set by JupyterLab and VS Code) or ``JPY_SESSION_NAME``."""
    import os

    for value in ((shell.user_ns.get("__session__") if shell else None), os.environ.get("JPY_SESSION_NAME")):
        if value and str(value).endswith(".ipynb") and Path(str(value)).is_file():
            return Path(str(value))
    return None


def unsaved(path: Path, shell) -> list[str]:
    """Code the kernel ran that the notebook on disk does not hold (the student did not save)."""
    if shell is None:
        return []
    import nbformat

    try:
        saved = nbformat.read(str(path), as_version=4)
    except Exception:  # noqa: BLE001 - a notebook being written; the check itself will say more
        return []
    on_disk = {str(c.get("source", "")).strip() for c in saved.cells if c.get("cell_type") == "code"}
    ran = [str(s).strip() for s in shell.user_ns.get("In", [])[1:]]
    return [s for s in ran if s and s not in on_disk and "mslab" not in s and not s.startswith(("%", "!"))]


def check(
    lab: str | None = None,
    *,
    path: str | Path | None = None,
    all: bool = False,
    verbose: bool = False,
    task: str | int | None = None,
):
    """Check the saved notebook (or ``path``) with the lab's visible checks (``all``: hidden too;
    ``task``: that task's only), as `inv lab.check` does, and show the same summary: a line per
    task, each failing check with its hint (``verbose``: the full table). HTML in a notebook.
    Returns the check run."""
    shell = _ipython()
    target = Path(path) if path else _notebook_path(shell)
    if target is None:
        raise MslabError("cannot tell which notebook this is: pass it, e.g. check(path='work/derivatives.ipynb')")
    if lab is None:
        import nbformat

        lab = str(nbformat.read(str(target), as_version=4).metadata.get("mslab", {}).get("lab") or target.stem)
    chosen = get_lab(lab)
    only = None if task is None else str(task).strip()
    if only is not None and only not in chosen.tasks:
        raise MslabError(f"lab {chosen.name} has no task {only!r}; its tasks are {', '.join(chosen.tasks)}")
    behind = unsaved(target, shell) if not path else []
    run = checker.check_own_file(chosen, target, hidden=all, zygote=_warm_zygote(), task=only)
    more = f'check("{chosen.name}", all=True)'
    summary = present.summarize(run, chosen, more=more, task=only, output_lines=present.SUMMARY_OUTPUT_LINES)
    if shell is not None and hasattr(shell, "display_pub"):
        from IPython.display import HTML, display

        display(HTML(run_html(run, behind) if verbose else _save_note(behind) + present.summary_html(summary)))
    else:
        if behind:
            print("Save the notebook first (Ctrl-S): it does not hold code you ran.")
        if verbose:
            present.print_run(run, verbose=True)
        else:
            present.print_summary(summary)
    return run


def _save_note(behind: list[str]) -> str:
    if not behind:
        return ""
    return (
        "<p><strong>先保存笔记本（Ctrl-S）/ Save the notebook first (Ctrl-S)</strong>: "
        "the file on disk does not hold code you ran.</p>"
    )


def run_html(run, behind: list[str] = ()) -> str:  # type: ignore[assignment]
    """A check run as the full HTML table (``check(verbose=True)``; everything escaped)."""
    rows = []
    for c in run.checks:
        result = "✅ pass" if c.passed else "❌ fail"
        why = "" if c.passed else html.escape(plain(check_output(c.reason, c.hint), keep_newlines=True))
        hidden = " <em>(hidden)</em>" if c.hidden else ""
        rows.append(
            f"<tr><td>{html.escape(plain(c.title))}{hidden}</td><td>{html.escape(c.task)}</td>"
            f"<td>{c.score:g}/{c.points:g}</td><td>{result}</td><td><pre>{why}</pre></td></tr>"
        )
    error = f"<p style='color:#b00'>{html.escape(plain(run.load_error))}</p>" if run.load_error else ""
    scope = "visible and hidden checks" if any(c.hidden for c in run.checks) else "visible checks only"
    return (
        f"{_save_note(list(behind))}<table><thead><tr><th>check</th><th>task</th><th>points</th><th>result</th>"
        f"<th>why / hint</th></tr></thead><tbody>{''.join(rows)}</tbody></table>{error}"
        f"<p><strong>Score: {run.score:g}/{run.max_score:g}</strong> ({scope})</p>"
    )
