"""One child for all of a student's labs: what one lab leaves in the process
never decides another lab's marks, and a class grades to the same files as with a fresh child
per lab (MSLAB_SANDBOX_PER_LAB=1)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from conftest import LABS, ROOT
from mslab.checker import run_checks
from mslab.grade import grade_class
from mslab.sandbox.host import Limits, Sandbox, Shared, StudentRaised
from mslab.sandbox.zygote import Zygote

FAST = Limits(call_seconds=5, load_seconds=30)
CLASS = ROOT / "examples" / "submissions"
TIMINGS = {"seconds", "start_seconds", "student_seconds"}


@pytest.fixture(scope="module")
def zygote():
    zygote = Zygote(60)
    yield zygote
    zygote.close()


def files(tmp_path, **sources: str) -> dict[str, Path]:
    paths = {}
    for name, source in sources.items():
        paths[name] = tmp_path / f"{name}.py"
        paths[name].write_text(source, encoding="utf-8")
    return paths


def in_turn(zygote, paths: dict[str, Path], calls: dict[str, str]):
    """Each file in one Shared child in turn; each one's sandbox and what its call returned."""
    shared, seen = Shared(), {}
    try:
        for name, path in paths.items():
            sandbox = shared.sandbox(path, name, limits=FAST, zygote=zygote)
            seen[name] = (sandbox, sandbox.call(calls[name]) if name in calls else None)
    finally:
        shared.close()
    return seen


def test_the_next_lab_runs_in_the_child_the_last_one_left(tmp_path, zygote):
    paths = files(
        tmp_path,
        first="import sys\nsys.mslab_test_mark = 42\ndef f():\n    return 1\n",
        second="import sys\ndef mark():\n    return getattr(sys, 'mslab_test_mark', 0)\n",
        third="import sys\ndef mark():\n    return getattr(sys, 'mslab_test_mark', 0)\n",
    )
    seen = in_turn(zygote, paths, {"first": "f", "second": "mark", "third": "mark"})
    assert [seen[n][0].inherited for n in paths] == [False, True, True]
    assert seen["second"][1] == 42 and seen["third"][1] == 42  # the same process, not a fresh one
    assert seen["second"][0].isolation == seen["first"][0].isolation == "full"


def test_the_last_labs_module_and_file_are_gone(tmp_path, zygote):
    paths = files(
        tmp_path,
        first="def f():\n    return 1\n",
        second=(
            "import os, sys\n"
            "def left():\n"
            "    cached = sorted(name.split('.')[0] for name in os.listdir('__pycache__'))\n"
            "    return ['first' in sys.modules, sorted(os.listdir('.')), cached]\n"
            "def imports():\n    import first\n"
        ),
    )
    shared = Shared()
    try:
        shared.sandbox(paths["first"], "first", limits=FAST, zygote=zygote).call("f")
        second = shared.sandbox(paths["second"], "second", limits=FAST, zygote=zygote)
        assert second.call("left") == [False, ["__pycache__", "second.py"], ["second"]]
        with pytest.raises(Exception, match="No module named 'first'"):
            second.call("imports")
    finally:
        shared.close()


def test_graph_mode_set_by_one_lab_is_not_the_next_labs(tmp_path, zygote):
    paths = files(
        tmp_path,
        first="import mindspore\nmindspore.set_context(mode=mindspore.GRAPH_MODE)\ndef f():\n    return 1\n",
        second="import mindspore\ndef mode():\n    return mindspore.get_context('mode')\n",
    )
    seen = in_turn(zygote, paths, {"first": "f", "second": "mode"})
    assert seen["second"][0].inherited
    assert seen["second"][1] == 1  # PYNATIVE_MODE, as in a fresh child


def test_process_settings_one_lab_changed_are_a_fresh_childs_for_the_next(tmp_path, zygote):
    settings = (
        "import os, sys, warnings\nimport numpy as np\n"
        "def settings():\n"
        "    return [sorted(np.geterr().items()), len(warnings.filters), sys.getrecursionlimit(), os.getcwd()]\n"
    )
    paths = files(
        tmp_path,
        first=(
            "import os, sys, warnings\nimport numpy as np\n"
            "np.seterr(all='raise')\nwarnings.simplefilter('error')\nsys.setrecursionlimit(50000)\n"
            "os.mkdir('elsewhere')\nos.chdir('elsewhere')\n"
            "def f():\n    return 1\n"
        ),
        second=settings,
    )
    seen = in_turn(zygote, paths, {"first": "f", "second": "settings"})
    assert seen["second"][0].inherited
    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / "second.py").write_text(settings, encoding="utf-8")
    with Sandbox(alone / "second.py", "second", limits=FAST, zygote=zygote) as fresh:
        assert seen["second"][1] == fresh.call("settings")


