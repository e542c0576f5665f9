"""Runs a lab's checks (pytest, in this process) against one submission (in a sandbox)."""

from __future__ import annotations

import ast
import dataclasses
import re
import secrets
import sys
import tempfile
import time
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mslab import checks, containers
from mslab.errors import MslabError
from mslab.labs import Lab
from mslab.records import CheckResult, CheckRun  # CheckRun: the checker's result, in the one result model
from mslab.sandbox.host import WALLS, Limits, Sandbox, Shared, Student, StudentError, StudentRaised
from mslab.sandbox.wire import MAX_TEXT
from mslab.sandbox.zygote import Zygote
from mslab.submissions import read_lab_file
from mslab.target import LOCAL_TARGET, Target

VISIBLE_SEED = 20240
#: MindSpore's automatic differentiation, as a student file may name it.
AUTODIFF_API = frozenset(
    {"grad", "value_and_grad", "jacfwd", "jacrev", "vjp", "jvp", "GradOperation", "vmap_grad", "hessian"}
)


class _Plugin:
    """Gives checks their fixtures and turns each test outcome into a :class:`CheckResult`."""

    def __init__(
        self,
        sandbox: Sandbox | None,
        hidden_files: set[Path],
        seed: int,
        target: Target = LOCAL_TARGET,
        task: str | None = None,
    ):
        self.sandbox = sandbox
        self.task = task  # run only this task's checks (`lab.check --task N`)
        self.hidden_files = hidden_files
        self.seed = seed
        self.tolerance_table = checks.tolerances_for(target.tolerances)
        self.results: list[CheckResult] = []
        self.collected: list[CheckResult] = []
        self.errors: list[str] = []

    @pytest.fixture
    def student(self) -> Student:
        assert self.sandbox is not None, "collect() runs no check"
        return Student(self.sandbox)

    @pytest.fixture(autouse=True)
    def tolerances(self) -> Iterator[Mapping[str, tuple[float, float]]]:
        """The target's (rtol, atol) per dtype, in force for this check's close() and matches()."""
        with checks.tolerances_in_force(self.tolerance_table) as table:
            yield table

    @pytest.fixture
    def rng(self, request) -> np.random.Generator:
        hidden = Path(request.node.path) in self.hidden_files
        seed = self.seed if hidden else VISIBLE_SEED
        return np.random.default_rng([seed, zlib.crc32(request.node.name.encode())])

    def pytest_collectreport(self, report) -> None:
        if report.failed:
            self.errors.append(f"{report.nodeid}: {report.longreprtext.strip().splitlines()[-1]}")

    def pytest_collection_modifyitems(self, config, items) -> None:
        if self.task is not None:
            other = [i for i in items if getattr(getattr(i, "function", None), "mslab_check", None) is not None]
            other = [i for i in other if i.function.mslab_check.task != self.task]
            if other:
                config.hook.pytest_deselected(items=other)
                items[:] = [i for i in items if i not in other]
        for item in items:
            spec = getattr(item.function, "mslab_check", None)
            if spec is None:
                self.errors.append(f"{item.nodeid} has no @check(points=..., task=..., hint=...)")
            else:
                self.collected.append(self._result(item, spec, passed=False))

    def _result(
        self, item, spec: checks.CheckSpec, passed: bool, reason="", hint="", errata: tuple[int, ...] | None = None
    ) -> CheckResult:
        """A check's result. ``errata``: those the failure matched (None: the check's own tags,
        as :func:`collect` lists them)."""
        return CheckResult(
            name=item.name,
            title=(item.function.__doc__ or item.name).strip().splitlines()[0],
            task=spec.task,
            points=spec.points,
            score=spec.points if passed else 0.0,
            hidden=Path(item.path) in self.hidden_files,
            passed=passed,
            reason=_cap(reason),
            hint=_cap(hint),
            errata=spec.errata if errata is None else errata,
        )

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        spec = getattr(item.function, "mslab_check", None)
        if spec is None or not (report.when == "call" or report.failed):
            return
        if report.when == "teardown":
            return
        reason, hint, errata = ("", "", ()) if report.passed else _explain(call.excinfo, spec)
        self.results.append(self._result(item, spec, report.passed, reason, hint, errata))


