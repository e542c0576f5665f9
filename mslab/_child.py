"""The sandboxed side: imports one student file and serves the checker's call requests.

Run as ``python -I -m mslab._child MODULE_NAME FILE DEVICE`` with the channel on stdin/stdout.
The first thing it does is move the channel to private descriptors and point fds 0/1/2 at
``/dev/null`` and a log file, so nothing the student prints can reach the checker. Student code
is untrusted and shares this process; the checker trusts nothing it sends beyond the data
itself (see :mod:`mslab.wire`).
"""

from __future__ import annotations

import os
import signal
import sys
import time

LOG_NAME = "output.log"
MAX_MESSAGE = 4000  # characters of an exception message sent back


def _take_channel():
    chan_in = os.fdopen(os.dup(0), "rb", buffering=0)
    chan_out = os.fdopen(os.dup(1), "wb", buffering=0)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    log = os.open(LOG_NAME, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(devnull)
    os.close(log)
    # Line-buffered, so what the student printed is on disk even if the process is killed.
    sys.stdout.reconfigure(line_buffering=True)
    sys.stderr.reconfigure(line_buffering=True)
    # Past the file-size limit, writes fail with EFBIG instead of killing the process.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    return chan_in, chan_out


def _describe(exc: BaseException, student_file: str) -> dict:
    if isinstance(exc, SystemExit):
        message = f"student code called sys.exit({exc.code!r})"
    else:
        try:
            message = str(exc)
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
    return {"type": type(exc).__name__, "message": message[:MAX_MESSAGE], "where": where}


def main(argv: list[str]) -> None:
    module_name, student_file, device = argv
    chan_in, chan_out = _take_channel()

    from mslab import wire  # noqa: PLC0415 - after the channel is safe

    def send(msg: dict) -> None:
        chan_out.write(wire.dumps(msg))

    started = time.perf_counter()
    import numpy as np  # noqa: PLC0415
    import mindspore  # noqa: PLC0415
    from mindspore import ops  # noqa: PLC0415

    mindspore.set_context(device_target=device)
    fn_namespace = {
        "__name__": "mslab_checker_functions",
        "sin": ops.sin,
        "cos": ops.cos,
        "exp": ops.exp,
        "log": ops.log,
        "tanh": ops.tanh,
        "sigmoid": ops.sigmoid,
        "sqrt": ops.sqrt,
        "stop_gradient": ops.stop_gradient,
    }

    def make_fn(expr: str):
        return eval("lambda x: " + expr, dict(fn_namespace))  # noqa: S307 - checker's text

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
    sys.path.insert(0, os.getcwd())
    try:
        import importlib.util  # noqa: PLC0415

        spec = importlib.util.spec_from_file_location(module_name, student_file)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    except BaseException as exc:  # noqa: BLE001 - anything the student file does at import
        send({"op": "load_error", "error": _describe(exc, student_file)})
        return
    send({"op": "ready", "import_seconds": import_seconds})

    for line in chan_in:
        try:
            request = wire.loads(line)
        except wire.WireError:
            return
        reply = {"op": "result", "id": request.get("id")}
        try:
            fn = getattr(module, request["fn"])
            args = [from_wire(wire.decode(a, make_fn=make_fn)) for a in request["args"]]
            value = fn(*args)
            reply.update(ok=True, value=wire.encode(value, to_array=to_array))
        except BaseException as exc:  # noqa: BLE001 - report whatever student code raised
            reply.update(ok=False, error=_describe(exc, student_file))
        send(reply)


if __name__ == "__main__":
    main(sys.argv[1:])