def test_a_lab_whose_code_raised_hands_its_child_on(tmp_path, zygote):
    paths = files(
        tmp_path,
        first="import sys\nsys.mslab_test_mark = 42\ndef f():\n    raise ValueError('mine')\n",
        second="import sys\ndef mark():\n    return getattr(sys, 'mslab_test_mark', 0)\n",
    )
    shared = Shared()
    try:
        with pytest.raises(StudentRaised, match="mine"):
            shared.sandbox(paths["first"], "first", limits=FAST, zygote=zygote).call("f")
        second = shared.sandbox(paths["second"], "second", limits=FAST, zygote=zygote)
        assert second.inherited and second.call("mark") == 42
    finally:
        shared.close()


@pytest.mark.parametrize(
    "patch",
    [
        "import mindspore\nmindspore.ops.grad = lambda fn, **kw: fn\n",
        "import mindspore\nmindspore.Tensor.__mul__ = lambda a, b: a\n",
        "import builtins\nbuiltins.helper = len\n",
        "import numpy\ndel numpy.sin\n",
        "import mindspore\nmindspore.set_context(max_call_depth=5000)\n",
    ],
    ids=["ops.grad", "Tensor.__mul__", "new builtin", "deleted numpy.sin", "context"],
)
def test_a_lab_that_patched_the_libraries_hands_its_child_to_no_one(tmp_path, zygote, patch):
    paths = files(
        tmp_path,
        first=patch + "import sys\nsys.mslab_test_mark = 42\ndef f():\n    return 1\n",
        second="import sys\ndef mark():\n    return getattr(sys, 'mslab_test_mark', 0)\n",
    )
    seen = in_turn(zygote, paths, {"first": "f", "second": "mark"})
    assert not seen["second"][0].inherited
    assert seen["second"][1] == 0  # a fresh child


def test_printed_output_stays_with_the_lab_that_printed_it(tmp_path, zygote):
    paths = files(
        tmp_path,
        first="def f():\n    print('from-first', end='')\n    return 1\n",
        second="print('from-second')\ndef f():\n    return 2\n",
    )
    seen = in_turn(zygote, paths, {"first": "f", "second": "f"})
    first, second = seen["first"][0], seen["second"][0]
    assert second.inherited
    assert "from-first" in first.output() and "from-first" not in second.output()
    assert "from-second" in second.output()


def test_a_lab_hurt_by_what_the_last_one_left_is_graded_again_in_a_fresh_child(tmp_path, zygote):
    """The first lab's file leaves a thread that kills the process once the second lab's module
    is loaded: the second lab's marks are those of a fresh child."""
    killer = (
        "import os, sys, threading, time\n"
        "def _wait():\n"
        "    while 'logistic_gradients' not in sys.modules:\n"
        "        time.sleep(0.01)\n"
        "    time.sleep(0.2)\n"
        "    os._exit(9)\n"
        "threading.Thread(target=_wait, daemon=True).start()\n"
    )
    first = tmp_path / "a" / "derivatives.py"
    first.parent.mkdir()
    first.write_text(LABS["derivatives"].solution.read_text(encoding="utf-8") + killer, encoding="utf-8")
    second = tmp_path / "b" / "logistic_gradients.py"
    second.parent.mkdir()
    shutil.copy(LABS["logistic_gradients"].solution, second)
    lab = LABS["logistic_gradients"]
    shared = Shared()
    try:
        before = run_checks(LABS["derivatives"], first, hidden=True, seed=3, limits=FAST, zygote=zygote, shared=shared)
        assert before.score == before.max_score
        handed = shared.last
        after = run_checks(lab, second, hidden=True, seed=3, limits=FAST, zygote=zygote, shared=shared)
    finally:
        shared.close()
    alone = run_checks(lab, second, hidden=True, seed=3, limits=FAST, zygote=zygote)
    assert handed is not None and shared.last is not handed  # it was taken over, then replaced
    assert [(c.name, c.passed, c.reason) for c in after.checks] == [(c.name, c.passed, c.reason) for c in alone.checks]
    assert after.score == alone.score == lab_points(lab)


def lab_points(lab) -> float:
    from mslab.checker import collect
    from mslab.records import points

    return points(collect(lab))


