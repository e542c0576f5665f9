"""Ctrl-C (SIGINT to the process group) or SIGTERM stops `inv grade` at once: exit 130, one line,
the reports of what is done; no row is kept with only some of its checks, and a rerun's files are
byte-identical to those of an uninterrupted run with the same seed."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time

import pytest
from test_tasks import EXAMPLES, alive, descendants

from conftest import LABS, ROOT, inv
from mslab import classreport
from mslab.checker import collect

pytestmark = pytest.mark.slow  # graders interrupted and rerun: about a minute (pytest -m 'not slow' skips them)

ROWS = 4 * len(LABS)  # the bundled class: 4 students × every lab


def records(out):
    return sorted(out.glob("*/*/record.json"))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    full = tmp_path_factory.mktemp("full")
    result = inv("grade", str(EXAMPLES), "--out", str(full), "--seed", "5", "--jobs", "2")
    assert result.returncode == 0, result.stderr
    return full


@pytest.mark.parametrize(
    "sig,after",
    [(signal.SIGINT, 0), (signal.SIGINT, 2), (signal.SIGTERM, 5)],
    ids=["sigint-at-start", "sigint-after-2", "sigterm-after-5"],
)
def test_interrupted_then_rerun_equals_an_uninterrupted_run(uninterrupted, tmp_path, sig, after):
    part = tmp_path / "part"
    exe = str(ROOT / ".venv" / "bin" / "inv") if (ROOT / ".venv" / "bin" / "inv").exists() else "inv"
    run = subprocess.Popen(
        [exe, "--search-root", str(ROOT), "grade", str(EXAMPLES), "--out", str(part), "--seed", "5", "--jobs", "2"],
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    ours = set()
    deadline = time.monotonic() + 180
    ready = (lambda: (part / "grading.json").exists()) if after == 0 else (lambda: len(records(part)) >= after)
    while not ready() and run.poll() is None and time.monotonic() < deadline:
        ours |= descendants(run.pid)
        time.sleep(0.02)
    assert run.poll() is None, "the run ended before the signal: " + run.stderr.read()
    ours |= descendants(run.pid)
    sent = time.monotonic()
    os.killpg(run.pid, sig)  # as Ctrl-C does: the grader and its workers at once
    stdout, stderr = run.communicate(timeout=120)
    took = time.monotonic() - sent

    assert run.returncode == 130, (stdout, stderr)
    assert took < 15, f"took {took:.1f} s to stop"
    for noise in ("Traceback", "INTERNALERROR", "KeyboardInterrupt"):
        assert noise not in stderr + stdout
    last = stderr.strip().splitlines()[-1]
    m = re.fullmatch(r"interrupted: (\d+) of (\d+) graded; rerun to continue", last)
    assert m, stderr
    for _ in range(200):
        left = {p for p in ours if alive(p)}
        if not left:
            break
        time.sleep(0.05)
    assert not left, f"processes of the interrupted run still alive: {left}"
    assert not (part / ".staging").exists(), "copies of student code stayed behind"

    # No record claims a row whose checks did not all run.
    names = {lab: sorted(c.name for c in collect(LABS[lab])) for lab in LABS}
    for path in records(part):
        record = json.loads(path.read_text(encoding="utf-8"))
        assert sorted(c["name"] for c in record["checks"]) == names[record["lab"]], path
    if after:
        # The reports hold what was done: one row per recorded job plus the missing row.
        assert int(m[2]) == ROWS and int(m[1]) >= after
        with open(part / "gradebook.csv", encoding="utf-8") as fh:
            assert len(fh.readlines()) - 1 == int(m[1])

    rerun = inv("grade", str(EXAMPLES), "--out", str(part), "--jobs", "2")
    assert rerun.returncode == 0, rerun.stderr
    for name in classreport.FILES:
        assert (part / name).read_bytes() == (uninterrupted / name).read_bytes(), name
