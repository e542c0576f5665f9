"""A grader whose interpreter is reached through a symbolic link (a venv at /opt/venv ->
/opt/venv-2024) imports in the sandbox what it did not import before the walls went up."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = r"""
import sys
from mslab.sandbox.host import Limits, Sandbox
with Sandbox(b"def late():\n    import rich.text\n    return rich.text.Text('ok').plain\n", "late",
             limits=Limits(allow_weaker=("uid", "cgroup"))) as sb:
    print(sb.call("late"))
"""


def test_a_venv_reached_through_a_link_still_imports_inside_the_sandbox(tmp_path):
    venv = Path(sys.prefix)
    assert venv != Path(sys.base_prefix), "run the tests from the project's venv"
    link = tmp_path / "venv-link"
    link.symlink_to(venv.resolve(), target_is_directory=True)
    python = link / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)  # this checkout's mslab
    done = subprocess.run([str(python), "-c", SCRIPT], capture_output=True, text=True, timeout=180, env=env)
    assert done.stdout.strip().splitlines()[-1:] == ["ok"], done.stderr[-2000:]
