"""The sandboxed side: imports one student file and answers the checker's call requests.

Runs inside the walls (:mod:`mslab.sandbox.jail`) in a process forked by the zygote, or as
``python -I -m mslab.sandbox.serve MODULE FILE DEVICE`` in a container. Either way the channel
is on fds 0/1 and fd 2 is where printed output goes (a pipe the grader opened, or the
container's stderr stream): :func:`serve` first moves the channel to private descriptors and
points fd 1 at fd 2, so nothing the student prints can reach the checker. Student code shares
this process and is untrusted: the checker trusts nothing it sends beyond the data itself
(:mod:`mslab.sandbox.wire`), and decides on its own how well it was isolated.

The protocol (one JSON object a line; docs/protocol.md): the child sends ``ready`` or
``load_error`` once, then answers each ``call`` with a ``result``. A child whose file the grader
is done with may be handed the same student's next lab: ``flush`` (answered ``flushed`` once
what was printed has left) and ``next`` with that file's module name and source, after which
the child forgets the last module and loads the new one, answering ``ready`` or ``load_error``
as at the start.
"""

from __future__ import annotations

import ast
import base64
import linecache
import operator
import os
import shutil
import sys
import time

from mslab.sandbox import wire
from mslab.sandbox.wire import FN_FUNCTIONS

MAX_MESSAGE = 4000  # characters of an exception message sent back (the grader caps again)


def _take_channel():
    chan_in = os.fdopen(os.dup(0), "rb", buffering=0)
    chan_out = os.fdopen(os.dup(1), "wb", buffering=0)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    # Line-buffered, so what the student printed has left the process even if it is killed.
    sys.stdout.reconfigure(line_buffering=True)
    sys.stderr.reconfigure(line_buffering=True)
    return chan_in, chan_out


def _describe(exc: BaseException, student_file: str) -> dict:
    if isinstance(exc, SystemExit):
        message = f"student code called sys.exit({exc.code!r})"[:MAX_MESSAGE]
    else:
        try:
            message = str(exc)[:MAX_MESSAGE]
        except BaseException:  # noqa: BLE001 - a hostile __str__
            message = "<message could not be printed>"
    where = ""
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == student_file:
            where = f"line {tb.tb_lineno}"
        tb = tb.tb_next
    if isinstance(exc, SyntaxError) and exc.lineno:
        where = f"line {exc.lineno}"
    try:
        type_name = str(type(exc).__name__)[:80]
    except BaseException:  # noqa: BLE001
        type_name = "Exception"
    return {"type": type_name, "message": message, "where": where}


_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}


_BOUND: dict = {}  # MindSpore's own operations and Cell, taken before any student code ran

#: This file's lines, read when it is imported — in the zygote, before any wall goes up. MindSpore
#: compiles what jacrev, jacfwd and jvp differentiate, and what grad differentiates when a handed
#: function is one of its arguments (``grad(loss)(w, x, act)``); compiling a function reads its
#: source (``inspect.getsourcelines``), the checker's functions of :func:`make_fn` too; inside the walls
#: this file cannot be read (mslab's package is masked), so :func:`make_fn` hands the lines to
#: ``linecache`` (an entry without a time stamp, as for a zip import: never checked against disk).
_OWN_LINES = linecache.getlines(__file__)


def bind_operations() -> None:
    """Take ``mindspore.ops.<name>`` for every :data:`~mslab.sandbox.wire.FN_FUNCTIONS` name,
    ``stop_gradient`` and ``nn.Cell`` now — in the zygote or at the child's start, before the
    student file is imported — so that a student who re-binds ``ops.sin`` to a tracer of its own
    does not change the functions the checker hands over (:func:`make_fn`)."""
    if not _BOUND:
        from mindspore import nn, ops

        _BOUND.update({name: getattr(ops, name) for name in (*FN_FUNCTIONS, "stop_gradient")})
        _BOUND["Cell"] = nn.Cell


