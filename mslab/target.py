"""Where student code runs, decided once: the command line's ``--target`` (and ``--isolation``)
become one :class:`Target` that is passed down to the grader, the checker and the walk-through.

``local`` runs on this machine's CPU (a sandbox forked from a warm zygote); ``cpu``, ``cuda`` and
``ascend`` are compose.yaml's services (a fresh container per submission); ``auto`` is what
`inv doctor` recommends. The names are resolved by :func:`mslab.doctor.resolve_target` (which reads
compose.yaml and this machine); this module is data only and imports nothing of mslab. Nothing below the command line compares a target's name with ``"local"``
or resolves ``auto`` again: it asks :attr:`Target.local`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

LOCAL = "local"
ISOLATIONS = ("process", "container")
#: MindSpore's device_target on this machine, for the local target.
LOCAL_DEVICE = "CPU"
#: What a target changes in the checks' tolerances (mslab.checks.TOLERANCES), (rtol, atol) per
#: dtype: Ascend's cube units compute float32 matmuls in reduced precision.
TARGET_TOLERANCES: dict[str, dict[str, tuple[float, float]]] = {
    "ascend": {"float32": (2e-3, 1e-3)},
}


@dataclass(frozen=True)
class Target:
    name: str  # local, or a compose service: cpu, cuda, ascend
    image: str = ""  # the service's image tag; "" for local
    device: str = LOCAL_DEVICE  # MindSpore's device_target there: CPU, GPU or Ascend
    #: (rtol, atol) per dtype where this target differs from the checks' defaults (mslab.checks);
    #: the checker hands them to every check through its ``tolerances`` fixture
    tolerances: dict = field(default_factory=dict, compare=False)
    isolation: str = "process"  # process (forked from a warm zygote) or container (one per submission)

    @property
    def local(self) -> bool:
        """Student code runs on this machine, forked from a zygote (not in a container)."""
        return self.name == LOCAL

    def __str__(self) -> str:
        return self.name


#: The default of library calls made without a command line (tests, benchmarks).
LOCAL_TARGET = Target(LOCAL)