def _cap(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def without_autodiff(source: bytes, functions: list[str]) -> list[str]:
    """Which of ``functions`` (top-level names of a student file) reach no autodiff API in the
    file's syntax tree, following calls and references between its top-level names. A file that
    does not parse reaches nothing (it is unloadable anyway: nothing to flag)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    bindings: dict[str, list[ast.AST]] = {}
    autodiff_aliases = set(AUTODIFF_API)
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bindings.setdefault(node.name, []).append(node)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for name in ast.walk(target):
                    if isinstance(name, ast.Name):
                        bindings.setdefault(name.id, []).append(node)
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.name in AUTODIFF_API:
                    autodiff_aliases.add(alias.asname or alias.name)

    def names(node: ast.AST) -> set[str]:
        """Names a node uses, leaving out code that can never run or does nothing: a branch
        under a constant test that is false (``if False:``, ``while 0:``), statements after a
        ``return`` or ``raise`` in the same block, and a statement that is a bare name
        (``grad``). (A flag, not a proof: hidden checks that only autodiff passes do the grading.)"""
        found: set[str] = set()
        todo: list = [node]
        while todo:
            sub = todo.pop()
            if isinstance(sub, ast.Name):
                found.add(sub.id)
            elif isinstance(sub, ast.Attribute):
                found.add(sub.attr)
            if isinstance(sub, ast.Expr) and isinstance(sub.value, (ast.Name, ast.Attribute, ast.Constant)):
                continue  # a statement that only names something (``grad``) does nothing
            if isinstance(sub, (ast.If, ast.While, ast.IfExp)) and isinstance(sub.test, ast.Constant):
                live = sub.body if sub.test.value else sub.orelse
                todo.extend(_live(live) if isinstance(live, list) else [live])
                continue
            for attr, value in ast.iter_fields(sub):
                if isinstance(value, list):
                    items = _live(value) if attr in ("body", "orelse", "finalbody") else value
                    todo.extend(v for v in items if isinstance(v, ast.AST))
                elif isinstance(value, ast.AST):
                    todo.append(value)
        return found

    def reach(name: str) -> bool:
        seen, todo = set(), [name]
        while todo:
            current = todo.pop()
            if current in seen:
                continue
            seen.add(current)
            for node in bindings.get(current, []):
                used = names(node)
                if used & autodiff_aliases:
                    return True
                todo.extend(used & bindings.keys())
        return False

    return [function for function in functions if function in bindings and not reach(function)]


def _live(block: list) -> list:
    """The statements of a block up to its first ``return`` or ``raise`` (included)."""
    for i, stmt in enumerate(block):
        if isinstance(stmt, (ast.Return, ast.Raise)):
            return block[: i + 1]
    return block


def _explain(excinfo, spec: checks.CheckSpec) -> tuple[str, str, tuple[int, ...]]:
    """The reason, hint and matched errata of a failed check.

    The reason is the check's own message (what was expected and what came back). A tutorial
    erratum's hint comes only from :func:`mslab.checks.mistake`, when the answer matched it; any
    other failure gets the check's plain hint (``@check(hint=...)``, never an erratum's), or says
    that the function is missing from the file."""
    exc = excinfo.value if excinfo is not None else None
    if isinstance(exc, checks.CheckFailed):
        return exc.reason, str(exc.hint or spec.hint), exc.errata  # plain text in records
    if isinstance(exc, StudentRaised) and exc.type_name == "NotImplementedError":
        return f"not done yet — {exc.message or exc}", "", ()
    missing = _MISSING_FUNCTION.fullmatch(exc.message.strip()) if isinstance(exc, StudentRaised) else None
    if isinstance(exc, StudentRaised) and missing and missing.group(2) == exc.fn:
        return (
            str(exc),
            f"{missing.group(1)}.py has no function {exc.fn}(): define it (the lab's starter has each one)",
            (),
        )
    if isinstance(exc, StudentError):
        return str(exc), spec.hint, ()
    if isinstance(exc, AssertionError):
        return (str(exc).strip().splitlines()[0] if str(exc).strip() else "assertion failed"), spec.hint, ()
    name = type(exc).__name__ if exc is not None else "error"
    return f"checker error ({name}: {exc}); please report it to your instructor", spec.hint, ()


#: Python's message when a module lacks the function a check calls.
_MISSING_FUNCTION = re.compile(r"module '([A-Za-z_][A-Za-z0-9_]*)' has no attribute '([A-Za-z_][A-Za-z0-9_]*)'")


def _pytest(lab: Lab, files: list[Path], plugin: _Plugin, *extra: str) -> None:
    args = [*(str(f.resolve()) for f in files), *extra]
    args += [
        "-p",
        "no:cacheprovider",
        "-p",
        "no:terminal",
        "-p",
        "no:warnings",
        "-p",
        "no:unraisableexception",
        "-p",
        "no:threadexception",
        "-p",
        "no:faulthandler",
        "-p",
        "no:logging",
        "--capture=no",
    ]
    args += ["--import-mode=importlib", "-o", "addopts=", "--rootdir", str(lab.dir)]
    try:
        pytest.main(args, plugins=[plugin])
    finally:
        _forget_modules(lab.dir)
    if plugin.errors:
        raise MslabError(f"lab {lab.name}: broken checks: {plugin.errors[0]}")


def _forget_modules(folder: Path) -> None:
    """Drop check modules imported from ``folder``: labs reuse file names, and runs start fresh."""
    prefix = str(folder.resolve())
    for name, module in list(sys.modules.items()):
        if (getattr(module, "__file__", None) or "").startswith(prefix):
            del sys.modules[name]


def collect(lab: Lab, *, hidden: bool = True) -> list[CheckResult]:
    """The lab's checks (unscored) without running anything: names, tasks, points, errata."""
    files = lab.check_files(hidden)
    plugin = _Plugin(None, {lab.hidden_checks.resolve()}, VISIBLE_SEED)
    _pytest(lab, files, plugin, "--collect-only")
    return plugin.collected


