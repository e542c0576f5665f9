"""The data channel between the checker and the sandboxed student process, and every message
that crosses the trust boundary (:data:`MESSAGES`: one shape each, checked on both sides).

One JSON document per line. Only plain data crosses it: numbers, strings, tuples and lists,
and arrays as ``dtype + shape + base64 bytes``. Nothing is pickled, and the checker side
(:func:`decode`) validates every field before building a NumPy array from it, so a hostile
student process can at worst send wrong numbers — which the checks then mark wrong.
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass

import numpy as np

#: dtypes allowed across the channel, both ways.
DTYPES = frozenset({"bool", "int8", "int16", "int32", "int64", "uint8", "float16", "float32", "float64"})
MAX_LINE = 16 * 1024 * 1024  # bytes in one message
MAX_ITEMS = 100_000  # JSON values in one message (counted by their separators, before parsing)
MAX_DEPTH = 16  # nesting of tuples/lists
MAX_DIM = 2**31 - 1  # one dimension of an array
MAX_TEXT = 2000  # characters of any text the student's side sends (an error) kept in a record


class WireError(ValueError):
    """A message that does not follow the protocol."""


@dataclass(frozen=True)
class Array:
    """An array returned by student code, with the Python type it had there."""

    kind: str  # "Tensor", "Parameter", "ndarray", "number"
    value: np.ndarray

    def __repr__(self) -> str:
        return f"{self.kind}(shape={tuple(self.value.shape)}, dtype={self.value.dtype})"


@dataclass(frozen=True)
class Opaque:
    """Any other object returned by student code: only its type's name crosses the channel."""

    type_name: str

    def __repr__(self) -> str:
        return f"<{self.type_name} object>"


@dataclass(frozen=True)
class Fn:
    """A function the checker hands to student code, written as an expression in ``x``.

    The child evaluates it with MindSpore operations (``sin``, ``exp``, ``stop_gradient``...);
    the checker evaluates the same text with NumPy to compute expected values. Both sides take
    the functions it may call from :data:`FN_FUNCTIONS`.

    With ``bprop`` (another expression in ``x``), the child hands over an ``nn.Cell`` whose
    ``construct`` is ``expr`` and whose ``bprop`` declares ``dout * bprop(x)`` as its gradient —
    deliberately not the derivative of ``expr``. MindSpore's autodiff follows the declared rule
    at every order (the second derivative is that of ``bprop``'s expression), while a derivative
    made by hand, symbolically or by finite differences gets the true one: only autodiff passes.
    """

    expr: str
    bprop: str = ""


#: The functions an :class:`Fn` expression may call besides ``stop_gradient``, by name: the one
#: list both sides use (``mindspore.ops.<name>`` in the child, NumPy in :mod:`mslab.numeric`).
FN_FUNCTIONS = ("sin", "cos", "exp", "log", "tanh", "sigmoid", "sqrt")


def encode_array(arr: np.ndarray, kind: str) -> dict:
    arr = np.asarray(arr, order="C")  # (ascontiguousarray would make 0-d arrays 1-d)
    if arr.dtype.name not in DTYPES:
        raise WireError(f"dtype {arr.dtype.name} cannot cross the channel")
    return {
        "t": "array",
        "kind": kind,
        "dtype": arr.dtype.name,
        "shape": list(arr.shape),
        "data": base64.b64encode(arr.tobytes()).decode("ascii"),
    }


