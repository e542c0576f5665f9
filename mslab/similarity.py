"""Similarity between students' files, per lab: pairs for a person to read, never a mark.

Fingerprints are copydetect's (``pip install 'mslab[similarity]'``): each file is tokenized by
pygments' Python lexer, every name becomes ``V`` (functions ``F``), strings ``S``, comments and
whitespace go, and the hashes of its k-grams (k = :data:`K` characters of that filtered text)
are the fingerprints, as in MOSS's winnowing (Schleimer, Wilkerson and Aiken, 2003). Renamed
variables, reordered functions, added or removed comments and blank lines therefore leave a
copy's fingerprints where they were. Every k-gram is kept (a window of 1, copydetect's default):
the choice a larger window makes depends on Python's per-process string hash, so a pair's figure
would change from run to run; files this long (:data:`FULL_LIMIT` characters of filtered code)
are the exception, winnowed with a window that keeps about that many fingerprints.

Boilerplate is subtracted first: every k-gram of the lab's starter (``labs/<lab>/<lab>.py``) and
of its walk-through (the tutorial's code) is removed from every student's fingerprints, so the
given functions and the tutorial's lines are not evidence. The reference solution is not
subtracted: on the planted-copies class it narrowed the gap between the faintest copy and the
most alike honest pair (bench/bench_similarity.py).

A pair's ``similarity`` is the share of a student's remaining fingerprinted code that is also in
the other's file, ``other_similarity`` the same the other way round; a pair is listed when the
larger of the two reaches the threshold (:data:`THRESHOLD`). :func:`write_similarity` writes the
pairs, with the lines they share, to ``OUT/similarity.json`` and the two files' text (the report
shows them side by side, :func:`side_by_side_html`); without copydetect it writes a one-line note
instead.
"""

from __future__ import annotations

import bisect
import functools
import html
import importlib
import io
import json
import math
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mslab.errors import MslabError
from mslab.labs import Lab, get_lab
from mslab.records import write_atomic

#: k: the shortest run of filtered code (names already ``V``/``F``) that counts as shared.
#: copydetect's default noise threshold.
K = 25
#: A pair is listed when either file has at least this share of its code in the other. On the
#: planted-copies class (bench/bench_similarity.py) every copy scored 0.84 or more and every honest
#: pair 0.65 or less: precision and recall 1.0 at 0.7 (at 0.6: precision 0.71, recall 1.0).
THRESHOLD = 0.7
#: Characters up to which every k-gram is a fingerprint; a longer file is winnowed, which bounds
#: its memory. Time is pygments' lexing, linear: 256 KiB took 3.5 s and a 1 MiB file (intake's
#: limit) 15-25 s on the 2-core development machine; the fixtures' 3 KiB files about 10 ms each.
FULL_LIMIT = 50_000
#: Lines shown around the matches when a file is longer than :data:`SHOWN_LINES` (side by side).
CONTEXT = 3
SHOWN_LINES = 300
#: What ``OUT/similarity.json`` is called; its ``version`` changes with its form.
FILE = "similarity.json"
VERSION = 1
NOT_INSTALLED = "similarity skipped: copydetect is not installed (pip install 'mslab[similarity]')"

Range = tuple[int, int]