def make_fn(expr: str, bprop: str | None = None):
    """A function the checker sent as an expression in ``x`` (:class:`~mslab.sandbox.wire.Fn`),
    built from MindSpore operations: ``mindspore.ops.<name>`` for each name in
    :data:`mslab.sandbox.wire.FN_FUNCTIONS` (the checker's NumPy side uses the same list), plus
    ``stop_gradient`` — as they were before the student's code ran (:func:`bind_operations`).
    With ``bprop``, an ``nn.Cell`` whose gradient is declared as ``dout * bprop(x)``.

    The expression is parsed, never evaluated as code, into nested closures over MindSpore
    callables. There is no code object whose global names a student could re-bind to NumPy
    (``types.FunctionType(fn.__code__, {...})``) to get the values without autodiff."""
    bind_operations()
    if _OWN_LINES:
        linecache.cache[__file__] = (sum(map(len, _OWN_LINES)), None, _OWN_LINES, __file__)
    functions = {name: op for name, op in _BOUND.items() if name != "Cell"}

    def build(node):
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            value = float(node.value)
            return lambda x: value
        if isinstance(node, ast.Name) and node.id == "x":
            return lambda x: x
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            op, left, right = _BINARY[type(node.op)], build(node.left), build(node.right)
            return lambda x: op(left(x), right(x))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd):
            return build(node.operand)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            inner = build(node.operand)
            return lambda x: -inner(x)  # one lambda a line, alone: MindSpore's compiler parses it
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in functions
            and len(node.args) == 1
            and not node.keywords
        ):
            fn, inner = functions[node.func.id], build(node.args[0])
            return lambda x: fn(inner(x))
        raise ValueError(f"the checker's function has an unknown part: {ast.dump(node)[:80]}")

    body = build(ast.parse(expr, mode="eval").body)
    if bprop is not None:
        declared = build(ast.parse(bprop, mode="eval").body)

        cell: type = _BOUND["Cell"]

        class CheckerCell(cell):
            """``expr``, whose gradient is declared to be ``dout * bprop(x)``."""

            def construct(self, x):
                return body(x)

            def bprop(self, x, out, dout):
                return (dout * declared(x),)

        return CheckerCell()

    def checker_function(x):
        return body(x)

    return checker_function


def _synchronous(mindspore) -> None:
    """Run PyNative ops one after another in the calling thread. By default MindSpore pipelines
    them through queue threads (frontend, backend, bprop) that wait busily: on a CPU grader
    they more than doubled the CPU a submission used (docs/protocol.md). The same ops, the same
    kernels, the same values. ``pynative_synchronize`` is set_context's switch from 2.x to
    2.7; ``runtime.launch_blocking()`` its named successor."""
    try:
        mindspore.set_context(pynative_synchronize=True)
    except (TypeError, ValueError, AttributeError):
        launch_blocking = getattr(getattr(mindspore, "runtime", None), "launch_blocking", None)
        if launch_blocking is not None:
            launch_blocking()


def serve(module_name: str, student_file: str, device: str) -> None:
    """Take the channel from fds 0/1, import the student file, answer call requests until EOF."""
    chan_in, chan_out = _take_channel()

    def send(op: str, **fields) -> None:
        chan_out.write(wire.message("server", op, **fields))

    started = time.perf_counter()
    import mindspore
    import numpy as np

    mindspore.set_context(device_target=device)
    if device == "CPU":
        _synchronous(mindspore)
    bind_operations()  # before the student file can re-bind any of them

    def from_wire(value):
        if isinstance(value, wire.Array):
            return mindspore.Tensor(value.value)
        if isinstance(value, (tuple, list)):
            return type(value)(from_wire(v) for v in value)
        return value

    def to_array(obj):
        if isinstance(obj, mindspore.Tensor):
            kind = "Parameter" if isinstance(obj, mindspore.Parameter) else "Tensor"
            return np.asarray(obj.asnumpy()), kind
        return None

    import_seconds = time.perf_counter() - started
    home = os.path.dirname(os.path.abspath(student_file))
    sys.path.insert(0, home)
    fresh = _Fresh(mindspore)
    module = _load(module_name, student_file, send, import_seconds)
    if module is None:
        return

    for line in chan_in:
        try:
            request = wire.receive(line, "grader", "call", "flush", "next")
        except wire.WireError:
            return
        if request.get("op") == "flush":
            sys.stdout.flush()
            sys.stderr.flush()
            send("flushed", clean=fresh.untouched())
            continue
        if request.get("op") == "next":
            # The same student's next lab: forget this one's module and file, load that one.
            fresh.restore(module_name, home)
            module_name, student_file = str(request["module"]), os.path.join(home, f"{request['module']}.py")
            with open(student_file, "wb") as fh:
                fh.write(base64.b64decode(request["source"]))
            module = _load(module_name, student_file, send, 0.0)  # MindSpore is imported already
            if module is None:
                return
            continue
        reply: dict = {"id": request["id"]}
        try:
            fn = getattr(module, request["fn"])
            args = [from_wire(wire.decode(a, make_fn=make_fn)) for a in request["args"]]
            value = fn(*args)
            reply.update(ok=True, value=wire.encode(value, to_array=to_array))
        except BaseException as exc:  # noqa: BLE001 - report whatever student code raised
            reply.update(ok=False, error=_describe(exc, student_file))
        send("result", **reply)


