"""The channel carries plain data only and rejects anything malformed."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest

from mslab.sandbox import wire


def roundtrip(value):
    return wire.decode(wire.loads(wire.dumps(wire.encode(value))))


def test_arrays_keep_dtype_shape_and_values():
    for arr in (
        np.arange(6, dtype=np.float32).reshape(2, 3),
        np.array(True),
        np.float64(2.5),
        np.zeros((0, 4), np.int64),
        np.array([np.nan, np.inf], np.float16),
    ):
        got = roundtrip(arr)
        assert got.value.dtype == np.asarray(arr).dtype and got.value.shape == np.asarray(arr).shape
        np.testing.assert_array_equal(got.value, arr)


def test_containers_and_scalars():
    value = (1, 2.5, True, None, "s", [np.float32(1)], float("nan"))
    got = roundtrip(value)
    assert got[:5] == (1, 2.5, True, None, "s") and isinstance(got[5], list) and np.isnan(got[6])


def test_unknown_objects_cross_as_their_type_name_only():
    class Sneaky:
        def __reduce__(self):
            raise AssertionError("never pickled")

    assert roundtrip(Sneaky()) == wire.Opaque("Sneaky")
    assert roundtrip(np.array([object()])) == wire.Opaque("ndarray")


def array_msg(**fields):
    msg = {
        "t": "array",
        "kind": "Tensor",
        "dtype": "float32",
        "shape": [2],
        "data": base64.b64encode(np.zeros(2, np.float32).tobytes()).decode(),
    }
    msg.update(fields)
    return msg


@pytest.mark.parametrize(
    "msg",
    [
        array_msg(dtype="object"),
        array_msg(shape=[3]),
        array_msg(shape=[-1]),
        array_msg(shape="2"),
        array_msg(data="!!notbase64"),
        {"t": "pickle", "v": "gASVAAAA"},
        {"t": "float", "v": "1e400"},
        {"t": "tuple", "items": "no"},
        [],
    ],
)
def test_malformed_values_are_rejected(msg):
    with pytest.raises(wire.WireError):
        wire.decode(msg)


def test_deep_nesting_and_huge_lines_are_rejected():
    deep = {"t": "int", "v": 1}
    for _ in range(wire.MAX_DEPTH + 5):
        deep = {"t": "list", "items": [deep]}
    with pytest.raises(wire.WireError):
        wire.decode(deep)
    with pytest.raises(wire.WireError):
        wire.loads(b" " * (wire.MAX_LINE + 1))
    with pytest.raises(wire.WireError):
        wire.loads(b"[1, 2]")
    with pytest.raises(wire.WireError):
        wire.loads(b"not json")


def test_checker_functions_are_sent_as_text():
    assert wire.encode(wire.Fn("sin(x)")) == {"t": "fn", "expr": "sin(x)"}
    assert wire.decode({"t": "fn", "expr": "x"}, make_fn=lambda e: ("made", e)) == ("made", "x")
    with pytest.raises(wire.WireError):
        wire.decode({"t": "fn", "expr": "x"})  # the checker side never builds functions
    assert json.loads(wire.dumps({"a": 1})) == {"a": 1}


@pytest.mark.sandbox  # imports MindSpore
@pytest.mark.parametrize("name", wire.FN_FUNCTIONS)
def test_both_sides_evaluate_every_fn_function_alike(name):
    """One list of names (wire.FN_FUNCTIONS): the child's MindSpore closure and the checker's
    NumPy evaluation of the same expression agree, for every name on it."""
    import mindspore
    import numpy as np

    from mslab import numeric
    from mslab.sandbox.serve import make_fn

    expr = f"{name}(0.5 * x + 1.5) - stop_gradient(x)"
    x = np.linspace(0.1, 2.0, 5).astype(np.float32)
    got = make_fn(expr)(mindspore.Tensor(x)).asnumpy()
    np.testing.assert_allclose(got, numeric.evaluate(expr, x), rtol=1e-5, atol=1e-6)
    assert set(numeric.NUMPY_FUNCTIONS) == set(wire.FN_FUNCTIONS)


# -- messages: one declared shape each, checked on both sides, and the contract's tables --------

PROTOCOL = Path(__file__).resolve().parent.parent / "docs" / "protocol.md"


def _tables(text: str, header: str) -> list[list[str]]:
    """The rows of every markdown table of ``text`` whose header row is ``header``."""
    rows, inside = [], False
    for line in text.splitlines():
        if line.strip() == header:
            inside = True
            continue
        if inside and line.startswith("| ---"):
            continue
        if inside and line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        else:
            inside = False
    return rows


def test_protocol_md_lists_every_message_with_its_fields():
    documented = {}
    for sender, op, fields, _what in _tables(PROTOCOL.read_text(), "| from | message | fields | what they say |"):
        names = re.findall(r"`([a-z_]+)(\??)`", fields)
        documented[(sender, op.strip("`"))] = {name + mark for name, mark in names}
    declared = {
        key: {name for name, _ in shape.required} | {name + "?" for name, _ in shape.optional}
        for key, shape in wire.MESSAGES.items()
    }
    assert documented == declared


def test_protocol_md_states_the_limits_the_code_has():
    from mslab.sandbox import zygote

    modules = {"wire": wire, "zygote": zygote}
    units = {"MiB": 1024**2}
    rows = _tables(PROTOCOL.read_text(), "| limit | value | what |")
    assert {row[0] for row in rows} >= {"`wire.MAX_LINE`", "`wire.MAX_TEXT`", "`zygote.MAX_SOURCE_BYTES`"}
    for name, value, _what in rows:
        module, attr = name.strip("`").split(".")
        number, _, unit = value.partition(" ")
        assert getattr(modules[module], attr) == int(number) * units.get(unit, 1), name


def test_a_message_is_built_only_in_its_declared_shape():
    line = wire.message("grader", "call", id="ab", fn="f", args=[])
    assert json.loads(line) == {"op": "call", "id": "ab", "fn": "f", "args": []}
    with pytest.raises(wire.WireError, match="without fn"):
        wire.message("grader", "call", id="ab", args=[])
    with pytest.raises(wire.WireError, match="unknown fields"):
        wire.message("grader", "flush", clean=True)
    with pytest.raises(wire.WireError, match="no message 'result' from the grader"):
        wire.message("grader", "result", id="ab", ok=True)


@pytest.mark.parametrize(
    "msg,why",
    [
        ({"op": "ready", "import_seconds": "1.0"}, "malformed import_seconds"),
        ({"op": "ready", "import_seconds": True}, "malformed import_seconds"),  # a bool is not a number here
        ({"op": "ready"}, "without import_seconds"),
        ({"op": "ready", "import_seconds": 1.0, "isolation": "full"}, "unknown fields"),  # no field claims walls
        ({"op": "result", "id": "ab", "ok": 1}, "malformed ok"),
        ({"op": "result", "id": "ab", "ok": True, "value": "42"}, "malformed value"),
        ({"op": "call", "id": "ab", "fn": "f", "args": []}, "expected ready or load_error"),  # a grader's op
        ({"op": "spawned", "pid": 3}, "expected ready or load_error"),  # the zygote's op
    ],
)
def test_the_grader_refuses_a_message_of_another_shape_from_the_student(msg, why):
    with pytest.raises(wire.WireError, match=why):
        wire.receive(json.dumps(msg).encode(), "server", "ready", "load_error", "result")


def test_a_well_formed_reply_passes():
    line = wire.message("server", "result", id="ab", ok=False, error={"type": "ValueError", "message": "x"})
    assert wire.receive(line, "server", "result")["error"]["type"] == "ValueError"
    assert wire.receive(wire.message("zygote", "status", status=None), "zygote", "status") == {
        "op": "status",
        "status": None,
    }
