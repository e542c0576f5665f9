"""Invoke task modules: thin wiring from the command line to library code."""

from __future__ import annotations

import functools

from invoke import Exit

from mslab.errors import MslabError


TARGET_HELP = (
    "where code runs: local (this machine's CPU, the default), cpu, cuda or ascend "
    "(that target's container), auto (inv doctor's pick)"
)


def user_errors(fn):
    """Turn a :class:`MslabError` into a one-line message and exit code 2, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except MslabError as exc:
            raise Exit(f"error: {exc}", code=2) from None

    return wrapper


def split_names(value: str | None) -> list[str] | None:
    """``"a,b"`` → ``["a", "b"]``; empty → None (meaning all)."""
    names = [v.strip() for v in (value or "").split(",") if v.strip()]
    return names or None
