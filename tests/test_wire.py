"""The channel carries plain data only and rejects anything malformed."""

from __future__ import annotations

import base64
import json

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