def _load(module_name: str, student_file: str, send, import_seconds: float):
    """Import the student file as ``module_name`` and send ``ready`` (with ``import_seconds``,
    the time MindSpore's import took); None, with ``load_error`` sent, if it fails."""
    try:
        import importlib.util

        spec = importlib.util.spec_from_file_location(module_name, student_file)
        assert spec is not None and spec.loader is not None  # a .py path always has both
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    except BaseException as exc:  # noqa: BLE001 - anything the student file does at import
        send("load_error", error=_describe(exc, student_file))
        return None
    send("ready", import_seconds=import_seconds)
    return module


class _Fresh:
    """What a fresh child starts with, for handing it to another lab of the same student.

    Put back before the next lab loads: MindSpore's execution mode, the random generators'
    states, NumPy's floating-point error handling, the warning filters, the recursion limit and
    the working folder. Checked (:meth:`untouched`): MindSpore's other context settings, and that
    no name of the libraries a lab computes with was re-bound — a lab that patched
    ``mindspore.ops.grad`` or ``Tensor.__mul__`` leaves its child unfit, and the next lab gets a
    fresh one. The answer is the student's own process speaking and only decides where that same
    student's next lab runs: a lie could make it run beside what its own file could have done
    itself. A next lab that crashes or times out in the child is graded again in a fresh one
    (mslab.sandbox.host.Sandbox.inherit)."""

    CONTEXT = ("device_target", "pynative_synchronize", "max_call_depth", "jit_level", "deterministic")

    def __init__(self, mindspore) -> None:
        import builtins
        import math
        import random
        import warnings

        import numpy as np
        from mindspore import nn, ops

        self.mindspore = mindspore
        self.mode = mindspore.get_context("mode")
        self.context = self._context()
        self.random, self.numpy, self.errors = random.getstate(), np.random.get_state(), np.geterr()
        self.filters, self.depth = list(warnings.filters), sys.getrecursionlimit()
        watched = (builtins, math, np, mindspore, ops, nn, mindspore.Tensor, mindspore.Parameter)
        self.names = [(vars(space), dict(vars(space))) for space in watched]

    def _context(self) -> dict:
        values = {}
        for key in self.CONTEXT:
            try:
                values[key] = self.mindspore.get_context(key)
            except Exception:  # noqa: BLE001 - a key this MindSpore does not have
                values[key] = None
        return values

    def untouched(self) -> bool:
        for now, then in self.names:
            if len(now) < len(then) or any(now.get(name, now) is not value for name, value in then.items()):
                return False
        builtins_now, builtins_then = self.names[0]
        if builtins_now.keys() - builtins_then.keys():
            return False
        return self._context() == self.context

    def restore(self, module_name: str, home: str) -> None:
        import random
        import warnings

        import numpy as np

        for name, module in list(sys.modules.items()):
            where = getattr(module, "__file__", None)
            if name == module_name or (isinstance(where, str) and where.startswith(home + os.sep)):
                del sys.modules[name]
        os.chdir(home)
        for entry in os.listdir(home):  # the working folder as a fresh child finds it: empty
            path = os.path.join(home, entry)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
        if self.mindspore.get_context("mode") != self.mode:
            self.mindspore.set_context(mode=self.mode)
        random.setstate(self.random)
        np.random.set_state(self.numpy)
        np.seterr(**self.errors)
        warnings.filters[:] = self.filters  # type: ignore[index]
        warnings._filters_mutated()  # type: ignore[attr-defined]
        sys.setrecursionlimit(self.depth)


def main(argv: list[str]) -> None:
    serve(*argv[:3])


if __name__ == "__main__":
    main(sys.argv[1:])
