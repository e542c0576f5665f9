"""The student's loop: save → new result with `inv lab.check --watch`, against a cold
`inv lab.check` of the same file; and the notebook's `check()` after its first call.

    .venv/bin/python bench/bench_watch.py [--repeat 5] [--lab derivatives]

Prints the medians and their ratio, measured in one run (goals: watch ≤ 0.5 s for the derivatives
lab's visible checks and ≥ 5× faster than the cold check; check() after the first ≤ 1 s).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mslab.labs import get_lab  # noqa: E402


def _inv() -> str:
    return shutil.which("inv", path=str(Path(sys.executable).parent)) or "inv"


def cold(path: Path, lab: str, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.monotonic()
        subprocess.run(
            [_inv(), "--search-root", str(ROOT), "lab.check", lab, "--submission", str(path)],
            capture_output=True,
            check=False,
        )
        times.append(time.monotonic() - started)
    return times


def watched(path: Path, lab: str, repeat: int, source: str) -> list[float]:
    proc = subprocess.Popen(
        [_inv(), "--search-root", str(ROOT), "lab.check", lab, "--submission", str(path), "--watch"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"},
    )

    def wait() -> float:
        while True:
            line = proc.stdout.readline()
            if not line:
                raise SystemExit("the watcher ended")
            if "watching" in line:
                return time.monotonic()

    times = []
    try:
        wait()
        for i in range(repeat):
            saved = time.monotonic()
            path.write_text(source + f"\n# save {i}\n")
            times.append(wait() - saved)
    finally:
        proc.terminate()
        proc.wait()
    return times


def notebook(path: Path, lab: str, repeat: int) -> tuple[float, list[float]]:
    import nbformat

    from mslab import notebook as nb

    code = path.read_text()
    notebook_file = path.with_suffix(".ipynb")
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)]), str(notebook_file))
    started = time.monotonic()
    nb.check(lab, path=notebook_file)
    first = time.monotonic() - started
    later = []
    for _ in range(repeat):
        started = time.monotonic()
        nb.check(lab, path=notebook_file)
        later.append(time.monotonic() - started)
    return first, later


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--lab", default="derivatives")
    args = parser.parse_args()
    lab = get_lab(args.lab)
    source = lab.solution.read_text()
    with tempfile.TemporaryDirectory(prefix="mslab-bench-watch-") as tmp:
        path = Path(tmp) / f"{lab.name}.py"
        path.write_text(source)
        cold_times = cold(path, lab.name, args.repeat)
        watch_times = watched(path, lab.name, args.repeat, source)
        path.write_text(source)
        first, later = notebook(path, lab.name, args.repeat)
    c, w, n = statistics.median(cold_times), statistics.median(watch_times), statistics.median(later)
    print(f"lab {lab.name}, visible checks, {args.repeat} runs each (medians)")
    print(f"cold inv lab.check:          {c:.3f} s")
    print(f"--watch, save -> new result: {w:.3f} s   (goal <= 0.5 s)")
    print(f"ratio cold / watch:          {c / w:.1f}x  (goal >= 5x)")
    print(f"notebook check(): first {first:.3f} s, then {n:.3f} s   (goal <= 1 s)")


if __name__ == "__main__":
    main()
