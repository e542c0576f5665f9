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
from _pytest.assertion.rewrite import _rewrite_test
from _pytest.config import _prepareconfig
from _pytest.runner import runtestprotocol

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
        self.task = task  # run only this task's checks (`lab.check --task N`)
        self.hidden_files = hidden_files
        self.collected: list[CheckResult] = []
        self.errors: list[str] = []
        self.reset(sandbox, seed, target)

    def reset(self, sandbox: Sandbox | None, seed: int, target: Target) -> None:
        """Start the run of one submission: its sandbox, its seed, its target's tolerances, no results."""
        self.sandbox = sandbox
        self.seed = seed
        self.tolerance_table = checks.tolerances_for(target.tolerances)
        self.results: list[CheckResult] = []

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


def _args(lab: Lab, files: list[Path], *extra: str) -> list[str]:
    """pytest's command line for ``files`` of ``lab``: no plugin that prints, captures or caches."""
    args = [*(str(f.resolve()) for f in files), *extra]
    for plugin in _OFF:
        args += ["-p", f"no:{plugin}"]
    return [*args, "--capture=no", "--import-mode=importlib", "-o", "addopts=", "--rootdir", str(lab.dir)]


#: pytest's plugins a check run does without.
_OFF = ("cacheprovider", "terminal", "warnings", "unraisableexception", "threadexception", "faulthandler", "logging")


def _pytest(lab: Lab, files: list[Path], plugin: _Plugin, *extra: str) -> None:
    try:
        pytest.main(_args(lab, files, *extra), plugins=[plugin])
    finally:
        _forget_modules(lab.dir)
    if plugin.errors:
        raise MslabError(f"lab {lab.name}: broken checks: {plugin.errors[0]}")


class Suite:
    """One lab's checks, collected once and run for one submission after another without a new
    pytest start (a worker keeps one per lab: :class:`mslab.worker.Worker`).

    ``pytest.main`` per run spent about 0.1 s on pytest itself (configuration, plugins, collection
    with assertion rewriting); a suite pays that once and runs each submission through pytest's
    own ``runtestprotocol`` over the collected items. Nothing of one run reaches the next: every
    fixture is torn down after the run's last check (function-scoped ones after each check), the
    plugin's sandbox, seed, tolerances and results are the run's own, and each check module — with
    what it loaded from its folder (``checks.sibling``) — is executed afresh from its compiled,
    assertion-rewritten code before the run, so module-level state (a cache, a list, a global, an
    ``lru_cache``) starts as the file says, never with an earlier student's values."""

    def __init__(self, lab: Lab, *, hidden: bool):
        self.lab, self.hidden = lab, hidden
        self.plugin = _Plugin(None, {lab.hidden_checks.resolve()}, VISIBLE_SEED)
        self.config = _prepareconfig(_args(lab, lab.check_files(hidden)), plugins=[self.plugin])
        try:
            self.config._do_configure()
            self.session = pytest.Session.from_config(self.config)
            self.config.hook.pytest_sessionstart(session=self.session)
            self.config.hook.pytest_collection(session=self.session)
            if self.plugin.errors:
                raise MslabError(f"lab {lab.name}: broken checks: {self.plugin.errors[0]}")
            self.items = [item for item in self.session.items if isinstance(item, pytest.Function)]
            if len(self.items) != len(self.session.items):
                raise MslabError(f"lab {lab.name}: broken checks: each check must be a test function")
            modules = {id(item.module): item.module for item in self.items}
            self.modules = [(m, _rewrite_test(Path(m.__file__), self.config)[1]) for m in modules.values()]
        except BaseException:
            self.close()
            raise
        finally:
            _forget_modules(lab.dir)

    def run(self, sandbox: Sandbox, seed: int, target: Target) -> list[CheckResult]:
        """Run every check against ``sandbox``: their results, in the order of the files."""
        plugin = self.plugin
        plugin.reset(sandbox, seed, target)
        try:
            self._fresh_modules()
            for item, nextitem in zip(self.items, [*self.items[1:], None], strict=True):
                runtestprotocol(item, log=False, nextitem=nextitem)  # the last one tears everything down
        except (pytest.exit.Exception, KeyboardInterrupt):
            pass  # the run ends there, as pytest.main ends it: the checks not run have no result
        finally:
            self.session._setupstate.teardown_exact(None)  # after an interrupt, too: no fixture stays
            _forget_modules(self.lab.dir)
            results, plugin.results = plugin.results, []
            plugin.reset(None, VISIBLE_SEED, LOCAL_TARGET)
        return results

    def _fresh_modules(self) -> None:
        """Execute each check module afresh in its own namespace (what a first import does),
        and point each check at the function its module now holds."""
        _forget_modules(self.lab.dir)  # what the checks load with checks.sibling() loads afresh too
        for module, code in self.modules:
            namespace = module.__dict__
            kept = {name: namespace[name] for name in _IMPORT_NAMES if name in namespace}
            namespace.clear()
            namespace.update(kept)
            sys.modules[module.__name__] = module
            try:
                exec(code, namespace)
            except Exception as exc:  # noqa: BLE001 - a check file that no longer loads: the lab's fault
                raise MslabError(f"lab {self.lab.name}: broken checks: {module.__file__}: {exc}") from None
        for item in self.items:
            item.obj = getattr(item.module, item.originalname)

    def close(self) -> None:
        """End pytest's session (its hooks leave the interpreter as ``pytest.main`` leaves it)."""
        session = getattr(self, "session", None)
        if session is not None:
            self.config.hook.pytest_sessionfinish(session=session, exitstatus=0)
        self.config._ensure_unconfigure()


