"""The trust boundary: everything that runs student code or talks to it lives here.

- :mod:`~mslab.sandbox.host` — the grader's side: :class:`Sandbox`, :class:`Limits`, the
  wall measurements; trusts nothing the student's process sends beyond validated data.
- :mod:`~mslab.sandbox.zygote` — the warm process that forks sandboxes (both halves).
- :mod:`~mslab.sandbox.jail` — namespaces, the new root, the unprivileged uid.
- :mod:`~mslab.sandbox.seccomp` — the syscall filter (libseccomp).
- :mod:`~mslab.sandbox.cgroups` — memory, pids and CPU per sandbox, in the kernel's accounting.
- :mod:`~mslab.sandbox.serve` — the student's side: loads the file, answers calls.
- :mod:`~mslab.sandbox.container` — the same child in a target's container.
- :mod:`~mslab.sandbox.wire` — the channel's data format (docs/protocol.md).

Names are imported lazily, so that the zygote (which imports only the student's side) never
loads the grader's modules into the memory its children inherit.
"""

from __future__ import annotations

_HOST = {
    "Limits",
    "Sandbox",
    "Student",
    "StudentError",
    "StudentCrashed",
    "StudentLoadError",
    "StudentRaised",
    "StudentTimeout",
    "measure",
    "summary",
    "sweep",
    "probe",
    "preflight",
    "parse_walls",
    "missing_walls",
    "WALLS",
    "WallsMissing",
    "ForkedChild",
    "Shared",
}

__all__ = sorted(_HOST | {"Zygote"})


def __getattr__(name: str):
    if name in _HOST:
        from mslab.sandbox import host

        return getattr(host, name)
    if name == "Zygote":
        from mslab.sandbox.zygote import Zygote

        return Zygote
    raise AttributeError(f"module 'mslab.sandbox' has no attribute {name!r}")
