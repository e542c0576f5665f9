"""Build stage, after mslab is installed: puts into the venv's site-packages what the isolated
interpreter needs. The grader's child runs `python -I -m mslab.sandbox.serve` and `inv image.verify`
runs `python -I -m mslab_selfcheck`; -I ignores PYTHONPATH and the working directory but still
reads site-packages and its .pth files.

    python venv_paths.py [--selfcheck FILE] [--pth NAME] [--site DIR]

--selfcheck FILE  copy FILE (docker/selfcheck.py) to site-packages/mslab_selfcheck.py
--pth NAME        write site-packages/NAME.pth listing each absolute folder of $PYTHONPATH
                  (the ascend image: CANN's python/site-packages and its operator folders, which
                  CANN's base image and set_env.sh put on PYTHONPATH only)
--site DIR        site-packages to write to (default: this interpreter's purelib)
"""

import argparse
import os
import shutil
import sys
import sysconfig
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--selfcheck", default="")
    parser.add_argument("--pth", default="")
    parser.add_argument("--site", default=sysconfig.get_path("purelib"))
    args = parser.parse_args()
    site = Path(args.site)
    if args.selfcheck:
        shutil.copyfile(args.selfcheck, site / "mslab_selfcheck.py")
        print(f"venv_paths: {site / 'mslab_selfcheck.py'}")
    if args.pth:
        folders = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p.startswith("/")]
        if not folders:
            print("venv_paths: PYTHONPATH names no absolute folder: no .pth written", file=sys.stderr)
            return 1
        unique = list(dict.fromkeys(folders))
        (site / f"{args.pth}.pth").write_text("".join(f"{p}\n" for p in unique))
        missing = [p for p in unique if not Path(p).is_dir()]
        print(
            f"venv_paths: {site / (args.pth + '.pth')}: {len(unique)} folders"
            + (f" ({len(missing)} not there now: {', '.join(missing)})" if missing else "")
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
