"""json_text of a JSONReady dict (orjson, with its float tokens rewritten) is byte for byte json_text of the
same plain dict (json), for every float and for strings that look like numbers or hide quotes."""
from __future__ import annotations

import math
import random
import struct

import pytest
from hypothesis import given, settings, strategies as st

from reportgen.site import jsonblock
from reportgen.site.jsonblock import JSONReady, json_text

pytestmark = pytest.mark.skipif(not jsonblock._ORJSON_FLOATS_MATCH, reason="orjson missing or formats floats otherwise")

TRICKY_TEXT = ['lr:0.00001,x', '[1e-7]', 'a\\"b:0.00001', '\\\\', '\\\\"', 'x\\\\":1e-7', '"', ':0.0000',
               'e-7', '3e', 'run 1e16 <\u2028>', '\\', ', 0.00001]', 'é1e-9']


def random_floats(count: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    values = []
    while len(values) < count:
        if rng.random() < 0.5:  # any bit pattern
            value = struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0]
        else:  # around the thresholds of the exponent forms: 1e-4, 1e-7, 1e16
            value = rng.uniform(-1, 1) * 10.0 ** rng.randint(-12, 22)
            if rng.random() < 0.3:
                value = round(value, rng.randint(0, 8))
        if math.isfinite(value):
            values.append(value)
    return values + [0.0, -0.0, 1e-5, -1e-5, 1e-7, 1e16, 1e15, 5e-324, 1.7976931348623157e308, 1e-4, 2.5e-07]


def same_as_plain(obj) -> None:
    """json_text(JSONReady(obj)) == json_text(obj); a failure names the first difference (pytest's diff of
    megabyte strings takes minutes)."""
    fast, plain = json_text(JSONReady(obj)), json_text(dict(obj))
    if fast != plain:
        at = next((i for i, (a, b) in enumerate(zip(fast, plain)) if a != b), min(len(fast), len(plain)))
        pytest.fail(f"differs at {at}: {fast[at - 40:at + 40]!r} != {plain[at - 40:at + 40]!r}")


def test_every_float_is_written_as_json_writes_it():
    floats = random_floats(100_000, seed=1)
    obj = {"values": floats, "nested": [{"v": value, "s": str(value)} for value in floats[:2000]]}
    same_as_plain(obj)


@pytest.mark.parametrize("text", TRICKY_TEXT)
def test_strings_that_look_like_numbers_are_left_alone(text):
    obj = {text: [text, 1e-05, {"k": text, "v": -1e-7}], "after": [0.00001, text, 1e16], "n": 3}
    same_as_plain(obj)


@settings(max_examples=300, deadline=None)
@given(st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text() | st.sampled_from(TRICKY_TEXT),
    lambda children: st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=8), children, max_size=6),
    max_leaves=40))
def test_any_json_ready_value(value):
    obj = {"value": value}
    same_as_plain(obj)


def test_what_orjson_refuses_goes_to_json():
    import numpy as np

    obj = {"big": 2**80, "numpy": np.float64(0.5), "nan": np.float64("nan"), 3: "int key"}
    assert jsonblock._orjson_text(JSONReady(obj)) is None
    same_as_plain(obj)
