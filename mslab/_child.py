"""The sandboxed side: imports one student file and serves the checker's call requests.

``python -I -m mslab._child --zygote`` is the warm zygote: it imports MindSpore (and computes
nothing), then forks a child per spawn request, handing it the channel socket it was sent; the
child isolates itself (:mod:`mslab.jail`), sets its limits and serves. ``python -I -m
mslab._child MODULE FILE DEVICE [ISOLATION]`` serves directly (in containers), with the channel
on stdin/stdout. Serving first moves the channel to private descriptors and points fds 0/1/2 at
``/dev/null`` and a log file, so nothing the student prints can reach the checker. Student code
is untrusted and shares the serving process; the checker trusts nothing it sends beyond the data
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
    log = os.open(LOG_NAME, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
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


def make_fn(expr: str):
    """A function the checker sent as text (:class:`mslab.wire.Fn`), built from MindSpore operations
    (the same names that :data:`mslab.numeric.NUMPY_FUNCTIONS` gives the checker in NumPy)."""
    from mindspore import ops  # noqa: PLC0415

    namespace = {
        "__name__": "mslab_checker_functions",  # MindSpore's grad needs a module name
        "sin": ops.sin,
        "cos": ops.cos,
        "exp": ops.exp,
        "log": ops.log,
        "tanh": ops.tanh,
        "sigmoid": ops.sigmoid,
        "sqrt": ops.sqrt,
        "stop_gradient": ops.stop_gradient,
    }
    return eval("lambda x: " + expr, namespace)  # noqa: S307 - the checker's text


def serve(module_name: str, student_file: str, device: str, isolation: str = "process") -> None:
    """Take the channel from fds 0/1, import the student file, answer call requests until EOF."""
    chan_in, chan_out = _take_channel()

    from mslab import wire  # noqa: PLC0415 - after the channel is safe

    def send(msg: dict) -> None:
        chan_out.write(wire.dumps(msg))

    started = time.perf_counter()
    import numpy as np  # noqa: PLC0415
    import mindspore  # noqa: PLC0415

    mindspore.set_context(device_target=device)

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
    send({"op": "ready", "import_seconds": import_seconds, "isolation": isolation})

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


# -- the zygote: imports MindSpore once, never computes, forks one child per student ---------


def _set_limits(limits: dict) -> None:
    import resource  # noqa: PLC0415

    processes = limits["processes"]
    if os.getuid() != 0:  # RLIMIT_NPROC counts all of this user's threads: leave room for them
        processes += _threads_of(os.getuid())
    for name, value in (
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_CPU, limits["cpu_seconds"]),
        (resource.RLIMIT_AS, limits["memory_bytes"]),
        (resource.RLIMIT_NPROC, processes),
        (resource.RLIMIT_FSIZE, limits["file_bytes"]),
        (resource.RLIMIT_NOFILE, limits["open_files"]),
    ):
        resource.setrlimit(name, (value, value))


def _threads_of(uid: int) -> int:
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    count += len(os.listdir(f"/proc/{entry.name}/task"))
            except OSError:
                pass
    return count


def _mirror(status: int) -> None:
    """End this process the way its child ended, so the zygote sees the student's exit."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 70)


def _child_of_zygote(request: dict, channel: int) -> None:
    """In the forked child: isolate, then serve. Never returns."""
    from pathlib import Path  # noqa: PLC0415

    from mslab import jail  # noqa: PLC0415

    scratch = Path(request["scratch"])
    try:
        jail.die_with_parent()
        os.setsid()
        if request.get("cgroup"):
            jail.join_cgroup(Path(request["cgroup"]), request["limits"]["processes"])
        isolation = jail.enter()
        if isolation == "namespaces":
            first = os.fork()  # the new PID namespace's first process; when it ends, all its others do
            if first:
                os.close(channel)
                _mirror(os.waitpid(first, 0)[1])
            jail.die_with_parent()
            import mslab  # noqa: PLC0415

            needed = [Path(p) for p in sys.path if p] + [Path(mslab.__file__).parent]
            try:
                jail.inside(scratch, [Path(p) for p in request["hide"]], needed)
            except OSError as exc:  # e.g. no new /proc in this user namespace: say so, go on
                isolation = f"basic (namespaces, but the jail failed: {exc})"
        os.dup2(channel, 0)
        os.dup2(channel, 1)
        os.close(channel)
        os.chdir(scratch)  # after the mounts: the scratch bind mount is the writable one
        log = os.open(LOG_NAME, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(log, 2)
        os.close(log)
        os.environ.clear()
        os.environ.update(request["env"])
        _set_limits(request["limits"])
        serve(request["module"], request["file"], request["device"], isolation)
    except BaseException as exc:  # noqa: BLE001 - say why the child could not start
        try:
            with open(scratch / LOG_NAME, "a") as fh:
                fh.write(f"mslab sandbox: {type(exc).__name__}: {exc}\n")
        finally:
            os._exit(70)
    os._exit(0)


def zygote() -> None:
    """Serve spawn requests on the control socket (fd 0): fork a child per request."""
    import socket  # noqa: PLC0415

    control = socket.socket(fileno=os.dup(0))
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):
        os.dup2(devnull, fd)
    os.close(devnull)

    from mslab import jail, wire  # noqa: PLC0415
    import numpy  # noqa: F401, PLC0415
    import mindspore  # noqa: F401, PLC0415 - imported, never used to compute: forked children hang otherwise
    from mindspore import ops  # noqa: F401, PLC0415

    jail.become_subreaper()
    statuses: dict[int, str] = {}

    def reap(pid: int = -1) -> None:
        while True:
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                return
            if done == 0:
                return
            if os.WIFSIGNALED(status):
                statuses[done] = f"was killed by {signal.Signals(os.WTERMSIG(status)).name}"
            else:
                statuses[done] = f"exited with code {os.WEXITSTATUS(status)}"
            if pid != -1:
                return

    control.sendall(wire.dumps({"op": "ready"}))
    buffer = b""
    while True:
        fds: list[int] = []
        while b"\n" not in buffer:
            data, new_fds, _flags, _addr = socket.recv_fds(control, 65536, 1)
            if not data:
                return
            buffer += data
            fds += new_fds
        line, _, buffer = buffer.partition(b"\n")
        request = wire.loads(line)
        reap()
        if request["op"] == "spawn":
            pid = os.fork()
            if pid == 0:
                control.close()
                _child_of_zygote(request, fds[0])
            os.close(fds[0])
            control.sendall(wire.dumps({"op": "spawned", "pid": pid}))
        elif request["op"] == "status":
            pid, deadline = request["pid"], time.monotonic() + request["wait"]
            while pid not in statuses and time.monotonic() < deadline:
                reap(pid)
                time.sleep(0.01)
            control.sendall(wire.dumps({"op": "status", "status": statuses.pop(pid, None)}))


def main(argv: list[str]) -> None:
    if argv == ["--zygote"]:
        zygote()
    else:
        serve(*argv)


if __name__ == "__main__":
    main(sys.argv[1:])
