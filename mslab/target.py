"""Where student code runs, decided once: the command line's ``--target`` (and ``--isolation``)
become one :class:`Target` that is passed down to the grader, the checker and the walk-through.

``local`` runs on this machine's CPU (a sandbox forked from a warm zygote); ``cpu``, ``cuda`` and
``ascend`` are compose.yaml's services (a fresh container per submission); ``auto`` is what
`inv doctor` recommends. Nothing below the command line compares a target's name with ``"local"``
or resolves ``auto`` again: it asks :attr:`Target.local`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mslab.errors import MslabError

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


def _choices() -> list[str]:
    from mslab import images

    return [LOCAL, *images.targets()]


def resolve(name: str = LOCAL, isolation: str = "process", *, image: bool = False) -> Target:
    """The :class:`Target` named on the command line, or a one-line MslabError.

    ``auto`` is `inv doctor`'s recommendation; ``isolation="container"`` with ``local`` means the
    ``cpu`` image (a fresh container per submission). ``image``: the caller needs an image (the
    ``image.*`` tasks), so ``local`` — named, or what ``auto`` picked — is refused.
    """
    from mslab import images

    if isolation not in ISOLATIONS:
        raise MslabError(f"unknown isolation {isolation!r}; choose process or container")
    if name == "auto":
        from mslab import doctor

        name = doctor.recommended_target()
        if image and name == LOCAL:
            raise MslabError("no Docker engine here: `inv doctor` recommends running locally, not an image")
    choices = [c for c in _choices() if not (image and c == LOCAL)]
    if name not in choices:
        raise MslabError(f"unknown target {name!r}; choose one of: {', '.join(choices)}, auto")
    if isolation == "container" and name == LOCAL:
        name = "cpu"  # a fresh container per submission
    tolerances = dict(TARGET_TOLERANCES.get(name, {}))
    if name == LOCAL:
        return Target(LOCAL, tolerances=tolerances, isolation="process")
    return Target(name, images.service(name)["image"], images.device(name), tolerances, "container")


#: The default of library calls made without a command line (tests, benchmarks).
LOCAL_TARGET = Target(LOCAL)
