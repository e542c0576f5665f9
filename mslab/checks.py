"""What a lab's check file uses: the ``@check`` decorator and assertions with readable reasons.

A check is a pytest test that receives the ``student`` fixture (calls into the sandbox) and
``rng`` (the checker's own seeded NumPy generator), computes expected values — with the lab's
own ``checks/reference.py`` (loaded with :func:`sibling`) or the generic :mod:`mslab.numeric` —
and compares. Failures raise :class:`CheckFailed`, whose text is the reason shown to the
student; :func:`mistake` names a known mistake (its hint from the lab's ``mistakes.yaml``, see
:func:`hints`) in place of the check's own hint. A tutorial erratum is named only that way — only
when the answer IS the erratum's — never by ``@check(hint=...)``, which is the check's plain hint
for any other failure. docs/authoring.md walks through writing one.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from types import CodeType, ModuleType

import numpy as np

from mslab.labs import Lab
from mslab.sandbox.host import StudentError, StudentRaised
from mslab.sandbox.wire import Array, Fn, Opaque

__all__ = [
    "Fn",
    "StudentError",
    "CheckFailed",
    "CheckSpec",
    "Erratum",
    "check",
    "close",
    "hints",
    "matches",
    "mistake",
    "raised",
    "sequence",
    "sibling",
    "tensor",
    "tolerance",
]


@dataclass(frozen=True)
class CheckSpec:
    points: float
    task: str
    hint: str
    errata: tuple[int, ...] = ()  # tutorial errata (docs/errata.md) this check catches


class Erratum(str):
    """A tutorial erratum's hint (what :func:`hints` returns), which knows its erratum's number."""

    number: int

    def __new__(cls, text: str, number: int) -> Erratum:
        self = super().__new__(cls, text)
        self.number = int(number)
        return self

    def __getnewargs__(self) -> tuple[str, int]:  # type: ignore[override]
        return str(self), self.number  # so that copies and pickles keep the number


def check(*, points: float, task: str, hint: str, errata: tuple[int, ...] = ()):
    """Mark a test function as a graded check worth ``points`` for ``task``.

    ``hint`` is the check's plain hint, shown for a failure that matches no known mistake; it
    may not be an erratum's hint (``HINT[n]``): a check names an erratum only through
    :func:`mistake`, when the answer matches it. ``errata``: the errata the check looks for."""
    if isinstance(hint, Erratum):
        raise TypeError(
            f"@check(hint=...) is the check's plain hint, not tutorial erratum {hint.number}'s: "
            "name the erratum with mistake(matches(got, ...), HINT[n], ...) inside the check"
        )

    def mark(fn):
        fn.mslab_check = CheckSpec(float(points), str(task), hint, tuple(errata))
        return fn

    return mark


class CheckFailed(AssertionError):
    """A failed check: ``reason`` says what was wrong; ``hint``, when set, names the mistake, and
    ``errata`` the tutorial errata the answer matched."""

    def __init__(self, reason: str, hint: str | None = None, errata: tuple[int, ...] = ()):
        super().__init__(reason)
        self.reason, self.hint, self.errata = reason, hint, tuple(errata)


def mistake(condition: bool, hint: str, reason: str = "") -> None:
    """Fail with ``hint`` when the student's answer matches a known mistake; when ``hint`` is a
    tutorial erratum's (``HINT[n]``, from :func:`hints`), the failure is tagged with that erratum."""
    if condition:
        errata = (hint.number,) if isinstance(hint, Erratum) else ()
        raise CheckFailed(reason or "the answer matches a known mistake", hint, errata)


def raised(exc: BaseException, type_name: str, *fragments: str) -> bool:
    """Whether student code raised ``type_name`` with every fragment in its message."""
    return isinstance(exc, StudentRaised) and exc.type_name == type_name and all(f in exc.message for f in fragments)


# -- tolerances ---------------------------------------------------------------------------

#: (rtol, atol) per dtype of the student's result, on CPU.
TOLERANCES = {
    "float16": (1e-2, 1e-2),
    "float32": (2e-4, 1e-4),
    "float64": (1e-7, 1e-9),
}
#: The tolerances in force for the check now running: the target's (its ``Target.tolerances``
#: over :data:`TOLERANCES`), set by the checker's ``tolerances`` fixture for the length of one
#: check and reset after it — not a module global a run leaves behind.
_in_force: ContextVar[Mapping[str, tuple[float, float]]] = ContextVar("tolerances", default=TOLERANCES)


def tolerances_for(overrides: Mapping[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
    """The table of (rtol, atol) per dtype for a target whose tolerances are ``overrides``."""
    return {**TOLERANCES, **overrides}


@contextmanager
def tolerances_in_force(table: Mapping[str, tuple[float, float]]) -> Iterator[Mapping[str, tuple[float, float]]]:
    """Make ``table`` the tolerances of :func:`matches`/:func:`close` inside the block."""
    token = _in_force.set(table)
    try:
        yield table
    finally:
        _in_force.reset(token)


def tolerance(dtype) -> tuple[float, float]:
    name = np.dtype(dtype).name
    table = _in_force.get()
    return table.get(name) or table["float64"]


# -- assertions ----------------------------------------------------------------------------


def describe(value) -> str:
    if isinstance(value, Array):
        return f"a {value.kind} of shape {tuple(value.value.shape)} and dtype {value.value.dtype}"
    if isinstance(value, Opaque):
        return f"a {value.type_name} object"
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)} item(s)"
    return f"a {type(value).__name__} ({value!r})"[:120]