def encode(obj, *, to_array=None, depth: int = 0) -> dict:
    """Turn ``obj`` into plain JSON data.

    ``to_array(obj)`` may return ``(ndarray, kind)`` for framework types (MindSpore tensors
    in the child); anything unknown becomes an :class:`Opaque` with its type name only.
    """
    if depth > MAX_DEPTH:
        return {"t": "object", "type": "too deeply nested"}
    if to_array is not None:
        converted = to_array(obj)
        if converted is not None:
            return encode_array(*converted)
    # bool before int: bool is an int subclass
    if obj is None:
        return {"t": "none"}
    if isinstance(obj, Fn):
        return {"t": "fn", "expr": obj.expr, **({"bprop": obj.bprop} if obj.bprop else {})}
    if type(obj) is bool:
        return {"t": "bool", "v": obj}
    if type(obj) is int:
        return {"t": "int", "v": obj}
    if type(obj) is float:
        return {"t": "float", "v": _float_out(obj)}
    if type(obj) is str:
        return {"t": "str", "v": obj}
    if isinstance(obj, np.ndarray) and obj.dtype.name in DTYPES:
        return encode_array(obj, "ndarray")
    if isinstance(obj, np.generic) and obj.dtype.name in DTYPES:
        return encode_array(np.asarray(obj), "number")
    if type(obj) in (tuple, list):
        return {
            "t": type(obj).__name__,
            "items": [encode(o, to_array=to_array, depth=depth + 1) for o in obj],
        }
    return {"t": "object", "type": type(obj).__name__}


def _float_out(v: float):
    # JSON has no NaN/inf; send them as strings and turn them back on decode.
    return v if math.isfinite(v) else repr(v)


def decode(msg, *, make_fn=None, depth: int = 0):
    """Rebuild a value from :func:`encode`'s output, validating every field."""
    if depth > MAX_DEPTH or not isinstance(msg, dict):
        raise WireError("malformed value")
    t = msg.get("t")
    if t == "none":
        return None
    if t == "bool" and type(msg.get("v")) is bool:
        return msg["v"]
    if t == "int" and type(msg.get("v")) is int:
        return msg["v"]
    if t == "float" and type(msg.get("v")) in (int, float):
        return float(msg["v"])
    if t == "float" and msg.get("v") in ("nan", "inf", "-inf"):
        return float(msg["v"])
    if t == "str" and type(msg.get("v")) is str:
        return msg["v"]
    if t in ("tuple", "list") and isinstance(msg.get("items"), list):
        items = [decode(m, make_fn=make_fn, depth=depth + 1) for m in msg["items"]]
        return tuple(items) if t == "tuple" else items
    if t == "array":
        return _decode_array(msg)
    if t == "fn" and make_fn is not None and type(msg.get("expr")) is str:
        if "bprop" in msg:
            if type(msg["bprop"]) is not str:
                raise WireError("malformed function")
            return make_fn(msg["expr"], msg["bprop"])
        return make_fn(msg["expr"])
    if t == "object" and type(msg.get("type")) is str:
        return Opaque(msg["type"][:200])
    raise WireError(f"malformed value of type {str(t)[:40]!r}")


def _decode_array(msg: dict) -> Array:
    dtype, shape, data, kind = msg.get("dtype"), msg.get("shape"), msg.get("data"), msg.get("kind")
    if dtype not in DTYPES or type(kind) is not str or type(data) is not str:
        raise WireError("malformed array")
    if not isinstance(shape, list) or len(shape) > 32:
        raise WireError("malformed array shape")
    if not all(type(n) is int and 0 <= n <= MAX_DIM for n in shape):
        raise WireError("malformed array shape")
    if math.prod(shape) > MAX_LINE:
        raise WireError("array larger than a message")
    try:
        raw = base64.b64decode(data, validate=True)
    except ValueError as exc:
        raise WireError("malformed array data") from exc
    dt = np.dtype(dtype)
    if len(raw) != math.prod(shape) * dt.itemsize:
        raise WireError("array data does not match its shape")
    value = np.frombuffer(raw, dtype=dt).reshape(shape).copy()
    return Array(kind=kind[:40], value=value)


def dumps(msg: dict) -> bytes:
    return json.dumps(msg, separators=(",", ":")).encode() + b"\n"


def loads(line: bytes) -> dict:
    if len(line) > MAX_LINE:
        raise WireError("message too large")
    # Parsing builds ~20 bytes of Python objects per byte of "[]," or "1,": bound the number of
    # values first (arrays travel as base64 strings, which hold no separators).
    if line.count(b",") + line.count(b"[") + line.count(b"{") > MAX_ITEMS:
        raise WireError("message has too many values")
    try:
        msg = json.loads(line)
    except (ValueError, RecursionError) as exc:
        raise WireError("message is not JSON") from exc
    if not isinstance(msg, dict):
        raise WireError("message is not an object")
    return msg


