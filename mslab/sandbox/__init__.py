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

This package imports none of its modules: callers name the one they use (the grader
``mslab.sandbox.host``), so that the zygote and a container's child, which import only the
student's side (``serve``, ``jail``, ``seccomp``, ``wire``), never load the grader's modules
into the memory its children inherit. Outside this package it imports only `mslab.errors` and
`mslab.settings` (import-linter's contracts in pyproject.toml hold it to that).
"""
