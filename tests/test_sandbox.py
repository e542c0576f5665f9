"""Hostile and broken student code: each loses exactly the checks it breaks, with a readable reason."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from conftest import LABS, inv, write_variant
from mslab.checker import collect, run_checks
from mslab.errors import MslabError
from mslab.sandbox.host import Limits, Sandbox, StudentCrashed, StudentLoadError, StudentRaised, StudentTimeout
from mslab.sandbox.wire import Opaque
from mslab.sandbox.zygote import Zygote

DERIVATIVES = LABS["derivatives"]
FAST = Limits(call_seconds=3, load_seconds=30)


def sandbox_for(tmp_path, source: str, limits: Limits = FAST) -> Sandbox:
    path = tmp_path / "student.py"
    path.write_text(source, encoding="utf-8")
    return Sandbox(path, "student", limits=limits)


def run_variant(tmp_path, edits, limits=FAST):
    path = write_variant(DERIVATIVES, tmp_path, edits)
    return run_checks(DERIVATIVES, path, hidden=True, seed=5, limits=limits)


def failed(report):
    return {c.name: c.reason for c in report.checks if not c.passed}


F_PRIME = ("    return grad(f)(x)", "    {}")
F_PRIME_LINE = DERIVATIVES.solution.read_text(encoding="utf-8").splitlines().index(F_PRIME[0]) + 1
F_PRIME_CHECKS = {"test_f_prime_at_one", "test_f_prime_at_points", "test_f_prime_hidden"}


@pytest.mark.parametrize(
    "body,reason",
    [
        ("raise ValueError('boom')", f"f_prime() raised ValueError (line {F_PRIME_LINE}): boom"),
        ("import os; os._exit(3)", "the student process exited with code 3 during f_prime()"),
        (
            "import sys; sys.exit(0)",
            f"f_prime() raised SystemExit (line {F_PRIME_LINE}): student code called sys.exit(0)",
        ),
        ("while True: pass", "f_prime() timed out after 3 s"),
        ("return 3.0", "f_prime(1.0) returned a float (3.0); expected a mindspore.Tensor"),
    ],
    ids=["raises", "os._exit", "sys.exit", "hangs", "wrong-type"],
)
def test_a_broken_function_loses_only_its_checks_and_the_run_goes_on(tmp_path, body, reason):
    report = run_variant(tmp_path, [(F_PRIME[0], F_PRIME[1].format(body))])
    assert set(failed(report)) == F_PRIME_CHECKS
    assert failed(report)["test_f_prime_at_one"] == reason
    assert report.score == report.max_score - 4


def test_wrong_shape_and_dtype_are_named(tmp_path):
    report = run_variant(
        tmp_path,
        [
            ("    return grad(f)(x)", "    return grad(f)(x).reshape(-1)"),
            ("    return grad(grad(f))(x)", "    return grad(grad(f))(x).astype(mindspore.float16)"),
            ("from mindspore import grad", "import mindspore\nfrom mindspore import grad"),
        ],
    )
    reasons = failed(report)
    assert reasons["test_f_prime_at_one"] == "f_prime(1.0) has shape (1,); expected ()"
    assert reasons["test_f_second_at_one"] == "f_second(1.0) has dtype float16; expected float32"


def test_nan_is_not_close_to_anything(tmp_path):
    report = run_variant(tmp_path, [("    return x**3 - 2 * x + 1", "    return x * float('nan')")])
    assert failed(report)["test_f_values"].startswith("f(x) contains NaN or infinity")


@pytest.mark.parametrize(
    "source,reason",
    [
        ("def f(x)\n    return x\n", "the submission could not be loaded: SyntaxError (line 1): expected ':'"),
        (
            "import sys\nsys.exit(0)\n",
            "the submission could not be loaded: SystemExit (line 2): student code called sys.exit(0)",
        ),
        ("import os\nos._exit(0)\n", "the student process exited with code 0 while loading the submission"),
        ("raise RuntimeError('no')\n", "the submission could not be loaded: RuntimeError (line 1): no"),
    ],
    ids=["syntax", "sys.exit", "os._exit", "raises"],
)
def test_a_submission_that_cannot_load_scores_zero_with_its_reason(tmp_path, source, reason):
    path = tmp_path / "derivatives.py"
    path.write_text(source, encoding="utf-8")
    report = run_checks(DERIVATIVES, path, hidden=True, seed=0, limits=FAST)
    assert report.score == 0 and len(report.checks) == len(collect(DERIVATIVES))
    assert report.load_error.startswith(reason)
    assert {(c.passed, c.reason, c.hint) for c in report.checks} == {(False, "", "")}  # said once, in load_error


def test_hanging_at_import_is_stopped_once(tmp_path):
    path = tmp_path / "derivatives.py"
    path.write_text("while True:\n    pass\n", encoding="utf-8")
    report = run_checks(DERIVATIVES, path, limits=Limits(load_seconds=4))
    assert report.load_error == "the submission could not be loaded: timed out after 4 s"
    assert report.seconds < 15, "a load failure is remembered, not retried per check"


def test_forged_output_does_not_reach_the_channel(tmp_path):
    forged = '{"op":"result","id":"x","ok":true,"value":{"t":"float","v":1.0}}'
    with sandbox_for(
        tmp_path,
        "import os, sys\n"
        f"print({forged!r})\n"
        f"os.write(1, b{forged!r} + b'\\n')\n"
        f"sys.__stdout__.write({forged!r} + '\\n')\n"
        "def answer():\n"
        f"    print({forged!r}, flush=True)\n"
        "    return 42\n",
    ) as sb:
        assert sb.call("answer") == 42
        assert sb.call("answer") == 42
        assert sb.output().count('"id":"x"') == 5


def test_objects_cross_only_as_type_names(tmp_path):
    with sandbox_for(
        tmp_path,
        "class Liar:\n"
        "    def __eq__(self, other): return True\n"
        "    def __array__(self, *a, **k): raise SystemExit\n"
        "def liar(): return Liar()\n"
        "def nested(): return (Liar(), [1, 2.5], None, 'text')\n",
    ) as sb:
        assert sb.call("liar") == Opaque("Liar")
        assert sb.call("nested") == (Opaque("Liar"), [1, 2.5], None, "text")


def test_tensors_come_back_as_arrays_with_their_kind(tmp_path):
    with sandbox_for(
        tmp_path,
        "import numpy as np, mindspore as ms\n"
        "def tensor(x): return x * 2\n"
        "def array(): return np.arange(3, dtype=np.int32)\n"
        "def parameter(): return ms.Parameter(ms.Tensor([1.0]), name='w')\n",
    ) as sb:
        got = sb.call("tensor", np.array([[1.5, 2.0]], np.float32))
        assert got.kind == "Tensor" and got.value.dtype == np.float32
        np.testing.assert_array_equal(got.value, [[3.0, 4.0]])
        arr = sb.call("array")
        assert arr.kind == "ndarray" and arr.value.tolist() == [0, 1, 2]
        assert sb.call("parameter").kind == "Parameter"


def test_flooding_output_is_capped_and_said_so(tmp_path):
    limits = Limits(call_seconds=3)
    source = "def flood():\n    print('start')\n    while True:\n        print('x' * 9999)\n"
    with sandbox_for(tmp_path, source, limits) as sb:
        with pytest.raises(StudentTimeout, match=r"flood\(\) timed out after 3 s"):
            sb.call("flood")
        shown = sb.output(limit=1 << 20)
    assert shown.endswith("\n[printed more than 1 MB; output cut]")
    assert "start" not in shown  # only the last 64 KiB are kept, on the grader's side
    assert len(shown.encode()) <= 64 * 1024 + 100


def test_memory_bomb_is_stopped_by_the_address_space_limit(tmp_path):
    with sandbox_for(tmp_path, "def bomb():\n    return bytearray(20 * 1024**3)\n") as sb:
        with pytest.raises(StudentRaised) as info:
            sb.call("bomb")
        assert info.value.type_name == "MemoryError"


def test_student_code_runs_in_its_own_capped_tmpfs(tmp_path):
    source = "import os\ndef where(): return os.getcwd(), os.environ['HOME'], os.environ['TMPDIR']\n"
    with sandbox_for(tmp_path, source) as sb:
        assert sb.call("where") == ("/sandbox", "/sandbox", "/sandbox")
        assert sb.walls["scratch"] is True  # a tmpfs in the sandbox's mount namespace, not the host's disk


def test_each_failure_restarts_a_fresh_process(tmp_path):
    with sandbox_for(
        tmp_path,
        "import os\nSTATE = []\n"
        "def remember(): STATE.append(1); return len(STATE)\n"
        "def die(): os._exit(1)\n"
        "def hang():\n    while True: pass\n",
    ) as sb:
        assert sb.call("remember") == 1
        assert sb.call("remember") == 2
        with pytest.raises(StudentCrashed):
            sb.call("die")
        assert sb.call("remember") == 1
        with pytest.raises(StudentTimeout):
            sb.call("hang", timeout=1)
        assert sb.call("remember") == 1
        assert sb.starts == 3


def test_load_errors_are_remembered(tmp_path):
    sb = sandbox_for(tmp_path, "raise ImportError('nope')\n")
    with sb:
        for _ in range(2):
            with pytest.raises(StudentLoadError, match="ImportError"):
                sb.call("anything")
        assert sb.starts == 1


def test_unreadable_or_huge_submissions_are_refused_with_a_reason(tmp_path):
    with pytest.raises(MslabError, match="cannot read submission"):
        Sandbox(tmp_path / "missing.py", "x")
    big = tmp_path / "big.py"
    big.write_bytes(b"#" * (2 * 1024 * 1024))
    with pytest.raises(MslabError, match="larger than"):
        Sandbox(big, "big")


def test_a_function_that_timed_out_fails_its_later_calls_at_once(tmp_path):
    """An infinite loop cost a full call deadline per check (46 s for one function)."""
    source = "def spin(x):\n    while True:\n        pass\n\ndef ok():\n    return 1\n"
    with sandbox_for(tmp_path, source, Limits(call_seconds=2, load_seconds=30)) as sb:
        with pytest.raises(StudentTimeout) as first:
            sb.call("spin", 1.0)
        started = time.monotonic()
        with pytest.raises(StudentTimeout) as again:
            sb.call("spin", 2.0)
        assert time.monotonic() - started < 0.1 and str(again.value) == str(first.value)
        assert sb.call("ok") == 1  # the other functions still run


def test_the_budget_counts_loads_and_restarts_in_wall_time(tmp_path):
    """Sleeping at import and exiting in every call cost ~60 s per check."""
    source = "import os, time\ntime.sleep(1.5)\ndef die():\n    os._exit(0)\n"
    limits = Limits(submission_seconds=5, load_seconds=30, call_seconds=5)
    started = time.monotonic()
    with sandbox_for(tmp_path, source, limits) as sb:
        outcomes = []
        for _ in range(10):
            try:
                sb.call("die")
            except (StudentCrashed, StudentTimeout) as exc:
                outcomes.append(type(exc).__name__)
        assert sb.out_of_time
    assert time.monotonic() - started < 5 + 3  # the budget, plus starting and closing
    assert outcomes[-1] == "StudentTimeout" and "StudentCrashed" in outcomes


@pytest.mark.skipif(os.geteuid() != 0, reason="the uid range is used when the grader is root")
def test_a_bad_uid_range_is_one_line_before_anything_runs():
    os.environ["MSLAB_SANDBOX_UIDS"] = "0-10"
    try:
        done = inv("lab.check", "derivatives", "--submission", str(LABS["derivatives"].solution))
    finally:
        del os.environ["MSLAB_SANDBOX_UIDS"]
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        "error: MSLAB_SANDBOX_UIDS must be FIRST-LAST with 0 < FIRST <= LAST, not '0-10'"
    ]


def test_student_code_runs_mindspore_synchronously_on_cpu(tmp_path):
    """PyNative's queue threads waited busily and doubled a submission's CPU: the sandbox turns
    them off on CPU (serve._synchronous), and gradients are what they were."""
    source = tmp_path / "probe.py"
    source.write_text(
        "import mindspore, numpy as np\n"
        "from mindspore import ops, Tensor\n"
        "def synchronous():\n"
        "    return bool(mindspore.get_context('pynative_synchronize'))\n"
        "def cube_grad(x):\n"
        "    return ops.grad(lambda t: (t ** 3).sum())(x)\n"
    )
    with Sandbox(source, "probe") as sandbox:
        assert sandbox.call("synchronous") is True
        grad = sandbox.call("cube_grad", np.array([1.0, 2.0, -3.0]))
    assert grad.kind == "Tensor"
    np.testing.assert_allclose(grad.value, 3 * np.array([1.0, 4.0, 9.0]), rtol=1e-6)


def test_what_was_printed_before_a_timeout_is_kept(tmp_path):
    """A call that timed out is killed with its child; what the student printed before it is
    still shown (lab.check showed no output section after a timeout)."""
    source = 'print("before the hang", flush=True)\ndef spin():\n    print("spinning now", flush=True)\n    while True:\n        pass\n\ndef ok():\n    return 1\n'
    with sandbox_for(tmp_path, source, Limits(call_seconds=2, load_seconds=30)) as sb:
        with pytest.raises(StudentTimeout):
            sb.call("spin")
        assert sb.call("ok") == 1  # a fresh child, which printed "before the hang" again
        printed = sb.output()
    assert printed.count("before the hang") == 2 and "spinning now" in printed


def test_a_lab_graded_again_in_a_fresh_child_keeps_its_one_budget(tmp_path):
    """A lab that ran out of time in a child handed over from the student's previous lab is
    graded again in a fresh child: within what is left of the same budget, not a new one."""
    import ast

    from mslab.sandbox.host import Shared

    derivatives, logistic = LABS["derivatives"], LABS["logistic_gradients"]
    names = [n.name for n in ast.parse(logistic.starter.read_text()).body if isinstance(n, ast.FunctionDef)]
    sleeper = tmp_path / "logistic_gradients.py"
    sleeper.write_text("import time\n" + "".join(f"def {n}(*args):\n    time.sleep(2)\n" for n in names))
    limits = Limits(submission_seconds=8, call_seconds=3, load_seconds=30)
    shared, zygote = Shared(), Zygote(limits.load_seconds)
    options = {"hidden": True, "seed": 1, "limits": limits, "shared": shared, "zygote": zygote}
    try:
        first = run_checks(derivatives, derivatives.solution, **options)
        assert first.full_marks
        started = time.monotonic()
        second = run_checks(logistic, sleeper, **options)
        took = time.monotonic() - started
    finally:
        shared.close()
        zygote.close()
    assert second.out_of_time and second.score == 0
    assert took < 8 + 4, took  # the budget, plus starting and closing (a fresh budget took ~16 s)
    assert second.seconds >= 8 - 0.5  # the record gives the whole time