@dataclass(frozen=True)
class Pair:
    """Two students' files of one lab that share code.

    ``similarity``: the share of ``student``'s fingerprinted code (after boilerplate) found in
    ``other``'s file; ``other_similarity`` the converse. ``slices``/``other_slices``: the shared
    code as ``[start, end)`` character offsets into each file's text; ``lines``/``other_lines``
    the same as 1-based, inclusive line ranges."""

    lab: str
    student: str
    other: str
    similarity: float
    other_similarity: float
    slices: tuple[Range, ...] = ()
    other_slices: tuple[Range, ...] = ()
    lines: tuple[Range, ...] = ()
    other_lines: tuple[Range, ...] = ()

    @property
    def score(self) -> float:
        """The larger of the two similarities: what the threshold is compared with."""
        return max(self.similarity, self.other_similarity)

    def to_dict(self) -> dict[str, Any]:
        return {
            "lab": self.lab,
            "student": self.student,
            "other": self.other,
            "similarity": round(self.similarity, 4),
            "other_similarity": round(self.other_similarity, 4),
            "slices": [list(r) for r in self.slices],
            "other_slices": [list(r) for r in self.other_slices],
            "lines": [list(r) for r in self.lines],
            "other_lines": [list(r) for r in self.other_lines],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Pair:
        def ranges(key: str) -> tuple[Range, ...]:
            return tuple((int(a), int(b)) for a, b in data.get(key, ()))

        return cls(
            lab=str(data["lab"]),
            student=str(data["student"]),
            other=str(data["other"]),
            similarity=float(data["similarity"]),
            other_similarity=float(data["other_similarity"]),
            slices=ranges("slices"),
            other_slices=ranges("other_slices"),
            lines=ranges("lines"),
            other_lines=ranges("other_lines"),
        )


def missing() -> str:
    """``""`` when copydetect can be imported, else the one-line note saying how to install it."""
    try:
        _copydetect()
    except MslabError as exc:
        return str(exc)
    return ""


def _copydetect() -> Any:
    try:
        return importlib.import_module("copydetect")
    except ImportError:
        raise MslabError(NOT_INSTALLED) from None


def text_of(data: bytes) -> str:
    """A file's bytes as the text compared and shown: UTF-8 (a BOM dropped), bad bytes as U+FFFD."""
    return data.decode("utf-8", "replace").removeprefix("\ufeff")


def _fingerprint(text: str, boilerplate: Any, *, full: bool = False) -> Any:
    copydetect = _copydetect()
    window = 1
    if not full and len(text) > FULL_LIMIT:  # bounded memory for a padded file (filtered text is shorter)
        window = math.ceil(len(text) / FULL_LIMIT)
    return copydetect.CodeFingerprint("student.py", K, window, boilerplate, language="python", fp=io.StringIO(text))


def boilerplate_hashes(sources: Iterable[bytes]) -> Any:
    """Every k-gram fingerprint of the given files (starter, walk-through, solution), as
    copydetect's boilerplate array."""
    import numpy as np

    hashes: list[int] = []
    for data in sources:
        hashes.extend(_fingerprint(text_of(data), None, full=True).hashes)
    return np.unique(np.array(hashes, dtype=np.int64))


def boilerplate_of(lab: Lab, *, starter: bool = True, walkthrough: bool = True, solution: bool = False) -> list[bytes]:
    """The lab's own files whose code is nobody's evidence, those that exist: its starter and its
    walk-through (the tutorial's code); its reference solution only when asked (measured to hurt)."""
    paths = [(starter, lab.starter), (walkthrough, lab.walkthrough), (solution, lab.solution)]
    out = []
    for wanted, path in paths:
        if wanted and path.is_file():
            try:
                out.append(path.read_bytes())
            except OSError as exc:
                raise MslabError(f"lab {lab.name}: cannot read {path.name} ({exc.strerror or exc})") from None
    return out


def _ranges(slices: Any) -> tuple[Range, ...]:
    if len(slices) != 2 or len(slices[0]) == 0:
        return ()
    merged: list[list[int]] = []
    for start, end in sorted(zip((int(s) for s in slices[0]), (int(e) for e in slices[1]), strict=True)):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return tuple((a, b) for a, b in merged)


def _lines(text: str, slices: tuple[Range, ...]) -> tuple[Range, ...]:
    """``[start, end)`` character ranges as 1-based inclusive line ranges, merged."""
    newlines = [i for i, ch in enumerate(text) if ch == "\n"]
    out: list[list[int]] = []
    for start, end in slices:
        first = bisect.bisect_left(newlines, start) + 1
        last = bisect.bisect_left(newlines, max(start, end - 1)) + 1
        if out and first <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], last)
        else:
            out.append([first, last])
    return tuple((a, b) for a, b in out)


def pairs(
    files: Mapping[str, bytes], boilerplate: list[bytes], *, threshold: float = THRESHOLD, lab: str = ""
) -> list[Pair]:
    """Every pair of ``files`` (student -> file bytes, one lab) whose larger similarity reaches
    ``threshold``, after subtracting the k-grams of ``boilerplate``; most similar first.

    Raises :class:`MslabError` (one line) when copydetect is not installed."""
    copydetect = _copydetect()
    if not 0 <= threshold <= 1:
        raise MslabError(f"similarity threshold must be between 0 and 1, not {threshold}")
    common = boilerplate_hashes(boilerplate)
    names = sorted(files)
    texts = {name: text_of(files[name]) for name in names}
    # Files with the same text are fingerprinted and compared once: a class where many hand in
    # the same few answers (a narrow lab, or a planted group) compares its distinct texts only.
    prints = {text: _fingerprint(text, common) for text in dict.fromkeys(texts.values())}

    @functools.cache
    def match(text_a: str, text_b: str) -> dict | None:
        """What a pair of these two texts shares, as Pair's fields; None below the threshold."""
        overlap, (sim_a, sim_b), (slices_a, slices_b) = copydetect.compare_files(prints[text_a], prints[text_b])
        if overlap == 0 or max(sim_a, sim_b) < threshold:
            return None
        ranges_a, ranges_b = _ranges(slices_a), _ranges(slices_b)
        return {
            "similarity": float(sim_a),
            "other_similarity": float(sim_b),
            "slices": ranges_a,
            "other_slices": ranges_b,
            "lines": _lines(text_a, ranges_a),
            "other_lines": _lines(text_b, ranges_b),
        }

    found = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            if (shared := match(texts[a], texts[b])) is not None:
                found.append(Pair(lab=lab, student=a, other=b, **shared))
    found.sort(key=lambda p: (-p.score, p.student, p.other))
    return found


def _read(path: Path) -> bytes | None:
    try:
        return Path(path).read_bytes()
    except OSError:
        return None  # a staged file that is gone is not compared (intake already reported it)