# -- messages ------------------------------------------------------------------------------------

NUMBER = (int, float)
NONE = type(None)


@dataclass(frozen=True)
class Shape:
    """One message: who sends it, its ``op``, and its fields with the JSON types each may have
    (``required``: always there; ``optional``: there or not). No other field is allowed."""

    sender: str  # "grader", "zygote" (the control socket) or "server" (the student's channel)
    op: str
    required: tuple[tuple[str, tuple[type, ...]], ...] = ()
    optional: tuple[tuple[str, tuple[type, ...]], ...] = ()

    def check(self, msg: dict) -> dict:
        fields = dict(self.required) | dict(self.optional)
        extra = set(msg) - set(fields) - {"op"}
        if extra:
            raise WireError(f"{self.op} message with unknown fields {sorted(extra)[:3]}")
        for name, types in fields.items():
            if name not in msg:
                if name in dict(self.required):
                    raise WireError(f"{self.op} message without {name}")
                continue
            value = msg[name]
            if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
                raise WireError(f"{self.op} message with a malformed {name}")
        return msg


#: Every message of the protocol (docs/protocol.md's tables, held against this by tests/test_wire.py).
MESSAGES: dict[tuple[str, str], Shape] = {
    (shape.sender, shape.op): shape
    for shape in (
        # grader -> zygote, on the zygote's control socket (three descriptors attached by SCM_RIGHTS)
        Shape(
            "grader",
            "spawn",
            (
                ("module", (str,)),
                ("device", (str,)),
                ("env", (dict,)),
                ("limits", (dict,)),
                ("uid", (int,)),
                ("subordinate", (bool,)),
                ("cgroup_procs", (list,)),
            ),
        ),
        Shape("grader", "status", (("pid", (int,)), ("wait", NUMBER))),
        # zygote -> grader
        Shape(
            "zygote",
            "ready",
            (("userns", (bool,)), ("uid", (int,)), ("subids", (dict, NONE)), ("namespaces", (bool, NONE))),
        ),
        Shape("zygote", "spawned", (("pid", (int,)),)),
        Shape("zygote", "status", (("status", (str, NONE)),)),
        # grader -> server, on the student's channel
        Shape("grader", "call", (("id", (str,)), ("fn", (str,)), ("args", (list,)))),
        Shape("grader", "flush"),
        Shape("grader", "next", (("module", (str,)), ("source", (str,)))),
        # server -> grader: untrusted
        Shape("server", "ready", (("import_seconds", NUMBER),)),
        Shape("server", "load_error", (("error", (dict,)),)),
        Shape("server", "result", (("id", (str,)), ("ok", (bool,))), (("value", (dict,)), ("error", (dict,)))),
        Shape("server", "flushed", (("clean", (bool,)),)),
    )
}


def message(sender: str, op: str, **fields) -> bytes:
    """The line for message ``op`` from ``sender``, checked against its :class:`Shape`."""
    shape = MESSAGES.get((sender, op))
    if shape is None:
        raise WireError(f"no message {op!r} from the {sender}")
    return dumps(shape.check({"op": op, **fields}))


def receive(line: bytes, sender: str, *ops: str) -> dict:
    """Message ``line`` from ``sender``, which must be one of ``ops`` and have its shape."""
    return expect(loads(line), sender, *ops)


def expect(msg: dict, sender: str, *ops: str) -> dict:
    """``msg`` (parsed by :func:`loads`) if it is one of ``ops`` from ``sender``, in its shape."""
    op = msg.get("op")
    if op not in ops or (sender, op) not in MESSAGES:
        raise WireError(f"expected {' or '.join(ops)} from the {sender}, got {str(op)[:40]!r}")
    return MESSAGES[(sender, op)].check(msg)
