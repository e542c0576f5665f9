"""`inv doctor`: wiring to mslab.doctor (hardware detection, no Docker needed)."""

from invoke import Exit, task

from mslab import doctor as doctor_lib
from mslab.errors import MslabError


@task(
    help={
        "root": "look for /dev and /usr/local/Ascend under this folder (default / or $MSLAB_DOCTOR_ROOT)",
        "quiet": "print only the recommended target (cpu, cuda, ascend or local)",
    }
)
def doctor(c, root="", quiet=False):
    """Which image suits this machine: Docker, NVIDIA GPU and driver, Ascend NPUs, CPU arch."""
    try:
        report = doctor_lib.diagnose(root or None)
    except MslabError as e:
        raise Exit(str(e), code=2)
    if quiet:
        print(report.recommended)
        return
    from rich.console import Console

    Console().print(doctor_lib.table(report))
