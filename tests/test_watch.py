"""`inv lab.check --watch`: a check on every save with MindSpore imported once, what changed said
in words, a file that breaks its sandbox costs the watcher nothing, and Ctrl-C ends it with 130."""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from conftest import LABS, ROOT

SOLUTION = LABS["derivatives"].solution.read_text()
WRONG_F = SOLUTION.replace("return x**3 - 2 * x + 1", "return x**3 - 2 * x")


def _reader(proc) -> queue.Queue:
    """The watcher's output, line by line, read in a thread (so a silent watcher fails the test
    at its deadline instead of blocking it)."""
    lines: queue.Queue = queue.Queue()

    def pump() -> None:
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _wait_for(lines: queue.Queue, seen: list[str], text: str, seconds: float = 120) -> float:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            break
        if line is None:
            break
        seen.append(line)
        if text in line:
            return time.monotonic()
    raise AssertionError(f"never printed {text!r}:\n" + "".join(seen[-40:]))


def test_watch_checks_every_save_and_says_what_changed(tmp_path):
    sub = tmp_path / "derivatives.py"
    sub.write_text(WRONG_F)
    exe = shutil.which("inv", path=str(Path(sys.executable).parent)) or "inv"
    proc = subprocess.Popen(
        [exe, "--search-root", str(ROOT), "lab.check", "derivatives", "--submission", str(sub), "--watch"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200", "PYTHONUNBUFFERED": "1"},
    )
    seen: list[str] = []
    lines = _reader(proc)
    try:
        _wait_for(lines, seen, "watching derivatives.py")
        assert any("Score: 10/12" in line for line in seen), "".join(seen)  # f wrong: task 1 fails
        sub.write_text(SOLUTION)
        _wait_for(lines, seen, "task 1 now passes")
        _wait_for(lines, seen, "watching derivatives.py")
        sub.write_text("import os\nos._exit(3)\n")  # breaks its sandbox at import
        _wait_for(lines, seen, "watching derivatives.py")
        sub.write_text(SOLUTION)
        _wait_for(lines, seen, "Score: 12/12")
        _wait_for(lines, seen, "watching derivatives.py")
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, "".join(seen[-20:])
