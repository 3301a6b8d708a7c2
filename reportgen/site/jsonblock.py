"""The one JSON encoder of the site's pages (chart specs, compare data, the runs table's rows script):
orjson, with the text made safe inside an HTML `<script type="application/json">` block.

Browsers end a script element at the first `</script` and treat `<!--` specially, and U+2028/2029 break
old JavaScript parsers; escaping <, >, & and those two characters as \\uXXXX makes any string inert.
"""
from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import orjson
from markupsafe import Markup

# Sorted keys: the same data gives the same bytes (golden site, cache keys of static images).
_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY
_ESCAPES = ((b"<", b"\\u003c"), (b">", b"\\u003e"), (b"&", b"\\u0026"),
            ("\u2028".encode(), b"\\u2028"), ("\u2029".encode(), b"\\u2029"))
_SURROGATE = re.compile("[\ud800-\udfff]")


def json_bytes(obj: Any, *, indent: bool = False) -> bytes:
    """JSON with sorted keys, compact (or indented by two); NaN and infinities are null (orjson's own
    rule), numpy values plain."""
    options = _OPTIONS | orjson.OPT_INDENT_2 if indent else _OPTIONS
    try:
        return orjson.dumps(obj, option=options)
    except TypeError:  # orjson.JSONEncodeError: see _encodable
        return orjson.dumps(_encodable(obj), option=options)


def _encodable(value: Any) -> Any:
    """A copy of value without what orjson refuses: integers beyond 64 bits, lone surrogates in strings
    (as U+FFFD), keys that are not strings, numpy values it does not take (as Python ones)."""
    if isinstance(value, str):
        return value if value.isascii() else _SURROGATE.sub("\ufffd", value)
    if isinstance(value, int) and not isinstance(value, bool) and not -2**63 <= value < 2**64:
        return orjson.Fragment(str(int(value)).encode("ascii"))  # its digits, as json writes them
    if isinstance(value, dict):
        return {_encodable(str(key)): _encodable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_encodable(item) for item in value]
    if isinstance(value, np.generic):
        return _encodable(value.item())
    return value


def json_text(obj: Any) -> str:
    """json_bytes of obj as text, with the HTML-unsafe characters escaped."""
    raw = json_bytes(obj)
    for unsafe, escaped in _ESCAPES:
        if unsafe in raw:
            raw = raw.replace(unsafe, escaped)
    return raw.decode("utf-8")


def json_script(obj: Any) -> Markup:
    """The JSON text of obj, safe to place between `<script type="application/json">` tags."""
    return Markup(json_text(obj))


def finite(value: Any) -> Any:
    """A copy of value in which NaN and infinities are the strings "NaN", "+inf", "-inf" (not null, as
    json_bytes writes them): for data that shows metric values, where a NaN is not a missing value.

    Tuples become lists, mapping keys strings, numpy scalars Python values.
    """
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "+inf" if value > 0 else "-inf"
        return value
    if isinstance(value, dict):
        return {str(key): finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(item) for item in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        # numpy scalars (np.float64, np.int64, np.bool_)
        return finite(value.item())
    return value

