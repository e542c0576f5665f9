"""How every file the grader writes spells numbers and student text: one way for the sheets, the
class report and each student's feedback."""

from __future__ import annotations

import html
import re


def num(x: float) -> str:
    """``12`` or ``12.5``: the one way every file writes a number."""
    return f"{float(x) + 0.0:g}"  # + 0.0 turns -0.0 into 0.0


def jnum(x: float) -> int | float:
    """A number for JSON: an int when whole, so that it reads like :func:`num`."""
    x = float(x) + 0.0
    return int(x) if x.is_integer() else x


def percent(score: float, max_score: float) -> float:
    return round(100.0 * score / max_score, 2) if max_score else 0.0


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"-\d+(?:\.\d+)?")


def csv_text(s: str) -> str:
    """A text cell a spreadsheet will not evaluate (``=HYPERLINK(...)`` becomes ``'=HYPERLINK(...)``);
    a negative number (a student ID ``-5``) stays as it is: a spreadsheet reads it as a number."""
    if s.startswith(_FORMULA_STARTS) and not _NUMBER.fullmatch(s):
        return "'" + s
    return s


def md_text(s: str) -> str:
    """Text for a Markdown table cell: one line, no raw HTML, no emphasis, links or column breaks."""
    s = " ".join(str(s).split())
    s = s.replace("\\", "\\\\")
    for ch in "`*_[]|#!~":
        s = s.replace(ch, "\\" + ch)
    return html.escape(s, quote=False)
