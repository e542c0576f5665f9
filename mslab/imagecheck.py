"""Is an image fit to grade? `inv image.verify`: the image's self-check in a container started
as the grader starts them, then (on a GPU, or when asked) every lab's checks of the reference
solutions in the image against the same checks on this machine's CPU.

Its own stage above :mod:`mslab.images` (which builds and describes images) because it runs
the grader's checks (:mod:`mslab.checker`) and containers (:mod:`mslab.containers`).
"""

from __future__ import annotations

from collections.abc import Callable

from mslab import checker, containers, doctor, images
from mslab.errors import MslabError
from mslab.labs import all_labs
from mslab.sandbox.host import Limits
from mslab.target import LOCAL_TARGET

# How the grader starts Python in a container (mslab.containers): isolated mode, a module of the
# venv. verify starts the self-check the same way, so whatever -I hides from the grader (PYTHONPATH,
# the working directory) it hides from the check too.
SELFCHECK = ["python", "-I", "-m", "mslab_selfcheck"]


def verify(
    target: str,
    version: str = "",
    timeout: int = 300,
    client=None,
    echo: Callable[[str], None] = print,
    labs: bool | None = None,
    seed: int = 0,
) -> str:
    """Run the image's self-check in a container started as the grader starts them (compose.yaml,
    the grader's environment, limits and labels; `python -I -m`).

    Checks: MindSpore version == `version` (default: the image's own label), run_check on the
    target's device, every mslab module imports; in the cuda image, that its GPU plugin finds
    every library but the host's libcuda.so.1. With labs (default: when the device is a GPU),
    the labs' checks of the reference solutions in the image must give what they give on this
    machine's CPU (compare_labs). Returns the output; MslabError when anything fails.
    """
    client = client or images.docker_client()
    labels = images.image_labels(target, client)
    if not version:
        version = labels.get("org.mslab.mindspore.version", "")
        pin = images.read_pins()["MINDSPORE_VERSION_PIN"]
        if not version:
            version = pin
        elif version != pin:
            echo(f"note: the image says it has MindSpore {version} (label); the pin is {pin}")
    where = images.device(target)
    if labels.get("org.mslab.device") == "GPU" and where != "GPU":
        echo(
            f"note: no NVIDIA GPU here (nvidia-smi lists none, {images.CUDA_DEVICE_VAR} unset): the {target}"
            " image is checked on the CPU, as it grades here"
        )
    kwargs = containers._run_kwargs(target, Limits(), [], "verify", client)
    command = [*SELFCHECK, "--device", where, "--version", version]
    if labels.get("org.mslab.cuda.plugin"):
        command += ["--links", labels["org.mslab.cuda.plugin"]]
    try:
        container = client.containers.run(command=command, detach=True, **kwargs)
    except Exception as e:
        raise MslabError(f"cannot start {kwargs['image']}: {str(e).splitlines()[0]}") from e
    containers.track(container)
    try:
        try:
            status = container.wait(timeout=timeout)["StatusCode"]
        except Exception as e:
            raise MslabError(f"verify {target}: no answer within {timeout}s") from e
        output = container.logs().decode(errors="replace")
    finally:
        container.remove(force=True)
        containers.untrack(container)
    if status != 0:
        lines = [line for line in output.splitlines() if line.strip()]
        raise MslabError(f"verify {target} failed (exit {status}): {lines[-1] if lines else 'no output'}")
    if labs if labs is not None else where == "GPU":
        output += compare_labs(target, seed=seed)
    return output


def compare_labs(target: str, seed: int = 0) -> str:
    """Every lab's checks (visible and hidden, one seed) on its reference solution, once with
    the student side in the target's image (on its device: the GPU for cuda where there is one)
    and once on this machine's CPU (the local target): every check must pass both times, within
    the target's tolerances (mslab.checks). Returns one line per lab and a last summary line;
    MslabError naming the checks that differ."""
    there = doctor.resolve_target(target)
    lines, bad, total = [], [], 0
    for lab in all_labs():
        runs = {}
        for chosen in (LOCAL_TARGET, there):
            run = checker.run_checks(lab, lab.solution, hidden=True, target=chosen, seed=seed)
            if run.load_error:
                bad.append(f"{lab.name} on {chosen.name}: {run.load_error.splitlines()[-1]}")
            runs[chosen.name] = {c.name: c for c in run.checks}
        cpu, dev = runs[LOCAL_TARGET.name], runs[there.name]
        for name in sorted(set(cpu) | set(dev)):
            a, b = cpu.get(name), dev.get(name)
            if a is None or b is None or not (a.passed and b.passed) or a.score != b.score:
                shown = b if b is not None else a
                why = shown.reason if shown is not None else ""
                bad.append(
                    f"{lab.name}::{name} (CPU {_verdict(a)}, {there.device} {_verdict(b)}{': ' + why if why else ''})"
                )
        total += len(dev)
        line = f"labs: {lab.name}: {len(dev)} checks on {there.device} in {there.image} == on this machine's CPU"
        lines.append(line)
    if bad:
        raise MslabError(f"verify {target}: the labs' checks differ from the CPU's: {'; '.join(bad[:5])}")
    last = (
        f"labs OK: {total} checks of {len(lines)} labs pass on {there.device} in {there.image}"
        f" as on this machine's CPU (seed {seed})"
    )
    return "".join(f"{line}\n" for line in [*lines, last])


def _verdict(check) -> str:
    return "missing" if check is None else "passed" if check.passed else "failed"
