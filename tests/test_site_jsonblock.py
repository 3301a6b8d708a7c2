"""The site's one JSON encoder: orjson's text, inert inside a <script> block, for whatever page data holds."""
from __future__ import annotations

import json
import math
import random
import struct

import numpy as np
from hypothesis import given, settings, strategies as st

from reportgen.site.jsonblock import finite, json_bytes, json_script, json_text


def test_text_is_sorted_compact_and_inert_in_a_script_block():
    text = json_text({"b": "</script><!-- & \u2028\u2029", "a": [1, 2.5, None, True]})
    assert text == ('{"a":[1,2.5,null,true],"b":"\\u003c/script\\u003e\\u003c!-- \\u0026 \\u2028\\u2029"}')
    assert json.loads(text) == {"a": [1, 2.5, None, True], "b": "</script><!-- & \u2028\u2029"}
    assert str(json_script({"x": "<"})) == '{"x":"\\u003c"}'


def test_every_float_reads_back_exactly():
    rng = random.Random(1)
    values = [struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0] for _ in range(20_000)]
    values = [v for v in values if math.isfinite(v)]
    values += [0.0, -0.0, 1e-5, 1e-7, 1e16, 5e-324, 1.7976931348623157e308, 0.1, 100.0]
    assert json.loads(json_text(values)) == values


def test_nan_and_infinities_are_null_unless_finite_names_them():
    assert json_text([math.nan, math.inf, -math.inf, np.float64("nan")]) == "[null,null,null,null]"
    assert json_text(finite({"m": [math.nan, math.inf, -math.inf, 0.5]})) == '{"m":["NaN","+inf","-inf",0.5]}'


def test_what_orjson_refuses_is_made_encodable():
    data = {"big": 2**80, "small": -(2**70), "huge": 10**400, "numpy": [np.int64(3), np.float32(0.5), np.bool_(True)],
            "array": np.arange(3)[::2], 3: "int key", "surrogate": "a\ud800b"}
    assert json.loads(json_text(data)) == {"big": 2**80, "small": -(2**70), "huge": 10**400,
                                           "numpy": [3, 0.5, True], "array": [0, 2], "3": "int key",
                                           "surrogate": "a\ufffdb"}
    assert json_bytes(np.float64(2.5)) == b"2.5"


@settings(max_examples=300, deadline=None)
@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=8), children, max_size=6),
    max_leaves=40))
def test_any_json_value_reads_back(value):
    text = json_text({"value": value})
    assert json.loads(text) == {"value": value}
    assert not any(c in text for c in "<>&\u2028\u2029")