def printed(text: str) -> str:
    """A student's printed output as two gradings can agree on it: MindSpore's own log lines
    carry a time and a thread id; and the output keeps its last characters only, so where
    MindSpore logged many lines (GRAPH_MODE cannot find the grader's files in the sandbox) the
    cut falls inside a line, at a place that depends on the checkout's path: that partial first
    line is not compared."""
    if text and not text.startswith("[") and "\n" in text:
        text = text.split("\n", 1)[1]
    return re.sub(r"\[(ERROR|WARNING|INFO)\] (\w+)\(\d+,\w+,[^)]*\):[\d:.-]+ ", "[LOG] ", text)


def read_records(out: Path) -> dict:
    records = {}
    for path in sorted(out.glob("*/*/record.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        record["output"] = printed(record["output"])
        records[str(path.relative_to(out))] = {k: v for k, v in record.items() if k not in TIMINGS}
    return records


def graded_files(out: Path) -> dict:
    found = {name: (out / name).read_bytes() for name in ("gradebook.csv", "grades.csv", "grades.json", "report.html")}
    for path in sorted(out.glob("*/*/results.json")):
        results = json.loads(path.read_text(encoding="utf-8"))
        results.pop("execution_time", None)
        extra = results.get("extra_data", {})
        if "student_output" in extra:
            extra["student_output"] = printed(extra["student_output"])
        found[str(path.relative_to(out))] = printed(json.dumps(results))  # the checks' outputs too
    return found


@pytest.mark.slow  # two gradings of a class: about 15 s
def test_a_class_grades_the_same_in_one_child_per_student_as_in_one_per_lab(tmp_path, monkeypatch):
    """The bundled class, plus a student whose first lab leaves GRAPH_MODE, a patched library
    and a killer thread behind (three students, each with the reference solutions after)."""
    students = tmp_path / "class"
    shutil.copytree(CLASS, students)
    leftovers = {
        "graph": "import mindspore\nmindspore.set_context(mode=mindspore.GRAPH_MODE)\n",
        "patcher": "import mindspore\nmindspore.ops.grad = lambda fn, **kw: fn\n",
        "killer": (
            "import os, sys, threading, time\n"
            "def _wait():\n"
            "    while 'logistic_gradients' not in sys.modules:\n"
            "        time.sleep(0.01)\n"
            "    os._exit(9)\n"
            "threading.Thread(target=_wait, daemon=True).start()\n"
        ),
    }
    for name, tail in leftovers.items():
        folder = students / name
        folder.mkdir()
        for lab in LABS.values():
            shutil.copy(lab.solution, folder / f"{lab.name}.py")
        derivatives = folder / "derivatives.py"
        derivatives.write_text(derivatives.read_text(encoding="utf-8") + tail, encoding="utf-8")
    shared = grade_class(students, tmp_path / "shared", seed=11, jobs=2)
    monkeypatch.setenv("MSLAB_SANDBOX_PER_LAB", "1")
    alone = grade_class(students, tmp_path / "alone", seed=11, jobs=2)
    assert len(shared) == len(alone) == 7 * len(LABS)
    assert graded_files(tmp_path / "shared") == graded_files(tmp_path / "alone")
    assert read_records(tmp_path / "shared") == read_records(tmp_path / "alone")
    # What their first lab left behind costs the later labs nothing: full marks in both.
    scores = {(r.student, r.lab): (r.score, r.max_score) for r in shared}
    later = [scores[(name, lab)] for name in leftovers for lab in ("logistic_gradients", "value_and_grad")]
    assert all(score == most for score, most in later) and len(later) == 6


def test_a_worker_grades_a_students_labs_in_one_child_and_the_next_student_in_another(tmp_path):
    from mslab.target import LOCAL_TARGET
    from mslab.worker import Job, Worker

    worker = Worker(LOCAL_TARGET, FAST)
    handed, ahead = [], []
    try:
        for student in ("alice", "alice2"):  # alice's files (full marks) handed in twice
            for lab in LABS.values():
                job = Job(student, student, lab.name, "", {"seed": 1}, (), 0.0)
                worker.grade_file(job, CLASS / "alice" / f"{lab.name}.py")
                handed.append((student, lab.name, worker.shared.last.inherited))
                ahead.append(worker.blank._proc)  # the next student's child, started ahead
        # alice2's labs ran in the child started while alice was graded
        assert worker.shared.last._proc is ahead[0] and ahead[len(LABS)] is not ahead[0]
    finally:
        worker.close()
        worker.zygote.close()
    # each student's first lab in a fresh child, the others inherit it
    assert handed == [(student, lab, i > 0) for student in ("alice", "alice2") for i, lab in enumerate(LABS)]
