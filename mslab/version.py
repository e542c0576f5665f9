"""Which grader graded: mslab's version and a digest of its code (and of the labs, for a cluster).

A record's resume key holds :func:`grader` — so that after an upgrade (a tolerance, a reference,
a reason rule changed) a rerun grades again instead of mixing old and new grades in one
gradebook — and a cluster's driver and nodes compare :func:`fingerprint`.
"""

from __future__ import annotations

import functools
import hashlib
from importlib import metadata
from pathlib import Path

from mslab.labs import labs_root

PACKAGE = Path(__file__).resolve().parent


def _digest(roots: list[tuple[Path, str]]) -> str:
    digest = hashlib.sha256()
    for root, pattern in roots:
        for path in sorted(p for p in root.rglob(pattern) if p.is_file() and "__pycache__" not in p.parts):
            digest.update(f"{root.name}/{path.relative_to(root)}".encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@functools.cache
def grader() -> str:
    """``<version>+<digest>``: mslab's version and the first 12 hex digits of a digest of every
    module of its package — what a grade depends on besides the lab's own checks."""
    try:
        version = metadata.version("mslab")
    except metadata.PackageNotFoundError:
        version = "0"
    return f"{version}+{_digest([(PACKAGE, '*.py')])[:12]}"


def fingerprint() -> str:
    """A digest of this install's mslab package and labs: the driver's and a node's must agree."""
    return _digest([(PACKAGE, "*.py"), (labs_root(), "*")])
