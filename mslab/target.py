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
#: The Ray resource a worker holds, per MindSpore device_target.
RAY_UNITS = {"CPU": "CPU", "GPU": "GPU", "Ascend": "NPU"}
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
    #: The Ray resource one of its workers holds on a cluster node (and the cluster's workers are
    #: counted in when --jobs does not say): CPU, or the GPU or NPU its image is built for —
    #: whatever the driver's own machine has (its ``device`` may be CPU where it has no GPU)
    unit: str = "CPU"

    @property
    def local(self) -> bool:
        """Student code runs on this machine, forked from a zygote (not in a container)."""
        return self.name == LOCAL

    def cluster_resources(self) -> dict:
        """The Ray resources one of its workers asks for: a CPU; for a container target also the
        node resource ``mslab-<name>`` that nodes holding its image advertise, and its device."""
        options: dict = {"num_cpus": 1}
        if self.local:
            return options
        options["resources"] = {f"mslab-{self.name}": 0.001}
        if self.unit == "GPU":
            options["num_gpus"] = 1
        elif self.unit == "NPU":
            options["resources"]["NPU"] = 1
        return options

    def __str__(self) -> str:
        return self.name


#: The default of library calls made without a command line (tests, benchmarks).
LOCAL_TARGET = Target(LOCAL)
