"""`inv doctor`: wiring to mslab.doctor (hardware detection, no Docker needed)."""

from invoke import task

from mslab.tasks import user_errors


@task(
    help={
        "root": "look for /dev and /usr/local/Ascend under this folder (default / or $MSLAB_DOCTOR_ROOT)",
        "quiet": "print only the recommended target (cpu, cuda, ascend or local)",
        "no_walls": "skip starting a sandbox to measure its walls (seccomp, namespaces, cgroup...)",
    }
)
@user_errors
def doctor(c, root="", quiet=False, no_walls=False):
    """Which image suits this machine: Docker, GPU, NPUs, CPU arch, and the sandbox's walls here."""
    from mslab import doctor as doctor_lib  # here: `inv --list` and `inv lab.*` do not load it

    walls = None
    if not quiet and not no_walls:
        from mslab.sandbox.host import probe as walls
    diagnosis = doctor_lib.diagnose(root or None, walls=walls)
    if quiet:
        print(diagnosis.recommended)
        return
    from rich.console import Console

    Console().print(doctor_lib.table(diagnosis))