def run_checks(
    lab: Lab,
    submission: Path,
    *,
    hidden: bool = False,
    target: Target = LOCAL_TARGET,
    seed: int | None = None,
    limits: Limits | None = None,
    zygote: Zygote | None = None,
    junitxml: Path | None = None,
    shared: Shared | None = None,
    task: str | None = None,
) -> CheckRun:
    """Run the visible (and with ``hidden``, the hidden) checks of ``lab`` on ``submission``
    (with ``task``, that task's only).

    Student code runs in a sandbox: forked from ``zygote`` (a new one if None) or in the
    target's container (:func:`mslab.containers.spawner`). The labs folder — checks, hidden
    checks, solutions — is invisible to it: the jail shows only what it allows. With ``shared`` (one student's labs in turn), the child the
    student's previous lab used serves this one when it is fit (:meth:`Sandbox.inherit`) and is
    left open for the next; if anything goes wrong in such a child, the lab is graded again in a
    fresh one, and that run is the one returned.
    """
    submission = Path(submission)
    if not submission.is_file():
        raise MslabError(f"no submission file at {submission}")
    files = lab.check_files(hidden)
    seed = secrets.randbits(31) if seed is None else seed
    started = time.perf_counter()
    options: dict[str, Any] = {"spawn": containers.spawner(target), "limits": limits, "zygote": zygote}
    if shared is not None:
        sandbox = shared.sandbox(submission, lab.module, **options)
    else:
        sandbox = Sandbox(submission, lab.module, **options)
    plugin, output = _check(lab, files, sandbox, seed, junitxml, target, keep_open=shared is not None, task=task)
    if sandbox.inherited and sandbox.troubled:  # perhaps the earlier lab's doing: grade it afresh
        earlier, sandbox = sandbox, Sandbox(submission, lab.module, **options)
        sandbox.continue_budget(earlier)  # within the same budget: a regrade buys no extra time
        plugin, output = _check(lab, files, sandbox, seed, junitxml, target, keep_open=False, task=task)
    load_error = sandbox.load_error
    flags = []
    answered = [name for name in lab.autodiff if name in sandbox.answered]
    lazy = without_autodiff(sandbox.source_bytes, answered) if not load_error else []
    if lazy:
        flags.append(f"no autodiff API (grad, value_and_grad, ...) reached by: {', '.join(lazy)}")
    return CheckRun(
        lab=lab.name,
        submission=str(submission),
        target=target.name,
        seed=seed,
        checks=plugin.results,
        seconds=time.perf_counter() - started,
        output=output,
        load_error=load_error,
        isolation=sandbox.isolation,
        flags=flags,
        out_of_time=sandbox.out_of_time,
        start_seconds=sandbox.start_seconds,
        student_seconds=sandbox.call_seconds,
    )


def check_own_file(
    lab: Lab,
    path: Path,
    *,
    hidden: bool = False,
    seed: int | None = None,
    target: Target = LOCAL_TARGET,
    zygote: Zygote | None = None,
    task: str | None = None,
) -> CheckRun:
    """Check one student's file on the student's own machine, as `inv lab.check` and the
    notebook's ``check()`` do: taken in as `inv grade` takes a lab's file (a notebook's code
    cells: mslab.submissions.read_lab_file), so both give one mark; every wall may be missing
    there, and the run's ``isolation`` says which are (docs/walls.md)."""
    code, _note = read_lab_file(path, lab.name)
    with tempfile.TemporaryDirectory(prefix="mslab-check-") as tmp:
        staged = Path(tmp) / f"{lab.module}.py"
        staged.write_bytes(code)
        run = run_checks(
            lab,
            staged,
            hidden=hidden,
            target=target,
            seed=seed,
            zygote=zygote,
            limits=Limits(allow_weaker=WALLS),
            task=task,
        )
    return dataclasses.replace(run, submission=str(path))


def _check(
    lab: Lab,
    files: list[Path],
    sandbox: Sandbox,
    seed: int,
    junitxml: Path | None,
    target: Target,
    keep_open: bool,
    task: str | None = None,
) -> tuple[_Plugin, str]:
    """Run ``files`` (the lab's checks) against ``sandbox``: their results, and what the student
    code printed. The sandbox is closed after, unless ``keep_open`` (for the student's next lab)
    and nothing went wrong in it."""
    plugin = _Plugin(sandbox, {lab.hidden_checks.resolve()}, seed, target, task)
    sandbox.start()  # MindSpore imports in the child while pytest collects here
    try:
        _pytest(lab, files, plugin, *([f"--junitxml={junitxml}"] if junitxml else []))
        return plugin, sandbox.output()
    finally:
        if not keep_open or sandbox.troubled:
            sandbox.close()