def class_pairs(
    staged: Mapping[str, Mapping[str, Path]], labs: Iterable[Lab | str], *, threshold: float = THRESHOLD
) -> dict[str, list[Pair]]:
    """Per lab, the pairs of students whose staged files (student -> lab -> path, as intake
    stages them in OUT/.staging/<folder>/<lab>.py) reach ``threshold``, with the lab's starter
    and walk-through subtracted."""
    out: dict[str, list[Pair]] = {}
    for item in labs:
        lab = item if isinstance(item, Lab) else get_lab(item)
        files = {}
        for student, by_lab in staged.items():
            path = by_lab.get(lab.name)
            data = _read(path) if path is not None else None
            if data is not None:
                files[student] = data
        out[lab.name] = pairs(files, boilerplate_of(lab), threshold=threshold, lab=lab.name)
    return out


def write_similarity(
    out: Path,
    staged: Mapping[str, Mapping[str, Path]],
    labs: Iterable[Lab | str] | None = None,
    *,
    threshold: float = THRESHOLD,
) -> dict[str, Any]:
    """Write ``OUT/similarity.json``: per lab, the pairs at or above ``threshold`` (both students,
    both similarities, the shared lines of each) and the text of every file in a pair, for the
    report to show side by side. ``labs`` defaults to every lab any student handed in. Without
    copydetect the file holds only ``note`` (one line, the same as returned in ``data["note"]``).
    Returns what was written."""
    note = missing()
    data: dict[str, Any] = {"version": VERSION, "note": note, "k": K, "threshold": threshold, "labs": {}}
    if not note:
        copydetect = _copydetect()
        data["tool"] = f"copydetect {getattr(copydetect, '__version__', '?')}"
        data["boilerplate"] = ["starter", "walkthrough"]
        chosen = labs if labs is not None else sorted({lab for by_lab in staged.values() for lab in by_lab})
        for lab, found in class_pairs(staged, chosen, threshold=threshold).items():
            shown = sorted({name for p in found for name in (p.student, p.other)})
            texts = {}
            for name in shown:
                raw = _read(staged[name][lab])
                texts[name] = text_of(raw) if raw is not None else ""
            data["labs"][lab] = {"pairs": [p.to_dict() for p in found], "files": texts}
    write_atomic(Path(out) / FILE, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    return data


# ---- side by side ------------------------------------------------------------------------------

_SHOWN_AS_IS = {"\t"}


def _visible(line: str) -> str:
    """A line with every control or format character (bidi overrides, zero-width...) written as
    ``\\uXXXX``, so the code reads as Python reads it; then HTML-escaped."""
    chars = []
    for ch in line:
        if ch not in _SHOWN_AS_IS and unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co"):
            chars.append(f"\\u{ord(ch):04x}")
        else:
            chars.append(ch)
    return html.escape("".join(chars), quote=True)


def _marked(ranges: Iterable[Range]) -> set[int]:
    return {n for first, last in ranges for n in range(first, last + 1)}


def _column(text: str, ranges: tuple[Range, ...]) -> str:
    lines = text.splitlines() or [""]
    marked = _marked(ranges)
    if len(lines) > SHOWN_LINES:
        shown = {n for m in marked for n in range(m - CONTEXT, m + CONTEXT + 1) if 1 <= n <= len(lines)}
    else:
        shown = set(range(1, len(lines) + 1))
    rows = []
    skipped = 0
    for n, line in enumerate(lines, 1):
        if n not in shown:
            skipped += 1
            continue
        if skipped:
            rows.append(f'<span class="skipped">⋮ {skipped} line{"s" if skipped != 1 else ""}</span>')
            skipped = 0
        code = _visible(line)
        body = f"<mark>{code}</mark>" if n in marked else code
        rows.append(f'<span class="ln">{n:>4}</span> {body}')
    if skipped:
        rows.append(f'<span class="skipped">⋮ {skipped} line{"s" if skipped != 1 else ""}</span>')
    return "\n".join(rows)


def side_by_side_html(pair: Pair, text_a: str, text_b: str) -> str:
    """The two files of ``pair`` side by side as an HTML fragment (a table; no JavaScript, every
    piece of student text escaped), the lines they share in ``<mark>``."""
    head_a = f"{html.escape(pair.student)}: {pair.similarity:.0%} of this file is in {html.escape(pair.other)}'s"
    head_b = f"{html.escape(pair.other)}: {pair.other_similarity:.0%} of this file is in {html.escape(pair.student)}'s"
    return (
        f'<table class="similarity" data-lab="{html.escape(pair.lab)}">'
        f"<thead><tr><th>{head_a}</th><th>{head_b}</th></tr></thead>"
        '<tbody><tr><td style="vertical-align:top"><pre>'
        f"{_column(text_a, pair.lines)}</pre></td>"
        '<td style="vertical-align:top"><pre>'
        f"{_column(text_b, pair.other_lines)}</pre></td></tr></tbody></table>"
    )
