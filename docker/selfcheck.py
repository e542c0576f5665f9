"""Image self-check, run at build time (CPU) and by `inv image.verify` (the target's device).

Checks that MindSpore has the expected version, that `mindspore.run_check()` succeeds on the
device, and that every module of the installed mslab package imports; with --links VERSION
(the cuda image), that every library MindSpore's GPU plugin for CUDA VERSION links against is
found, but the driver's libcuda.so.1, which the NVIDIA Container Toolkit brings from the host.
Exit status 0 = healthy; the last line says what was checked.
"""

import argparse
import contextlib
import importlib
import io
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

#: The driver's library: not in the image, the NVIDIA Container Toolkit mounts the host's.
DRIVER_LIBRARY = "libcuda.so.1"
#: Where the toolkit mounts it in a Debian or Ubuntu image (the loader's multiarch directory).
DRIVER_DIR = "/usr/lib/x86_64-linux-gnu"


def plugin_files(lib: Path, cuda: str) -> list[Path]:
    """MindSpore's GPU plugin for CUDA `cuda` (e.g. 11.6): libmindspore_gpu.so.<cuda>, the
    plugin/gpu<cuda>/ folder and the version-independent plugin/gpu/ folder."""
    plugin = lib / "plugin"
    files = sorted(plugin.glob(f"libmindspore_gpu.so.{cuda}"))
    for folder in (plugin / f"gpu{cuda}", plugin / "gpu"):
        files += sorted(p for p in folder.glob("*.so*") if p.is_file())
    return files


def not_found(path: Path) -> list[str]:
    """The libraries `ldd path` reports "not found"."""
    done = subprocess.run(["ldd", str(path)], capture_output=True, text=True, check=False)
    return re.findall(r"^\s*(\S+) => not found", done.stdout, re.M)


def check_links(cuda: str) -> tuple[bool, str]:
    """(ok, one line): every library of the CUDA `cuda` plugin resolves, libcuda.so.1 aside."""
    import mindspore

    lib = Path(mindspore.__file__).parent / "lib"
    files = plugin_files(lib, cuda)
    if not any(f.name.startswith("libmindspore_gpu.so.") for f in files):
        return False, f"no GPU plugin for CUDA {cuda} in {lib / 'plugin'}"
    missing: dict[str, list[str]] = {}
    for f in files:
        for name in not_found(f):
            if name != DRIVER_LIBRARY:
                missing.setdefault(name, []).append(str(f.relative_to(lib)))
    if missing:
        return False, "not found: " + "; ".join(f"{name} (by {', '.join(by)})" for name, by in sorted(missing.items()))
    host = Path(DRIVER_DIR, DRIVER_LIBRARY)
    driver = (
        f"{DRIVER_LIBRARY} from the host at {host}"
        if host.exists()
        else f"{DRIVER_LIBRARY} not in the image: the NVIDIA Container Toolkit mounts the host's into {DRIVER_DIR}"
    )
    return True, f"links OK: {len(files)} files of MindSpore's CUDA {cuda} plugin find every library; {driver}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="CPU", choices=["CPU", "GPU", "Ascend"])
    parser.add_argument("--version", default="", help="expected MindSpore version")
    parser.add_argument("--links", default="", metavar="CUDA", help="check the GPU plugin for this CUDA version")
    args = parser.parse_args()

    import mindspore

    if args.links:
        ok, line = check_links(args.links)
        if not ok:
            print(f"selfcheck FAILED: the GPU plugin's libraries: {line}")
            return 1
        print(line)

    if args.version and mindspore.__version__ != args.version:
        print(f"selfcheck FAILED: MindSpore {mindspore.__version__}, expected {args.version}")
        return 1
    mindspore.set_context(device_target=args.device)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        mindspore.run_check()
    print(out.getvalue(), end="")
    if f"[{args.device}] successfully" not in out.getvalue():
        print(f"selfcheck FAILED: mindspore.run_check() did not succeed on {args.device}")
        return 1

    import mslab

    modules = ["mslab"]
    for info in pkgutil.walk_packages(mslab.__path__, "mslab."):
        importlib.import_module(info.name)
        modules.append(info.name)
    import numpy

    print(
        f"selfcheck OK: mindspore {mindspore.__version__} on {args.device}, numpy {numpy.__version__},"
        f" python {sys.version.split()[0]}, {len(modules)} mslab modules import from {mslab.__path__[0]}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