#: What an import puts in a module's namespace before its code runs.
_IMPORT_NAMES = ("__name__", "__file__", "__spec__", "__loader__", "__package__", "__builtins__", "__cached__")


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
    suite: Suite | None = None,
    task: str | None = None,
) -> CheckRun:
    """Run the visible (and with ``hidden``, the hidden) checks of ``lab`` on ``submission``
    (with ``task``, that task's only).

    Student code runs in a sandbox: forked from ``zygote`` (a new one if None) or in the
    target's container (:func:`mslab.containers.spawner`). The labs folder — checks, hidden
    checks, solutions — is invisible to it: the jail shows only what it allows. With ``shared`` (one student's labs in turn), the child the
    student's previous lab used serves this one when it is fit (:meth:`Sandbox.inherit`) and is
    left open for the next; if anything goes wrong in such a child, the lab is graded again in a
    fresh one, and that run is the one returned. ``suite``: the lab's checks collected once
    (:class:`Suite`, for as many hidden runs as it is given for) instead of a ``pytest.main`` for
    this run; the results are the same (``junitxml``, pytest's own report, takes ``pytest.main``).
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
    if suite is not None and (
        junitxml is not None or suite.lab.dir != lab.dir or suite.hidden != hidden or task is not None
    ):
        suite = None
    results, output = _check(
        lab, files, sandbox, seed, junitxml, target, suite, keep_open=shared is not None, task=task
    )
    if sandbox.inherited and sandbox.troubled:  # perhaps the earlier lab's doing: grade it afresh
        earlier, sandbox = sandbox, Sandbox(submission, lab.module, **options)
        sandbox.continue_budget(earlier)  # within the same budget: a regrade buys no extra time
        results, output = _check(lab, files, sandbox, seed, junitxml, target, suite, keep_open=False, task=task)
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
        checks=results,
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
    suite: Suite | None,
    keep_open: bool,
    task: str | None = None,
) -> tuple[list[CheckResult], str]:
    """Run ``files`` (the lab's checks; ``suite``'s when given) against ``sandbox``: their
    results, and what the student code printed. The sandbox is closed after, unless
    ``keep_open`` (for the student's next lab) and nothing went wrong in it."""
    sandbox.start()  # MindSpore imports in the child while pytest collects here
    try:
        if suite is not None:
            return suite.run(sandbox, seed, target), sandbox.output()
        plugin = _Plugin(sandbox, {lab.hidden_checks.resolve()}, seed, target, task)
        _pytest(lab, files, plugin, *([f"--junitxml={junitxml}"] if junitxml else []))
        return plugin.results, sandbox.output()
    finally:
        if not keep_open or sandbox.troubled:
            sandbox.close()
