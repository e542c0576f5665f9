"""`inv doctor`: wiring to mslab.doctor (hardware detection, no Docker needed)."""

from invoke import task

from mslab import doctor as doctor_lib
from mslab.tasks import user_errors


@task(
    help={
        "root": "look for /dev and /usr/local/Ascend under this folder (default / or $MSLAB_DOCTOR_ROOT)",
        "quiet": "print only the recommended target (cpu, cuda, ascend or local)",
    }
)
@user_errors
def doctor(c, root="", quiet=False):
    """Which image suits this machine: Docker, NVIDIA GPU and driver, Ascend NPUs, CPU arch."""
    report = doctor_lib.diagnose(root or None)
    if quiet:
        print(report.recommended)
        return
    from rich.console import Console

    Console().print(doctor_lib.table(report))
