"""Image self-check, run at build time (CPU) and by `inv image.verify` (the target's device).

Checks that MindSpore has the expected version, that `mindspore.run_check()` succeeds on the
device, and that every module of the installed mslab package imports. Exit status 0 = healthy;
the last line says what was checked.
"""

import argparse
import contextlib
import importlib
import io
import pkgutil
import sys


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="CPU", choices=["CPU", "GPU", "Ascend"])
    parser.add_argument("--version", default="", help="expected MindSpore version")
    args = parser.parse_args()

    import mindspore

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