def tensor(value, what: str, *, shape=None, dtype: str | None = "float32") -> np.ndarray:
    """The array inside ``value``, which must be a MindSpore Tensor of this shape and dtype."""
    if not isinstance(value, Array) or value.kind not in ("Tensor", "Parameter"):
        raise CheckFailed(f"{what} returned {describe(value)}; expected a mindspore.Tensor")
    arr = value.value
    if shape is not None and tuple(arr.shape) != tuple(shape):
        raise CheckFailed(f"{what} has shape {tuple(arr.shape)}; expected {tuple(shape)}")
    if dtype is not None and arr.dtype.name != dtype:
        raise CheckFailed(f"{what} has dtype {arr.dtype.name}; expected {dtype}")
    return arr


def sequence(value, length: int, what: str) -> tuple:
    """``value`` as a tuple, which must be a tuple or list of ``length`` items."""
    if not isinstance(value, (tuple, list)) or len(value) != length:
        raise CheckFailed(f"{what} returned {describe(value)}; expected a tuple of {length}")
    return tuple(value)


def matches(got: np.ndarray, expected, rtol: float | None = None, atol: float | None = None) -> bool:
    """Whether ``got`` equals ``expected`` within the tolerance for its dtype and target."""
    expected = np.asarray(expected, dtype=np.float64)
    got = np.asarray(got)
    if got.shape != expected.shape and got.size != expected.size:
        return False
    dr, da = tolerance(got.dtype if got.dtype.kind == "f" else np.float64)
    return bool(
        np.allclose(
            got.astype(np.float64).reshape(expected.shape),
            expected,
            rtol=dr if rtol is None else rtol,
            atol=da if atol is None else atol,
        )
    )


def close(got: np.ndarray, expected, what: str) -> None:
    """Fail unless ``got`` equals ``expected`` within tolerance, saying by how much it is off."""
    got = np.asarray(got)
    if got.dtype.kind == "f" and not np.all(np.isfinite(got)):
        raise CheckFailed(f"{what} contains NaN or infinity: {_fmt(got)}")
    if matches(got, expected):
        return
    expected = np.asarray(expected, dtype=np.float64)
    error = np.max(np.abs(got.astype(np.float64).reshape(expected.shape) - expected))
    raise CheckFailed(f"{what}: got {_fmt(got)}, expected {_fmt(expected)} (largest error {error:.3g})")


def _fmt(arr) -> str:
    arr = np.asarray(arr, dtype=np.float64)
    text = np.array2string(arr, precision=5, threshold=8, edgeitems=3, separator=", ")
    return " ".join(text.split())


def hints(file: str) -> dict[int, Erratum]:
    """The hint of each known mistake of the lab of check file ``file``, by erratum number: the
    ``hint`` of each entry of the lab's ``mistakes.yaml`` (for :func:`mistake`, never ``@check``)."""
    folder = Path(file).resolve().parent.parent
    try:
        stamp = (folder / "mistakes.yaml").stat()
        key = (str(folder), stamp.st_mtime_ns, stamp.st_size)
    except OSError:
        key = (str(folder), 0, -1)
    if key not in _HINTS:  # parsed once per file version: a grading worker runs the check files per submission
        _HINTS[key] = [(int(m["erratum"]), str(m["hint"])) for m in Lab(folder.name, folder).mistakes]
    return {number: Erratum(hint, number) for number, hint in _HINTS[key]}


#: The hints of each mistakes.yaml read, by (lab folder, mtime, size): text only, never a student's.
_HINTS: dict[tuple[str, int, int], list[tuple[int, str]]] = {}


def sibling(file: str, name: str) -> ModuleType:
    """Import ``<name>.py`` from the folder of check file ``file`` (check folders are not on sys.path)."""
    path = Path(file).resolve().with_name(f"{name}.py")
    key = f"mslab_checks_{path.parent.parent.name}_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, path)
        assert spec is not None and spec.loader is not None  # a .py path always has both
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        exec(_compiled(path), module.__dict__)  # what exec_module does, the compiling done once
    return sys.modules[key]


def _compiled(path: Path) -> CodeType:
    """``path``'s code, compiled once per file version (a grading worker loads the check files'
    siblings afresh for each submission, and no .pyc may be written beside them)."""
    stamp = path.stat()
    key = (str(path), stamp.st_mtime_ns, stamp.st_size)
    if key not in _CODE:
        _CODE[key] = compile(path.read_bytes(), str(path), "exec", dont_inherit=True)
    return _CODE[key]


#: Compiled sibling files by (path, mtime, size): code, never a value a student's run computed.
_CODE: dict[tuple[str, int, int], CodeType] = {}
