"""Invoke task modules: thin wiring from the command line to library code."""

from __future__ import annotations

import functools
import os

from invoke import Exit

from mslab.errors import MslabError

TARGET_HELP = (
    "where code runs: local (this machine's CPU, the default), cpu, cuda or ascend "
    "(that target's container), auto (inv doctor's pick)"
)

#: Exit code of a run stopped by SIGINT or SIGTERM (as a shell reports Ctrl-C).
INTERRUPTED = 130
#: Exit code of `inv grade` when some rows could not be graded by the grader itself (its own
#: failure, not the student's): those students' totals are blank in grades.csv.
NOT_GRADED = 3


def user_errors(fn):
    """Turn a :class:`MslabError` into a one-line message and exit code 2, never a traceback;
    and first put the invoke configuration's ``mslab`` settings in force (:func:`configure`)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            if args and hasattr(args[0], "config"):
                configure(args[0].config)
            return fn(*args, **kwargs)
        except MslabError as exc:
            from mslab.present import plain

            raise Exit(f"error: {plain(exc)}", code=2) from None

    return wrapper


def configure(config) -> None:
    """The invoke configuration's ``mslab`` section (docs/settings.md) as the ``MSLAB_*``
    variables it stands for, in this process's environment — read where each is used, and
    inherited by the workers — except where the environment already sets one: a variable given
    for one run wins over a configuration file."""
    from mslab import settings

    section = config.get(settings.CONFIG_SECTION) if hasattr(config, "get") else None
    if not section:  # nothing configured: no need to load the limits' module (NumPy) for every task
        return
    from mslab.sandbox.host import Limits

    for var, text in settings.from_config(section, tuple(Limits.variables())).items():
        if not os.environ.get(var, "").strip():
            os.environ[var] = text


def split_names(value: str | None) -> list[str] | None:
    """``"a,b"`` → ``["a", "b"]``; not given → None (meaning all); given but empty → ``[]``."""
    if value is None:
        return None
    return [v.strip() for v in value.split(",") if v.strip()]


def integer(value, option: str, *, minimum: int | None = None) -> int | None:
    """``--option``'s value as an int (None when not given), or a one-line MslabError."""
    if value is None:
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        raise MslabError(f"{option} must be a whole number, not {str(value)!r}") from None
    if minimum is not None and number < minimum:
        raise MslabError(f"{option} must be {minimum} or more, not {number}")
    return number
